package deepvue

import (
	"context"
	"net/http"
	"time"

	"github.com/deepvue-go/deepvue/internal/slots"
)

// Names kept for one release after they were replaced (CHANGELOG.md,
// "Compatibility promise"): each says what to use instead, and goes in the
// next minor release.

// ObserverFuncs is an Observer made of optional functions: a nil field does
// nothing (and the Start functions then return the context unchanged).
//
// Deprecated: Observer is itself a struct of optional functions since 0.4.0:
// build &deepvue.Observer{StartCall: ..., EndCall: ...} (the fields lose the
// On prefix), or pass o.Observer() to WithObserver. ObserverFuncs goes in
// 0.5.0.
type ObserverFuncs struct {
	OnStartCall    func(ctx context.Context, call CallInfo) context.Context
	OnStartAttempt func(ctx context.Context, attempt AttemptInfo, header http.Header) context.Context
	OnEndAttempt   func(ctx context.Context, attempt AttemptInfo, result AttemptResult)
	OnEndCall      func(ctx context.Context, call CallInfo, result CallResult)
}

// Observer returns the Observer with o's functions, for WithObserver.
//
// Deprecated: build a *Observer directly; see ObserverFuncs.
func (o ObserverFuncs) Observer() *Observer {
	return &Observer{StartCall: o.OnStartCall, StartAttempt: o.OnStartAttempt, EndAttempt: o.OnEndAttempt, EndCall: o.OnEndCall}
}

// StartCall calls OnStartCall.
//
// Deprecated: see ObserverFuncs.
func (o ObserverFuncs) StartCall(ctx context.Context, call CallInfo) context.Context {
	if o.OnStartCall == nil {
		return ctx
	}
	return o.OnStartCall(ctx, call)
}

// StartAttempt calls OnStartAttempt.
//
// Deprecated: see ObserverFuncs.
func (o ObserverFuncs) StartAttempt(ctx context.Context, attempt AttemptInfo, header http.Header) context.Context {
	if o.OnStartAttempt == nil {
		return ctx
	}
	return o.OnStartAttempt(ctx, attempt, header)
}

// EndAttempt calls OnEndAttempt.
//
// Deprecated: see ObserverFuncs.
func (o ObserverFuncs) EndAttempt(ctx context.Context, attempt AttemptInfo, result AttemptResult) {
	if o.OnEndAttempt != nil {
		o.OnEndAttempt(ctx, attempt, result)
	}
}

// EndCall calls OnEndCall.
//
// Deprecated: see ObserverFuncs.
func (o ObserverFuncs) EndCall(ctx context.Context, call CallInfo, result CallResult) {
	if o.OnEndCall != nil {
		o.OnEndCall(ctx, call, result)
	}
}

// Window is one limit of a plan as the SDK's limiters enforce it: at most
// Limit requests admitted in any span of Per, which is Deepvue's window
// (Base: a second, a minute or a day) widened by WindowMargin.
//
// Deprecated: the windows are the limiters' own business since 0.4.0; a
// Plan's limits are its fields PerSecond, PerMinute and PerDay. Window goes
// in 0.5.0.
type Window struct {
	Limit int
	Per   time.Duration
	Base  time.Duration
}

// WindowMargin is how much longer than Deepvue's window the SDK's limiters
// make each window: 100 ms plus 0.1 % of the window (101 ms for a second,
// 160 ms for a minute, 86.5 s for a day).
//
// Deprecated: see Window.
func WindowMargin(per time.Duration) time.Duration { return slots.Margin(per) }

// Windows returns the windows of the plan that are enforced (a zero limit is
// not), each widened by WindowMargin: per second, per minute, per day.
//
// Deprecated: see Window.
func (p Plan) Windows() []Window {
	var out []Window
	for _, w := range slots.PlanWindows(p.PerSecond, p.PerMinute, p.PerDay) {
		out = append(out, Window{Limit: w.Limit, Per: w.Per, Base: w.Base})
	}
	return out
}

// GoString returns String: the Client without its credentials.
//
// Deprecated: fmt never calls it (Format prints String for every verb, %#v
// included); call String. GoString goes in 0.5.0.
func (c *Client) GoString() string { return c.String() }

// GoString returns String: the request with the OTP and mobile redacted.
//
// Deprecated: fmt never calls it (Format prints String for every verb, %#v
// included); call String. GoString goes in 0.5.0.
func (r VerifyOTPRequest) GoString() string { return r.String() }

// GoString returns String: the data without its personal fields.
//
// Deprecated: fmt never calls it (Format prints String for every verb, %#v
// included); call String. GoString goes in 0.5.0.
func (d AadhaarData) GoString() string { return d.String() }
