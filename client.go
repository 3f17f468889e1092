// Package deepvue is a Go client for Deepvue's Aadhaar eKYC V2 API: send an
// OTP to the mobile linked to an Aadhaar number (GenerateOTP), then verify
// the OTP the customer typed and receive their KYC data (VerifyOTP).
//
// The client is built for onboarding backends: it validates input before
// anything reaches the network, maps every documented answer to a sentinel
// error, sends each request at most once (only a 500 SOURCE_FAILURE, after
// which no SMS was sent, is retried; a transport that tries to resend on its
// own is stopped), never follows redirects, reads bounded answers within a
// per-Client memory budget, and never puts an Aadhaar number, OTP, mobile
// number or credential into an error, a log record or a printed value. One
// Client is safe for concurrent use.
package deepvue

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Version is the SDK version sent in the User-Agent header.
const Version = "0.2.0"

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
	observer     Observer
	budget       *memBudget
	redactedBase string

	blindWarned *atomic.Bool // the send-once guard's blindness was logged (warnBlind)

	noGuard bool // tests only: send without the send-once guard, to show what it prevents
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
	if err := checkCredential("client ID", clientID); err != nil {
		return nil, err
	}
	if err := checkCredential("client secret", clientSecret); err != nil {
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
		budget:       newMemBudget(s.maxBuffered),
		redactedBase: s.baseURL.Scheme + "://" + s.baseURL.Host + s.baseURL.Path,
		blindWarned:  new(atomic.Bool),
	}

	// The caller's client is a copy (WithHTTPClient); a nil Transport stays
	// nil, meaning http.DefaultTransport at each request, as in net/http.
	hc := s.httpClient
	if hc == nil {
		hc = &http.Client{Transport: defaultTransport()}
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
	return c, nil
}

// CloseIdleConnections closes the idle connections of the Client's
// transport (with WithHTTPClient, the caller's), for example when a test
// ends or a process drains. The Client stays usable.
func (c *Client) CloseIdleConnections() {
	if !c.usable() {
		return
	}
	if ci, ok := c.base.base().(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// secrets returns what a call must scrub, starting from the client secret.
func (c *Client) secrets() secrets { return secrets{secret: c.creds().secret} }

// String describes the Client without its credentials.
func (c *Client) String() string {
	if !c.usable() {
		return nilClientText
	}
	return "deepvue.Client{base_url: " + c.redactedBase + ", client_id: " + maskID(c.creds().clientID) +
		", client_secret: [REDACTED]}"
}

// GoString is String, so %#v shows no secret either.
func (c *Client) GoString() string { return c.String() }

// Format makes every fmt verb print String (%q quotes it).
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
