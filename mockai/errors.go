package mockai

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// APIError is an error answered with an OpenAI error body:
// {"error":{"message":…,"type":…,"param":…,"code":…}}.
type APIError struct {
	Status  int    // HTTP status
	Type    string // e.g. "invalid_request_error"
	Param   string // the offending parameter; "" is sent as null
	Code    string // a machine-readable code; "" is sent as null
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message)
}

type apiErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// Body returns the JSON error body.
func (e *APIError) Body() []byte {
	var b apiErrorBody
	b.Error.Message, b.Error.Type = e.Message, e.Type
	if e.Param != "" {
		b.Error.Param = &e.Param
	}
	if e.Code != "" {
		b.Error.Code = &e.Code
	}
	out, _ := json.Marshal(b) // strings only: cannot fail
	return out
}

func badRequest(param, code, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param, Code: code, Message: fmt.Sprintf(format, args...)}
}

// faultError is the error a fail:CODE hint answers with; its type and code follow
// what OpenAI sends for that status.
func faultError(status int) *APIError {
	e := &APIError{Status: status, Type: "invalid_request_error", Message: fmt.Sprintf("mock provider fault: fail:%d", status)}
	switch {
	case status == http.StatusUnauthorized:
		e.Type, e.Code = "authentication_error", "invalid_api_key"
	case status == http.StatusForbidden:
		e.Type = "permission_error"
	case status == http.StatusNotFound:
		e.Type, e.Code = "not_found_error", "model_not_found"
	case status == http.StatusTooManyRequests:
		e.Type, e.Code = "rate_limit_error", "rate_limit_exceeded"
	case status >= 500:
		e.Type = "server_error"
	}
	return e
}

func asAPIError(err error) *APIError {
	var e *APIError
	if errors.As(err, &e) {
		return e
	}
	return badRequest("", "", "%v", err)
}

func shuttingDown() *APIError {
	return &APIError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "shutting_down", Message: "the mock is shutting down"}
}
