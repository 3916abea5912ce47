package catalog

import (
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func h100(t testing.TB) *GPU {
	g, ok := Default().GPU("H100-80GB")
	if !ok {
		t.Fatal("no H100-80GB in the default catalog")
	}
	return g
}

func TestParseMIGConfigName(t *testing.T) {
	g := h100(t)
	for _, tc := range []struct {
		name    string
		want    map[string]int // per-GPU counts; nil for MIG off
		wantErr string
	}{
		{"all-disabled", map[string]int{}, ""},
		{"all-2x3g.40gb", map[string]int{"3g.40gb": 2}, ""},
		{"all-1x4g.40gb-1x3g.40gb", map[string]int{"4g.40gb": 1, "3g.40gb": 1}, ""},
		{"all-3g.40gb", map[string]int{"3g.40gb": 2}, ""}, // stock: as many as fit
		{"all-1g.10gb", map[string]int{"1g.10gb": 7}, ""},
		{"all-1x3g.40gb-1x4g.40gb", nil, "canonical order"},
		{"all-3x3g.40gb", nil, "does not fit"},
		{"all-1x9g.90gb", nil, "does not fit"},
		{"all-9g.90gb", nil, "unknown MIG profile"},
		{"all-0x3g.40gb", nil, "bad count"},
		{"all-1x3g.40gb-1x3g.40gb", nil, "repeated"},
		{"all-3g.40gb-1x1g.10gb", nil, "is not <count>x<profile>"},
		{"headroom-1a2b3c4d", nil, "must be published"},
		{"", nil, "must be published"},
		{"all-", nil, "must be published"},
	} {
		cfg, err := ParseMIGConfigName(tc.name, g)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.name, err)
			continue
		}
		if cfg.Name != tc.name {
			t.Errorf("%q: name %q", tc.name, cfg.Name)
		}
		for i, got := range cfg.PerGPU(8) {
			if countsKey(got) != countsKey(tc.want) {
				t.Errorf("%q: GPU %d has %v, want %v", tc.name, i, got, tc.want)
			}
		}
	}
}

func TestNodeMIG(t *testing.T) {
	a := map[string]int{"3g.40gb": 2}
	b := map[string]int{"4g.40gb": 1, "3g.40gb": 1}
	if got := NodeMIG([]map[string]int{a, a}).Name; got != "all-2x3g.40gb" {
		t.Errorf("uniform: %q", got)
	}
	if got := NodeMIG([]map[string]int{{}, {"whole": 1}}).Name; got != MIGDisabledName {
		t.Errorf("no MIG profile: %q", got)
	}
	mixed := NodeMIG([]map[string]int{a, b, a, {}})
	if !strings.HasPrefix(mixed.Name, "headroom-") || len(mixed.Entries) != 3 {
		t.Fatalf("mixed: %+v", mixed)
	}
	if d := mixed.Entries[0].Devices; len(d) != 2 || d[0] != 0 || d[1] != 2 {
		t.Errorf("GPUs 0 and 2 share an entry: %v", d)
	}
	if mixed.Entries[2].MIGEnabled {
		t.Errorf("GPU 3 has MIG off: %+v", mixed.Entries[2])
	}
	if again := NodeMIG([]map[string]int{a, b, a, {}}); again.Name != mixed.Name {
		t.Errorf("name not stable: %q vs %q", again.Name, mixed.Name)
	}
	if other := NodeMIG([]map[string]int{b, a, a, {}}); other.Name == mixed.Name {
		t.Errorf("GPU order is part of the layout: both %q", other.Name)
	}
	if err := mixed.Validate(h100(t), 4); err != nil {
		t.Error(err)
	}
	if err := mixed.Validate(h100(t), 3); err == nil {
		t.Error("a config naming GPU 3 validated on a 3-GPU node")
	}
}

func TestMIGPartedFile(t *testing.T) {
	// The shape of the GPU operator's default-mig-parted-config, with a
	// device filter and an "all" entry.
	in := []byte(`version: v1
mig-configs:
  all-disabled:
    - devices: all
      mig-enabled: false
  all-1g.10gb:
    - device-filter: ["0x233010DE", "0x233110DE"]
      devices: all
      mig-enabled: true
      mig-devices:
        "1g.10gb": 7
  custom:
    - devices: [0, 1]
      mig-enabled: true
      mig-devices: {"3g.40gb": 2}
    - devices: [2]
      mig-enabled: false
`)
	got, err := ParseMIGParted(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(got["custom"].Entries) != 2 {
		t.Fatalf("parsed %+v", got)
	}
	per := got["custom"].PerGPU(3)
	if per[0]["3g.40gb"] != 2 || per[1]["3g.40gb"] != 2 || len(per[2]) != 0 {
		t.Errorf("custom per GPU: %v", per)
	}
	out, err := WriteMIGParted(got)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseMIGParted(out)
	if err != nil {
		t.Fatalf("re-reading what was written: %v\n%s", err, out)
	}
	for name, c := range got {
		if !c.Same(back[name], 8) || string(c.Entries[0].DeviceFilter) != string(back[name].Entries[0].DeviceFilter) {
			t.Errorf("%s changed in a round trip: %+v -> %+v", name, c, back[name])
		}
	}
	for _, bad := range []string{
		"version: v2\nmig-configs: {}\n",
		"version: v1\nmig-configs:\n  x: []\n",
		"version: v1\nmig-configs:\n  x:\n    - devices: some\n      mig-enabled: false\n",
		"version: v1\nmig-configs:\n  x:\n    - devices: [-1]\n      mig-enabled: false\n",
		"version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {\"1g.10gb\": 0}\n",
		"version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: false\n      bogus: 1\n",
	} {
		if _, err := ParseMIGParted([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// Every legal per-GPU layout round-trips: its name parses back to the same
// counts, and a node of such GPUs survives a write and read of the
// mig-parted file.
func TestMIGConfigRoundTrip(t *testing.T) {
	g := h100(t)
	layouts := g.Layouts(false)
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 8).Draw(t, "gpus")
		per := make([]map[string]int, n)
		for i := range per {
			k := rapid.IntRange(-1, len(layouts)-1).Draw(t, "layout")
			per[i] = map[string]int{}
			if k >= 0 {
				per[i] = layouts[k].Counts()
			}
		}
		cfg := NodeMIG(per)
		if err := cfg.Validate(g, n); err != nil {
			t.Fatal(err)
		}
		if !cfg.Same(MIGConfig{Entries: cfg.Entries}, n) {
			t.Fatal("not the same as itself")
		}
		for i, got := range cfg.PerGPU(n) {
			if countsKey(got) != countsKey(migCounts(per[i])) {
				t.Fatalf("GPU %d: %v, want %v", i, got, per[i])
			}
		}
		if !strings.HasPrefix(cfg.Name, "headroom-") {
			back, err := ParseMIGConfigName(cfg.Name, g)
			if err != nil || !back.Same(cfg, n) {
				t.Fatalf("name %q: %v %+v", cfg.Name, err, back)
			}
		}
		file, err := WriteMIGParted(map[string]MIGConfig{cfg.Name: cfg})
		if err != nil {
			t.Fatal(err)
		}
		read, err := ParseMIGParted(file)
		if err != nil || !read[cfg.Name].Same(cfg, n) {
			t.Fatalf("file round trip: %v\n%s", err, file)
		}
	})
}

// Whatever a name parses to is canonical: its counts name it again, and it
// fits a GPU.
func FuzzParseMIGConfigName(f *testing.F) {
	for _, s := range []string{"all-disabled", "all-2x3g.40gb", "all-1x4g.40gb-1x3g.40gb", "all-3g.40gb", "headroom-00ff00ff", "all-1g.10gb+me", "all-8x1g.10gb", "all-1x"} {
		f.Add(s)
	}
	g := h100(f)
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := ParseMIGConfigName(s, g)
		if err != nil {
			if !strings.Contains(err.Error(), "MIG config") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if err := cfg.Validate(g, 8); err != nil {
			t.Fatalf("%q parsed to an invalid config: %v", s, err)
		}
		canon := NodeMIG(cfg.PerGPU(8))
		back, err := ParseMIGConfigName(canon.Name, g)
		if err != nil || !back.Same(cfg, 8) {
			t.Fatalf("%q -> %q -> %v", s, canon.Name, err)
		}
	})
}

func FuzzParseMIGParted(f *testing.F) {
	f.Add([]byte("version: v1\nmig-configs:\n  all-disabled:\n    - devices: all\n      mig-enabled: false\n"))
	f.Add([]byte("version: v1\nmig-configs:\n  c:\n    - devices: [0]\n      mig-enabled: true\n      mig-devices: {\"3g.40gb\": 2}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfgs, err := ParseMIGParted(b)
		if err != nil {
			return
		}
		out, err := WriteMIGParted(cfgs)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseMIGParted(out)
		if err != nil || len(back) != len(cfgs) {
			t.Fatalf("%v\n%s", err, out)
		}
		for name, c := range cfgs {
			if !c.Same(back[name], 8) {
				t.Fatalf("%s changed", name)
			}
		}
	})
}
