package main

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/deepvue-go/deepvue"
)

// The onboarding handler's answers to the browser when a call fails. Three
// SDK functions decide them:
//
//   - deepvue.OTPStateOf(err): did an OTP go to the customer's phone? It
//     picks between "enter the OTP you have", "no OTP was sent, ask again",
//     and "an OTP may be on its way: check your SMS before asking again".
//   - deepvue.ErrOTPRejected: VerifyOTP's "this OTP or reference will not
//     verify": re-enter it, or ask for a new one.
//   - deepvue.RetryAfter(err): when the same call may succeed, if the SDK
//     knows (the limiter's next slot, a Retry-After header): the browser
//     gets it as retry_after_seconds and as a Retry-After header.

// errorBody is what the browser gets for a failure.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	// State is deepvue.OTPState's String for an OTP request ("not_sent",
	// "pending", "maybe_sent").
	State string `json:"state,omitempty"`
	// RetryAfterSeconds is set when the SDK knows when asking again may work.
	RetryAfterSeconds int `json:"retry_after_seconds,omitempty"`
}

// retryAfter returns the whole seconds to wait (rounded up), when known.
func retryAfter(err error) (int, bool) {
	d, ok := deepvue.RetryAfter(err)
	if !ok {
		return 0, false
	}
	return int((d + time.Second - 1) / time.Second), true
}

// inSeconds is " in N seconds", or fallback when the wait is unknown.
func inSeconds(secs int, known bool, fallback string) string {
	if !known {
		return fallback
	}
	if secs == 1 {
		return " in 1 second"
	}
	return " in " + strconv.Itoa(secs) + " seconds"
}

// otpFailure answers a failed GenerateOTP, by the state it leaves the
// customer's phone in.
func otpFailure(err error) (int, errorBody) {
	state := deepvue.OTPStateOf(err)
	secs, known := retryAfter(err)
	b := errorBody{State: state.String()}
	if known {
		b.RetryAfterSeconds = secs
	}
	var ve *deepvue.ValidationError
	switch {
	case errors.As(err, &ve):
		b.Error, b.Message = "invalid_input", fieldMessage(ve)
		return http.StatusBadRequest, b
	case state == deepvue.OTPPending:
		b.Error = "otp_pending"
		b.Message = "an OTP was sent to your mobile recently and is still valid: enter it" +
			"; you can ask for a new one" + inSeconds(secs, known, " in a minute")
		return http.StatusConflict, b
	case state == deepvue.OTPMaybeSent:
		// Deepvue may have sent an SMS: asking again now could send a second
		// one (or meet a 409). Let the customer check their phone first.
		b.Error = "maybe_sent"
		b.Message = "the Aadhaar service did not answer clearly; an OTP may still arrive, so check your SMS and wait a minute before asking again"
		if deepvue.Outcome(err) == "timeout" {
			b.Error = "timeout"
			return http.StatusGatewayTimeout, b
		}
		return http.StatusBadGateway, b
	}
	// No OTP was sent from here on.
	switch {
	case errors.Is(err, deepvue.ErrMobileNotLinked):
		b.Error, b.Message = "mobile_not_linked", "no mobile number is linked to this Aadhaar, so an OTP cannot be sent; please use another KYC method"
		return http.StatusUnprocessableEntity, b
	case errors.Is(err, deepvue.ErrInvalidInput):
		b.Error, b.Message = "invalid_input", "the Aadhaar number was not accepted; check it and try again"
		return http.StatusBadRequest, b
	case errors.Is(err, deepvue.ErrUnauthorized):
		b.Error, b.Message = "misconfigured", "the KYC service is not configured correctly; we are on it"
		return http.StatusInternalServerError, b
	case errors.Is(err, deepvue.ErrRateLimited), errors.Is(err, deepvue.ErrLimiter):
		b.Error = "busy"
		b.Message = "we are handling many verifications right now and no OTP was sent; please try again" + inSeconds(secs, known, " in a minute")
		return http.StatusServiceUnavailable, b
	case errors.Is(err, deepvue.ErrSourceFailure), errors.Is(err, deepvue.ErrServiceUnavailable):
		b.Error = "source_unavailable"
		b.Message = "the Aadhaar service (UIDAI) is temporarily unavailable and no OTP was sent; please try again" +
			inSeconds(secs, known, " in a few minutes")
		return http.StatusServiceUnavailable, b
	}
	b.Error, b.Message = "not_sent", "we could not reach the Aadhaar service and nothing was sent; please try again"
	return http.StatusServiceUnavailable, b
}

// verifyFailure answers a failed VerifyOTP.
func verifyFailure(err error) (int, errorBody) {
	secs, known := retryAfter(err)
	b := errorBody{}
	if known {
		b.RetryAfterSeconds = secs
	}
	var ve *deepvue.ValidationError
	switch {
	case errors.As(err, &ve):
		b.Error, b.Message = "invalid_input", fieldMessage(ve)
		return http.StatusBadRequest, b
	case errors.Is(err, deepvue.ErrOTPRejected):
		// Wrong, expired, used or locked: Deepvue documents none of these,
		// so the SDK gives them one name.
		b.Error, b.Message = "otp_rejected", "the OTP was not accepted; check the SMS and enter it again, or ask for a new OTP"
		return http.StatusUnprocessableEntity, b
	case errors.Is(err, deepvue.ErrUnauthorized):
		b.Error, b.Message = "misconfigured", "the KYC service is not configured correctly; we are on it"
		return http.StatusInternalServerError, b
	case errors.Is(err, deepvue.ErrRateLimited), errors.Is(err, deepvue.ErrLimiter):
		b.Error = "busy"
		b.Message = "we are handling many verifications right now; please enter the OTP again" + inSeconds(secs, known, " in a minute")
		return http.StatusServiceUnavailable, b
	case errors.Is(err, deepvue.ErrSourceFailure), errors.Is(err, deepvue.ErrServiceUnavailable):
		b.Error = "source_unavailable"
		b.Message = "the Aadhaar service (UIDAI) is temporarily unavailable; please try again" + inSeconds(secs, known, " in a few minutes")
		return http.StatusServiceUnavailable, b
	case errors.Is(err, deepvue.ErrNotSent):
		b.Error, b.Message = "not_sent", "we could not reach the Aadhaar service and nothing was sent; please try again"
		return http.StatusServiceUnavailable, b
	case deepvue.Outcome(err) == "timeout":
		b.Error, b.Message = "timeout", "the Aadhaar service did not answer in time; please try again"
		return http.StatusGatewayTimeout, b
	}
	b.Error, b.Message = "upstream_error", "the Aadhaar service failed; please try again later"
	return http.StatusBadGateway, b
}
