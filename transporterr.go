package deepvue

import (
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"time"

	"github.com/deepvue-go/deepvue/internal/redact"
)

// transportError is the error for a call that got no usable answer: it
// could not connect, the connection broke, the context ended, the limiter
// refused. Everything a caller can reach through it is scrubbed: its text,
// and the chain below it (a *url.Error whose URL has no query and whose Err
// is a *safeError). errors.Is(err, context.DeadlineExceeded), context.Canceled,
// ErrNotSent and net.Error's Timeout keep working.
type transportError struct {
	text    string
	err     error  // *url.Error or *safeError
	op      string // the call's operation (NextStep)
	notSent bool   // the SDK knows no request left the process
	limiter bool   // the Limiter's Wait failed (Outcome "limiter")
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

// Temporary reports whether the same call may be made again at once: only
// when the SDK knows nothing was sent (errors.As with an interface
// { Temporary() bool } stops here, before a net.Error below that would
// call a connection reset after the request was written temporary).
func (e *transportError) Temporary() bool { return e.notSent }

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
		text:    sec.ScrubText("deepvue: " + op + ": " + doing + ": " + cause.Error()),
		err:     cause,
		op:      op,
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

// newSafeError wraps err with its text scrubbed by ScrubBelow: every string
// it quotes (server bytes, in net/http's texts) replaced by a placeholder,
// the rest scrubbed as free text, at most redact.MaxBelowText bytes.
func newSafeError(err error, sec *secrets) *safeError {
	return &safeError{text: sec.ScrubBelow(err.Error(), redact.MaxBelowText), orig: err, sec: sec}
}

// Error returns the scrubbed text.
func (e *safeError) Error() string { return e.text }

// GoString keeps %#v to the scrubbed text.
func (e *safeError) GoString() string { return "deepvue.safeError{" + strconv.Quote(e.text) + "}" }

// Is reports whether the original error matches target, except for the
// sentinels of the table of answers (ErrNotSent, ErrUnauthorized, ...):
// whether a call was sent, and what Deepvue answered, are the SDK's own
// decisions (transportError, *APIError), never those of an error from below
// it (a limiter or a transport whose error wraps ErrNotSent after a request
// went out, or returns an *APIError of its own making).
func (e *safeError) Is(target error) bool {
	if rowOf(target) == nil {
		return errors.Is(e.orig, target)
	}
	// The send-once guard's own verdict (an unexported type no transport
	// can make) is the one table sentinel that comes from below.
	var rb resendBlocked
	return errors.As(e.orig, &rb) && rb.Is(target)
}

// As finds target in the original error's chain, and sets it only if that
// error's text holds nothing to scrub. It never hands out an *APIError: an
// answer is the SDK's to decode, and one a transport returns is not
// Deepvue's (OTPStateOf would read it as one).
func (e *safeError) As(target any) bool {
	tv := reflect.ValueOf(target)
	if tv.Kind() != reflect.Pointer || tv.IsNil() {
		return false
	}
	if _, ok := target.(**APIError); ok {
		return false
	}
	probe := reflect.New(tv.Type().Elem())
	if !errors.As(e.orig, probe.Interface()) {
		return false
	}
	found := probe.Elem()
	if !e.sec.Clean(found.Interface()) {
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
// sends: the request may have been sent more than once. It matches
// ErrMaybeSentMoreThanOnce.
type resendUnknownError struct {
	err    error
	reason string // resendUntraced or resendUntrusted
}

// What resendUnknownError adds to the call's error.
const (
	resendUntraced = " (the request may have been sent more than once: " +
		"the transport below the SDK reports no trace events, so the send-once guard cannot see its resends)"
	resendUntrusted = " (the request may have been sent more than once: " +
		"the transport below the SDK is neither net/http's *http.Transport nor declared with WithSingleAttemptTransport, " +
		"so the SDK cannot know what it sent)"
)

// Error returns the call's error text with the warning.
func (e *resendUnknownError) Error() string { return e.err.Error() + e.reason }

// Unwrap returns the call's error.
func (e *resendUnknownError) Unwrap() error { return e.err }

// Is matches ErrMaybeSentMoreThanOnce.
func (e *resendUnknownError) Is(target error) bool { return target == ErrMaybeSentMoreThanOnce }

// Temporary is false: the request, and an SMS, may have gone out.
func (e *resendUnknownError) Temporary() bool { return false }

// GoString keeps %#v to the text.
func (e *resendUnknownError) GoString() string {
	return "deepvue.resendUnknownError{" + strconv.Quote(e.Error()) + "}"
}

// resendBlocked is the transport error of an attempt whose second write the
// guard saw: a fixed text that matches ErrResendBlocked.
type resendBlocked string

func (e resendBlocked) Error() string { return string(e) }

// Is matches ErrResendBlocked, and ErrMaybeSentMoreThanOnce when the
// second write went out.
func (e resendBlocked) Is(target error) bool {
	return target == ErrResendBlocked || target == ErrMaybeSentMoreThanOnce && error(e) == errResendNotStopped
}

// errResendBlocked is the transport error of an attempt whose request the
// transport below the SDK tried to write a second time, and the guard
// stopped it.
var errResendBlocked error = resendBlocked("the transport below the SDK tried to send the request a second time " +
	"(net/http after a connection lost or an HTTP/2 stream refused or reset once the request was written, " +
	"or a caller's retrying transport); " +
	"the SDK stopped it, but the first may have reached Deepvue")

// errResendNotStopped is the transport error of an attempt whose request
// the transport wrote a second time after the guard had cancelled it.
var errResendNotStopped error = resendBlocked("the transport below the SDK sent the request more than once " +
	"and ignored the SDK's cancel (it does not pass the request's context down): " +
	"the request may have reached Deepvue more than once")
