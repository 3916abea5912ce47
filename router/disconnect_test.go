package router

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// script is a backend whose n-th request (over all the endpoints sharing
// it) does steps[n-1]: "fail" answers 503 at once; "hold" and "hold-ok"
// report the request on arrived and wait until release is closed (or the
// router gives up on the request), then answer 503 and 200.
type script struct {
	steps   []string
	arrived chan int
	release chan struct{}
	mu      sync.Mutex
	hits    int
}

func newScript(steps ...string) *script {
	return &script{steps: steps, arrived: make(chan int, 16), release: make(chan struct{})}
}

// releaseOnce closes release unless the test did: a failed test must not
// leave handlers waiting (register it after the servers, so it runs first).
func (s *script) releaseOnce() {
	select {
	case <-s.release:
	default:
		close(s.release)
	}
}

func (s *script) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	s.hits++
	n := s.hits
	s.mu.Unlock()
	step := "fail"
	if n <= len(s.steps) {
		step = s.steps[n-1]
	}
	if step != "fail" {
		s.arrived <- n
		select {
		case <-s.release:
		case <-req.Context().Done():
			return
		}
	}
	if step == "hold-ok" {
		_, _ = w.Write([]byte("{}"))
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// disconnectOutcome is what a disconnect leaves behind: the backend
// attempts, the router's counters by label, and the access log's error
// codes.
type disconnectOutcome struct {
	Attempts   int
	Requests   map[string]float64 // by code
	Retries    float64
	Ejections  float64
	Shed       float64
	InFlight   float64
	Queued     uint64 // queue_duration observations
	LogErrors  []string
	LogStatus  []int64
	LogAttempt []int64
}

func counterSum(mfs []*dto.MetricFamily, name string, by string) (float64, map[string]float64) {
	total, per := 0.0, map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			total += v
			for _, l := range m.GetLabel() {
				if l.GetName() == by {
					per[l.GetValue()] += v
				}
			}
		}
	}
	return total, per
}

func outcomeOf(t *testing.T, r *testRouter, s *script) disconnectOutcome {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	o := disconnectOutcome{Attempts: s.count()}
	_, o.Requests = counterSum(mfs, MetricRequests, "code")
	o.Retries, _ = counterSum(mfs, MetricRetries, "")
	o.Ejections, _ = counterSum(mfs, MetricEjections, "")
	o.Shed, _ = counterSum(mfs, MetricShed, "")
	o.InFlight, _ = counterSum(mfs, MetricInFlight, "")
	for _, mf := range mfs {
		if mf.GetName() == MetricQueueDuration {
			for _, m := range mf.GetMetric() {
				o.Queued += m.GetHistogram().GetSampleCount()
			}
		}
	}
	for _, e := range r.obs.FilterMessage("request").All() {
		m := e.ContextMap()
		code, _ := m["error"].(string)
		o.LogErrors = append(o.LogErrors, code)
		st, _ := m["status"].(int64)
		o.LogStatus = append(o.LogStatus, st)
		at, _ := m["attempts"].(int64)
		o.LogAttempt = append(o.LogAttempt, at)
	}
	return o
}

// rawRequest sends one request for class on a connection of its own and
// returns the connection, left open.
func rawRequest(t *testing.T, r *testRouter, class string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(r.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nX-Model-Class: %s\r\nContent-Length: 2\r\n\r\n{}", keyAcme, class)
	return c
}

// leave closes the client's connection and waits until the router's side
// of it has the close: from then on the router finds the client gone
// whenever it asks. (Its watcher may notice at once and end the request,
// closing its side: that counts too.)
func leave(t *testing.T, al *acceptLog, c net.Conn) {
	t.Helper()
	sc := al.serverSide(c)
	if sc == nil {
		t.Fatal("the router has not accepted the connection")
	}
	c.Close()
	waitFor(t, func() bool { return peerClosed(sc) || closedHere(sc) })
}

// closedHere reports whether c was closed on its own side.
func closedHere(c net.Conn) bool {
	rc, err := c.(syscall.Conn).SyscallConn()
	return err != nil || rc.Control(func(uintptr) {}) != nil
}

// finished waits until the router has finished n requests: the access
// log line is the last thing it writes for each, after the metrics.
func finished(t *testing.T, r *testRouter, n int) {
	t.Helper()
	waitFor(t, func() bool { return r.obs.FilterMessage("request").Len() >= n })
}

// TestClientDisconnect runs each disconnect scenario: a client that goes
// away is never retried for, its failed attempt is not held against the
// endpoint (consecutiveFailures: 1 would eject it at once), and it is
// recorded once, as 499 client_gone, in the metrics and the access log.
func TestClientDisconnect(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("peerClosed asks the socket only on linux and darwin")
	}
	scenarios := []struct {
		name  string
		steps []string
		run   func(t *testing.T, r *testRouter, al *acceptLog, s *script)
		want  disconnectOutcome
	}{{
		// The client leaves while the first attempt is at the reader,
		// which then fails: no retry.
		name:  "during the attempt",
		steps: []string{"hold"},
		run: func(t *testing.T, r *testRouter, al *acceptLog, s *script) {
			c := rawRequest(t, r, "a")
			if n := recv(t, s.arrived, "the attempt"); n != 1 {
				t.Fatalf("attempt %d arrived first", n)
			}
			leave(t, al, c)
			close(s.release)
			finished(t, r, 1)
		},
		want: disconnectOutcome{Attempts: 1, Requests: map[string]float64{"499": 1}, Queued: 1,
			LogErrors: []string{"client_gone"}, LogStatus: []int64{499}, LogAttempt: []int64{1}},
	}, {
		// The first attempt fails at once and is retried; the client
		// leaves during the retry, which fails too: no third attempt
		// (maxAttempts: 3), and only the first failure ejects.
		name:  "during the retry",
		steps: []string{"fail", "hold"},
		run: func(t *testing.T, r *testRouter, al *acceptLog, s *script) {
			c := rawRequest(t, r, "a")
			if n := recv(t, s.arrived, "the retry"); n != 2 {
				t.Fatalf("attempt %d held, want the retry (2)", n)
			}
			leave(t, al, c)
			close(s.release)
			finished(t, r, 1)
		},
		want: disconnectOutcome{Attempts: 2, Requests: map[string]float64{"499": 1}, Retries: 1, Ejections: 1, Queued: 1,
			LogErrors: []string{"client_gone"}, LogStatus: []int64{499}, LogAttempt: []int64{2}},
	}, {
		// One request holds class q's only slot; a second waits in the
		// queue and its client leaves: it never reaches a reader, and it
		// is not shed for load.
		name:  "while queued",
		steps: []string{"hold-ok"},
		run: func(t *testing.T, r *testRouter, al *acceptLog, s *script) {
			first := rawRequest(t, r, "q")
			recv(t, s.arrived, "the first request")
			second := rawRequest(t, r, "q")
			waitFor(t, func() bool { _, queued := r.classes["q"].queue.Stats(); return queued == 1 })
			leave(t, al, second)
			close(s.release)
			resp, err := http.ReadResponse(bufio.NewReader(first), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("first request: %v %v", resp, err)
			}
			resp.Body.Close()
			finished(t, r, 2)
		},
		want: disconnectOutcome{Attempts: 1, Requests: map[string]float64{"200": 1, "499": 1}, Queued: 2,
			LogErrors: nil, LogStatus: nil, LogAttempt: nil}, // the log is checked apart: order varies
	}}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			s := newScript(sc.steps...)
			var eps []string
			for range 3 {
				eps = append(eps, fmt.Sprintf("%q", handlerBackend(t, s.ServeHTTP)))
			}
			r, al := serveRouter(t, fmt.Sprintf(`
retry: {maxAttempts: 3}
outlier: {consecutiveFailures: 1, baseEjection: 1h, maxEjectedPercent: 100}
models:
  - {class: a, versions: [{name: v1, endpoints: [%[1]s]}]}
  - {class: q, maxInFlight: 1, maxQueue: 4, versions: [{name: v1, endpoints: [%[1]s]}]}
`, strings.Join(eps, ", ")))
			t.Cleanup(s.releaseOnce)
			sc.run(t, r, al, s)
			o := outcomeOf(t, r, s)
			if sc.name == "while queued" {
				slices.Sort(o.LogStatus)
				if fmt.Sprint(o.LogStatus) != "[200 499]" {
					t.Errorf("access log statuses %v, want 200 and 499", o.LogStatus)
				}
				o.LogErrors, o.LogStatus, o.LogAttempt = nil, nil, nil
			}
			if !reflect.DeepEqual(o, sc.want) {
				t.Errorf("outcome\n %+v\nwant\n %+v", o, sc.want)
			}
		})
	}
}

// TestClientHangupCancelsAttempt: a client that hangs up while its
// request is at a reader that has not answered cancels that attempt (the
// reader sees its connection closed) long before the 60 s deadline, and
// the request is recorded as 499 without a retry.
func TestClientHangupCancelsAttempt(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("peerClosed asks the socket only on linux and darwin")
	}
	arrived, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
	be := handlerBackend(t, func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body) // net/http then watches the connection
		arrived <- struct{}{}
		<-req.Context().Done()
		cancelled <- struct{}{}
	})
	r, _ := serveRouter(t, fmt.Sprintf(`models: [{class: a, attemptTimeout: 1h, versions: [{name: v1, endpoints: [%q]}]}]`, be))
	c := rawRequest(t, r, "a")
	recv(t, arrived, "the attempt reaching the reader")
	c.Close()
	recv(t, cancelled, "the attempt cancelled after the client hung up")
	finished(t, r, 1)
	if got := testutil.ToFloat64(r.metrics.Requests.WithLabelValues("a", "acme", "499")); got != 1 {
		t.Errorf("%v requests recorded as 499, want 1", got)
	}
	if got := testutil.ToFloat64(r.metrics.Retries.WithLabelValues("a")); got != 0 {
		t.Errorf("%v retries for a client that left", got)
	}
}
