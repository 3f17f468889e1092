package deepvue

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

// ErrResendBlocked is matched by the error of a call whose request the
// transport below the SDK began to send a second time (net/http resends on
// its own after an HTTP/2 RST_STREAM or GOAWAY, and replays an HTTP/1.1 POST
// carrying an Idempotency-Key; a caller's retrying transport may resend a
// 5xx). The first send may have reached Deepvue, so it never matches
// ErrNotSent. The second was stopped by the send-once guard, unless the
// error's text says the transport sent it anyway (a transport that does not
// pass the request's context down to the connection it writes on).
var ErrResendBlocked = errors.New("deepvue: the transport tried to send the request a second time")

// resendBlocked is the transport error of an attempt whose second write the
// guard saw: a fixed text that matches ErrResendBlocked.
type resendBlocked string

func (e resendBlocked) Error() string        { return string(e) }
func (e resendBlocked) Is(target error) bool { return target == ErrResendBlocked }

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

// blindness is why the send-once guard cannot see below a transport.
type blindness int

const (
	blindUntraced  blindness = iota + 1 // the transport reported no trace events
	blindUnstopped                      // it wrote again after the guard's cancel
)

// warnBlind logs, once per Client, that the send-once guard cannot see
// below the caller's transport.
func (c *Client) warnBlind(ctx context.Context, why blindness) {
	if c.logger == nil || c.blindWarned == nil || !c.blindWarned.CompareAndSwap(false, true) {
		return
	}
	reason := "it reports no httptrace events (it sends with a context of its own, or is not net/http)"
	if why == blindUnstopped {
		reason = "it wrote a request a second time after the SDK cancelled it (it does not pass the request's context down)"
	}
	c.logger.LogAttrs(ctx, slog.LevelWarn,
		"deepvue: the send-once guard cannot see below this transport: a request it resends on its own "+
			"is neither seen nor stopped, and each resend of generate-otp may send an SMS",
		slog.String("reason", reason))
}

// mayHaveResent marks the error of a call one of whose attempts went
// through a transport that reported no trace events: for no answer, a 429
// or a 5xx (what retrying transports retry), the request may have been sent
// more than once, and the error says so. Other errors are returned as they
// are.
func mayHaveResent(cl *call, err error) error {
	if err == nil || !cl.guard.untraced.Load() || errors.Is(err, ErrNotSent) || errors.Is(err, ErrResendBlocked) {
		return err
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode != http.StatusTooManyRequests && ae.StatusCode < 500 {
		return err
	}
	return &resendUnknownError{err: err}
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

// errNilClient is returned by every call on a nil Client or one not made by
// NewClient: a programming error; nothing is sent.
var errNilClient error = &ValidationError{Field: "client", Reason: "nil or zero Client: create one with NewClient"}

// usable reports whether c was made by NewClient.
func (c *Client) usable() bool { return c != nil && c.creds != nil && c.hc != nil }
