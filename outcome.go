package deepvue

import (
	"context"
	"errors"
	"net"
	"strconv"
)

// Outcome names what happened to a call, for metrics and traces, never with
// any of an error's text: "ok" for nil; "limiter" when the rate limiter's
// Wait failed (ErrLimiter: a refusal, or a wait that ran into the deadline
// or a cancel: one name for all); the name of the sentinel the error matches
// ("ErrVerificationPending", "ErrInvalidInput", ..., and "ErrOTPRejected"
// for a verify-otp answer no other sentinel names); otherwise a
// class: "ErrResendBlocked" (the transport tried to send a request twice),
// "timeout" (a deadline), "canceled", "not_sent" (nothing left the process:
// a refused connection, DNS, TLS, the limiter), "http_502" (an *APIError
// for an undocumented answer, by status), "nil_context" or "transport".
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	if r := namedRow(err); r != nil {
		return r.outcomeName()
	}
	var ae *APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrNotSent):
		return "not_sent"
	case errors.As(err, &ae) && ae != nil:
		return "http_" + strconv.Itoa(ae.StatusCode)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "transport"
}
