package router

import (
	"errors"
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

var (
	errUnauthenticated = &RequestError{Status: http.StatusUnauthorized, Code: "unauthenticated",
		Message: "a valid API key is required"}
	errAmbiguousKey = &RequestError{Status: http.StatusBadRequest, Code: "ambiguous_key",
		Message: "the API key header appears more than once"}
	errTooLarge = &RequestError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
		Message: "the request body is larger than the router accepts"}
)
