package deepvue

// WithSingleAttemptTransport declares that the transport given with
// WithHTTPClient (or http.DefaultTransport, for a nil Transport) makes
// exactly one attempt per RoundTrip: it never retries, fails over or
// resends a request, and whatever it writes it writes with the request's
// context. httpmock's MockTransport does (each RoundTrip calls one
// responder); so does a wrapper that only adds headers or records spans
// around an *http.Transport and passes the request on unchanged.
//
// Why it matters. Below a transport the SDK did not build, the SDK can
// only trust what it sees: net/http's *http.Transport reports every write
// through httptrace, and the send-once guard stops its resends. Any other
// RoundTripper may have sent the request before the answer or error it
// returns (a failover transport whose first dial failed, a transport that
// retries a 502 on its own and returns the 401 that followed), so by
// default every answer through it is "may have been sent more than once"
// (ErrMaybeSentMoreThanOnce, OTPMaybeSent) and none of its errors matches
// ErrNotSent, and the Client logs one Warn. With this declaration the
// SDK takes the transport's answer as the answer to the one request it
// sent: a test through httpmock then gets the same OTPStateOf and NextStep
// for every documented answer as production does. A transport error
// through a declared transport that reports no httptrace events (httpmock's
// "no responder") is still "may have been sent", as the SDK saw nothing.
//
// Declaring a transport that does retry, fail over or resend with a
// context of its own makes OTPStateOf say OTPNotSent for requests that may
// have sent an SMS: do not.
func WithSingleAttemptTransport() Option {
	return func(s *settings) error {
		s.singleAttempt = true
		return nil
	}
}
