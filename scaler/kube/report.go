package kube

import (
	"context"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/headroom-dev/headroom/scaler"
)

// NoteLimit is events.k8s.io/v1's limit on an Event's note, in bytes; a
// longer note is refused by the API server (the event is lost).
const NoteLimit = 1024

// Report implements scaler.Reporter: an events.k8s.io/v1 Event on the
// object acted on, the class's Deployment for class actions and the Node
// for node actions; nodegroup actions have no Kubernetes object and are
// not recorded. Reason and action are the action's kind; the note says
// from -> to, why, and the error when it failed (type Warning).
// Recording is asynchronous and best effort (client-go's broadcaster).
func (k *Cluster) Report(_ context.Context, a scaler.Action) {
	obj := k.regarding(a)
	if obj == nil {
		return
	}
	typ := corev1.EventTypeNormal
	if a.Status == scaler.StatusFailed {
		typ = corev1.EventTypeWarning
	}
	k.recorder.Eventf(obj, nil, typ, string(a.Kind), string(a.Kind), "%s", Note(a))
}

// regarding returns the object an action is about, or nil.
func (k *Cluster) regarding(a scaler.Action) runtime.Object {
	switch a.Kind {
	case scaler.ActScaleClass, scaler.ActSetResources, scaler.ActSetProfile:
		if d, err := k.deployment(a.Target); err == nil {
			return d
		}
		return nil // no single Deployment to point at
	case scaler.ActCordon, scaler.ActUncordon, scaler.ActDrain, scaler.ActSetMIGConfig, scaler.ActRemoveNode:
		if n, err := k.nodes.Get(a.Target); err == nil {
			return n
		}
		// Removed nodes are gone from the cache; the reference still
		// finds the Event by name (kubectl events --for node/NAME).
		return &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: a.Target}
	}
	return nil
}

// Note renders an action as an Event note, at most NoteLimit bytes.
func Note(a scaler.Action) string {
	var b strings.Builder
	if a.From != "" || a.To != "" {
		b.WriteString(a.From + " -> " + a.To + ": ")
	}
	b.WriteString(a.Reason)
	if a.Error != "" {
		b.WriteString("; " + a.Status + ": " + a.Error)
	}
	return Truncate(b.String(), NoteLimit)
}

// Truncate cuts s to at most n bytes on a rune boundary, marking the cut
// with "...".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	cut := max(n-len(mark), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark[:min(len(mark), n)]
}
