package deploy

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// imageBuild is the Dockerfile's build command; TestImageBinary runs it.
const imageBuild = `CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/headroom ./cmd/headroom`

// TestImageBinary builds the binary the image ships, with the Dockerfile's
// command, and checks what distroless static (no libc, no shell, uid 65532)
// needs of it: it is static (no ELF interpreter, no dynamic section), and
// `headroom --help` exits 0 when exec'd directly as 65532:65532 with an
// empty environment (no shell, no HOME, no PATH). Setting the uid needs
// root: as another user the test skips, and fails under CI=true.
func TestImageBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary (-short)")
	}
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(df, []byte("RUN "+imageBuild+"\n")) {
		t.Fatalf("the Dockerfile does not build with %q; keep deploy/image_test.go in step", imageBuild)
	}
	final := string(df[bytes.LastIndex(df, []byte("\nFROM ")):])
	for _, want := range []string{"FROM gcr.io/distroless/static:nonroot", "USER 65532:65532", `ENTRYPOINT ["/headroom"]`} {
		if !strings.Contains(final, want) {
			t.Errorf("the Dockerfile's last stage lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^\s*(RUN|SHELL)\b`).MatchString(final) {
		t.Error("the last stage runs a command: distroless static has no shell")
	}

	// A folder uid 65532 can enter (t.TempDir's are 0700, root's).
	dir, err := os.MkdirTemp("", "headroom-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "headroom")
	build := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/headroom")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", imageBuild, err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %v: the binary is not static", p.Type)
		}
	}
	if s := f.Section(".dynamic"); s != nil {
		t.Error("the binary has a .dynamic section")
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v", libs)
	}

	if os.Geteuid() != 0 {
		msg := "running as uid 65532 needs root"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for _, args := range [][]string{{"--help"}, {"controller", "--help"}, {"router", "--help"}} {
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Env = []string{} // empty, not inherited
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("headroom %s as 65532: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		if !strings.Contains(string(out), "Usage:") {
			t.Errorf("headroom %s printed no usage:\n%s", strings.Join(args, " "), out)
		}
	}
}
