package awstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Account and Region are what ARNs and queue attributes name.
const (
	Account = "123456789012"
	Region  = "eu-central-1"
)

// Auto Scaling lifecycle states the server uses (a subset of the API's).
const (
	Pending     = "Pending"
	InService   = "InService"
	Terminating = "Terminating"
	Terminated  = "Terminated"
)

// Group is an Auto Scaling group.
type Group struct {
	Name              string
	Min, Max, Desired int
	Instances         []Instance
	Tags              map[string]string
	AvailabilityZones []string
}

// Instance is a member of a group.
type Instance struct {
	ID, Zone, State, InstanceType string
}

// Nodegroup is an EKS managed nodegroup backed by the Auto Scaling group
// Group; its scalingConfig is that group's min, max and desired.
type Nodegroup struct {
	Cluster, Name, Group string
	// Status is the nodegroup's status, default ACTIVE. UPDATING makes
	// UpdateNodegroupConfig answer ResourceInUseException, as EKS does
	// while an update runs.
	Status string
}

// Message is a queued SQS message.
type Message struct {
	ID, Body string
	// Receives counts the times it was received.
	Receives  int
	visibleAt time.Time
	handles   []string
}

// Request is one recorded request.
type Request struct {
	// Service is "autoscaling", "eks" or "sqs"; Action the API action.
	Service, Action string
	Method, Path    string
	Header          http.Header
	Body            string
	// Form holds the parsed query-protocol parameters (Auto Scaling).
	Form url.Values
}

// JSON decodes a JSON body (EKS, SQS) into a map; nil if it is not JSON.
func (r Request) JSON() map[string]any {
	var m map[string]any
	if json.Unmarshal([]byte(r.Body), &m) != nil {
		return nil
	}
	return m
}

// Fault is an error answered instead of the action. A zero Code takes the
// service's own code for Kind.
type Fault struct {
	Kind    FaultKind
	Status  int
	Code    string
	Message string
}

// FaultKind names the common faults; the server renders each in the
// service's own code and status.
type FaultKind int

// Fault kinds.
const (
	FaultCustom   FaultKind = iota
	FaultThrottle           // Throttling (Auto Scaling), ThrottlingException (EKS), RequestThrottled (SQS)
	FaultInternal           // HTTP 500
	FaultDenied             // AccessDenied / AccessDeniedException, HTTP 403
	FaultInUse              // ResourceInUseException (EKS), ResourceContention (Auto Scaling)
	FaultNotFound           // ResourceNotFoundException (EKS), QueueDoesNotExist (SQS)
)

// Throttle, Internal, Denied, InUse and NotFound are the faults of each kind.
var (
	Throttle = Fault{Kind: FaultThrottle}
	Internal = Fault{Kind: FaultInternal}
	Denied   = Fault{Kind: FaultDenied}
	InUse    = Fault{Kind: FaultInUse}
	NotFound = Fault{Kind: FaultNotFound}
)

// Server is the endpoint. The zero value is not usable; call New.
type Server struct {
	mu        sync.Mutex
	onRequest func(Request)
	now       func() time.Time
	groups    map[string]*Group
	ngs       map[string]*Nodegroup // cluster/name
	queues    map[string]*queue     // by URL
	faults    map[string][]Fault
	always    map[string]Fault
	requests  []Request
	seq       int
}

type queue struct {
	url        string
	visibility time.Duration
	msgs       []*Message
	deleted    []string
	// changed is closed and replaced when a message is sent, waking long polls.
	changed chan struct{}
}

// New returns an empty server.
func New() *Server {
	return &Server{groups: map[string]*Group{}, ngs: map[string]*Nodegroup{}, queues: map[string]*queue{}, faults: map[string][]Fault{}, always: map[string]Fault{}}
}

// NewTest serves a new server on a loopback port until the test ends and
// returns it with its base URL.
func NewTest(tb testing.TB) (*Server, string) {
	s := New()
	hs := httptest.NewServer(s)
	tb.Cleanup(hs.Close)
	return s, hs.URL
}

// Serve answers requests on ln until it is closed (the sandbox's way).
func (s *Server) Serve(ln net.Listener) error {
	return (&http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}).Serve(ln)
}

// OnRequest sets a function called after each request is answered,
// without the server's lock: a readiness signal for tests.
func (s *Server) OnRequest(f func(Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRequest = f
}

// SetClock sets the clock of visibility timeouts (default time.Now).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// clock returns the time; the caller holds s.mu.
func (s *Server) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%017x", prefix, s.seq)
}

// PutGroup creates or replaces an Auto Scaling group, as given.
func (s *Server) PutGroup(g Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g.Instances = slices.Clone(g.Instances)
	for i := range g.Instances {
		if g.Instances[i].ID == "" {
			g.Instances[i].ID = s.nextID("i-")
		}
		if g.Instances[i].State == "" {
			g.Instances[i].State = InService
		}
		if g.Instances[i].Zone == "" {
			g.Instances[i].Zone = Region + "a"
		}
	}
	if len(g.AvailabilityZones) == 0 {
		g.AvailabilityZones = []string{Region + "a", Region + "b"}
	}
	s.groups[g.Name] = &g
}

// Group returns a copy of a group.
func (s *Server) Group(name string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[name]
	if !ok {
		return Group{}, false
	}
	c := *g
	c.Instances = slices.Clone(g.Instances)
	return c, true
}

// Groups returns a copy of every group, by name.
func (s *Server) Groups() []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Group, 0, len(s.groups))
	for _, g := range s.groups {
		c := *g
		c.Instances = slices.Clone(g.Instances)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SetInstanceState moves one instance of a group to state, as time would
// one at a time (the sandbox's cloud: a Pending instance goes InService
// when its node has booted); state "" removes the instance. It reports
// whether the instance was found.
func (s *Server) SetInstanceState(group, id, state string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, i := s.instance(group, id)
	if i < 0 {
		return false
	}
	if state == "" {
		g.Instances = slices.Delete(g.Instances, i, i+1)
	} else {
		g.Instances[i].State = state
	}
	return true
}

// Reclaim is EC2 taking a spot instance back: the instance is
// Terminated, and its group, now below its desired capacity, launches a
// Pending replacement, as an Auto Scaling group replaces an instance that
// went away. It reports whether the instance was found.
func (s *Server) Reclaim(group, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, i := s.instance(group, id)
	if i < 0 {
		return false
	}
	g.Instances[i].State = Terminated
	s.resize(g)
	return true
}

// instance finds an instance of a group: the group and the instance's
// index, or -1 when either is not there. s.mu is held.
func (s *Server) instance(group, id string) (*Group, int) {
	g, ok := s.groups[group]
	if !ok {
		return nil, -1
	}
	return g, slices.IndexFunc(g.Instances, func(in Instance) bool { return in.ID == id })
}

// PutNodegroup creates or replaces a managed nodegroup; its group must be
// put too (PutGroup).
func (s *Server) PutNodegroup(ng Nodegroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ng.Status == "" {
		ng.Status = "ACTIVE"
	}
	s.ngs[ng.Cluster+"/"+ng.Name] = &ng
}

// SetNodegroupStatus changes a nodegroup's status (e.g. UPDATING).
func (s *Server) SetNodegroupStatus(cluster, name, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ng, ok := s.ngs[cluster+"/"+name]; ok {
		ng.Status = status
	}
}

// Settle completes every pending change: Pending instances become
// InService, Terminating ones are gone.
func (s *Server) Settle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		g.Instances = slices.DeleteFunc(g.Instances, func(in Instance) bool { return in.State == Terminating || in.State == Terminated })
		for i := range g.Instances {
			if g.Instances[i].State == Pending {
				g.Instances[i].State = InService
			}
		}
	}
}

// live reports whether an instance counts toward the group's capacity.
func live(state string) bool { return !strings.HasPrefix(state, "Terminat") }

// resize launches or terminates instances so the live ones match Desired:
// new ones are Pending, the newest live ones go Terminating first.
func (s *Server) resize(g *Group) {
	n := 0
	for _, in := range g.Instances {
		if live(in.State) {
			n++
		}
	}
	for ; n < g.Desired; n++ {
		zone := g.AvailabilityZones[len(g.Instances)%len(g.AvailabilityZones)]
		g.Instances = append(g.Instances, Instance{ID: s.nextID("i-"), Zone: zone, State: Pending})
	}
	for i := len(g.Instances) - 1; i >= 0 && n > g.Desired; i-- {
		if live(g.Instances[i].State) {
			g.Instances[i].State = Terminating
			n--
		}
	}
}

// AddQueue creates an empty queue under url (any string: the SDK sends
// QueueUrl in the body and the request to its endpoint). Visibility is
// the queue's default visibility timeout (0: 30s, SQS's default).
func (s *Server) AddQueue(url string, visibility time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if visibility == 0 {
		visibility = 30 * time.Second
	}
	s.queues[url] = &queue{url: url, visibility: visibility, changed: make(chan struct{})}
}

// Send queues a message and returns its id.
func (s *Server) Send(queueURL, body string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queues[queueURL]
	if !ok {
		panic("awstest: no queue " + queueURL)
	}
	return s.send(q, body)
}

func (s *Server) send(q *queue, body string) string {
	m := &Message{ID: s.newUUID(), Body: body}
	q.msgs = append(q.msgs, m)
	close(q.changed)
	q.changed = make(chan struct{})
	return m.ID
}

// newUUID returns a UUID-shaped id (message ids, request ids).
func (s *Server) newUUID() string {
	s.seq++
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", s.seq, s.seq)
}

// Messages returns copies of the messages still in a queue (in flight or not).
func (s *Server) Messages(queueURL string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	if q, ok := s.queues[queueURL]; ok {
		for _, m := range q.msgs {
			out = append(out, *m)
		}
	}
	return out
}

// Deleted returns the ids of the messages deleted from a queue, in order.
func (s *Server) Deleted(queueURL string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.queues[queueURL]; ok {
		return slices.Clone(q.deleted)
	}
	return nil
}

// MakeVisible ends every in-flight message's visibility timeout, as if it
// had run out: the next receive gets them again.
func (s *Server) MakeVisible(queueURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.queues[queueURL]; ok {
		for _, m := range q.msgs {
			m.visibleAt = time.Time{}
		}
		close(q.changed)
		q.changed = make(chan struct{})
	}
}

// Fail makes the next len(faults) calls of action answer faults in order.
func (s *Server) Fail(action string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[action] = append(s.faults[action], faults...)
}

// FailAlways answers every request of each action with f, after any
// queued faults (Fail), until ClearFaults: the sandbox's "the cloud
// throttles every write for a minute".
func (s *Server) FailAlways(f Fault, actions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range actions {
		s.always[a] = f
	}
}

// ClearFaults drops the queued and standing faults of the actions.
func (s *Server) ClearFaults(actions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range actions {
		delete(s.faults, a)
		delete(s.always, a)
	}
}

// Requests returns the recorded requests, optionally only those of the
// given actions.
func (s *Server) Requests(actions ...string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if len(actions) == 0 || slices.Contains(actions, r.Action) {
			out = append(out, r)
		}
	}
	return out
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// ServeHTTP dispatches on the protocol: X-Amz-Target (SQS), a /clusters/
// path (EKS), else a query-protocol form (Auto Scaling).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)}
	switch target := r.Header.Get("X-Amz-Target"); {
	case strings.HasPrefix(target, "AmazonSQS."):
		req.Service, req.Action = "sqs", strings.TrimPrefix(target, "AmazonSQS.")
		s.record(req)
		s.serveSQS(w, r, req)
	case strings.HasPrefix(r.URL.Path, "/clusters/"):
		req.Service, req.Action = "eks", eksAction(r)
		s.record(req)
		s.serveEKS(w, r, req)
	default:
		form, _ := url.ParseQuery(string(body))
		req.Service, req.Action, req.Form = "autoscaling", form.Get("Action"), form
		s.record(req)
		s.serveAutoScaling(w, req)
	}
	s.mu.Lock()
	f := s.onRequest
	s.mu.Unlock()
	if f != nil {
		f(req)
	}
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// takeFault pops the next queued fault of an action.
func (s *Server) takeFault(action string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[action]
	if len(q) == 0 {
		f, ok := s.always[action]
		return f, ok
	}
	s.faults[action] = q[1:]
	return q[0], true
}

// render fills a fault's status, code and message from its kind, per service.
func (f Fault) render(service, action string) Fault {
	type sc struct {
		status int
		code   string
	}
	defaults := map[FaultKind]map[string]sc{
		FaultThrottle: {"autoscaling": {400, "Throttling"}, "eks": {429, "ThrottlingException"}, "sqs": {400, "RequestThrottled"}},
		FaultInternal: {"autoscaling": {500, "InternalFailure"}, "eks": {500, "ServerException"}, "sqs": {500, "InternalFailure"}},
		FaultDenied:   {"autoscaling": {403, "AccessDenied"}, "eks": {403, "AccessDeniedException"}, "sqs": {403, "AccessDenied"}},
		FaultInUse:    {"autoscaling": {400, "ResourceContention"}, "eks": {409, "ResourceInUseException"}, "sqs": {400, "OverLimit"}},
		FaultNotFound: {"autoscaling": {400, "ValidationError"}, "eks": {404, "ResourceNotFoundException"}, "sqs": {400, "QueueDoesNotExist"}},
	}
	if d, ok := defaults[f.Kind][service]; ok {
		if f.Status == 0 {
			f.Status = d.status
		}
		if f.Code == "" {
			f.Code = d.code
		}
	}
	if f.Status == 0 {
		f.Status = 400
	}
	if f.Message == "" {
		switch f.Kind {
		case FaultDenied:
			f.Message = fmt.Sprintf("User: arn:aws:sts::%s:assumed-role/headroom/test is not authorized to perform: %s:%s because no identity-based policy allows the %s:%s action", Account, service, action, service, action)
		case FaultThrottle:
			f.Message = "Rate exceeded"
		default:
			f.Message = "injected " + f.Code
		}
	}
	return f
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(v)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
