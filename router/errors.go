package router

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"
)

// RequestError is a refusal the router answers itself, with a JSON body
// {"error": {"code": ..., "message": ...}} and, for 429 and 503, a
// Retry-After header. Messages never echo request content.
type RequestError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *RequestError) Error() string {
	return strconv.Itoa(e.Status) + " " + e.Code + ": " + e.Message
}

// AsRequestError returns err as a *RequestError, or nil.
func AsRequestError(err error) *RequestError {
	var re *RequestError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// write sends the error as JSON.
func (e *RequestError) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	var b errorBody
	b.Error.Code, b.Error.Message = e.Code, e.Message
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(b)
}

var (
	errUnauthenticated = &RequestError{Status: http.StatusUnauthorized, Code: "unauthenticated",
		Message: "a valid API key is required"}
	errAmbiguousKey = &RequestError{Status: http.StatusBadRequest, Code: "ambiguous_key",
		Message: "the API key header appears more than once"}
	errTooLarge = &RequestError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
		Message: "the request body is larger than the router accepts"}
	errReadBody = &RequestError{Status: http.StatusBadRequest, Code: "bad_body",
		Message: "the request body could not be read"}
)
