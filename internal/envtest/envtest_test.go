package envtest

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestVersionsAgree checks that the version this package looks for is the one
// the build script builds and the tools module requires.
func TestVersionsAgree(t *testing.T) {
	for _, c := range []struct {
		file string
		re   string
	}{
		{"../../scripts/envtest-assets.sh", `(?m)^K8S_VERSION=(\S+)`},
		{"../../tools/envtest/go.mod", `k8s.io/kubernetes v(\S+)`},
	} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(c.re).FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no version matching %s", c.file, c.re)
		}
		if got := string(m[1]); got != K8sVersion {
			t.Errorf("%s has %s, K8sVersion is %s", c.file, got, K8sVersion)
		}
	}
	// Every staging module is replaced by the release of the same minor.
	b, err := os.ReadFile("../../tools/envtest/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	staging := "v0" + regexp.MustCompile(`^\d+`).ReplaceAllString(K8sVersion, "")
	for _, m := range regexp.MustCompile(`=> (k8s.io/\S+) (\S+)`).FindAllSubmatch(b, -1) {
		if string(m[2]) != staging {
			t.Errorf("tools/envtest/go.mod replaces %s with %s, want %s", m[1], m[2], staging)
		}
	}
}

func TestAssetsDir(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("KUBEBUILDER_ASSETS", empty)
	if d := AssetsDir(); d != "" {
		t.Fatalf("an empty KUBEBUILDER_ASSETS gave %q", d)
	}
	full := t.TempDir()
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(full, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("KUBEBUILDER_ASSETS", full)
	if d := AssetsDir(); d != full {
		t.Fatalf("KUBEBUILDER_ASSETS=%s gave %q", full, d)
	}
	t.Setenv("KUBEBUILDER_ASSETS", "")
	cache := t.TempDir()
	t.Setenv("HEADROOM_CACHE", cache)
	if d := AssetsDir(); d != "" {
		t.Fatalf("an empty cache gave %q", d)
	}
	want := filepath.Join(cache, "envtest", "v"+K8sVersion)
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if err := os.Symlink(filepath.Join(full, b), filepath.Join(want, b)); err != nil {
			t.Fatal(err)
		}
	}
	if d := AssetsDir(); d != want {
		t.Fatalf("cache gave %q, want %q", d, want)
	}
}

// TestStart runs the real server: it answers with the version built, and
// objects written can be read back.
func TestStart(t *testing.T) {
	env := Start(t)
	v, err := env.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v"+K8sVersion {
		t.Errorf("server version %s, want v%s", v.GitVersion, K8sVersion)
	}
	ns := env.Namespace(t, "smoke")
	got, err := env.Client.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != ns {
		t.Fatalf("got namespace %q, want %q", got.Name, ns)
	}
}
