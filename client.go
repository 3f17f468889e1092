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
// Client is safe for concurrent use; many Clients in one process (one per
// tenant, or even per request) share one connection pool.
//
// Double submits: identical calls at once on one Client (a double click)
// send one request and share its result. Pending OTPs: the SDK remembers
// each OTP it sent until it expires (PendingStore), so that Deepvue's 409
// VERIFICATION_PENDING, which may carry no reference id, gives the pending
// one (PendingReference) and its time left (RetryAfter).
package deepvue

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/deepvue-go/deepvue/internal/budget"
)

// Version is the SDK version sent in the User-Agent header.
const Version = "0.4.0"

// Client calls Deepvue's Aadhaar eKYC V2 API. Create it with NewClient; it is
// safe for concurrent use and should be shared (it holds a connection pool).
type Client struct {
	// The credentials sit behind a func: fmt prints any func as an address,
	// whatever the verb and depth, so even printing a dereferenced Client
	// (or a struct that embeds one) shows no secret.
	creds        func() *credentials
	storeCreds   func(*credentials) // SetCredentials
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
	obsInfo      *observerInfo // with an Observer: what it is told of every call
	audit        AuditFunc
	tenant       string         // WithTenant
	pending      *pendingConfig // the OTPs sent (pending.go); nil: none remembered
	consent      consentPolicy
	budget       *budget.Budget
	redactedBase string

	blindWarned *atomic.Bool // the send-once guard's blindness was logged (warnBlind)

	noGuard bool // tests only: send without the send-once guard, to show what it prevents

	flights       *flights   // the calls in flight, for double submits (flight.go)
	deadlines     *deadlines // the Client's one timer (deadline.go)
	singleAttempt bool       // WithSingleAttemptTransport: the caller's transport makes one attempt per RoundTrip
	sharedPool    bool       // the transport is the process's shared one (no WithHTTPClient)
	life          *lifecycle // behind a pointer, so that a Client value can still be copied (and printed)
}

// lifecycle is what Close and Shutdown change, and what Shutdown waits for.
type lifecycle struct {
	closed   atomic.Bool   // Close or Shutdown was called
	inflight atomic.Int64  // calls between their start and their end
	drained  chan struct{} // closed once closed is set and no call is in flight
	once     sync.Once
}

// signal closes drained once the Client is closed and no call is in flight.
func (l *lifecycle) signal() {
	if l.closed.Load() && l.inflight.Load() == 0 {
		l.once.Do(func() { close(l.drained) })
	}
}

type credentials struct {
	clientID string
	secret   string
	idHeader []string
	keyHdr   []string
	flight   uint64 // a keyed hash of the pair, folded into the keys of the calls that send it (flight.go)
}

// credentialsSeed is the process's random seed of credentials.flight.
var credentialsSeed = maphash.MakeSeed()

// NewClient returns a Client that authenticates with the client-id and
// x-api-key (client secret) headers. It checks its arguments and options and
// returns the first error; it never touches the network.
func NewClient(clientID, clientSecret string, opts ...Option) (*Client, error) {
	creds, err := newCredentials(clientID, clientSecret)
	if err != nil {
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
	var current atomic.Pointer[credentials]
	current.Store(creds)
	fl, err := newFlights()
	if err != nil {
		return nil, err
	}
	pending := s.pending
	if pending == nil && !s.noPending {
		if pending, err = defaultPending(); err != nil {
			return nil, err
		}
	}
	endpoint := func(path string) *url.URL {
		u := *s.baseURL
		u.Path += path
		return &u
	}
	c := &Client{
		creds:        current.Load,
		storeCreds:   current.Store,
		generateURL:  endpoint("/v2/ekyc/aadhaar/generate-otp"),
		verifyURL:    endpoint("/v2/ekyc/aadhaar/verify-otp"),
		userAgent:    []string{ua},
		retryMax:     s.retryMax,
		timeout:      s.timeout,
		logger:       s.logger,
		limiter:      s.limiter,
		observer:     s.observer,
		audit:        s.audit,
		tenant:       s.tenant,
		consent:      s.consent,
		budget:       processBudget(),
		redactedBase: s.baseURL.Scheme + "://" + s.baseURL.Host + s.baseURL.Path,
		life:         &lifecycle{drained: make(chan struct{})},
		blindWarned:  new(atomic.Bool),
		flights:      fl,
		deadlines:    new(deadlines),
		pending:      pending,

		singleAttempt: s.singleAttempt,
	}
	if s.maxBuffered > 0 {
		c.budget = newBudget(s.maxBuffered) // WithMaxBufferedBytes: a budget of its own
	}
	if c.observer != nil {
		c.obsInfo = newObserverInfo(c.generateURL, c.verifyURL, c.tenant)
	}

	// The caller's client is a copy (WithHTTPClient); a nil Transport stays
	// nil, meaning http.DefaultTransport at each request, as in net/http.
	// Without it, the process's shared transport.
	hc := s.httpClient
	if hc == nil {
		hc = &http.Client{Transport: sharedTransport()}
		c.sharedPool = true
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
// transport, for example when a test ends or a process drains: with
// WithHTTPClient, the caller's transport; without it, the pool every such
// Client of the process shares (the other Clients stay usable and open new
// connections as they need them). The Client stays usable. To end a
// Client's use, call Close or Shutdown.
func (c *Client) CloseIdleConnections() {
	if !c.usable() {
		return
	}
	if ci, ok := c.base.base().(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// newCredentials checks a client id and secret as NewClient does and
// returns them with their header values.
func newCredentials(clientID, clientSecret string) (*credentials, error) {
	if err := checkCredential(FieldClientID, clientID); err != nil {
		return nil, err
	}
	if err := checkCredential(FieldClientSecret, clientSecret); err != nil {
		return nil, err
	}
	return &credentials{
		clientID: clientID,
		secret:   clientSecret,
		idHeader: []string{clientID},
		keyHdr:   []string{clientSecret},
		flight:   maphash.String(credentialsSeed, clientID+"\x00"+clientSecret),
	}, nil
}

// SetCredentials replaces the Client's client id and secret, for rotating a
// secret without a new Client: calls that start after it returns send the
// new ones; calls already started keep the ones they began with (a call reads
// its credentials once, so its headers, retries and scrubbing agree). They are
// checked as NewClient checks them, and the error (a *ValidationError naming
// FieldClientID or FieldClientSecret) never shows either; on error nothing
// changes. Safe for concurrent use with calls and with other SetCredentials.
func (c *Client) SetCredentials(clientID, clientSecret string) error {
	if !c.usable() {
		return errNilClient
	}
	creds, err := newCredentials(clientID, clientSecret)
	if err != nil {
		return err
	}
	c.storeCreds(creds)
	return nil
}

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

// Close ends the Client's use without waiting: calls made after it fail at
// once with ErrClientClosed (which matches ErrNotSent): they check nothing,
// wait on no limiter and send nothing. Calls already in flight finish as
// usual; Shutdown waits for them. A call is in flight from the moment
// GenerateOTP or VerifyOTP is entered, so a call that began before Close is
// never refused.
//
// Close leaves the transport open: without WithHTTPClient it is the pool all
// such Clients of the process share (the other Clients keep using it; its
// idle connections close after 90 s, or with CloseIdleConnections), and a
// transport given with WithHTTPClient stays the caller's to close. A Client
// dropped without Close leaves nothing behind either. Close can be called
// more than once and always returns nil (the error result is there so that
// Client fits io.Closer).
func (c *Client) Close() error {
	if c == nil || c.life == nil { // a nil or zero Client has nothing to close
		return nil
	}
	c.life.closed.Store(true)
	c.life.signal()
	return nil
}

// Shutdown ends the Client's use as Close does, then waits for the calls in
// flight to finish (their outcome audit records written, their Observer
// told), and returns nil once none is left, or ctx's error if ctx ends
// first (the calls still in flight then go on). Like net/http's
// Server.Shutdown, it is the way to stop a Client, or to swap in a new one,
// without failing or abandoning a call: a call that began before Shutdown is
// never refused. It can be called more than once, and after Close.
func (c *Client) Shutdown(ctx context.Context) error {
	if c == nil || c.life == nil {
		return nil
	}
	c.life.closed.Store(true)
	c.life.signal()
	if ctx == nil {
		return errNilContext
	}
	select {
	case <-c.life.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enter counts a call in flight and reports ErrClientClosed once Close or
// Shutdown was called; each enter is matched by a leave. It is the first
// step of every call: a call counted here before Shutdown marks the Client
// closed is waited for, and one counted after it sees the mark.
func (c *Client) enter() error {
	c.life.inflight.Add(1)
	if c.life.closed.Load() {
		return ErrClientClosed
	}
	return nil
}

// leave ends what enter began: the last call to end after Shutdown lets it
// return.
func (c *Client) leave() {
	if c.life.inflight.Add(-1) == 0 && c.life.closed.Load() {
		c.life.signal()
	}
}

// errNilClient is returned by every call on a nil Client or one not made by
// NewClient: a programming error; nothing is sent.
var errNilClient error = &ValidationError{Field: "client", Reason: "nil or zero Client: create one with NewClient"}

// usable reports whether c was made by NewClient.
func (c *Client) usable() bool { return c != nil && c.creds != nil && c.hc != nil }
