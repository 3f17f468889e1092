package deepvue

import (
	"strconv"
	"strings"
	"time"

	"github.com/deepvue-go/deepvue/internal/redact"
)

// APIError is the error for every answer from Deepvue that is not a success:
// every non-2xx status, and a 2xx answer the SDK cannot use. Its fields hold
// what Deepvue said, with any Aadhaar number, OTP, mobile number or secret
// that the server echoed replaced by a mask. It never holds the raw body.
//
// Which sentinel it matches is decided from its public fields, so an
// *APIError built by hand (in a test double, say) matches the same sentinel
// as one the SDK returns.
type APIError struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Code is the "code" field of the body, when there is one.
	Code int
	// SubCode is the raw "sub_code" field (e.g. "VERIFICATION_PENDING").
	SubCode string
	// Message is the "message" field.
	Message string
	// Detail is the "detail" field of platform errors. A validation list is
	// summarised as "query.purpose: field required; ...".
	Detail string
	// TransactionID is Deepvue's transaction id; quote it to Deepvue support.
	TransactionID string
	// ReferenceID is the "reference_id" field, when the answer carries one.
	ReferenceID string
	// Operation is the SDK call that failed: "generate-otp" or "verify-otp".
	Operation string
	// RetryAfter is the wait the answer's Retry-After header asked for (in
	// seconds, or an HTTP date less the answer's Date, or the time it was
	// read), capped at MaxRetryAfter; 0 when the answer had no readable
	// header. The function RetryAfter says when it applies.
	RetryAfter time.Duration
}

// maxErrorText bounds Message and Detail inside Error().
const maxErrorText = 200

// Error returns a short, single-line description: status, sub_code, message
// or detail, and transaction id. It never contains a response body. The
// text is scrubbed as a whole, not field by field, so that an Aadhaar number
// split across fields (sub_code "AADHAAR_2341_2341", message "2346 not
// linked") is masked too; the transaction id is printed as an identifier
// (see redact.Secrets.ScrubIdent), after a letter, so it joins no other field.
func (e *APIError) Error() string {
	if e == nil {
		return "deepvue: <nil *APIError>"
	}
	var b strings.Builder
	e.writeHead(&b)
	var none *secrets // a hand-built error: only what could be an Aadhaar number is known
	head := none.ScrubText(b.String())
	if e.TransactionID == "" {
		return head
	}
	b.Reset()
	b.WriteString(head)
	e.writeTxn(&b)
	return b.String()
}

// writeHead writes the text Error() scrubs: operation, status, sub_code,
// message or detail.
func (e *APIError) writeHead(b *strings.Builder) {
	text := e.Message
	if text == "" {
		text = e.Detail
	}
	b.Grow(len("deepvue: : HTTP 000 : …") + len(e.Operation) + min(len(e.SubCode), 64) + min(len(text), maxErrorText) + 4 +
		len(" (transaction_id )") + min(len(e.TransactionID), 64))
	b.WriteString("deepvue: ")
	if e.Operation != "" {
		b.WriteString(e.Operation)
		b.WriteString(": ")
	}
	b.WriteString("HTTP ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.SubCode != "" {
		b.WriteByte(' ')
		b.WriteString(clip(e.SubCode, 64))
	}
	if text != "" {
		b.WriteString(": ")
		b.WriteString(clip(text, maxErrorText))
	}
}

// writeTxn writes what Error() appends for the transaction id.
func (e *APIError) writeTxn(b *strings.Builder) {
	var none *secrets
	b.WriteString(" (transaction_id ")
	b.WriteString(none.ScrubIdent(e.TransactionID, 64))
	b.WriteByte(')')
}

// Unwrap returns the sentinel this error matches (nil for an answer nothing
// documents), so errors.Is(err, ErrVerificationPending) works.
func (e *APIError) Unwrap() error {
	if e == nil {
		return nil
	}
	k := classify(e.StatusCode, e.SubCode, e.Detail)
	if k == nil && (e.StatusCode/100 == 2 || e.StatusCode/100 == 3) {
		return ErrUnexpectedResponse // the byUnusable row
	}
	return k
}

// Is reports whether e matches ErrOTPRejected: a verify-otp answer with
// status 400, 404, 410 or 422 that no platform row of the table of answers
// selects (400 "Bad Request" or "Inactive client_id", a 422 with a detail:
// answers about the account or the request, never about the OTP). Decided
// from the public fields Operation, StatusCode, SubCode and Detail only, so
// a hand-built *APIError matches too. What Unwrap returns is matched as
// well.
func (e *APIError) Is(target error) bool {
	if e == nil || target != ErrOTPRejected || e.Operation != opVerify || !rowOf(ErrOTPRejected).hasStatus(e.StatusCode) {
		return false
	}
	r := classifyRow(e.StatusCode, e.SubCode, e.Detail)
	return r == nil || r.by == bySubCode
}

// Temporary reports whether the same call may succeed later without any
// change, and may be made again at once for all the SDK knows: Deepvue's
// documented SOURCE_FAILURE (500), 429 and 503 answers. Never for an answer
// that may have sent an SMS: a proxy's 429 or 503 page, a documented
// sub_code at another status. (Through a transport the SDK cannot see
// below, the call's error also matches ErrMaybeSentMoreThanOnce, whose
// Temporary is false.)
func (e *APIError) Temporary() bool {
	if e == nil {
		return false
	}
	r := classifyRow(e.StatusCode, e.SubCode, e.Detail)
	return r != nil && r.temporary && r.stateOf(e.StatusCode, e.Detail) != OTPMaybeSent
}

// newAPIError turns an answer that is not a success into an *APIError: every
// non-2xx status, and a 2xx answer that cannot be used (go-github's
// CheckResponse is the model). env is the decoded envelope when the caller
// has one; problem, when set, says what was wrong with a 2xx answer. Every
// field is scrubbed of the values sec knows.
func newAPIError(op string, a *answer, env *envelope, problem string, sec *secrets) *APIError {
	e := &APIError{StatusCode: a.status, Operation: op, RetryAfter: a.retryAfter}
	if env == nil {
		env = a.env // decoded by the retry check
	}
	switch {
	case a.tooLarge != "":
		e.Message = a.tooLarge
	case env == nil:
		if dec, ok := decodeEnvelope(a.body); ok {
			env = &dec
		} else {
			e.Message = describeUndecodable(a, sec)
			problem = "" // the description says it all
		}
	}
	if env != nil {
		e.Code = int(env.Code.n)
		e.SubCode = apiSubCode(env, sec)
		e.Message = sec.ScrubTextClip(env.Message.s, maxFieldText)
		e.TransactionID = sec.ScrubIdent(env.TransactionID.s, 128)
		e.ReferenceID = sec.ScrubIdent(env.ReferenceID.s, 64)
		e.Detail = apiDetail(env, sec)
	}
	if a.status/100 == 3 {
		problem = "redirect refused"
	}
	if problem != "" {
		if e.Message != "" {
			e.Message = problem + ": " + e.Message
		} else {
			e.Message = problem
		}
	}
	// Each field was scrubbed alone; Error() joins them. A value the call
	// knows, split across fields (sub_code "BAD_91234", message "56780 not
	// linked"), shows only in the joined text: then no digit of those fields
	// is kept.
	if e.joinedShows(sec) {
		e.SubCode, e.Message, e.Detail = redact.MaskDigits(e.SubCode), redact.MaskDigits(e.Message), redact.MaskDigits(e.Detail)
	}
	return e
}

// apiSubCode and apiDetail are the SubCode and Detail of the *APIError of
// an answer with envelope env: the fields the table of answers classifies,
// and the retry check too (isRetryable).
func apiSubCode(env *envelope, sec *secrets) string { return sec.ScrubIdent(env.SubCode.s, 64) }

func apiDetail(env *envelope, sec *secrets) string {
	return sec.ScrubTextClip(env.Detail.text, maxFieldText)
}

// joinedShows reports whether Error() shows a value sec knows. The joined
// text is built once and scrubbed once, with the call's secrets; when that
// changes nothing (every answer whose fields do not join into something to
// mask), Error() is that text and shows nothing. Only when it does is
// Error() itself scrubbed, to decide as before whether its own mask (of
// what could be an Aadhaar number) already hides what the call knows.
func (e *APIError) joinedShows(sec *secrets) bool {
	var b strings.Builder
	e.writeHead(&b)
	if e.TransactionID != "" {
		e.writeTxn(&b)
	}
	if joined := b.String(); sec.ScrubText(joined) == joined {
		return false
	}
	text := e.Error()
	return sec.ScrubText(text) != text
}

// maxFieldText bounds Message and Detail of an *APIError.
const maxFieldText = 500

// describeUndecodable says what an answer that is not a JSON object was; its
// content type is the server's, and is scrubbed as free text.
func describeUndecodable(a *answer, sec *secrets) string {
	ct := a.contentType
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if ct == "" {
		ct = "no content type"
	}
	if len(a.body) == 0 {
		return "empty answer"
	}
	return "answer is not a valid JSON object (" + sec.ScrubTextClip(ct, 40) + ", " + strconv.Itoa(len(a.body)) + " bytes)"
}

// operation names.
const (
	opGenerate = "generate-otp"
	opVerify   = "verify-otp"
)
