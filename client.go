// Package deepvue is a Go client for Deepvue's Aadhaar eKYC V2 API: send an
// OTP to the mobile linked to an Aadhaar number (GenerateOTP), then verify
// the OTP the customer typed and receive their KYC data (VerifyOTP).
//
// The client is built for onboarding backends: it validates input before
// anything reaches the network, maps every documented answer to a sentinel
// error, sends each request at most once (only a 500 SOURCE_FAILURE, after
// which no SMS was sent, is retried; a transport that tries to resend on its
// own is stopped), never follows redirects, reads bounded answers within a
// memory budget shared by the process, and never puts an Aadhaar number, OTP, mobile
// number or credential into an error, a log record or a printed value. One
// Client is safe for concurrent use.
package deepvue

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/deepvue-go/deepvue/internal/budget"
)

// Version is the SDK version sent in the User-Agent header.
const Version = "0.3.0"

// Client calls Deepvue's Aadhaar eKYC V2 API. Create it with NewClient; it is
// safe for concurrent use and should be shared (it holds a connection pool).
type Client struct {
	// The credentials sit behind a func: fmt prints any func as an address,
	// whatever the verb and depth, so even printing a dereferenced Client
	// (or a struct that embeds one) shows no secret.
	creds        func() *credentials
	hc           *retryablehttp.Client
	base         guardedTransport // the transport under go-retryablehttp
	generateURL  *url.URL
	verifyURL    *url.URL
	userAgent    []string
	retryMax     int
	timeout      time.Duration
	logger       *slog.Logger
	limiter      Limiter
	observer     *Observer
	audit        AuditFunc
	consent      consentPolicy
	budget       *budget.Budget
	redactedBase string

	blindWarned *atomic.Bool // the send-once guard's blindness was logged (warnBlind)

	noGuard bool // tests only: send without the send-once guard, to show what it prevents

	singleAttempt bool // WithSingleAttemptTransport: the caller's transport makes one attempt per RoundTrip

	ownsTransport bool       // the transport is the SDK's own (no WithHTTPClient): Close closes it
	life          *lifecycle // behind a pointer, so that a Client value can still be copied (and printed)
}

// lifecycle is what Close changes.
type lifecycle struct {
	closed   atomic.Bool  // Close was called
	inflight atomic.Int64 // calls between their start and their end
}

type credentials struct {
	clientID string
	secret   string
	idHeader []string
	keyHdr   []string
}

// NewClient returns a Client that authenticates with the client-id and
// x-api-key (client secret) headers. It checks its arguments and options and
// returns the first error; it never touches the network.
func NewClient(clientID, clientSecret string, opts ...Option) (*Client, error) {
	if err := checkCredential(FieldClientID, clientID); err != nil {
		return nil, err
	}
	if err := checkCredential(FieldClientSecret, clientSecret); err != nil {
		return nil, err
	}
	s := defaultSettings()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	if s.plainRemote && !s.insecurePlainHTTP {
		return nil, invalid(FieldBaseURL, "must use https (plain http is only allowed to a loopback host, "+
			"or with WithInsecurePlainHTTP on a test stack)")
	}

	ua := "deepvue-go/" + Version
	if s.userAgent != "" {
		ua = s.userAgent + " " + ua
	}
	creds := &credentials{
		clientID: clientID,
		secret:   clientSecret,
		idHeader: []string{clientID},
		keyHdr:   []string{clientSecret},
	}
	endpoint := func(path string) *url.URL {
		u := *s.baseURL
		u.Path += path
		return &u
	}
	c := &Client{
		creds:        func() *credentials { return creds },
		generateURL:  endpoint("/v2/ekyc/aadhaar/generate-otp"),
		verifyURL:    endpoint("/v2/ekyc/aadhaar/verify-otp"),
		userAgent:    []string{ua},
		retryMax:     s.retryMax,
		timeout:      s.timeout,
		logger:       s.logger,
		limiter:      s.limiter,
		observer:     s.observer,
		audit:        s.audit,
		consent:      s.consent,
		budget:       processBudget(),
		redactedBase: s.baseURL.Scheme + "://" + s.baseURL.Host + s.baseURL.Path,
		life:         &lifecycle{},
		blindWarned:  new(atomic.Bool),

		singleAttempt: s.singleAttempt,
	}
	if s.maxBuffered > 0 {
		c.budget = newBudget(s.maxBuffered) // WithMaxBufferedBytes: a budget of its own
	}

	// The caller's client is a copy (WithHTTPClient); a nil Transport stays
	// nil, meaning http.DefaultTransport at each request, as in net/http.
	hc := s.httpClient
	if hc == nil {
		hc = &http.Client{Transport: defaultTransport()}
		c.ownsTransport = true
	}
	hc.CheckRedirect = refuseRedirect
	c.base = guardedTransport{rt: hc.Transport}
	hc.Transport = c.base

	c.hc = &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       nil, // its logger prints full URLs, queries included
		RetryWaitMin: s.retryWaitMin,
		RetryWaitMax: s.retryWaitMax,
		RetryMax:     s.retryMax,
		CheckRetry:   c.checkRetry,
		Backoff:      backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		PrepareRetry: c.prepareRetry,
	}
	if s.plainRemote && s.logger != nil {
		s.logger.LogAttrs(context.Background(), slog.LevelWarn, insecurePlainHTTPWarning,
			slog.String("base_url", c.redactedBase))
	}
	return c, nil
}

// CloseIdleConnections closes the idle connections of the Client's
// transport (with WithHTTPClient, the caller's), for example when a test
// ends or a process drains. The Client stays usable. To end a Client's use,
// call Close.
func (c *Client) CloseIdleConnections() {
	if !c.usable() {
		return
	}
	if ci, ok := c.base.base().(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// secrets returns what a call must scrub, starting from the client secret.
func (c *Client) secrets() secrets { return secrets{Secret: c.creds().secret} }

// String describes the Client without its credentials.
func (c *Client) String() string {
	if !c.usable() {
		return nilClientText
	}
	return "deepvue.Client{base_url: " + c.redactedBase + ", client_id: " + maskID(c.creds().clientID) +
		", client_secret: [REDACTED]}"
}

// Format makes every fmt verb, %#v included, print String (%q quotes it).
func (c *Client) Format(f fmt.State, verb rune) { formatWith(f, verb, c.String()) }

// LogValue renders the Client for slog without credentials.
func (c *Client) LogValue() slog.Value {
	if !c.usable() {
		return slog.StringValue(nilClientText)
	}
	return slog.GroupValue(
		slog.String("base_url", c.redactedBase),
		slog.String("client_id", maskID(c.creds().clientID)),
	)
}

// nilClientText describes a nil Client or one not made by NewClient.
const nilClientText = "deepvue.Client{unusable: create one with NewClient}"

// maskID shows the first four characters of a client id.
func maskID(id string) string {
	if len(id) <= 4 {
		return "****"
	}
	return id[:4] + "****"
}

// Close ends the Client's use. Calls made after it fail at once with
// ErrClientClosed (which matches ErrNotSent), once their input is checked:
// they neither wait on the rate limiter nor send anything. Calls already in
// flight finish as usual. When the Client owns its transport (no WithHTTPClient),
// Close closes its idle connections now and those of calls still in flight
// when the last one ends, so the Client leaves no connection or goroutine
// behind; a transport given with WithHTTPClient stays the caller's to close,
// and is not touched. Close can be called more than once and always returns
// nil (the error result is there so that Client fits io.Closer).
func (c *Client) Close() error {
	if c == nil || c.life == nil { // a nil or zero Client has nothing to close
		return nil
	}
	if c.life.closed.Swap(true) {
		return nil
	}
	c.closeOwnedIdle()
	return nil
}

// closeOwnedIdle closes the idle connections of the SDK's own transport.
func (c *Client) closeOwnedIdle() {
	if !c.ownsTransport {
		return
	}
	if ci, ok := c.base.base().(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// withDeadline is the story's deadline step: one cancelable context per
// call, with the Client's default deadline (WithTimeout) when the caller
// set none. The send-once guard cancels it too.
func (c *Client) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// enter counts a call in flight and reports ErrClientClosed once Close was
// called; each enter is matched by a leave.
func (c *Client) enter() error {
	c.life.inflight.Add(1)
	if c.life.closed.Load() {
		return ErrClientClosed
	}
	return nil
}

// leave ends what enter began: the last call to end after Close closes the
// connections it left idle.
func (c *Client) leave() {
	if c.life.inflight.Add(-1) == 0 && c.life.closed.Load() {
		c.closeOwnedIdle()
	}
}

// errNilClient is returned by every call on a nil Client or one not made by
// NewClient: a programming error; nothing is sent.
var errNilClient error = &ValidationError{Field: "client", Reason: "nil or zero Client: create one with NewClient"}

// usable reports whether c was made by NewClient.
func (c *Client) usable() bool { return c != nil && c.creds != nil && c.hc != nil }
