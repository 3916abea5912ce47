package prom

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/scaler"
)

// The error paths and the wire, against a fake HTTP API: what a real
// Prometheus does not do on demand (429, warnings, hanging). The data
// paths are tested against the real one in prometheus_test.go.

type request struct {
	query, time, timeout string
	header               http.Header
}

// fakeProm answers /api/v1/query with answer(query) and records requests.
func fakeProm(t *testing.T, answer func(q string) (int, string)) (*httptest.Server, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var reqs []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.URL.Path != "/api/v1/query" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		q := r.Form.Get("query")
		mu.Lock()
		reqs = append(reqs, request{q, r.Form.Get("time"), r.Form.Get("timeout"), r.Header.Clone()})
		mu.Unlock()
		code, body := answer(q)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(reqs)
	}
}

const emptyVector = `{"status":"success","data":{"resultType":"vector","result":[]}}`

func vectorJSON(at time.Time, samples ...string) string {
	ts := strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)
	var parts []string
	for i := 0; i < len(samples); i += 2 {
		parts = append(parts, `{"metric":`+samples[i]+`,"value":[`+ts+`,"`+samples[i+1]+`"]}`)
	}
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(parts, ",") + `]}}`
}

// TestWire: every query goes out once, evaluated at now (the time
// parameter), with the server-side timeout; an empty answer is no rows and
// no error.
func TestWire(t *testing.T) {
	srv, reqs := fakeProm(t, func(string) (int, string) { return 200, emptyVector })
	c := mustNew(t, Options{Address: srv.URL})
	now := time.Date(2026, 3, 2, 10, 0, 0, 250_000_000, time.UTC)
	stats, err := c.ClassStats(t.Context(), now, time.Minute)
	if err != nil || len(stats) != 0 {
		t.Fatalf("stats %v, err %v", stats, err)
	}
	gpu, err := c.GPUMemory(t.Context(), now)
	if err != nil || len(gpu) != 0 {
		t.Fatalf("gpu %v, err %v", gpu, err)
	}
	q, _ := c.ClassQueries(time.Minute)
	g := c.GPUQueries()
	want := []string{q.Rate, q.P50, q.P95, q.P99, q.InFlight, q.ErrorShare, q.At, g.Used, g.Free}
	var got []string
	for _, r := range reqs() {
		got = append(got, r.query)
		if r.time != "1772445600.25" || r.timeout != "10s" {
			t.Errorf("time %q timeout %q, want 1772445600.25 and 10s", r.time, r.timeout)
		}
		if ua := r.header.Get("User-Agent"); ua != "headroom" {
			t.Errorf("user agent %q", ua)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("queries\n got %q\nwant %q", got, want)
	}
}

// TestDecodedOverTheWire: one class with every field, through the JSON.
func TestDecodedOverTheWire(t *testing.T) {
	now := t0
	c0 := mustNew(t, Options{Address: "http://unused"})
	q, _ := c0.ClassQueries(time.Minute)
	at := strconv.FormatFloat(float64(now.Add(-3*time.Second).UnixMilli())/1000, 'f', 3, 64)
	vals := map[string]string{q.Rate: "12.5", q.P50: "0.031", q.P95: "0.0725", q.P99: "0.099", q.InFlight: "3.25", q.ErrorShare: "0.02", q.At: at}
	srv, _ := fakeProm(t, func(query string) (int, string) {
		if v, ok := vals[query]; ok {
			return 200, vectorJSON(now, `{"class":"a"}`, v, `{"class":"b"}`, "NaN")
		}
		return 200, vectorJSON(now,
			`{"__name__":"x","pod":"reader-a-0","namespace":"ml","Hostname":"n1","GPU_I_PROFILE":"","GPU_I_ID":""}`, "1000",
			`{"__name__":"x","pod":"other","namespace":"ml","Hostname":"n1","GPU_I_PROFILE":"","GPU_I_ID":""}`, "1")
	})
	c := mustNew(t, Options{Address: srv.URL, PodClass: func(ns, pod string) (string, bool) { return "a", pod == "reader-a-0" }})
	stats, err := c.ClassStats(t.Context(), now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := scaler.ClassStats{Class: "a", At: now.Add(-3 * time.Second), Rate: 12.5, P50: 31 * time.Millisecond,
		P95: 72500 * time.Microsecond, P99: 99 * time.Millisecond, InFlight: 3.25, ErrorRate: 0.02}
	if len(stats) != 1 || stats[0] != want {
		t.Fatalf("got %+v\nwant [%+v] (b is NaN everywhere: absent)", stats, want)
	}
	gpu, err := c.GPUMemory(t.Context(), now)
	if err != nil {
		t.Fatal(err)
	}
	if wantG := (scaler.GPUMemory{Node: "n1", Pod: "reader-a-0", Class: "a", Profile: "whole", UsedMiB: 1000, FreeMiB: 1000}); len(gpu) != 1 || gpu[0] != wantG {
		t.Fatalf("gpu %+v, want [%+v]", gpu, wantG)
	}
}

// TestFailures: every failure is an error with no rows, never zeros;
// 429 and 503 are throttling.
func TestFailures(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		body      string
		throttled bool
		msg       string
	}{
		{"429", 429, "too many", true, "prometheus rate query: prometheus answered 429 Too Many Requests: throttled"},
		{"503", 503, "Service Unavailable", true, "503 Service Unavailable: throttled"},
		{"500", 500, "boom", false, "server error: 500"},
		{"query error", 422, `{"status":"error","errorType":"execution","error":"query timed out in expression evaluation"}`, false, "execution: query timed out"},
		{"bad data", 400, `{"status":"error","errorType":"bad_data","error":"parse error"}`, false, "bad_data: parse error"},
		{"warnings", 200, `{"status":"success","warnings":["store gateway down"],"data":{"resultType":"vector","result":[]}}`, false, "partial: store gateway down"},
		{"a matrix", 200, `{"status":"success","data":{"resultType":"matrix","result":[]}}`, false, "want an instant vector, got matrix"},
		{"garbage", 200, `{"status":"success","data":{`, false, "bad_response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := fakeProm(t, func(string) (int, string) { return tt.code, tt.body })
			c := mustNew(t, Options{Address: srv.URL})
			stats, err := c.ClassStats(t.Context(), t0, time.Minute)
			if err == nil || stats != nil {
				t.Fatalf("stats %v, err %v: want an error and no rows", stats, err)
			}
			if !strings.Contains(err.Error(), tt.msg) || scaler.IsThrottled(err) != tt.throttled {
				t.Errorf("error %q (throttled %v), want %q (throttled %v)", err, scaler.IsThrottled(err), tt.msg, tt.throttled)
			}
			gpu, err := c.GPUMemory(t.Context(), t0)
			if err == nil || gpu != nil || scaler.IsThrottled(err) != tt.throttled {
				t.Errorf("gpu %v, err %v", gpu, err)
			}
		})
	}
	// One failing query among seven fails the call.
	srv, _ := fakeProm(t, func(q string) (int, string) {
		if strings.HasPrefix(q, "max by") {
			return 500, "no"
		}
		return 200, vectorJSON(t0, `{"class":"a"}`, "1")
	})
	if stats, err := mustNew(t, Options{Address: srv.URL}).ClassStats(t.Context(), t0, time.Minute); err == nil ||
		stats != nil || !strings.Contains(err.Error(), "newest sample query") {
		t.Errorf("one failed query: %v %v", stats, err)
	}
}

// TestTimeout: a Prometheus that does not answer fails the call after
// Options.Timeout; the caller's context still cancels sooner.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm() // read the body, so the server notices the client hanging up
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c := mustNew(t, Options{Address: srv.URL, Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := c.ClassStats(t.Context(), t0, time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v with a 200ms timeout", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.GPUMemory(ctx, t0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestAuth: the bearer token file is re-read on every request (a rotated
// projected ServiceAccount token is used at once); basic auth reads its
// password file; TLS with a CA file and a client certificate.
func TestAuth(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srv, reqs := fakeProm(t, func(string) (int, string) { return 200, emptyVector })
	tok := write("token", "first\n")
	c := mustNew(t, Options{Address: srv.URL, Auth: Auth{BearerTokenFile: tok}})
	if _, err := c.GPUMemory(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	write("token", "second")
	if _, err := c.GPUMemory(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	r := reqs()
	if got := []string{r[0].header.Get("Authorization"), r[len(r)-1].header.Get("Authorization")}; got[0] != "Bearer first" || got[1] != "Bearer second" {
		t.Errorf("authorization %q, want the token as the file held it each time", got)
	}

	srv2, reqs2 := fakeProm(t, func(string) (int, string) { return 200, emptyVector })
	c = mustNew(t, Options{Address: srv2.URL, Auth: Auth{Username: "headroom", PasswordFile: write("pw", "s3cret\n")}})
	if _, err := c.GPUMemory(t.Context(), t0); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "/", nil)
	req.Header = reqs2()[0].header
	if u, p, ok := req.BasicAuth(); !ok || u != "headroom" || p != "s3cret" {
		t.Errorf("basic auth %q %q %v", u, p, ok)
	}

	// TLS: the server's certificate from a CA file, and a client
	// certificate the server requires.
	certPEM, keyPEM, clientCert := selfSigned(t)
	pool := x509.NewCertPool()
	pool.AddCert(clientCert)
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(emptyVector))
	}))
	tlsSrv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	ca := write("ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})))
	crt, key := write("client.pem", certPEM), write("client-key.pem", keyPEM)
	c = mustNew(t, Options{Address: tlsSrv.URL, Auth: Auth{CAFile: ca, CertFile: crt, KeyFile: key}})
	if _, err := c.GPUMemory(t.Context(), t0); err != nil {
		t.Fatalf("mTLS: %v", err)
	}
	c = mustNew(t, Options{Address: tlsSrv.URL, Auth: Auth{CAFile: ca}})
	if _, err := c.GPUMemory(t.Context(), t0); err == nil {
		t.Error("without the client certificate the server must refuse")
	}
	c = mustNew(t, Options{Address: tlsSrv.URL})
	if _, err := c.GPUMemory(t.Context(), t0); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v", err)
	}
}

// selfSigned makes a client certificate and key (PEM) for TLS tests.
func selfSigned(t *testing.T) (certPEM, keyPEM string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "headroom"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})), cert
}
