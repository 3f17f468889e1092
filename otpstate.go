package deepvue

import (
	"errors"
	"net/http"
)

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
// phone in: OTPSent for a nil error, OTPNotSent for an error matching
// ErrNotSent or a documented answer after which Deepvue generated no OTP,
// OTPPending for 409 VERIFICATION_PENDING, and OTPMaybeSent for everything
// else. An *APIError built by hand is classified from its public fields.
func OTPStateOf(err error) OTPState {
	if err == nil {
		return OTPSent
	}
	if errors.Is(err, ErrNotSent) {
		return OTPNotSent
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode < http.StatusBadRequest {
		return OTPMaybeSent
	}
	switch ae.Unwrap() {
	case ErrVerificationPending:
		return OTPPending
	case ErrInvalidInput, ErrMobileNotLinked, ErrSourceFailure, ErrUnauthorized,
		ErrRateLimited, ErrServiceUnavailable:
		return OTPNotSent
	}
	return OTPMaybeSent
}
