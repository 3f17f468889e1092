package deepvue

import (
	"errors"
	"time"
)

// OTPStateOf returns the state a GenerateOTP outcome leaves the customer's
// phone in. Every outcome falls in exactly one state:
//
//   - OTPSent: err is nil.
//   - OTPNotSent: err matches ErrNotSent (local validation, a nil context,
//     a limiter refusal, a transport failure the SDK saw happen before any
//     request could be written), or it is an *APIError for an answer Deepvue
//     documents as generating no OTP, at its documented status:
//     INVALID_INPUT with 400 or 422, AADHAAR_MOBILE_NOT_LINKED with 400,
//     SOURCE_FAILURE with 500, 400 {"detail":"Bad Request"} or "Inactive
//     client_id", a 422 with a detail (a string or a validation list), and
//     401, 403, 429 and 503 only with Deepvue's own detail ("Invalid
//     client_id or client_secret, access Denied", "Not authenticated",
//     "Rate limit exceeded. Please retry after some time.", "Source
//     Unavailable").
//   - OTPPending: an *APIError for 409 VERIFICATION_PENDING: an earlier OTP
//     for this number is still valid.
//   - OTPMaybeSent: everything else: a transport failure after the request
//     may have been written, a deadline with no answer, every answer nobody
//     documents (a proxy's or gateway's page, empty body or JSON at any
//     status, a 200 that cannot be decoded, a 2xx with a sub_code other than
//     SUCCESS, a documented sub_code with an undocumented status), an error
//     from below the SDK whatever it holds (a transport that returns an
//     *APIError of its own), and any error matching
//     ErrMaybeSentMoreThanOnce (an answer through a transport that is
//     neither net/http's nor declared with WithSingleAttemptTransport).
//
// An *APIError is classified from its public fields (StatusCode, SubCode,
// Detail), so one built by hand gets the same state as one the SDK returns.
// The state is meant for GenerateOTP errors; NextStep gives the advice for
// both operations.
func OTPStateOf(err error) OTPState {
	if err == nil {
		return OTPSent
	}
	if errors.Is(err, ErrNotSent) {
		return OTPNotSent
	}
	// A transport below the SDK that hides its resends may have sent an
	// earlier attempt whatever the last answer says; and an error from
	// below the SDK is never an answer, whatever it holds (a transport
	// that returns an *APIError of its own making).
	var te *transportError
	if errors.Is(err, ErrMaybeSentMoreThanOnce) || errors.As(err, &te) {
		return OTPMaybeSent
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return OTPMaybeSent
	}
	return apiOTPState(ae)
}

// apiOTPState reads the table of answers (errors.go): the state of the row
// the answer selects, which counts only with the status (and, for 503, the
// detail) Deepvue documents it with.
func apiOTPState(ae *APIError) OTPState {
	if ae == nil {
		return OTPMaybeSent
	}
	if r := classifyRow(ae.StatusCode, ae.SubCode, ae.Detail); r != nil {
		return r.stateOf(ae.StatusCode, ae.Detail)
	}
	return OTPMaybeSent
}

// RetryAfter returns how long until the same call may succeed, when the SDK
// knows it, and false when it does not (then it never guesses):
//
//   - a refusal by the rate limiter, or any other error in err's chain with a
//     method RetryAfter() time.Duration that returns a positive value (the
//     limiter's next slot), found through the SDK's wrapping;
//   - an *APIError for HTTP 429, HTTP 503, SOURCE_FAILURE or 409
//     VERIFICATION_PENDING whose answer carried a Retry-After header (in
//     seconds or as an HTTP date). For 409 it is when the pending OTP's
//     window ends and a new one may be requested.
//
// Whatever its source, the wait is capped at MaxRetryAfter: a wrong or
// hostile value (a header, a far-future slot written into a shared
// limiter's store) cannot park a customer for days.
//
// It is never true for an answer to GenerateOTP (an *APIError whose
// Operation is not verify-otp) whose OTPStateOf is OTPMaybeSent: that call may have sent an
// SMS, whatever its answer asked for.
//
// Deepvue documents no Retry-After header: for its answers RetryAfter
// reports false unless the server sends one. A Retry-After on any other
// answer, a missing, unreadable, zero or past value all give false.
func RetryAfter(err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	if ae := (*APIError)(nil); errors.As(err, &ae) && ae != nil && ae.Operation != opVerify && OTPStateOf(err) == OTPMaybeSent {
		// An answer to a GenerateOTP that may have sent an SMS: no wait
		// makes the same call safe (a VERIFICATION_PENDING body behind a
		// 502, a 429 through a transport that may have resent).
		return 0, false
	}
	var te *transportError
	if errors.As(err, &te) && te != nil && te.wait > 0 {
		return min(te.wait, MaxRetryAfter), true
	}
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		if d := ra.RetryAfter(); d > 0 {
			return min(d, MaxRetryAfter), true
		}
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae == nil || ae.RetryAfter <= 0 {
		return 0, false
	}
	if !ae.Temporary() && ae.Unwrap() != ErrVerificationPending {
		return 0, false
	}
	return min(ae.RetryAfter, MaxRetryAfter), true
}
