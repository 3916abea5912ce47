package router

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// hop is the HTTP side of forwarding a request, as forward, the retry loop,
// sees it (fastHop; tests inject failures through it). A hop holds at most
// one response, the last send's, until the next send, discard or answer.
type hop interface {
	// send makes one attempt at ep within ctx, waiting for the response
	// head at most attempt (0: until ctx's deadline), and returns the
	// response's status, or an error when no response arrived:
	// errAttemptTimeout when attempt passed, one that is
	// context.DeadlineExceeded when the request's deadline did.
	send(ctx context.Context, ep *Endpoint, attempt time.Duration) (status int, err error)
	// discard drops the held response (before a retry, or when the client
	// has gone).
	discard()
	// answer passes the held response on to the client (and records the
	// body's bytes in the exchange).
	answer()
	// clientGone reports whether the client has closed its connection.
	// forward asks only off the hot path: after an attempt that failed,
	// and before the first attempt of a request that waited in the queue.
	clientGone() bool
}

// errClientGone is the request's outcome when its client closed the
// connection before an answer: 499, as nginx logs it. It is recorded
// under that code; the answer written normally reaches no one.
var errClientGone = &RequestError{Status: statusClientGone, Code: "client_gone",
	Message: "the client closed the connection before the answer"}

const statusClientGone = 499

// forward sends the admitted request to an endpoint of its version and
// passes the answer on, retrying on another endpoint within the limits
// (MaxAttempts, the deadline, the retry budget). Each attempt but the last
// waits for the response head at most the class's attempt timeout
// (latency.go): an endpoint that accepts and never answers costs that long,
// counts as a failure towards its ejection, and the request moves on.
//
// Once the client is gone nothing more is tried: an attempt that failed
// (an error, or a status that would be retried) after the client left is
// neither retried nor held against the endpoint, and the request ends
// with errClientGone. A response that arrives is passed on as usual, and
// recorded with its status, even if the client has gone meanwhile: the
// router would need a system call per request to know, and writing the
// answer is how it finds out. The client watcher (watchClient) also
// cancels the attempt in flight when the client leaves, which then fails
// and ends the same way.
func (r *Router) forward(ctx context.Context, h hop, a admission, x *exchange) error {
	cs, vs := a.cs, a.vs
	if a.waited && h.clientGone() {
		return errClientGone // left while queued; no attempt, no deposit
	}
	r.budget.Deposit(r.now())
	var last *Endpoint
	for {
		now := r.now()
		ep := vs.pool.Pick(now, last)
		if ep == nil {
			return r.noEndpoint(cs, vs)
		}
		x.attempts++
		x.endpoint = ep.Addr
		ep.outstanding.Add(1)
		// The last attempt has the rest of the deadline: cutting it short
		// could only turn a late answer into a 504.
		var attempt time.Duration
		if x.attempts < r.cfg.Retry.MaxAttempts {
			attempt = cs.attemptTimeout(r.cfg.Retry.MaxAttempts, now)
		}
		status, err := h.send(ctx, ep, attempt)
		if (err != nil || r.retryOn[status]) && h.clientGone() {
			if err == nil {
				h.discard()
			}
			ep.outstanding.Add(-1)
			return errClientGone
		}
		done := r.now()
		if err == nil {
			cs.latency.Observe(done.Sub(now), done)
		}
		if vs.pool.Report(ep, done, err != nil || status >= 500) {
			vs.ejects.Inc()
			r.log.Warn("endpoint ejected", zap.String("class", cs.name), zap.String("version", vs.name),
				zap.String("endpoint", ep.Addr))
		}
		attemptTimedOut := errors.Is(err, errAttemptTimeout)
		timedOut := err != nil && !attemptTimedOut && (ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded))
		retryable := err != nil && !timedOut || err == nil && r.retryOn[status]
		if retryable && x.attempts < r.cfg.Retry.MaxAttempts && r.timeLeft(ctx) && r.budget.Withdraw(done) {
			if err == nil {
				h.discard()
			}
			ep.outstanding.Add(-1)
			cs.retries.Inc()
			last = ep
			continue
		}
		if err != nil {
			ep.outstanding.Add(-1)
			if timedOut || attemptTimedOut {
				return &RequestError{Status: http.StatusGatewayTimeout, Code: "timeout",
					Message: "the model server did not answer within the deadline"}
			}
			return &RequestError{Status: http.StatusBadGateway, Code: "upstream_error",
				Message: "the model server could not be reached"}
		}
		x.status = status
		x.ep = ep // outstanding until the answer has been written (end)
		h.answer()
		return nil
	}
}

// timeLeft reports whether the deadline leaves room for another attempt:
// at least 10 ms.
func (r *Router) timeLeft(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return !ok || d.Sub(r.now()) > 10*time.Millisecond
}
