package deepvue

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error the SDK returns for a documented answer, and
// for every local validation failure, matches exactly one of them with
// errors.Is. Use errors.As with *APIError for the HTTP status, sub_code,
// message and transaction id.
var (
	// ErrInvalidInput: the input was refused, locally (before any request was
	// sent) or by Deepvue (sub_code INVALID_INPUT with 400 or 422, or a 422
	// whose detail is a list of validation errors). Do not retry unchanged.
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

	// ErrUnexpectedResponse: a 2xx answer the SDK cannot use: not JSON,
	// truncated, wrong types, too large, a sub_code other than SUCCESS, or a
	// missing reference_id. The request reached Deepvue, so for GenerateOTP an
	// SMS may have been sent: do not call again at once.
	ErrUnexpectedResponse = errors.New("deepvue: unexpected response")
)

// Sub-codes documented by Deepvue.
const (
	SubCodeSuccess             = "SUCCESS"
	SubCodeInvalidInput        = "INVALID_INPUT"
	SubCodeMobileNotLinked     = "AADHAAR_MOBILE_NOT_LINKED"
	SubCodeVerificationPending = "VERIFICATION_PENDING"
	SubCodeSourceFailure       = "SOURCE_FAILURE"
)

// APIError is the error for every answer from Deepvue that is not a success:
// every non-2xx status, and a 2xx answer the SDK cannot use. Its fields hold
// what Deepvue said, with any Aadhaar number, OTP, mobile number or secret
// that the server echoed replaced by a mask. It never holds the raw body.
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

	kind error // the sentinel this error matches, or nil
}

// maxErrorText bounds Message and Detail inside Error().
const maxErrorText = 200

// Error returns a short, single-line description: status, sub_code, message
// or detail, and transaction id. It never contains a response body.
func (e *APIError) Error() string {
	var b strings.Builder
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
	text := e.Message
	if text == "" {
		text = e.Detail
	}
	if text != "" {
		b.WriteString(": ")
		b.WriteString(clip(text, maxErrorText))
	}
	if e.TransactionID != "" {
		b.WriteString(" (transaction_id ")
		b.WriteString(clip(e.TransactionID, 64))
		b.WriteByte(')')
	}
	return b.String()
}

// Unwrap returns the sentinel this error matches (nil for an answer nothing
// documents), so errors.Is(err, ErrVerificationPending) works.
func (e *APIError) Unwrap() error { return e.kind }

// Temporary reports whether the same call may succeed later without any
// change: SOURCE_FAILURE, 429 and 503.
func (e *APIError) Temporary() bool {
	return e.kind == ErrSourceFailure || e.kind == ErrRateLimited || e.kind == ErrServiceUnavailable
}

// ValidationError is returned, before any request is sent, for input the SDK
// refuses. It matches ErrInvalidInput and never contains the value itself.
type ValidationError struct {
	// Field is the API parameter or option at fault, e.g. "aadhaar_number".
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

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }

// classify picks the one sentinel an answer matches. detail reports whether
// the body had a "detail" field; validationList whether it was a list.
func classify(status int, subCode, detail string, validationList bool) error {
	switch status {
	case 401, 403:
		return ErrUnauthorized
	case 429:
		return ErrRateLimited
	case 503:
		return ErrServiceUnavailable
	}
	switch strings.ToUpper(subCode) {
	case SubCodeInvalidInput:
		return ErrInvalidInput
	case SubCodeMobileNotLinked:
		return ErrMobileNotLinked
	case SubCodeVerificationPending:
		return ErrVerificationPending
	case SubCodeSourceFailure:
		return ErrSourceFailure
	}
	if status == 422 && validationList {
		return ErrInvalidInput
	}
	if status == 400 && strings.EqualFold(strings.TrimSpace(detail), "Inactive client_id") {
		return ErrUnauthorized
	}
	return nil
}

// clip shortens s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
