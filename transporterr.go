package deepvue

import (
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"time"
)

// transportError is the error for a call that got no usable answer: it
// could not connect, the connection broke, the context ended, the limiter
// refused. Everything a caller can reach through it is scrubbed: its text,
// and the chain below it (a *url.Error whose URL has no query and whose Err
// is a *safeError). errors.Is(err, context.DeadlineExceeded), context.Canceled,
// ErrNotSent and net.Error's Timeout keep working.
type transportError struct {
	text    string
	err     error // *url.Error or *safeError
	notSent bool  // the SDK knows no request left the process
	limiter bool  // the Limiter's Wait failed (Outcome "limiter")
	// wait is what the original error's RetryAfter() said (a limiter's
	// next slot): a duration, kept apart from the scrubbed chain, whose
	// rule hands out an error only when its printed form is clean (a
	// *LimitError's nanoseconds can spell an Aadhaar number).
	wait time.Duration
}

// Error returns the scrubbed text.
func (e *transportError) Error() string { return e.text }

// Unwrap returns the scrubbed cause.
func (e *transportError) Unwrap() error { return e.err }

// Is matches ErrNotSent when the SDK knows nothing was sent, and ErrLimiter
// when the rate limiter did not let the call through.
func (e *transportError) Is(target error) bool {
	return (target == ErrNotSent && e.notSent) || (target == ErrLimiter && e.limiter)
}

// GoString keeps %#v to the scrubbed text.
func (e *transportError) GoString() string {
	return "deepvue.transportError{" + strconv.Quote(e.text) + "}"
}

// newTransportError builds the transportError for a call to endpoint (which
// carries no query). doing says what the SDK was doing ("sending the
// request").
func newTransportError(op string, endpoint *url.URL, doing string, err error, notSent bool, sec *secrets) *transportError {
	var cause error
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = &url.Error{Op: ue.Op, URL: endpoint.String(), Err: newSafeError(ue.Err, sec)}
	} else {
		cause = newSafeError(err, sec)
	}
	return &transportError{
		text:    sec.scrubText("deepvue: " + op + ": " + doing + ": " + cause.Error()),
		err:     cause,
		notSent: notSent,
		wait:    retryAfterOf(err),
	}
}

// retryAfterOf returns what the first error in err's chain with a method
// RetryAfter() time.Duration says, 0 if none does (or its method panics:
// a typed nil of a caller's type).
func retryAfterOf(err error) (d time.Duration) {
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) {
		return 0
	}
	defer func() {
		if recover() != nil {
			d = 0
		}
	}()
	return ra.RetryAfter()
}

// safeError stands in for an error from below the SDK (net/http, a
// transport, a limiter), whose text may quote what a server sent (a
// malformed header line, an HTTP/2 GOAWAY's debug data) and so the URL
// query or a header. Its text is scrubbed; it does not unwrap to the
// original. errors.Is reaches the original (sentinels carry no server
// bytes); errors.As hands out an error of the original chain only when that
// error's text is clean; Timeout and Temporary answer as the original does.
type safeError struct {
	text string
	orig error
	sec  *secrets
}

// newSafeError wraps err with its text scrubbed by scrubBelow: every string
// it quotes (server bytes, in net/http's texts) replaced by a placeholder,
// the rest scrubbed as free text, at most maxBelowText bytes.
func newSafeError(err error, sec *secrets) *safeError {
	return &safeError{text: sec.scrubBelow(err.Error(), maxBelowText), orig: err, sec: sec}
}

// Error returns the scrubbed text.
func (e *safeError) Error() string { return e.text }

// GoString keeps %#v to the scrubbed text.
func (e *safeError) GoString() string { return "deepvue.safeError{" + strconv.Quote(e.text) + "}" }

// Is reports whether the original error matches target, except for
// ErrNotSent: whether a call was sent is the SDK's own decision
// (transportError), never that of an error from below it (a limiter or a
// transport whose error wraps ErrNotSent after a request went out).
func (e *safeError) Is(target error) bool { return target != ErrNotSent && errors.Is(e.orig, target) }

// As finds target in the original error's chain, and sets it only if that
// error's text holds nothing to scrub.
func (e *safeError) As(target any) bool {
	tv := reflect.ValueOf(target)
	if tv.Kind() != reflect.Pointer || tv.IsNil() {
		return false
	}
	probe := reflect.New(tv.Type().Elem())
	if !errors.As(e.orig, probe.Interface()) {
		return false
	}
	found := probe.Elem()
	if !e.sec.clean(found.Interface()) {
		return false
	}
	tv.Elem().Set(found)
	return true
}

// Timeout reports whether the original error is a timeout.
func (e *safeError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.orig, &t) && t.Timeout()
}

// Temporary reports whether the original error says it is temporary.
func (e *safeError) Temporary() bool {
	var t interface{ Temporary() bool }
	return errors.As(e.orig, &t) && t.Temporary()
}

// resendUnknownError is an error of a call whose transport hides what it
// sends: the request may have been sent more than once.
type resendUnknownError struct{ err error }

// resendUnknownText is what resendUnknownError adds to the call's error.
const resendUnknownText = " (the request may have been sent more than once: " +
	"the transport below the SDK reports no trace events, so the send-once guard cannot see its resends)"

// Error returns the call's error text with the warning.
func (e *resendUnknownError) Error() string { return e.err.Error() + resendUnknownText }

// Unwrap returns the call's error.
func (e *resendUnknownError) Unwrap() error { return e.err }

// GoString keeps %#v to the text.
func (e *resendUnknownError) GoString() string {
	return "deepvue.resendUnknownError{" + strconv.Quote(e.Error()) + "}"
}
