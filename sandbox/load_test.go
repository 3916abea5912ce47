package sandbox

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/headroom-dev/headroom/simulations/trace"
)

func TestScheduleRates(t *testing.T) {
	tr, err := trace.Read(strings.NewReader("window_start_s,total_rate_rps\n0,2\n60,10\n120,2\n"), trace.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 60x faster: each 60s window plays in 1s, at the trace's rate x 3.
	s, err := Schedule(tr, ScheduleOptions{Speedup: 60, Scale: 3, Class: "en", MaxRequests: 1000, MaxDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 6+30+6 {
		t.Fatalf("%d sends, want 42", len(s))
	}
	inSecond := func(k int) int {
		n := 0
		for _, x := range s {
			if x.At >= time.Duration(k)*time.Second && x.At < time.Duration(k+1)*time.Second {
				n++
			}
			if x.Class != "en" {
				t.Fatalf("class %q, want en", x.Class)
			}
		}
		return n
	}
	if a, b, c := inSecond(0), inSecond(1), inSecond(2); a != 6 || b != 30 || c != 6 {
		t.Errorf("per second %d %d %d, want 6 30 6", a, b, c)
	}
	for i := 1; i < len(s); i++ {
		if s[i].At < s[i-1].At {
			t.Fatalf("not in time order at %d", i)
		}
	}
	// Bounds cut it.
	if s, _ := Schedule(tr, ScheduleOptions{Speedup: 60, Scale: 3, MaxRequests: 10, MaxDuration: time.Hour}); len(s) != 10 {
		t.Errorf("MaxRequests 10: %d sends", len(s))
	}
	if s, _ := Schedule(tr, ScheduleOptions{Speedup: 60, Scale: 3, MaxRequests: 1000, MaxDuration: time.Second}); len(s) != 6 {
		t.Errorf("MaxDuration 1s: %d sends, want 6", len(s))
	}
	if _, err := Schedule(tr, ScheduleOptions{}); err == nil {
		t.Error("unbounded load accepted")
	}
}

func TestRunCountsAnswers(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := n.Add(1)
		if r.Header.Get("X-Model-Class") != "en" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if k%4 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	sends := make([]Send, 8)
	for i := range sends {
		sends[i] = Send{At: time.Duration(i) * time.Millisecond, Class: "en"}
	}
	res := Run(context.Background(), sends[:1], LoadOptions{URL: srv.URL, SLO: time.Second}, time.Now())
	if res.Sent != 1 || res.OK != 1 || res.WithinSLO != 1 {
		t.Fatalf("%+v, want one within SLO", res)
	}
	res = Run(context.Background(), []Send{{Class: "en"}, {At: 50 * time.Millisecond, Class: "en"}, {At: 100 * time.Millisecond, Class: "en"}}, LoadOptions{URL: srv.URL, SLO: time.Second}, time.Now())
	if res.Sent != 3 || res.OK != 2 || res.Refused != 1 {
		t.Errorf("%+v, want 2 ok and 1 refused (503)", res)
	}
	srv.Close()
	res = Run(context.Background(), sends[:1], LoadOptions{URL: srv.URL, SLO: time.Second}, time.Now())
	if res.Lost != 1 {
		t.Errorf("server gone: %+v, want 1 lost", res)
	}
	if _, err := loopbackDialer(context.Background(), "tcp", "192.0.2.1:80"); err == nil {
		t.Error("dialled a non-loopback address")
	}
}
