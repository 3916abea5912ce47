package router

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"math"
	"strings"
	"sync"
	"time"
)

// HashKey returns the hex SHA-256 digest of an API key, the form the config
// file stores.
func HashKey(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// Tenant is a tenant's identity and limits at run time.
type Tenant struct {
	Name    string
	Weight  float64
	classes map[string]bool // nil: all
	limiter *TokenBucket    // nil: unlimited
	maxConc int
	mu      sync.Mutex
	conc    int
}

// Allows reports whether the tenant may use the class.
func (t *Tenant) Allows(class string) bool { return t.classes == nil || t.classes[class] }

// acquire takes one of the tenant's concurrency slots.
func (t *Tenant) acquire() bool {
	if t.maxConc == 0 {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conc >= t.maxConc {
		return false
	}
	t.conc++
	return true
}

func (t *Tenant) release() {
	if t.maxConc == 0 {
		return
	}
	t.mu.Lock()
	t.conc--
	t.mu.Unlock()
}

type keyEntry struct {
	digest [32]byte
	tenant *Tenant
}

// Tenants resolves API keys to tenants. Keys are held only as SHA-256
// digests; a presented key is hashed and compared against every digest in
// constant time, so neither the comparison nor the loop length depends on
// which digest (if any) matches.
type Tenants struct {
	header    string
	bearer    bool
	anonymous *Tenant
	keys      []keyEntry
	byName    map[string]*Tenant
}

// NewTenants builds the key table from validated tenant configs.
func NewTenants(a AuthConfig, cfg []TenantConfig) *Tenants {
	ts := &Tenants{header: a.Header, bearer: strings.EqualFold(a.Header, "Authorization"),
		byName: map[string]*Tenant{}}
	for _, c := range cfg {
		t := &Tenant{Name: c.Name, Weight: c.Weight, maxConc: c.MaxConcurrency}
		if t.Weight <= 0 {
			t.Weight = 1
		}
		if len(c.Classes) > 0 {
			t.classes = map[string]bool{}
			for _, cl := range c.Classes {
				t.classes[cl] = true
			}
		}
		if c.RateLimit > 0 {
			t.limiter = NewTokenBucket(c.RateLimit, float64(max(c.Burst, 1)))
		}
		ts.byName[c.Name] = t
		for _, k := range c.KeySHA256 {
			var e keyEntry
			if b, err := hex.DecodeString(k); err == nil && len(b) == 32 {
				copy(e.digest[:], b)
				e.tenant = t
				ts.keys = append(ts.keys, e)
			}
		}
	}
	ts.anonymous = ts.byName[a.AnonymousTenant]
	return ts
}

// Authenticate returns the tenant of the request's key. It never returns or
// logs the key. A missing key gives the anonymous tenant if one is set.
func (ts *Tenants) Authenticate(h HeaderValues) (*Tenant, error) {
	vs := h.Values(ts.header)
	if len(vs) > 1 {
		return nil, errAmbiguousKey
	}
	key := ""
	if len(vs) == 1 {
		key = strings.TrimSpace(vs[0])
		if ts.bearer {
			const p = "bearer "
			if len(key) < len(p) || !strings.EqualFold(key[:len(p)], p) {
				return nil, errUnauthenticated
			}
			key = strings.TrimSpace(key[len(p):])
		}
	}
	if key == "" {
		if ts.anonymous != nil {
			return ts.anonymous, nil
		}
		return nil, errUnauthenticated
	}
	d := sha256.Sum256([]byte(key))
	var found *Tenant
	for i := range ts.keys {
		if subtle.ConstantTimeCompare(d[:], ts.keys[i].digest[:]) == 1 {
			found = ts.keys[i].tenant
		}
	}
	if found == nil {
		return nil, errUnauthenticated
	}
	return found, nil
}

// Header is the name of the header that carries the key; the router strips
// it before forwarding.
func (ts *Tenants) Header() string { return ts.header }

// TokenBucket is a rate limiter with time passed in, so tests drive it
// with a fake clock.
type TokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

// NewTokenBucket returns a full bucket.
func NewTokenBucket(rate, burst float64) *TokenBucket {
	return &TokenBucket{rate: rate, burst: burst, tokens: burst}
}

// Take takes one token at now. When none is left it returns false and how
// long until one will be.
func (b *TokenBucket) Take(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	return false, wait
}

// isKey reports whether s is one of the tenants' API keys (compared as
// Authenticate does: by digest, in constant time over all digests).
func (ts *Tenants) isKey(s string) bool {
	d := sha256.Sum256([]byte(s))
	found := 0
	for i := range ts.keys {
		found |= subtle.ConstantTimeCompare(d[:], ts.keys[i].digest[:])
	}
	return found == 1
}
