package deepvue

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deepvue-go/deepvue/internal/uid"
)

// Consent is the customer's answer to the KYC consent question. Deepvue
// requires it on every call; the SDK sends a request only with ConsentYes.
// Record the consent (purpose, time, answer) yourself before calling.
type Consent string

// Consent values.
const (
	ConsentYes Consent = "Y"
	ConsentNo  Consent = "N"
)

// OTPValidity is how long an OTP stays valid after Deepvue sends it.
const OTPValidity = 10 * time.Minute

// maxPurposeBytes bounds the purpose text, which travels in the URL.
const maxPurposeBytes = 500

// ValidateAadhaar reports whether number is a valid Aadhaar number, exactly as
// python-stdnum's aadhaar.validate decides: spaces and hyphens are removed and
// surrounding whitespace is trimmed; then it must be 12 ASCII digits, must not
// start with 0 or 1, must not be a palindrome, and must end in the right
// Verhoeff check digit. The error is a *ValidationError matching
// ErrInvalidInput; it never contains the number. It does not allocate for
// valid input.
func ValidateAadhaar(number string) error {
	if _, r := uid.Check(number); r != uid.OK {
		return invalid("aadhaar_number", r.String())
	}
	return nil
}

// MaskAadhaar returns the display form the Aadhaar regulations allow,
// "XXXX XXXX 0124": only the last four digits. Input that does not compact to
// 12 digits gives "XXXX XXXX XXXX", so no digit of a malformed number is ever
// shown.
func MaskAadhaar(number string) string { return uid.Mask(number) }

// OTPResponse is a successful generate-otp answer: Deepvue sent an OTP to the
// mobile linked to the Aadhaar number.
type OTPResponse struct {
	// ReferenceID identifies this OTP; VerifyOTP needs it.
	ReferenceID string
	// TransactionID is Deepvue's id for the call; log it for support.
	TransactionID string
	// Message is Deepvue's message, e.g. "OTP sent to your Registered Mobile
	// number. Check your mobile."
	Message string
	// Timestamp is when Deepvue answered (the SDK's clock if the answer
	// carried none).
	Timestamp time.Time
	// ExpiresAt is Timestamp + OTPValidity (10 minutes).
	ExpiresAt time.Time
}

// GenerateOTP asks Deepvue to send an OTP by SMS to the mobile linked to
// aadhaarNumber. The number is checked locally first (see ValidateAadhaar),
// consent must be ConsentYes and purpose must not be blank: otherwise a
// *ValidationError matching ErrInvalidInput is returned and nothing is sent.
//
// Each call may send an SMS, and UIDAI caps OTPs per Aadhaar number: the SDK
// retries only a 500 SOURCE_FAILURE (no SMS was sent). Any other failure is
// returned at once; an error that is neither *APIError nor *ValidationError
// means the request may have reached Deepvue, so do not call again at once.
func (c *Client) GenerateOTP(ctx context.Context, aadhaarNumber string, consent Consent, purpose string) (*OTPResponse, error) {
	n, r := uid.Check(aadhaarNumber)
	if r != uid.OK {
		return nil, invalid("aadhaar_number", r.String())
	}
	if err := checkConsentPurpose(consent, purpose); err != nil {
		return nil, err
	}

	const prefix = "aadhaar_number="
	q := make([]byte, 0, len(prefix)+12+len("&consent=Y&purpose=")+3*len(purpose))
	q = append(q, prefix...)
	q = append(q, n[:]...)
	q = append(q, "&consent=Y&purpose="...)
	q = appendQueryEscape(q, purpose)
	query := string(q)
	pii := []string{query[len(prefix) : len(prefix)+12], aadhaarNumber}

	a, err := c.do(ctx, opGenerate, c.generateURL, query, MaxResponseBytes, pii)
	if err != nil {
		return nil, err
	}
	defer a.release()
	return c.generateResult(a, pii)
}

// generateResult turns a generate-otp answer into an OTPResponse or an
// *APIError. It is the whole decoding of that answer (and a fuzz target).
func (c *Client) generateResult(a *answer, pii []string) (*OTPResponse, error) {
	if a.status/100 != 2 || a.body == nil {
		return nil, c.apiError(opGenerate, a, nil, "", pii)
	}
	env, ok := decodeEnvelope(a.body)
	if !ok {
		return nil, c.apiError(opGenerate, a, nil, "", pii)
	}
	if !equalFoldASCII(env.SubCode.s, SubCodeSuccess) {
		return nil, c.apiError(opGenerate, a, &env, "sub_code is not SUCCESS", pii)
	}
	if !validReferenceID(env.ReferenceID.s) {
		return nil, c.apiError(opGenerate, a, &env, "answer has no usable reference_id", pii)
	}
	ts := epochTime(env.Timestamp.n)
	return &OTPResponse{
		ReferenceID:   env.ReferenceID.s,
		TransactionID: clip(env.TransactionID.s, 128),
		Message:       scrub(clip(env.Message.s, 500), pii...),
		Timestamp:     ts,
		ExpiresAt:     ts.Add(OTPValidity),
	}, nil
}

func checkConsentPurpose(consent Consent, purpose string) error {
	switch consent {
	case ConsentYes:
	case ConsentNo:
		return invalid("consent", "the customer did not consent (ConsentNo); no request was sent")
	default:
		return invalid("consent", "must be ConsentYes")
	}
	if strings.TrimSpace(purpose) == "" {
		return invalid("purpose", "must not be blank (the purpose of the KYC check is required by regulation)")
	}
	if len(purpose) > maxPurposeBytes {
		return invalid("purpose", "must be at most "+strconv.Itoa(maxPurposeBytes)+" bytes")
	}
	if !utf8.ValidString(purpose) {
		return invalid("purpose", "must be valid UTF-8")
	}
	for _, r := range purpose {
		if r < 0x20 || r == 0x7f {
			return invalid("purpose", "must not contain control characters")
		}
	}
	return nil
}

// validReferenceID accepts 1 to 64 printable ASCII characters without spaces.
func validReferenceID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// epochTime converts epoch milliseconds; 0 (absent) means now. A value too
// small to be milliseconds of this century is taken as seconds.
func epochTime(ms int64) time.Time {
	switch {
	case ms <= 0:
		return time.Now()
	case ms < 100_000_000_000:
		return time.Unix(ms, 0)
	}
	return time.UnixMilli(ms)
}

// apiError builds the *APIError for an answer that is not a success. env is
// the decoded envelope when the caller has it; problem, when set, says what
// was wrong with a 2xx answer.
func (c *Client) apiError(op string, a *answer, env *envelope, problem string, pii []string) *APIError {
	e := &APIError{StatusCode: a.status, Operation: op}
	known := append(pii, c.creds().secret)
	var detail string
	var list bool
	switch {
	case a.body == nil:
		e.Message = "answer larger than the SDK's bound"
	case env == nil:
		if dec, ok := decodeEnvelope(a.body); ok {
			env = &dec
		} else {
			e.Message = describeUndecodable(a)
			problem = "" // the description says it all
		}
	}
	if env != nil {
		e.Code = int(env.Code.n)
		e.SubCode = clip(scrub(env.SubCode.s, known...), 64)
		e.Message = clip(scrub(env.Message.s, known...), 500)
		e.TransactionID = clip(scrub(env.TransactionID.s, known...), 128)
		e.ReferenceID = clip(scrub(env.ReferenceID.s, known...), 64)
		detail, list = detailText(env.Detail)
		e.Detail = clip(scrub(detail, known...), 500)
	}
	switch a.status / 100 {
	case 3:
		e.kind, problem = ErrUnexpectedResponse, "redirect refused"
	case 2:
		if e.kind = classify(a.status, e.SubCode, detail, list); e.kind == nil {
			e.kind = ErrUnexpectedResponse
		}
	default:
		e.kind = classify(a.status, e.SubCode, detail, list)
	}
	if problem != "" {
		if e.Message != "" {
			e.Message = problem + ": " + e.Message
		} else {
			e.Message = problem
		}
	}
	return e
}

func describeUndecodable(a *answer) string {
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
	return "answer is not a valid JSON object (" + clip(ct, 40) + ", " + strconv.Itoa(len(a.body)) + " bytes)"
}

// appendQueryEscape appends s escaped as url.QueryEscape does.
func appendQueryEscape(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '_' || c == '.' || c == '~' {
			dst = append(dst, c)
			continue
		}
		if c == ' ' {
			dst = append(dst, '+')
			continue
		}
		const hex = "0123456789ABCDEF"
		dst = append(dst, '%', hex[c>>4], hex[c&15])
	}
	return dst
}
