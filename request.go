package deepvue

import (
	"context"
	"hash/maphash"
	"net/http"

	"github.com/hashicorp/go-retryablehttp"
)

// operation is what GenerateOTP or VerifyOTP contributes to the story: its
// input, checked (recording the values the call must scrub), the query that
// carries it, and the decoding of its answer.
type operation interface {
	// check validates the input and records in sec what must be scrubbed.
	check(sec *secrets) error
	// query returns the request's URL query; called after check.
	query() string
	// flightKey is the keyed hash of what makes two calls of the operation
	// the same request (for the join step, flight.go); called after check.
	flightKey(seed maphash.Seed) uint64
	// sameRequest reports whether other (checked too) sends the same
	// request: what flightKey hashes, compared.
	sameRequest(other operation) bool
	// queryShape tells apart the forms of the operation's query (which
	// keys it has, whatever their values), 0 to maxQueryShapes-1: calls of
	// one shape share one redacted URL (observe.go).
	queryShape() int
	// auditFields returns the purpose and the reference id (verify-otp)
	// for the consent record.
	auditFields() (purpose, ref string)
	// decode turns the final answer into the operation's result or an
	// *APIError.
	decode(a *answer, sec *secrets) (any, error)
	// settle is the step after decode: generate-otp remembers the OTP it
	// sent, and a 409 VERIFICATION_PENDING gets the pending one
	// (pending.go); verify-otp returns what it is given.
	settle(ctx context.Context, cl *call, result any, err error) (any, error)
	// done returns the transaction id of the operation's result (nil
	// without one) and records in au, when set, what its outcome audit
	// record needs of it.
	done(result any, au *auditCall) (txn string)
}

// callKey finds the call in the request's context: go-retryablehttp's hooks
// and the guarded transport get only a context or a request.
type callKey struct{}

// callCtx is the request's context: the guarded context of the call, which
// also answers callKey with the call. It lives inside the call record (as
// context.WithValue would, at the cost of an allocation of its own);
// contexts derived from it still find the cancelable context below it
// through Value, as net/http's do. Below it lie only the call's flight and
// values added to it (the guard's trace), so it ends when the flight does,
// and its AfterFunc is the flight's.
type callCtx struct {
	context.Context
	cl  *call
	end afterFuncer // the call's flight (&cl.fl)
}

// afterFuncer is the end of a context that runs functions when it comes:
// the call's flight (flight.go).
type afterFuncer interface {
	AfterFunc(fn func()) (stop func() bool)
}

// AfterFunc registers fn on the call's flight, whose end is this context's
// (see callCtx): a context derived from this one (net/http's transport
// derives one for every request) then needs no goroutine to watch it.
func (c *callCtx) AfterFunc(fn func()) (stop func() bool) { return c.end.AfterFunc(fn) }

// Value returns the call for callKey, and asks the context below otherwise.
func (c *callCtx) Value(key any) any {
	if _, ok := key.(callKey); ok {
		return c.cl
	}
	return c.Context.Value(key)
}

// contentTypeJSON is the Content-Type Deepvue's documented calls send
// (with no body).
var contentTypeJSON = []string{"application/json"}

// newRequest is the story's build step: the POST to the call's endpoint,
// its query from the checked input, the credentials' headers, and a
// context that carries the call (callKey) below the guarded ctx.
func (c *Client) newRequest(ctx context.Context, cl *call) (*retryablehttp.Request, error) {
	creds := cl.creds
	cl.url = *cl.endpoint
	cl.url.RawQuery = cl.in.query()
	hr := http.Request{ // on the stack: WithContext below makes the one copy sent
		Method:     http.MethodPost,
		URL:        &cl.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Host:       cl.url.Host,
		Header: http.Header{
			"Client-Id":    creds.idHeader,
			"X-Api-Key":    creds.keyHdr,
			"User-Agent":   c.userAgent,
			"Content-Type": contentTypeJSON,
		},
	}
	cl.ctx = callCtx{ctx, cl, &cl.fl}
	return retryablehttp.FromRequest(hr.WithContext(&cl.ctx))
}
