package deepvue

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults used by NewClient.
const (
	DefaultBaseURL      = "https://production.deepvue.tech"
	DefaultRetryMax     = 2
	DefaultRetryWaitMin = 1 * time.Second
	DefaultRetryWaitMax = 8 * time.Second
	DefaultTimeout      = 30 * time.Second
)

// Option configures a Client. Each option checks its own input; NewClient
// returns the first error.
type Option func(*settings) error

type settings struct {
	baseURL      *url.URL
	httpClient   *http.Client
	retryMax     int
	retryWaitMin time.Duration
	retryWaitMax time.Duration
	logger       *slog.Logger
	userAgent    string
	timeout      time.Duration
	limiter      Limiter
	maxBuffered  int64
	observer     *Observer
	audit        AuditFunc
	tenant       string         // WithTenant (tenant.go)
	pending      *pendingConfig // WithPendingStore (pending.go)
	noPending    bool           // WithPendingStore(nil, nil)
	consent      consentPolicy  // RequireConsentEvidence, WithPurposes (consent_client.go)

	plainRemote       bool // baseURL is plain http to a host that is not loopback
	insecurePlainHTTP bool // WithInsecurePlainHTTP allows plainRemote

	singleAttempt bool // WithSingleAttemptTransport
}

func defaultSettings() settings {
	u, _ := url.Parse(DefaultBaseURL)
	return settings{
		baseURL:      u,
		retryMax:     DefaultRetryMax,
		retryWaitMin: DefaultRetryWaitMin,
		retryWaitMax: DefaultRetryWaitMax,
		timeout:      DefaultTimeout,
	}
}

// WithBaseURL sets the API host, and optionally a path prefix such as a
// gateway's ("https://gw.example.com/deepvue"). The SDK adds the versioned
// path (/v2/ekyc/aadhaar/...) itself, so a URL whose path ends in a version
// ("/v2", "/v1") or holds "/ekyc" is refused. It must be https, except plain
// http to a loopback host (127.0.0.0/8, ::1, localhost), which is allowed for
// tests and deepvuetest, and plain http to any other host when
// WithInsecurePlainHTTP is given too (in either order). It must not carry
// user information, a query or a fragment.
func WithBaseURL(rawURL string) Option {
	return func(s *settings) error {
		u, err := parseBaseURL(rawURL)
		if err != nil {
			return err
		}
		s.baseURL = u
		s.plainRemote = u.Scheme == "http" && !isLoopback(u.Hostname())
		return nil
	}
}

// WithInsecurePlainHTTP lets WithBaseURL use plain http:// to a host that is
// not loopback, such as a deepvue-fake sidecar in docker-compose
// ("http://fake:8080"). It is for test stacks only: over plain HTTP the client
// secret (x-api-key header) and every Aadhaar number, OTP and mobile number
// (query parameters) travel in clear text, readable by anyone on the path.
// NewClient logs a Warn record saying so, through WithLogger's logger, when
// the option takes effect. Without this option such a base URL is refused;
// https and loopback URLs are unaffected by it.
func WithInsecurePlainHTTP() Option {
	return func(s *settings) error {
		s.insecurePlainHTTP = true
		return nil
	}
}

// insecurePlainHTTPWarning is the Warn record NewClient logs when
// WithInsecurePlainHTTP takes effect.
const insecurePlainHTTPWarning = "deepvue: WithInsecurePlainHTTP: plain HTTP to a host that is not loopback; " +
	"the client secret and every Aadhaar number and OTP travel in clear text (for test stacks only)"

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, invalid(FieldBaseURL, "must be an absolute URL such as "+DefaultBaseURL)
	}
	if u.User != nil {
		return nil, invalid(FieldBaseURL, "must not contain user information")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, invalid(FieldBaseURL, "must not contain a query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http": // to a host that is not loopback only with WithInsecurePlainHTTP (see NewClient)
	default:
		return nil, invalid(FieldBaseURL, "must use https")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	segments := strings.Split(u.Path, "/")
	for _, seg := range segments {
		if strings.EqualFold(seg, "ekyc") {
			return nil, invalid(FieldBaseURL, "must not hold the API path (/ekyc/...): the SDK adds /v2/ekyc/aadhaar/... itself")
		}
	}
	if last := segments[len(segments)-1]; isVersionSegment(last) {
		return nil, invalid(FieldBaseURL, "must not end in a version (/"+clip(last, 8)+
			"): the SDK adds the versioned path /v2/ekyc/aadhaar/... itself; use e.g. "+DefaultBaseURL)
	}
	return u, nil
}

// isVersionSegment reports whether seg is "v" followed by digits ("v2").
func isVersionSegment(seg string) bool {
	if len(seg) < 2 || (seg[0] != 'v' && seg[0] != 'V') {
		return false
	}
	for i := 1; i < len(seg); i++ {
		if !isDigit(seg[i]) {
			return false
		}
	}
	return true
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WithHTTPClient makes the Client send through a copy of hc: its Transport,
// Timeout and Jar are used, hc itself is never modified. The copy never
// follows redirects, and the SDK's send-once guard still applies. A nil
// Transport means http.DefaultTransport, looked up at each request, as in
// net/http: so WithHTTPClient(&http.Client{}) or http.DefaultClient together
// with httpmock.Activate() intercept every call. Without WithHTTPClient the
// Client uses the SDK's tuned transport (NewTransport), one per process,
// shared by every such Client. In tests, either pass
// &http.Client{Transport: httpmock.NewMockTransport()} (parallel-safe) or
// use httpmock.Activate with &http.Client{}, and declare it with
// WithSingleAttemptTransport so that its answers get production's states. A
// transport that is neither net/http's *http.Transport nor declared is one
// the SDK cannot see below: see WithSingleAttemptTransport.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return invalid(FieldHTTPClient, "must not be nil")
		}
		cp := *hc
		s.httpClient = &cp
		return nil
	}
}

// WithRetryMax sets how many times a 500 SOURCE_FAILURE answer is retried
// after the first attempt (0 to 10; default 2). Nothing else is ever retried.
func WithRetryMax(n int) Option {
	return func(s *settings) error {
		if n < 0 || n > 10 {
			return invalid(FieldRetryMax, "must be between 0 and 10")
		}
		s.retryMax = n
		return nil
	}
}

// WithRetryWait sets the bounds of the exponential backoff with jitter
// between retries (default 1s and 8s). The n-th wait is drawn between min and
// min(max, min*2^n). Requires 0 <= min <= max <= 5 minutes.
func WithRetryWait(min, max time.Duration) Option {
	return func(s *settings) error {
		if min < 0 || max < min || max > 5*time.Minute {
			return invalid(FieldRetryWait, "needs 0 <= min <= max <= 5m")
		}
		s.retryWaitMin, s.retryWaitMax = min, max
		return nil
	}
}

// WithLogger makes the SDK log through l: retries at Warn, each finished
// call at Debug. Records carry the operation, status, sub_code, attempt,
// transaction id and, for an error, its class (Outcome), whether the
// request may have been sent (request_maybe_sent: CallResult.MaybeSent) and
// NextStep's action (next_step); for generate-otp, otp_state (OTPStateOf:
// whether an OTP went out, a question of its own); never an Aadhaar number,
// OTP, mobile number, URL query, credential or an error's text. Without it
// (or with nil) the SDK is silent.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		s.logger = l
		return nil
	}
}

// WithUserAgent puts ua before the SDK's own product token in the
// User-Agent header ("myapp/1.2 deepvue-go/" + Version). ua must be printable
// ASCII, at most 200 bytes.
func WithUserAgent(ua string) Option {
	return func(s *settings) error {
		if ua == "" || len(ua) > 200 {
			return invalid(FieldUserAgent, "must be 1 to 200 bytes")
		}
		for i := 0; i < len(ua); i++ {
			if ua[i] < 0x20 || ua[i] > 0x7e {
				return invalid(FieldUserAgent, "must be printable ASCII")
			}
		}
		s.userAgent = ua
		return nil
	}
}

// WithTimeout sets the deadline for a whole call, all attempts and backoff
// waits included, used when the caller's context has no deadline of its own
// (default 30s). It must be positive.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return invalid(FieldTimeout, "must be positive")
		}
		s.timeout = d
		return nil
	}
}

// WithMaxBufferedBytes gives the Client a memory budget of its own, of n
// bytes: the answer bytes its calls may hold at once. Without it, every
// Client of the process shares one budget of DefaultMaxBufferedBytes (128
// MiB), so that many Clients (one per tenant) hold no more than one. Each
// answer holds twice the bytes of its buffer (the bytes read, and at most as
// much again for what decoding makes of them: a verify-otp photo and PDF),
// taken as its bytes arrive; when the budget is spent, the read waits for
// room until its context ends (no answer waits behind a larger one). In a
// budget below 64 MiB, an answer larger than a quarter of the budget is
// refused as too large (half of it is the pool all answers share, half the
// reserve that lets the largest answer finish). n must be at least 1 MiB.
func WithMaxBufferedBytes(n int64) Option {
	return func(s *settings) error {
		if n < 1<<20 {
			return invalid(FieldMaxBufferedBytes, "must be at least 1 MiB")
		}
		s.maxBuffered = n
		return nil
	}
}

// WithRateLimiter makes every call wait on l before each request it sends
// (retries included), so a busy backend stays inside its plan's limits
// instead of collecting 429s. A *rate.Limiter from golang.org/x/time/rate
// satisfies Limiter; see NewPlanLimiter. nil means no limiter; a typed nil
// (a nil *rate.Limiter in the interface) is refused, as its Wait would panic.
func WithRateLimiter(l Limiter) Option {
	return func(s *settings) error {
		if isTypedNil(l) {
			return invalid(FieldRateLimiter, "must not be a nil pointer (use nil for no limiter)")
		}
		s.limiter = l
		return nil
	}
}

// WithObserver makes the Client report each call and each HTTP attempt to
// o's functions, for tracing and metrics (see Observer, and the deepvueotel
// module for OpenTelemetry). Everything o is handed is safe to record. The
// Client keeps a copy of *o taken at NewClient: changing o's fields later
// changes nothing. nil, or an Observer with no function set, means none.
func WithObserver(o *Observer) Option {
	return func(s *settings) error {
		s.observer = nil
		if !o.empty() {
			cp := *o
			s.observer = &cp
		}
		return nil
	}
}

// WithAuditLog makes the Client write an audit trail through fn: for each
// call that passes the input checks, a consent record (Stage AuditConsent)
// before anything is sent, and an outcome record (AuditOutcome, same
// CallID) when the call ends.
//
// If the consent record cannot be written (fn returns an error, or ctx ends
// first), nothing is sent and the call fails with an error matching
// ErrAuditFailed and ErrNotSent. The outcome record is written on a context
// that ignores the caller's cancel (bounded to 5 seconds); if it cannot be
// written, the call's own result stands, a Warn record is logged through
// WithLogger, and CallResult.AuditFailed tells the Observer. A call that
// fails validation writes no record: it never proceeds; nor does a double
// submit that joined an identical call in flight (CallResult.Joined): that
// call's records stand for the one request sent.
func WithAuditLog(fn AuditFunc) Option {
	return func(s *settings) error {
		if fn == nil {
			return invalid(FieldAuditLog, "must not be nil")
		}
		s.audit = fn
		return nil
	}
}
