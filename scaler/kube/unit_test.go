package kube

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headroom-dev/headroom/scaler"
)

func TestOptions(t *testing.T) {
	var o Options
	o.setDefaults()
	want := Options{ClassLabel: "headroom.dev/class", Container: "reader",
		MIGConfigMap: ConfigMapRef{Namespace: "gpu-operator", Name: "default-mig-parted-config", Key: "config.yaml"},
		VPAMode:      "auto", VPAUpdateMode: "Initial", FieldManager: "headroom", ResyncPeriod: 10 * time.Minute, Component: "headroom"}
	if o != want {
		t.Fatalf("defaults:\n got %+v\nwant %+v", o, want)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"namespace", func(o *Options) { o.Namespace = "Not_A_Namespace" }, "namespace"},
		{"class label", func(o *Options) { o.ClassLabel = "a b" }, "classLabel"},
		{"container", func(o *Options) { o.Container = "Reader!" }, "container"},
		{"node selector", func(o *Options) { o.NodeSelector = "a in (" }, "nodeSelector"},
		{"configmap key", func(o *Options) { o.MIGConfigMap.Key = "a/b" }, "migConfigMap.key"},
		{"vpa mode", func(o *Options) { o.VPAMode = "vertical" }, "vpaMode"},
		{"update mode", func(o *Options) { o.VPAUpdateMode = "initial" }, "vpaUpdateMode"},
		{"resync", func(o *Options) { o.ResyncPeriod = -time.Second }, "resyncPeriod"},
		{"component", func(o *Options) { o.Component = "head room" }, "component"},
	}
	for _, tc := range bad {
		o := want
		tc.edit(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
	// Every bad field at once.
	o = want
	o.VPAMode, o.Container = "x", "Y"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "vpaMode") || !strings.Contains(err.Error(), "container") {
		t.Errorf("joined errors: %v", err)
	}
	if _, err := New(Clients{}, Options{VPAMode: VPAModePatchRequests}, nil); err == nil {
		t.Error("no client accepted")
	}
}

func TestProfileOf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nvidia.com/mig-3g.40gb", "3g.40gb"},
		{"nvidia.com/mig-1g.10gb+me", "1g.10gb+me"},
		{"nvidia.com/mig-7g.80gb", "7g.80gb"},
		{"nvidia.com/gpu", "whole"},
		{"nvidia.com/gpu.shared", "timesliced"},
		{"nvidia.com/mig-", ""},
		{"nvidia.com/mig-whole", ""},
		{"nvidia.com/mig-3G.40GB", ""},
		{"nvidia.com/mig-x.40gb", ""},
		{"cpu", ""},
		{"amd.com/gpu", ""},
	} {
		if got := ProfileOf(tc.in); got != tc.want {
			t.Errorf("ProfileOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCapacityType(t *testing.T) {
	for in, want := range map[string]string{"ON_DEMAND": "on-demand", "SPOT": "spot", "on-demand": "on-demand", "spot": "spot", "": "", "CAPACITY_BLOCK": "", "Spot": ""} {
		if got := CapacityType(in); got != want {
			t.Errorf("CapacityType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPodPhase(t *testing.T) {
	k := &Cluster{opts: Options{ClassLabel: DefaultClassLabel, Container: "reader"}}
	now := metav1.Now()
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		want string
	}{
		{"unscheduled", corev1.Pod{}, scaler.PodPending},
		{"bound, not ready", corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}}, scaler.PodLoading},
		{"ready", corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{Conditions: ready}}, scaler.PodReady},
		{"terminating", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Spec: corev1.PodSpec{NodeName: "n"},
			Status: corev1.PodStatus{Conditions: ready}}, scaler.PodFailed},
		{"failed", corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{Phase: corev1.PodFailed}}, scaler.PodFailed},
		{"succeeded", corev1.Pod{Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, scaler.PodFailed},
	} {
		if got := k.toPod(&tc.pod).Phase; got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestEvictable(t *testing.T) {
	now := metav1.Now()
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"reader", corev1.Pod{}, true},
		{"daemonset", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet"}}}}, false},
		{"mirror", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{mirrorPodAnn: "x"}}}, false},
		{"terminating", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}}, false},
		{"finished", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false},
	} {
		if got := evictable(&tc.pod); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}

func TestNote(t *testing.T) {
	a := scaler.Action{Kind: scaler.ActDrain, From: "2 pods", To: "0 pods", Reason: "consolidate", Status: scaler.StatusFailed, Error: "blocked"}
	if got := Note(a); got != "2 pods -> 0 pods: consolidate; failed: blocked" {
		t.Errorf("note %q", got)
	}
	a.Error = strings.Repeat("€", 500) // 1500 bytes
	got := Note(a)
	if len(got) > NoteLimit || !utf8.ValidString(got) || !strings.HasSuffix(got, "...") {
		t.Errorf("long note: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	for n := range 8 {
		if s := Truncate("ab€cd", n); len(s) > n || !utf8.ValidString(s) {
			t.Errorf("Truncate(%d) = %q", n, s)
		}
	}
}
