package deepvue

import (
	"errors"
)

// Sentinel errors. Every error the SDK returns for a documented answer, and
// for every local validation failure, matches exactly one of them with
// errors.Is. Use errors.As with *APIError for the HTTP status, sub_code,
// message and transaction id.
var (
	// ErrInvalidInput: the input was refused, locally (before any request was
	// sent) or by Deepvue (sub_code INVALID_INPUT with 400 or 422, a 422
	// whose detail is a string or a list of validation errors, or 400
	// {"detail":"Bad Request"}). Do not retry unchanged.
	ErrInvalidInput = errors.New("deepvue: invalid input")

	// ErrMobileNotLinked: sub_code AADHAAR_MOBILE_NOT_LINKED. The Aadhaar
	// number has no mobile number linked, so no OTP can be sent; the customer
	// must use another KYC route.
	ErrMobileNotLinked = errors.New("deepvue: no mobile number linked to this Aadhaar")

	// ErrVerificationPending: sub_code VERIFICATION_PENDING (HTTP 409). An OTP
	// was sent for this number recently; ask the customer to use it or to wait
	// before asking for another.
	ErrVerificationPending = errors.New("deepvue: an OTP was sent recently for this Aadhaar")

	// ErrSourceFailure: sub_code SOURCE_FAILURE (HTTP 500), returned once the
	// retries are spent. UIDAI or an upstream source is down; try again later.
	ErrSourceFailure = errors.New("deepvue: source temporarily unavailable")

	// ErrUnauthorized: HTTP 401 or 403 (wrong or missing credentials, or a
	// caller IP that is not allow-listed), and HTTP 400 with detail
	// "Inactive client_id".
	ErrUnauthorized = errors.New("deepvue: unauthorized")

	// ErrRateLimited: HTTP 429. The API key exceeded its plan's per-second,
	// per-minute or per-day limit. See WithRateLimiter.
	ErrRateLimited = errors.New("deepvue: rate limit exceeded")

	// ErrServiceUnavailable: HTTP 503 (detail "Source Unavailable"). Never
	// retried by the SDK.
	ErrServiceUnavailable = errors.New("deepvue: service unavailable")

	// ErrUnexpectedResponse: a 2xx answer the SDK cannot use: not a JSON
	// object, too large, a sub_code other than SUCCESS, a generate-otp answer
	// without a reference_id, a verify-otp answer without a data object; and
	// every 3xx. The request reached Deepvue, so for GenerateOTP an SMS may
	// have been sent: do not call again at once.
	ErrUnexpectedResponse = errors.New("deepvue: unexpected response")

	// ErrOTPRejected: VerifyOTP got an answer with HTTP 400, 404, 410 or
	// 422, whatever its sub_code, that is not one of Deepvue's documented
	// platform answers: this OTP or reference id will not verify. Ask the
	// customer to re-enter the OTP, or to request a new one. Deepvue
	// documents no verify-otp errors, so the SDK names them all with this one
	// sentinel; it is matched in addition to any other (a 422 INVALID_INPUT
	// also matches ErrInvalidInput), and the raw SubCode, Message and Detail
	// stay on the *APIError. The platform answers selected by their detail
	// alone (400 "Bad Request", 400 "Inactive client_id", a 422 with a
	// detail string or validation list) never match it: they are about the
	// account or the request, not the OTP. A GenerateOTP error never
	// matches it.
	ErrOTPRejected = errors.New("deepvue: OTP or reference not accepted")
)

// ErrNotSent is matched, in addition to whatever else an error matches,
// exactly when the SDK saw that no request of the call could have left the
// process: every *ValidationError, a nil context, a call on a closed Client
// (ErrClientClosed), a limiter refusal, a context that ended before the
// request was handed to the transport, and, through net/http's own
// *http.Transport (or one declared with WithSingleAttemptTransport), a
// refused connection, a DNS failure, a failed TLS handshake. Such a call can
// be made again at once: Deepvue saw nothing and no SMS was sent.
//
// It never matches when a request may have been written (a connection
// reset after writing, no answer before the deadline, any *APIError, any
// error of a transport the SDK cannot see below): then an SMS may have gone
// out, and a second GenerateOTP would send another. An error that does not
// match ErrNotSent is "may have been sent".
var ErrNotSent = errors.New("deepvue: request not sent")

// ErrAuditFailed is matched by the error of a call whose consent record
// could not be written (see WithAuditLog): the AuditFunc returned an error,
// or the context ended first. Such a call sent nothing, so the error also
// matches ErrNotSent.
var ErrAuditFailed = errors.New("deepvue: audit record not written")

// ErrClientClosed is returned by every call made after Close. It also
// matches ErrNotSent: nothing was sent.
var ErrClientClosed error = notSent("deepvue: Client is closed")

// ErrResendBlocked is matched by the error of a call whose request the
// transport below the SDK began to send a second time (net/http resends on
// its own after an HTTP/2 RST_STREAM or GOAWAY, and replays an HTTP/1.1 POST
// carrying an Idempotency-Key; a caller's retrying transport may resend a
// 5xx). The first send may have reached Deepvue, so it never matches
// ErrNotSent. The second was stopped by the send-once guard, unless the
// error's text says the transport sent it anyway (a transport that does not
// pass the request's context down to the connection it writes on): then the
// error also matches ErrMaybeSentMoreThanOnce.
var ErrResendBlocked = errors.New("deepvue: the transport tried to send the request a second time")

// ErrMaybeSentMoreThanOnce is matched, in addition to whatever else an
// error matches, by the error of a call whose request a transport below the
// SDK may have sent more than once without the SDK seeing it: a transport
// that reports no httptrace events or resends with a context of its own, a
// transport that is neither net/http's *http.Transport nor declared with
// WithSingleAttemptTransport (the SDK cannot know how often it sent), and
// a second write the send-once guard cancelled but the transport made
// anyway. The state is OTPMaybeSent whatever the last answer says (a
// retrying transport may have sent the request, and an SMS, before the
// answer it returned), it is never Temporary, and it never matches
// ErrNotSent. Outcome and NextStep name the other sentinel the error
// matches.
var ErrMaybeSentMoreThanOnce = errors.New("deepvue: the request may have been sent more than once")

// ErrLimiter is matched by the error of a call that the Client's rate
// limiter (WithRateLimiter) did not let through: the limiter refused it (a
// *LimitError: its next slot lies after the context's deadline, and
// RetryAfter gives the wait), or the context ended while the call waited.
// Before the first attempt nothing was sent, and the error also matches
// ErrNotSent. Outcome names it "limiter".
var ErrLimiter = errors.New("deepvue: the client-side rate limiter did not let the call through")

// errNilContext is returned for a nil context: a programming error, not bad
// input (net/http's "nil Context" is the model). Nothing is sent.
var errNilContext error = notSent("deepvue: nil Context")

// notSent is an error with a fixed text that matches ErrNotSent.
type notSent string

func (e notSent) Error() string        { return string(e) }
func (e notSent) Is(target error) bool { return target == ErrNotSent }

// Sub-codes documented by Deepvue.
const (
	SubCodeSuccess             = "SUCCESS"
	SubCodeInvalidInput        = "INVALID_INPUT"
	SubCodeMobileNotLinked     = "AADHAAR_MOBILE_NOT_LINKED"
	SubCodeVerificationPending = "VERIFICATION_PENDING"
	SubCodeSourceFailure       = "SOURCE_FAILURE"
)

// The table of answers: every sentinel the SDK returns, in one place. Each
// row is one kind of answer: what selects it, the sentinel it matches (and
// so its Outcome name), whether it is Temporary, the OTPState a GenerateOTP
// error of this kind leaves, and the Action NextStep advises. classify,
// (*APIError).Unwrap, Is and Temporary, apiOTPState (OTPStateOf), Outcome
// and NextStep all read it, and the tests are driven from it: a sentinel
// cannot be added without a row.
//
// The rows of one sentinel stand together, in the order in which Outcome
// names the sentinels and NextStep looks for the one that decides.
var answers = [...]answerRow{
	{err: ErrLimiter, name: "ErrLimiter", outcome: "limiter", by: byLocal, state: OTPNotSent, action: ActionTryAgain},

	{err: ErrAuditFailed, name: "ErrAuditFailed", by: byLocal, state: OTPNotSent, action: ActionTryAgain},

	{err: ErrInvalidInput, name: "ErrInvalidInput", by: bySubCode, subCode: SubCodeInvalidInput, statuses: []int{400, 422}, state: OTPNotSent, action: ActionFixInput},
	{err: ErrInvalidInput, name: "ErrInvalidInput", by: byDetail, statuses: []int{422}, details: []string{anyDetail}, state: OTPNotSent, action: ActionFixInput}, // a string or a validation list
	{err: ErrInvalidInput, name: "ErrInvalidInput", by: byDetail, statuses: []int{400}, details: []string{"Bad Request"}, state: OTPNotSent, action: ActionFixInput},

	{err: ErrMobileNotLinked, name: "ErrMobileNotLinked", by: bySubCode, subCode: SubCodeMobileNotLinked, statuses: []int{400}, state: OTPNotSent, action: ActionNoMobileLinked},

	{err: ErrVerificationPending, name: "ErrVerificationPending", by: bySubCode, subCode: SubCodeVerificationPending, statuses: []int{409}, state: OTPPending, action: ActionEnterOTP},

	{err: ErrSourceFailure, name: "ErrSourceFailure", by: bySubCode, subCode: SubCodeSourceFailure, statuses: []int{500}, temporary: true, state: OTPNotSent, action: ActionTryAgain},

	// 401 and 403 are ErrUnauthorized whatever the body (credentials, IP not
	// allow-listed); only Deepvue's documented bodies say that no OTP went
	// out: a proxy's page, an empty body or a gateway's own JSON may come
	// after the proxy forwarded the request.
	{err: ErrUnauthorized, name: "ErrUnauthorized", by: byStatus, statuses: []int{401, 403},
		details: []string{"Invalid client_id or client_secret, access Denied", "Not authenticated"}, state: OTPNotSent, action: ActionFixConfiguration},
	{err: ErrUnauthorized, name: "ErrUnauthorized", by: byDetail, statuses: []int{400}, details: []string{"Inactive client_id"}, state: OTPNotSent, action: ActionFixConfiguration},

	{err: ErrRateLimited, name: "ErrRateLimited", by: byStatus, statuses: []int{429},
		details: []string{"Rate limit exceeded. Please retry after some time."}, temporary: true, state: OTPNotSent, action: ActionTryAgain},

	// Deepvue's 503 says "Source Unavailable"; another 503 may be a proxy's,
	// sent after it forwarded the request ("upstream connect error or
	// disconnect/reset before headers"): the same sentinel, maybe sent.
	{err: ErrServiceUnavailable, name: "ErrServiceUnavailable", by: byStatus, statuses: []int{503}, details: []string{"Source Unavailable"}, temporary: true, state: OTPNotSent, action: ActionTryAgain},

	{err: ErrUnexpectedResponse, name: "ErrUnexpectedResponse", by: byUnusable, state: OTPMaybeSent, action: ActionTryAgain},
	{err: ErrClientClosed, name: "ErrClientClosed", by: byLocal, state: OTPNotSent, action: ActionTryAgain},
	// A nil context is a programming error (Outcome's class "nil_context").
	{err: errNilContext, name: "errNilContext", outcome: "nil_context", by: byLocal, state: OTPNotSent, action: ActionFixConfiguration},
	{err: ErrOTPRejected, name: "ErrOTPRejected", by: byVerify, statuses: []int{400, 404, 410, 422}, state: OTPMaybeSent, action: ActionOTPRejected},
	{err: ErrResendBlocked, name: "ErrResendBlocked", by: byLocal, state: OTPMaybeSent, action: ActionTryAgain},
	// The last two are matched in addition to the others (also): Outcome and
	// NextStep name the other. ErrNotSent is Outcome's class "not_sent",
	// after "timeout", "canceled" and "nil_context".
	{err: ErrMaybeSentMoreThanOnce, name: "ErrMaybeSentMoreThanOnce", by: byLocal, also: true, state: OTPMaybeSent, action: ActionTryAgain},
	{err: ErrNotSent, name: "ErrNotSent", by: byLocal, also: true, state: OTPNotSent, action: ActionTryAgain},
}

// answerRow is one row of the table of answers.
type answerRow struct {
	err  error  // the sentinel
	name string // its Go name: Outcome's name for it, unless outcome is set
	// outcome, when set, is Outcome's name for the sentinel instead of name
	// ("limiter": the name Outcome gave before the sentinel existed).
	outcome string
	by      selector
	// also: the sentinel is matched in addition to another one, which
	// Outcome and NextStep name (ErrNotSent, ErrMaybeSentMoreThanOnce).
	also bool
	// statuses: for byStatus and byDetail, the statuses that select the
	// row; for bySubCode, the statuses Deepvue documents the sub_code with
	// (at another status it keeps its sentinel but leaves OTPMaybeSent); for
	// byVerify, the verify-otp statuses that match.
	statuses []int
	subCode  string // bySubCode: the sub_code that selects the row (any ASCII case, ASCII spaces trimmed)
	// details: for byDetail, the details that select the row (any ASCII case;
	// anyDetail: any that is not empty); for byStatus, the details Deepvue
	// documents with the status, the only ones with which the answer leaves
	// the row's state (another detail, or none, leaves OTPMaybeSent).
	details   []string
	temporary bool     // the same call may succeed later without any change
	state     OTPState // with a documented status (and detail)
	action    Action   // what NextStep advises (see nextstep.go)
}

// selector says what selects a row. classify tries byStatus rows first, then
// bySubCode, then byDetail: a 401 is ErrUnauthorized whatever its sub_code,
// and a sub_code wins over a detail.
type selector uint8

const (
	byStatus   selector = iota + 1 // the status, whatever the body says
	bySubCode                      // the sub_code, at any status
	byDetail                       // the detail, with one of the statuses
	byUnusable                     // (*APIError).Unwrap: a 2xx or 3xx no other row selects
	byVerify                       // (*APIError).Is: a verify-otp answer with one of the statuses
	byLocal                        // no answer: the SDK's own errors
)

// anyDetail in a byDetail row selects any detail that is not empty.
const anyDetail = "*"

// outcomeName is Outcome's name for the row's sentinel.
func (r *answerRow) outcomeName() string {
	if r.outcome != "" {
		return r.outcome
	}
	return r.name
}

// hasStatus reports whether status is one of the row's.
func (r *answerRow) hasStatus(status int) bool {
	for _, s := range r.statuses {
		if s == status {
			return true
		}
	}
	return false
}

// detailIs reports whether detail (trimmed) is one of the row's.
func (r *answerRow) detailIs(detail string) bool {
	for _, d := range r.details {
		if d == anyDetail && detail != "" || equalFoldASCII(detail, d) {
			return true
		}
	}
	return false
}

// stateOf is the OTPState an answer of this row with status and detail
// leaves: the row's, at a documented status and detail; else OTPMaybeSent.
func (r *answerRow) stateOf(status int, detail string) OTPState {
	if !r.hasStatus(status) || (len(r.details) > 0 && !r.detailIs(trimASCIISpace(detail))) {
		return OTPMaybeSent
	}
	return r.state
}

// rowOf returns the first row of a sentinel (nil for nil or an error no row
// names). The rows of one sentinel agree on its name and on Temporary.
func rowOf(sentinel error) *answerRow {
	for i := range answers {
		if answers[i].err == sentinel && sentinel != nil {
			return &answers[i]
		}
	}
	return nil
}

// classifyRow picks the row an answer selects, from its status, sub_code
// and detail; nil for an answer no row documents.
func classifyRow(status int, subCode, detail string) *answerRow {
	for i := range answers {
		if r := &answers[i]; r.by == byStatus && r.hasStatus(status) {
			return r
		}
	}
	if subCode = trimASCIISpace(subCode); subCode != "" {
		for i := range answers {
			if r := &answers[i]; r.by == bySubCode && equalFoldASCII(subCode, r.subCode) {
				return r
			}
		}
	}
	detail = trimASCIISpace(detail)
	for i := range answers {
		if r := &answers[i]; r.by == byDetail && r.hasStatus(status) && r.detailIs(detail) {
			return r
		}
	}
	return nil
}

// trimASCIISpace trims ASCII spaces, tabs, CR and LF (and VT, FF), and no
// other: the table matches Deepvue's documented sub_codes and details in
// any ASCII case between ASCII spaces, never a Unicode look-alike (a
// no-break space, "ſOURCE_FAILURE": strings.ToUpper and EqualFold fold
// U+017F to S), which is no documented answer.
func trimASCIISpace(s string) string {
	isSpace := func(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// classify picks the one sentinel an answer matches, from its status,
// sub_code and detail (see the table of answers); nil for an answer nothing
// documents.
func classify(status int, subCode, detail string) error {
	if r := classifyRow(status, subCode, detail); r != nil {
		return r.err
	}
	return nil
}

// namedRows are the rows Outcome and NextStep look through, in the table's
// order, one per sentinel: the first row of each sentinel that is not
// matched only in addition to another (also).
var namedRows = func() []*answerRow {
	var rows []*answerRow
	for i := range answers {
		if r := &answers[i]; !r.also && rowOf(r.err) == r {
			rows = append(rows, r)
		}
	}
	return rows
}()

// namedRow returns the first of namedRows whose sentinel err matches (nil
// if none).
func namedRow(err error) *answerRow {
	for _, r := range namedRows {
		if errors.Is(err, r.err) {
			return r
		}
	}
	return nil
}

// ValidationError is returned, before any request is sent, for input the SDK
// refuses. It matches ErrInvalidInput and ErrNotSent, and never contains the
// value itself.
type ValidationError struct {
	// Field is the API parameter, NewClient argument or option at fault,
	// one of the Field constants: FieldAadhaarNumber ("aadhaar_number"),
	// FieldConsent, FieldPurpose, FieldReferenceID, FieldOTP,
	// FieldMobileNumber, FieldClientID, FieldClientSecret, FieldBaseURL,
	// FieldHTTPClient, FieldRetryMax, FieldRetryWait, FieldUserAgent,
	// FieldTimeout, FieldMaxBufferedBytes, FieldAuditLog, FieldRateLimiter,
	// FieldTenant, FieldPendingStore.
	Field string
	// Reason says what is wrong, e.g. "has a wrong check digit".
	Reason string
}

// Error returns e.g. `deepvue: invalid aadhaar_number: must have 12 digits`.
func (e *ValidationError) Error() string {
	return "deepvue: invalid " + e.Field + ": " + e.Reason
}

// Unwrap returns ErrInvalidInput.
func (e *ValidationError) Unwrap() error { return ErrInvalidInput }

// Is reports that a ValidationError also matches ErrNotSent.
func (e *ValidationError) Is(target error) bool { return target == ErrNotSent }

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }

// OTPState says what a GenerateOTP outcome means for the customer's phone:
// whether an OTP went out. OTPStateOf gives it for any error GenerateOTP
// returns.
type OTPState int

// OTP states.
const (
	// OTPMaybeSent: the request may have reached Deepvue and an OTP may be on
	// its way (a connection broken after the request was written, a deadline
	// with no answer, an answer nobody documents). The zero value: the
	// conservative answer. Do not send again at once: ask the customer to
	// check their SMS and offer "send again" only after a wait.
	OTPMaybeSent OTPState = iota
	// OTPNotSent: no OTP went to the customer's phone: nothing reached
	// Deepvue, or Deepvue's documented answer means it generated none.
	OTPNotSent
	// OTPSent: Deepvue sent an OTP (GenerateOTP returned no error).
	OTPSent
	// OTPPending: Deepvue answered 409 VERIFICATION_PENDING: an earlier OTP
	// for this number is still valid; ask the customer to enter it.
	OTPPending
)

// String returns "maybe_sent", "not_sent", "sent" or "pending".
func (s OTPState) String() string {
	switch s {
	case OTPMaybeSent:
		return "maybe_sent"
	case OTPNotSent:
		return "not_sent"
	case OTPSent:
		return "sent"
	case OTPPending:
		return "pending"
	}
	return "OTPState(invalid)"
}
