// Package deepvuetest is an in-process fake of Deepvue's Aadhaar eKYC V2 API
// for tests and for running code without credentials or network.
//
//	srv := deepvuetest.NewServer()
//	defer srv.Close()
//	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL))
//
// It listens on loopback over plain HTTP (which deepvue.WithBaseURL accepts
// only for loopback hosts), checks the client-id and x-api-key headers and the
// query parameters like the real API, and answers with the documented bodies.
//
// # Magic values
//
// Every Aadhaar number below is valid (Verhoeff check digit included), so the
// SDK sends it. They are synthetic test values.
//
//	any other valid number   200 SUCCESS, an OTP "sent" (see SMSSent)
//	NumberNotLinked          400 AADHAAR_MOBILE_NOT_LINKED (carries a reference_id)
//	NumberInvalidUID         400 INVALID_INPUT "Invalid UID. Please enter valid UID"
//	NumberSourceFailure      500 SOURCE_FAILURE, every time
//	NumberSourceFailureOnce  500 SOURCE_FAILURE on its first request to this server, then success
//	NumberRateLimited        429 {"detail":"Rate limit exceeded. Please retry after some time."}
//	NumberUnavailable        503 {"detail":"Source Unavailable"}
//
// A number that fails the Aadhaar rules gets 422 INVALID_INPUT "Invalid Aadhaar
// Number Pattern." A second successful request for the same number within the
// pending window (WithPendingWindow, default 45s) gets 409 VERIFICATION_PENDING
// with an empty reference_id. Consent "N" gets 400 INVALID_INPUT. A missing
// parameter gets 422 with a FastAPI validation list in "detail". Missing
// credentials get 401 {"detail":"Not authenticated"}; wrong ones get 401
// {"detail":"Invalid client_id or client_secret, access Denied"}, as
// Deepvue's errors page documents.
//
// On verify-otp, with the reference_id of a successful generate-otp:
//
//	OTPValid (123456)          200 SUCCESS with SampleData, a real small JPEG photo,
//	                           and a real small PDF when generate_pdf is true (any case)
//	OTPSourceFailure (500500)  500 SOURCE_FAILURE, every time (reference not used up)
//	any other 6 digits         400 INVALID_OTP
//	MobileLinked (9876543210)  as mobile_number: aadhaar_linked_mobile_match "Yes"; any other: "No"
//
// The lifecycle of a reference id (every answer invented: Deepvue documents
// none for a wrong, expired or used OTP, nor the consent and purpose
// checks; real ones may differ, but each is one an SDK caller must handle):
//
//	unknown reference id            400 INVALID_REFERENCE_ID
//	verified once already           400 OTP_ALREADY_USED
//	the third wrong OTP, and every  400 OTP_ATTEMPTS_EXCEEDED (the reference is locked)
//	  later try on that reference
//	older than the OTP validity     400 OTP_EXPIRED (WithOTPValidity, default 10
//	  by the server's clock           minutes; see WithClock and Clock)
//
// A 409 VERIFICATION_PENDING carries no Retry-After header, as Deepvue's
// does not: a test sees the NextStep production gives (script an Answer with
// a Header to test a Retry-After).
//
// # Scripted answers
//
// Script queues answers for a path that come before the behaviour above:
// any documented answer (RateLimited, Unavailable, Unauthorized,
// InactiveClient, SourceFailure, ...) on either endpoint, an answer of your
// own, or a slow one (Delay, which ends early when the caller goes away), or
// a connection reset after the request was read (ConnectionReset).
// LoadScript reads a script as JSON; the deepvue-fake command
// (deepvuetest/cmd/deepvue-fake) runs this fake as a server for test stacks
// that are not a Go test. NewNumber gives each test call a fresh valid
// number; Headers shows what each request carried.
package deepvuetest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deepvue-go/deepvue/internal/uid"
)

// Magic Aadhaar numbers (all valid, all synthetic).
const (
	NumberSuccess           = "234123412346" // any valid number not listed below succeeds; this is one
	NumberNotLinked         = "999900000016"
	NumberInvalidUID        = "999900000028"
	NumberSourceFailure     = "999900000037"
	NumberSourceFailureOnce = "999900000044"
	NumberRateLimited       = "999900000059"
	NumberUnavailable       = "999900000063"
)

// Magic verify-otp values.
const (
	OTPValid         = "123456"
	OTPSourceFailure = "500500"
	MobileLinked     = "9876543210"
)

// Default credentials of a Server.
const (
	DefaultClientID     = "deepvuetest-client"
	DefaultClientSecret = "free_tier_deepvuetest_secret"
)

// Server is a running fake. Its embedded *httptest.Server gives URL and
// Close. It is safe for concurrent use.
type Server struct {
	*httptest.Server
	// ClientID and ClientSecret are the credentials the server accepts.
	ClientID, ClientSecret string

	cfg config

	mu         sync.Mutex
	lastOTP    map[string]time.Time // Aadhaar number -> last OTP sent
	refs       map[string]*otpRecord
	failedOnce map[string]bool
	nextRef    int
	sms        int
	requests   map[string]int
	arrivals   map[string][]time.Time
	scripts    map[string][]Answer
	headers    map[string][]http.Header // see Headers (headers.go)
}

// Answer is a scripted answer (see Server.Script).
type Answer struct {
	// Status is the HTTP status; 0 means the fake's normal behaviour (after
	// Delay), which makes a slow answer of the usual kind.
	Status int
	// Body is sent as application/json.
	Body string
	// Delay is waited before answering; it ends early, with no answer, when
	// the caller goes away.
	Delay time.Duration
	// Reset, after Delay, resets the connection (a TCP RST) instead of
	// answering: the request was read, so the caller cannot know whether it
	// was acted on. See ConnectionReset.
	Reset bool
	// Header is added to the answer (e.g. a Retry-After on a 429).
	Header http.Header
}

// Documented answers, to pass to Script. Each is what Deepvue's
// documentation shows for that case.
var (
	// RateLimited is HTTP 429.
	RateLimited = Answer{Status: http.StatusTooManyRequests, Body: `{"detail":"Rate limit exceeded. Please retry after some time."}`}
	// Unavailable is HTTP 503 Source Unavailable.
	Unavailable = Answer{Status: http.StatusServiceUnavailable, Body: `{"detail":"Source Unavailable"}`}
	// Unauthorized is HTTP 401 for wrong credentials.
	Unauthorized = Answer{Status: http.StatusUnauthorized, Body: `{"detail":"Invalid client_id or client_secret, access Denied"}`}
	// NotAuthenticated is HTTP 401 for a missing credential header.
	NotAuthenticated = Answer{Status: http.StatusUnauthorized, Body: `{"detail":"Not authenticated"}`}
	// InactiveClient is HTTP 400 for a client id that is not active.
	InactiveClient = Answer{Status: http.StatusBadRequest, Body: `{"detail":"Inactive client_id"}`}
	// BadRequest is HTTP 400 {"detail":"Bad Request"}.
	BadRequest = Answer{Status: http.StatusBadRequest, Body: `{"detail":"Bad Request"}`}
	// SourceFailure is HTTP 500 SOURCE_FAILURE, which the SDK retries.
	SourceFailure = Answer{Status: http.StatusInternalServerError, Body: `{"code":500,"timestamp":1738332826135,` +
		`"transaction_id":"5f1d0e9c2b7a4c3e8d6f0a1b2c3d4e5f","sub_code":"SOURCE_FAILURE",` +
		`"message":"Authorised source is temporarily unavailable, please try again shortly."}`}
)

// Script queues answers for the next requests on path (PathGenerateOTP or
// PathVerifyOTP), in order; once they are used, normal behaviour resumes.
// A scripted answer comes before every check, credentials included, and is
// counted by Requests. Calls add to the queue.
func (s *Server) Script(path string, answers ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[path] = append(s.scripts[path], answers...)
}

type otpRecord struct {
	issued   time.Time
	attempts int  // wrong OTPs so far
	used     bool // verified once
}

// maxWrongOTPs is the wrong OTP that locks a reference id (the fake's
// choice; other providers report about 3).
const maxWrongOTPs = 3

type config struct {
	clientID, secret string
	pending          time.Duration
	validity         time.Duration
	now              func() time.Time
}

// Option configures a Server.
type Option func(*config)

// WithCredentials sets the client-id and x-api-key values the server accepts.
func WithCredentials(clientID, clientSecret string) Option {
	return func(c *config) { c.clientID, c.secret = clientID, clientSecret }
}

// WithPendingWindow sets how long after an OTP a new request for the same
// number gets 409 VERIFICATION_PENDING (default 45s; 0 disables it).
func WithPendingWindow(d time.Duration) Option { return func(c *config) { c.pending = d } }

// WithOTPValidity sets how long a reference id can be verified (default 10m).
func WithOTPValidity(d time.Duration) Option { return func(c *config) { c.validity = d } }

// WithClock replaces time.Now, to test expiry without waiting.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// NewServer starts a fake Deepvue on a loopback address. Close it when done
// (t.Cleanup(srv.Close)).
func NewServer(opts ...Option) *Server {
	s := NewUnstartedServer(opts...)
	s.Start()
	return s
}

// NewUnstartedServer returns a Server that is not listening yet; call Start
// (or StartTLS, for a client that trusts s.Client()'s certificate).
func NewUnstartedServer(opts ...Option) *Server {
	cfg := config{
		clientID: DefaultClientID,
		secret:   DefaultClientSecret,
		pending:  45 * time.Second,
		validity: 10 * time.Minute,
		now:      time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		ClientID:     cfg.clientID,
		ClientSecret: cfg.secret,
		cfg:          cfg,
		lastOTP:      map[string]time.Time{},
		refs:         map[string]*otpRecord{},
		failedOnce:   map[string]bool{},
		nextRef:      29756208,
		requests:     map[string]int{},
		arrivals:     map[string][]time.Time{},
		scripts:      map[string][]Answer{},
	}
	s.Server = httptest.NewUnstartedServer(s)
	return s
}

// SMSSent returns how many OTPs the server has "sent" (successful
// generate-otp answers): the number a real customer would see on their phone.
func (s *Server) SMSSent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sms
}

// Requests returns how many requests reached path (e.g.
// "/v2/ekyc/aadhaar/generate-otp"), whatever their answer.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// Arrivals returns when each request that reached path arrived (by the wall
// clock, whatever WithClock says), in order of arrival: where Deepvue counts
// its rate limits. See PeakArrivals.
func (s *Server) Arrivals(path string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.arrivals[path]...)
}

// PeakArrivals returns the largest number of times (sorted, as Arrivals
// gives them) that fall in any span of window: to check a rate limit where
// Deepvue counts it.
func PeakArrivals(times []time.Time, window time.Duration) int {
	peak := 0
	for i, j := 0, 0; i < len(times); i++ {
		for j < len(times) && times[j].Sub(times[i]) < window {
			j++
		}
		peak = max(peak, j-i)
	}
	return peak
}

// Paths of the two endpoints.
const (
	PathGenerateOTP = "/v2/ekyc/aadhaar/generate-otp"
	PathVerifyOTP   = "/v2/ekyc/aadhaar/verify-otp"
)

// ServeHTTP answers like Deepvue.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	s.mu.Lock()
	if r.URL.Path == PathGenerateOTP || r.URL.Path == PathVerifyOTP {
		// Only the two endpoints are counted, so that a long-running fake
		// (deepvue-fake) does not grow with whatever paths a client sends.
		s.requests[r.URL.Path]++
		s.arrivals[r.URL.Path] = append(s.arrivals[r.URL.Path], arrived)
		s.recordHeaders(r)
	}
	var scripted *Answer
	if q := s.scripts[r.URL.Path]; len(q) > 0 {
		scripted = &q[0]
		s.scripts[r.URL.Path] = q[1:]
	}
	s.mu.Unlock()
	if scripted != nil {
		if scripted.Delay > 0 {
			t := time.NewTimer(scripted.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return // the caller went away
			}
		}
		if scripted.Reset {
			resetConnection(w)
			return
		}
		if scripted.Status != 0 {
			for k, vs := range scripted.Header {
				w.Header()[http.CanonicalHeaderKey(k)] = vs
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(scripted.Body)))
			w.WriteHeader(scripted.Status)
			_, _ = io.WriteString(w, scripted.Body)
			return
		}
	}

	switch r.URL.Path {
	case PathGenerateOTP, PathVerifyOTP:
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method Not Allowed"})
		return
	}
	id, key := r.Header.Get("client-id"), r.Header.Get("x-api-key")
	if id == "" || key == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"detail": "Not authenticated"})
		return
	}
	if id != s.ClientID || key != s.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"detail": "Invalid client_id or client_secret, access Denied"})
		return
	}
	if r.URL.Path == PathGenerateOTP {
		s.generate(w, r)
	} else {
		s.verify(w, r)
	}
}

// missing answers 422 with a FastAPI validation list if a required query
// parameter is absent.
func missing(w http.ResponseWriter, r *http.Request, names ...string) bool {
	q := r.URL.Query()
	var errs []map[string]any
	for _, n := range names {
		if _, ok := q[n]; !ok {
			errs = append(errs, map[string]any{"loc": []string{"query", n}, "msg": "field required", "type": "value_error.missing"})
		}
	}
	if errs == nil {
		return false
	}
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": errs})
	return true
}

// checkConsent answers for consent and purpose; it reports whether it did.
func checkConsent(w http.ResponseWriter, r *http.Request, now time.Time) bool {
	q := r.URL.Query()
	switch strings.ToUpper(q.Get("consent")) {
	case "Y":
	case "N":
		writeEnvelope(w, now, http.StatusBadRequest, "INVALID_INPUT", "Consent is required to perform the verification.", nil)
		return true
	default:
		writeEnvelope(w, now, http.StatusUnprocessableEntity, "INVALID_INPUT", "Invalid consent. Allowed values are Y and N.", nil)
		return true
	}
	if strings.TrimSpace(q.Get("purpose")) == "" {
		writeEnvelope(w, now, http.StatusUnprocessableEntity, "INVALID_INPUT", "Purpose is required.", nil)
		return true
	}
	return false
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.now()
	if missing(w, r, "aadhaar_number", "consent", "purpose") || checkConsent(w, r, now) {
		return
	}
	raw := r.URL.Query().Get("aadhaar_number")
	n, reason := uid.Check(raw)
	if reason != uid.OK {
		writeEnvelope(w, now, http.StatusUnprocessableEntity, "INVALID_INPUT", "Invalid Aadhaar Number Pattern.", nil)
		return
	}
	number := string(n[:])
	switch number {
	case NumberInvalidUID:
		writeEnvelope(w, now, http.StatusBadRequest, "INVALID_INPUT", "Invalid UID. Please enter valid UID", nil)
		return
	case NumberSourceFailure:
		writeSourceFailure(w, now)
		return
	case NumberRateLimited:
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"detail": "Rate limit exceeded. Please retry after some time."})
		return
	case NumberUnavailable:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"detail": "Source Unavailable"})
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if number == NumberSourceFailureOnce && !s.failedOnce[number] {
		s.failedOnce[number] = true
		writeSourceFailure(w, now)
		return
	}
	if number == NumberNotLinked {
		ref := s.newRef()
		writeEnvelope(w, now, http.StatusBadRequest, "AADHAAR_MOBILE_NOT_LINKED", "Aadhaar number does not have mobile number",
			map[string]any{"reference_id": ref})
		return
	}
	if last, ok := s.lastOTP[number]; ok && s.cfg.pending > 0 && now.Sub(last) < s.cfg.pending {
		// No Retry-After: Deepvue documents none, and a header of the fake's
		// own gave tests a NextStep production never gives (45 s against
		// the SDK's own estimate). Script one to test a client's handling.
		writeEnvelope(w, now, http.StatusConflict, "VERIFICATION_PENDING",
			"Otp already generated for this aadhaar, please try after some time.", map[string]any{"reference_id": ""})
		return
	}
	ref := s.newRef()
	s.lastOTP[number] = now
	s.refs[ref] = &otpRecord{issued: now}
	s.sms++
	writeEnvelope(w, now, http.StatusOK, "SUCCESS", "OTP sent to your Registered Mobile number. Check your mobile.",
		map[string]any{"reference_id": ref})
}

// newRef returns the next reference id; s.mu must be held.
func (s *Server) newRef() string {
	s.nextRef++
	return strconv.Itoa(s.nextRef)
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.now()
	if missing(w, r, "otp", "reference_id", "consent", "purpose") || checkConsent(w, r, now) {
		return
	}
	q := r.URL.Query()
	otp, ref, mobile := q.Get("otp"), q.Get("reference_id"), q.Get("mobile_number")
	if !digits(otp, 6) {
		writeEnvelope(w, now, http.StatusUnprocessableEntity, "INVALID_INPUT", "Invalid OTP pattern.", nil)
		return
	}
	if mobile != "" && !digits(mobile, 10) {
		writeEnvelope(w, now, http.StatusUnprocessableEntity, "INVALID_INPUT", "Invalid mobile number pattern.", nil)
		return
	}
	if otp == OTPSourceFailure {
		writeSourceFailure(w, now)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The verify lifecycle below is the fake's invention (Deepvue documents
	// no verify-otp errors), modelled on what other providers document.
	rec, ok := s.refs[ref]
	switch {
	case !ok:
		writeEnvelope(w, now, http.StatusBadRequest, "INVALID_REFERENCE_ID", "Invalid reference id.", nil)
		return
	case rec.used:
		writeEnvelope(w, now, http.StatusBadRequest, "OTP_ALREADY_USED", "OTP already used. Please generate a new OTP.", nil)
		return
	case rec.attempts >= maxWrongOTPs:
		writeEnvelope(w, now, http.StatusBadRequest, "OTP_ATTEMPTS_EXCEEDED", "Too many wrong OTPs. Please generate a new OTP.", nil)
		return
	case now.Sub(rec.issued) > s.cfg.validity:
		writeEnvelope(w, now, http.StatusBadRequest, "OTP_EXPIRED", "OTP has expired. Please generate a new OTP.", nil)
		return
	case otp != OTPValid:
		rec.attempts++
		if rec.attempts >= maxWrongOTPs {
			writeEnvelope(w, now, http.StatusBadRequest, "OTP_ATTEMPTS_EXCEEDED", "Too many wrong OTPs. Please generate a new OTP.", nil)
			return
		}
		writeEnvelope(w, now, http.StatusBadRequest, "INVALID_OTP", "Invalid OTP. Please enter the correct OTP.", nil)
		return
	}
	rec.used = true
	data := SampleData()
	if mobile != "" {
		if mobile == MobileLinked {
			data["aadhaar_linked_mobile_match"] = "Yes"
		} else {
			data["aadhaar_linked_mobile_match"] = "No"
		}
	}
	if strings.EqualFold(q.Get("generate_pdf"), "true") { // the docs say "True or False"
		data["document_pdf"] = base64.StdEncoding.EncodeToString(SamplePDF())
	}
	writeEnvelope(w, now, http.StatusOK, "SUCCESS", "Aadhaar eKYC Successful", map[string]any{"data": data})
}

func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func writeSourceFailure(w http.ResponseWriter, now time.Time) {
	writeEnvelope(w, now, http.StatusInternalServerError, "SOURCE_FAILURE",
		"Authorised source is temporarily unavailable, please try again shortly.", nil)
}

// writeEnvelope writes Deepvue's envelope: code, timestamp, transaction_id,
// sub_code, message, plus extra fields.
func writeEnvelope(w http.ResponseWriter, now time.Time, status int, subCode, message string, extra map[string]any) {
	body := map[string]any{
		"code":           status,
		"timestamp":      now.UnixMilli(),
		"transaction_id": newTransactionID(),
		"sub_code":       subCode,
		"message":        message,
	}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func newTransactionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Clock is a settable clock for WithClock, to test the pending window and
// OTP expiry without waiting. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time; pass c.Now to WithClock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
