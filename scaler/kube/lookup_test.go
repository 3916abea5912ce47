package kube

import (
	"strings"
	"testing"
)

func TestInstanceID(t *testing.T) {
	for in, want := range map[string]string{
		"aws:///eu-central-1a/i-0123456789abcdef0": "i-0123456789abcdef0",
		"aws:///i-0abc":               "i-0abc",
		"aws:///eu-central-1a/i-":     "",
		"aws:///eu-central-1a/i-0ABC": "",
		"gce://project/zone/instance": "",
		"kwok://node-1":               "",
		"":                            "",
	} {
		got, ok := InstanceID(in)
		if got != want || ok != (want != "") {
			t.Errorf("InstanceID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func FuzzInstanceID(f *testing.F) {
	f.Add("aws:///eu-central-1a/i-0123456789abcdef0")
	f.Add("aws://x/y/i-")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := InstanceID(s)
		if ok && (!strings.HasPrefix(id, "i-") || !strings.HasSuffix(s, id)) {
			t.Fatalf("%q -> %q", s, id)
		}
	})
}
