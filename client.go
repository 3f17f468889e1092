// Package deepvue is a Go client for Deepvue's Aadhaar eKYC V2 API: send an
// OTP to the mobile linked to an Aadhaar number (GenerateOTP), then verify
// the OTP the customer typed and receive their KYC data (VerifyOTP).
//
// The client is built for onboarding backends: it validates input before
// anything reaches the network, maps every documented answer to a sentinel
// error, retries only what is safe to retry (a 500 SOURCE_FAILURE: no SMS
// was sent), never follows redirects, reads bounded answers, and never puts
// an Aadhaar number, OTP, mobile number or credential into an error, a log
// record or a printed value. One Client is safe for concurrent use.
//
// Package deepvuetest provides an in-process fake Deepvue server for tests
// and for running the examples without credentials.
package deepvue

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Version is the SDK version sent in the User-Agent header.
const Version = "0.1.0"

// Bounds on how much of an answer is read.
const (
	// MaxResponseBytes bounds every generate-otp answer and every error
	// answer: 1 MiB.
	MaxResponseBytes = 1 << 20
	// MaxVerifyResponseBytes bounds a successful verify-otp answer, which
	// carries a base64 photo (typically 10-50 KB) and, when asked for, a
	// base64 PDF (typically 100-700 KB): 16 MiB leaves a wide margin while
	// keeping memory bounded.
	MaxVerifyResponseBytes = 16 << 20
)

// Client calls Deepvue's Aadhaar eKYC V2 API. Create it with NewClient; it is
// safe for concurrent use and should be shared (it holds a connection pool).
type Client struct {
	// The credentials sit behind a func: fmt prints any func as an address,
	// whatever the verb and depth, so even printing a dereferenced Client
	// (or a struct that embeds one) shows no secret.
	creds        func() *credentials
	hc           *retryablehttp.Client
	generateURL  *url.URL
	verifyURL    *url.URL
	userAgent    []string
	retryMax     int
	timeout      time.Duration
	logger       *slog.Logger
	limiter      Limiter
	redactedBase string
	transport    http.RoundTripper // the transport under keepIdle
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
		redactedBase: s.baseURL.Scheme + "://" + s.baseURL.Host + s.baseURL.Path,
	}

	hc := s.httpClient
	if hc == nil {
		hc = &http.Client{Transport: defaultTransport()}
	} else if hc.Transport == nil {
		hc.Transport = defaultTransport()
	}
	hc.CheckRedirect = refuseRedirect
	// retryablehttp calls CloseIdleConnections on every failed call, which
	// would empty a busy backend's pool each time Deepvue fails once; the
	// wrapper hides that method so the pool survives.
	c.transport = hc.Transport
	hc.Transport = keepIdle{hc.Transport}

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

// checkCredential refuses empty credentials and any whitespace or control
// character (usually a trailing newline from an env file). The error names
// the credential but never prints it.
func checkCredential(name, v string) error {
	if v == "" {
		return invalid(name, "is empty")
	}
	if len(v) > 512 {
		return invalid(name, "is longer than 512 bytes")
	}
	for i := 0; i < len(v); i++ {
		switch b := v[i]; {
		case b == ' ' || b == '\t' || b == '\n' || b == '\r':
			return invalid(name, "contains whitespace at byte "+strconv.Itoa(i)+" (a trailing newline from an env file?)")
		case b < 0x20 || b == 0x7f:
			return invalid(name, "contains a control character at byte "+strconv.Itoa(i))
		case b >= 0x80:
			return invalid(name, "contains a non-ASCII byte at byte "+strconv.Itoa(i))
		}
	}
	return nil
}

// defaultTransport is tuned for a busy backend: a pool large enough for a
// few hundred concurrent calls to one host (the standard library keeps 2 idle
// connections per host), TLS 1.2 minimum, HTTP/2 when the server offers it.
func defaultTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// CloseIdleConnections closes the idle connections in the Client's pool,
// for example when a test ends or a process drains. The Client stays usable.
func (c *Client) CloseIdleConnections() {
	if ci, ok := c.transport.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// keepIdle hides the wrapped transport's CloseIdleConnections method.
type keepIdle struct{ rt http.RoundTripper }

// RoundTrip delegates to the wrapped transport.
func (k keepIdle) RoundTrip(r *http.Request) (*http.Response, error) { return k.rt.RoundTrip(r) }

// refuseRedirect makes http.Client hand a 3xx back instead of following it,
// so the credentials and the Aadhaar number never reach another host.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// String describes the Client without its credentials.
func (c *Client) String() string {
	return "deepvue.Client{base_url: " + c.redactedBase + ", client_id: " + maskID(c.creds().clientID) +
		", client_secret: [REDACTED]}"
}

// GoString is String, so %#v shows no secret either.
func (c *Client) GoString() string { return c.String() }

// Format makes every fmt verb print String.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue renders the Client for slog without credentials.
func (c *Client) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.redactedBase),
		slog.String("client_id", maskID(c.creds().clientID)),
	)
}

// maskID shows the first four characters of a client id.
func maskID(id string) string {
	if len(id) <= 4 {
		return "****"
	}
	return id[:4] + "****"
}

// ---- one call ----

// callState travels in the request context so that the retry policy, which
// retryablehttp calls without any other handle, can count attempts and log.
type callState struct {
	op       string
	attempts int
	lastTxn  string
}

type stateKey struct{}

// operation names.
const (
	opGenerate = "generate-otp"
	opVerify   = "verify-otp"
)

// answer is a read response: its status and a bounded body.
type answer struct {
	status      int
	contentType string
	body        []byte
	buf         *bytes.Buffer
}

func (a *answer) release() {
	if a.buf != nil {
		putBuffer(a.buf)
		a.buf = nil
		a.body = nil
	}
}

// do sends one logical call (with its SOURCE_FAILURE retries) and reads the
// final answer. pii lists the values that must never appear in its errors.
func (c *Client) do(ctx context.Context, op string, endpoint *url.URL, query string, limit int64, pii []string) (*answer, error) {
	if ctx == nil {
		return nil, invalid("context", "must not be nil")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	fail := func(doing string, err error) error { return c.wrapTransport(op, endpoint, doing, err, pii) }
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, fail("waiting for the rate limiter", limiterError(err))
		}
	}
	st := &callState{op: op}
	ctx = context.WithValue(ctx, stateKey{}, st)

	creds := c.creds()
	u := *endpoint
	u.RawQuery = query
	hreq := &http.Request{
		Method:     http.MethodPost,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Host:       u.Host,
		Header: http.Header{
			"Client-Id":  creds.idHeader,
			"X-Api-Key":  creds.keyHdr,
			"User-Agent": c.userAgent,
		},
	}
	hreq = hreq.WithContext(ctx)
	req, err := retryablehttp.FromRequest(hreq)
	if err != nil {
		return nil, fail("building the request", err)
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		c.logDone(ctx, st, 0, start, err)
		return nil, fail("sending the request", err)
	}
	defer resp.Body.Close()

	a := &answer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type")}
	if resp.StatusCode/100 != 2 {
		limit = MaxResponseBytes
	}
	if err := readBounded(resp, limit, a); err != nil {
		c.logDone(ctx, st, resp.StatusCode, start, err)
		if errors.Is(err, errTooLarge) {
			return a, nil // the caller turns an oversized answer into an *APIError
		}
		return nil, fail("reading the HTTP "+strconv.Itoa(resp.StatusCode)+" answer", err)
	}
	c.logDone(ctx, st, resp.StatusCode, start, nil)
	return a, nil
}

var errTooLarge = errors.New("answer larger than the SDK's bound")

// readBounded reads at most limit bytes of the body into a pooled buffer. A
// larger body leaves a.body nil and returns errTooLarge.
func readBounded(resp *http.Response, limit int64, a *answer) error {
	if resp.ContentLength > limit {
		return errTooLarge
	}
	buf := getBuffer()
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength) + 1)
	}
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		putBuffer(buf)
		return err
	}
	if int64(buf.Len()) > limit {
		putBuffer(buf)
		return errTooLarge
	}
	a.buf, a.body = buf, buf.Bytes()
	return nil
}

// limiterError makes x/time/rate's "would exceed context deadline" (a token
// that comes only after the deadline) match context.DeadlineExceeded.
func limiterError(err error) error {
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "would exceed context deadline") {
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}

// transportError is the error for a call that got no usable answer: it could
// not connect, the connection broke, the context ended, the limiter refused.
// Its text has every sensitive value scrubbed; Unwrap keeps the cause (with
// any *url.Error's URL replaced by one without its query), so
// errors.Is(err, context.DeadlineExceeded) and errors.As(err, **url.Error)
// work.
type transportError struct {
	text string
	err  error
}

// Error returns the scrubbed text.
func (e *transportError) Error() string { return e.text }

// Unwrap returns the cause, with any *url.Error stripped of its query.
func (e *transportError) Unwrap() error { return e.err }

// wrapTransport builds the transportError for a call to endpoint (which
// carries no query).
func (c *Client) wrapTransport(op string, endpoint *url.URL, doing string, err error, pii []string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = &url.Error{Op: ue.Op, URL: endpoint.String(), Err: ue.Err}
	}
	text := "deepvue: " + op + ": " + doing + ": " + err.Error()
	return &transportError{text: scrub(text, append(pii, c.creds().secret)...), err: err}
}

// checkRetry is the retry policy: only a 500 whose sub_code is
// SOURCE_FAILURE is retried, only while retries remain, and never once the
// context has ended. A transport error is never retried: the request may
// have reached Deepvue, and a second attempt could send a second SMS.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	st, _ := ctx.Value(stateKey{}).(*callState)
	if st != nil {
		st.attempts++
	}
	if err != nil || resp == nil || ctx.Err() != nil {
		return false, nil
	}
	retry, txn := shouldRetry(resp)
	if st != nil && txn != "" {
		st.lastTxn = txn
	}
	if !retry {
		return false, nil
	}
	if st == nil || st.attempts > c.retryMax {
		return false, nil
	}
	if c.logger != nil {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "deepvue: retrying after SOURCE_FAILURE",
			slog.String("operation", st.op),
			slog.Int("attempt", st.attempts),
			slog.Int("status", resp.StatusCode),
			slog.String("transaction_id", st.lastTxn))
	}
	return true, nil
}

// shouldRetry reports whether an answer is a 500 SOURCE_FAILURE. To read
// the sub_code it buffers the (bounded) body and puts back a fresh reader.
// It also returns the answer's transaction id, for the retry log.
func shouldRetry(resp *http.Response) (retry bool, transactionID string) {
	if resp.StatusCode != http.StatusInternalServerError {
		return false, ""
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil || len(body) > MaxResponseBytes {
		return false, ""
	}
	env, ok := decodeEnvelope(body)
	if !ok {
		return false, ""
	}
	// The same classification the final error gets, so the two cannot drift.
	return classify(resp.StatusCode, env.SubCode.s, "", false) == ErrSourceFailure, clip(env.TransactionID.s, 128)
}

// prepareRetry waits on the rate limiter before a retry is sent.
func (c *Client) prepareRetry(req *http.Request) error {
	if c.limiter == nil {
		return nil
	}
	return limiterError(c.limiter.Wait(req.Context()))
}

// backoff returns a wait drawn uniformly between min and
// min(max, min*2^attempt): exponential, with full jitter above min.
// Retry-After is not documented by Deepvue and is ignored.
func backoff(min, max time.Duration, attempt int, _ *http.Response) time.Duration {
	ceil := max
	if attempt < 30 {
		if c := min << uint(attempt); c > 0 && c < max {
			ceil = c
		}
	}
	if ceil <= min {
		return min
	}
	return min + time.Duration(rand.Int64N(int64(ceil-min)+1))
}

func (c *Client) logDone(ctx context.Context, st *callState, status int, start time.Time, err error) {
	if c.logger == nil || !c.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("operation", st.op),
		slog.Int("status", status),
		slog.Int("attempts", st.attempts),
		slog.Duration("elapsed", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", errorKind(err)))
	}
	c.logger.LogAttrs(ctx, slog.LevelDebug, "deepvue: call finished", attrs...)
}

// errorKind names an error class without its text (which could hold data
// from the network).
func errorKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, errTooLarge):
		return "answer too large"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "network timeout"
	}
	return "transport error"
}

// ---- buffers ----

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

// putBuffer returns small buffers to the pool; large ones (a verify answer
// with a PDF) are left to the garbage collector so the pool stays small.
func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 256<<10 {
		return
	}
	b.Reset()
	bufPool.Put(b)
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
