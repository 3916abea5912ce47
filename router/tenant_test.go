package router

import (
	"math"
	"net/http"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestAuthenticate(t *testing.T) {
	ts := NewTenants(AuthConfig{Header: "Authorization"}, []TenantConfig{
		{Name: "acme", KeySHA256: []string{HashKey("k-acme"), HashKey("k-acme-2")}, Weight: 1},
		{Name: "globex", KeySHA256: []string{HashKey("k-globex")}, Weight: 1},
	})
	tests := []struct {
		name   string
		values []string
		want   string
		status int
	}{
		{"bearer", []string{"Bearer k-acme"}, "acme", 0},
		{"second key", []string{"Bearer k-acme-2"}, "acme", 0},
		{"case-insensitive scheme", []string{"bearer   k-globex "}, "globex", 0},
		{"missing", nil, "", 401},
		{"empty bearer", []string{"Bearer "}, "", 401},
		{"wrong key", []string{"Bearer k-nobody"}, "", 401},
		{"no scheme", []string{"k-acme"}, "", 401},
		{"basic scheme", []string{"Basic k-acme"}, "", 401},
		{"digest instead of key", []string{"Bearer " + HashKey("k-acme")}, "", 401},
		{"two headers", []string{"Bearer k-acme", "Bearer k-globex"}, "", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.values {
				h.Add("Authorization", v)
			}
			got, err := ts.Authenticate(h)
			if tc.status != 0 {
				re := AsRequestError(err)
				if re == nil || re.Status != tc.status {
					t.Fatalf("got %v, %v; want status %d", got, err, tc.status)
				}
				return
			}
			if err != nil || got.Name != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestAuthenticateCustomHeaderAndAnonymous(t *testing.T) {
	ts := NewTenants(AuthConfig{Header: "X-Api-Key", AnonymousTenant: "free"}, []TenantConfig{
		{Name: "acme", KeySHA256: []string{HashKey("k")}}, {Name: "free"},
	})
	if got, err := ts.Authenticate(http.Header{"X-Api-Key": {"k"}}); err != nil || got.Name != "acme" {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, err := ts.Authenticate(http.Header{}); err != nil || got.Name != "free" {
		t.Fatalf("anonymous: got %v, %v", got, err)
	}
	if _, err := ts.Authenticate(http.Header{"X-Api-Key": {"wrong"}}); err == nil {
		t.Fatal("a wrong key must not fall back to the anonymous tenant")
	}
}

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := NewTokenBucket(10, 2) // 10/s, burst 2
	steps := []struct {
		at       time.Duration
		ok       bool
		waitNear time.Duration
	}{
		{0, true, 0},
		{0, true, 0},
		{0, false, 100 * time.Millisecond},
		{50 * time.Millisecond, false, 50 * time.Millisecond},
		{100 * time.Millisecond, true, 0},
		{time.Hour, true, 0}, // refilled to burst, not beyond
		{time.Hour, true, 0},
		{time.Hour, false, 100 * time.Millisecond},
		{time.Hour - time.Second, false, 100 * time.Millisecond}, // time going back adds nothing
	}
	for i, s := range steps {
		ok, wait := b.Take(t0.Add(s.at))
		if ok != s.ok || math.Abs(float64(wait-s.waitNear)) > float64(time.Millisecond) {
			t.Errorf("step %d at %v: got (%v, %v), want (%v, ~%v)", i, s.at, ok, wait, s.ok, s.waitNear)
		}
	}
}

// TestTokenBucketProperty: over any schedule, admitted <= burst + rate x elapsed.
func TestTokenBucketProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rate := rapid.Float64Range(0.5, 1000).Draw(t, "rate")
		burst := float64(rapid.IntRange(1, 50).Draw(t, "burst"))
		gaps := rapid.SliceOfN(rapid.Int64Range(0, int64(50*time.Millisecond)), 1, 300).Draw(t, "gaps")
		b := NewTokenBucket(rate, burst)
		now := time.Unix(0, 0)
		start := now
		admitted := 0
		for _, g := range gaps {
			now = now.Add(time.Duration(g))
			if ok, _ := b.Take(now); ok {
				admitted++
			}
		}
		limit := burst + rate*now.Sub(start).Seconds()
		if float64(admitted) > limit+1e-9 {
			t.Fatalf("admitted %d > burst + rate x elapsed = %.3f", admitted, limit)
		}
	})
}

func TestTenantConcurrency(t *testing.T) {
	tn := &Tenant{Name: "a", maxConc: 2}
	first, second := tn.acquire(), tn.acquire()
	if !first || !second {
		t.Fatal("first two must pass")
	}
	if tn.acquire() {
		t.Fatal("third must be refused")
	}
	tn.release()
	if !tn.acquire() {
		t.Fatal("a released slot must be reusable")
	}
}
