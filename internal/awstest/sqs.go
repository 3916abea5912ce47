package awstest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SQS's awsJson1_0 protocol: POST / with X-Amz-Target: AmazonSQS.<Action>
// and a JSON body; errors carry the shape id in __type and, for the SDK's
// query-compatible mode, the query code in x-amzn-query-error.

const sqsContentType = "application/x-amz-json-1.0"

// sqsQueryCodes are the query-protocol codes of the JSON error types that
// SQS answers with x-amzn-query-error.
var sqsQueryCodes = map[string]string{
	"QueueDoesNotExist":      "AWS.SimpleQueueService.NonExistentQueue",
	"ReceiptHandleIsInvalid": "ReceiptHandleIsInvalid",
}

func writeSQSError(w http.ResponseWriter, rid string, f Fault) {
	w.Header().Set("X-Amzn-RequestId", rid)
	code := f.Code
	if q, ok := sqsQueryCodes[code]; ok {
		code = q
	}
	kind := "Sender"
	if f.Status >= 500 {
		kind = "Receiver"
	}
	w.Header().Set("X-Amzn-Query-Error", code+";"+kind)
	writeJSON(w, f.Status, sqsContentType, map[string]string{"__type": "com.amazonaws.sqs#" + f.Code, "message": f.Message})
}

func (s *Server) serveSQS(w http.ResponseWriter, r *http.Request, req Request) {
	rid := s.requestID()
	w.Header().Set("X-Amzn-RequestId", rid)
	if f, ok := s.takeFault(req.Action); ok {
		writeSQSError(w, rid, f.render("sqs", req.Action))
		return
	}
	var in struct {
		QueueURL            string   `json:"QueueUrl"`
		MaxNumberOfMessages int      `json:"MaxNumberOfMessages"`
		WaitTimeSeconds     *int     `json:"WaitTimeSeconds"`
		VisibilityTimeout   *int     `json:"VisibilityTimeout"`
		ReceiptHandle       string   `json:"ReceiptHandle"`
		MessageBody         string   `json:"MessageBody"`
		AttributeNames      []string `json:"AttributeNames"`
	}
	if err := json.Unmarshal([]byte(req.Body), &in); err != nil {
		writeSQSError(w, rid, Fault{Status: 400, Code: "InvalidParameterValue", Message: err.Error()})
		return
	}
	s.mu.Lock()
	q, ok := s.queues[in.QueueURL]
	s.mu.Unlock()
	if !ok {
		writeSQSError(w, rid, Fault{Status: 400, Code: "QueueDoesNotExist", Message: "The specified queue does not exist."})
		return
	}
	switch req.Action {
	case "ReceiveMessage":
		limit := in.MaxNumberOfMessages
		if limit == 0 {
			limit = 1
		}
		if limit < 1 || limit > 10 {
			writeSQSError(w, rid, Fault{Status: 400, Code: "InvalidParameterValue", Message: "Value for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."})
			return
		}
		wait := 0
		if in.WaitTimeSeconds != nil {
			wait = *in.WaitTimeSeconds
		}
		if wait < 0 || wait > 20 {
			writeSQSError(w, rid, Fault{Status: 400, Code: "InvalidParameterValue", Message: "Value for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."})
			return
		}
		vis := q.visibility
		if in.VisibilityTimeout != nil {
			vis = time.Duration(*in.VisibilityTimeout) * time.Second
		}
		msgs := s.receive(r, q, limit, time.Duration(wait)*time.Second, vis)
		writeJSON(w, http.StatusOK, sqsContentType, map[string]any{"Messages": msgs})
	case "DeleteMessage":
		if !s.deleteMessage(q, in.ReceiptHandle) {
			writeSQSError(w, rid, Fault{Status: 400, Code: "ReceiptHandleIsInvalid", Message: fmt.Sprintf("The input receipt handle \"%s\" is not a valid receipt handle.", in.ReceiptHandle)})
			return
		}
		writeJSON(w, http.StatusOK, sqsContentType, map[string]any{})
	case "GetQueueAttributes":
		s.mu.Lock()
		name := in.QueueURL[strings.LastIndex(in.QueueURL, "/")+1:]
		attrs := map[string]string{
			"QueueArn":                    fmt.Sprintf("arn:aws:sqs:%s:%s:%s", Region, Account, name),
			"ApproximateNumberOfMessages": strconv.Itoa(len(q.msgs)),
			"VisibilityTimeout":           strconv.Itoa(int(q.visibility / time.Second)),
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, sqsContentType, map[string]any{"Attributes": attrs})
	case "SendMessage":
		s.mu.Lock()
		id := s.send(q, in.MessageBody)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, sqsContentType, map[string]any{"MessageId": id, "MD5OfMessageBody": md5Hex(in.MessageBody)})
	default:
		writeSQSError(w, rid, Fault{Status: 400, Code: "InvalidAction", Message: "The action " + req.Action + " is not valid for this endpoint."})
	}
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

type sqsMessage struct {
	MessageID     string            `json:"MessageId"`
	ReceiptHandle string            `json:"ReceiptHandle"`
	MD5OfBody     string            `json:"MD5OfBody"`
	Body          string            `json:"Body"`
	Attributes    map[string]string `json:"Attributes,omitempty"`
}

// receive takes up to max visible messages, waiting up to wait for one
// (a long poll) unless the request is cancelled.
func (s *Server) receive(r *http.Request, q *queue, limit int, wait, vis time.Duration) []sqsMessage {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		now := s.clock()
		var out []sqsMessage
		for _, m := range q.msgs {
			if len(out) == limit {
				break
			}
			if m.visibleAt.After(now) {
				continue
			}
			m.Receives++
			m.visibleAt = now.Add(vis)
			h := fmt.Sprintf("rh-%s-%d", m.ID, m.Receives)
			m.handles = append(m.handles, h)
			out = append(out, sqsMessage{MessageID: m.ID, ReceiptHandle: h, MD5OfBody: md5Hex(m.Body), Body: m.Body,
				Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.Receives)}})
		}
		changed := q.changed
		s.mu.Unlock()
		if len(out) > 0 || wait == 0 {
			return out
		}
		select {
		case <-changed:
		case <-deadline.C:
			return out
		case <-r.Context().Done():
			return out
		}
	}
}

// deleteMessage deletes the message a receipt handle was issued for (any
// of its handles, as SQS accepts an older one while the message exists).
func (s *Server) deleteMessage(q *queue, handle string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range q.msgs {
		for _, h := range m.handles {
			if h == handle {
				q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
				q.deleted = append(q.deleted, m.ID)
				return true
			}
		}
	}
	return false
}
