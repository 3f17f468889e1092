package deepvue

import "errors"

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

// OTPStateOf returns the state a GenerateOTP outcome leaves the customer's
// phone in. Every outcome falls in exactly one state:
//
//   - OTPSent: err is nil.
//   - OTPNotSent: err matches ErrNotSent (local validation, a nil context,
//     a limiter refusal, a transport failure the SDK knows happened before
//     any request was written), or it is an *APIError for an answer Deepvue
//     documents as generating no OTP: INVALID_INPUT with 400 or 422,
//     AADHAAR_MOBILE_NOT_LINKED with 400, SOURCE_FAILURE with 500, any 401
//     or 403, 429, 503 {"detail":"Source Unavailable"}, 400 {"detail":"Bad Request"} or "Inactive
//     client_id", and a 422 with a detail (a string or a validation list).
//   - OTPPending: an *APIError for 409 VERIFICATION_PENDING: an earlier OTP
//     for this number is still valid.
//   - OTPMaybeSent: everything else: a transport failure after the request
//     may have been written, any answer through a transport that hides its
//     resends (the error says "may have been sent more than once"), a deadline with no answer, and every answer
//     nobody documents (a gateway's 502 page, a 200 that cannot be decoded,
//     a 2xx with a sub_code other than SUCCESS, a documented sub_code with an
//     undocumented status).
//
// An *APIError is classified from its public fields (StatusCode, SubCode,
// Detail), so one built by hand gets the same state as one the SDK returns.
// The state is meant for GenerateOTP errors; for VerifyOTP use
// ErrOTPRejected and the other sentinels.
func OTPStateOf(err error) OTPState {
	if err == nil {
		return OTPSent
	}
	if errors.Is(err, ErrNotSent) {
		return OTPNotSent
	}
	// A transport below the SDK that hides its resends may have sent an
	// earlier attempt whatever the last answer says.
	var ru *resendUnknownError
	if errors.As(err, &ru) {
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
