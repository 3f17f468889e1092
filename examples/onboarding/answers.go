package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/deepvue-go/deepvue"
)

// The onboarding handler's answer to the browser when a call fails: the SDK
// says what to do next (deepvue.NextStep, its order of precedence: an OTP
// that may be on its way always comes first), and this file only words it.

// errorBody is what the browser gets for a failure.
type errorBody struct {
	Error             string `json:"error"`           // NextStep's action: "check_sms", "try_again", ...
	Message           string `json:"message"`         // for the customer
	State             string `json:"state,omitempty"` // GenerateOTP: deepvue.OTPStateOf(err)
	RetryAfterSeconds int    `json:"retry_after_seconds,omitempty"`
	// ReferenceID is the pending OTP's reference on a 409 (enter_otp), when
	// the SDK knows it (deepvue.PendingReference): what the page verifies
	// the OTP with when it lost the first answer (a double click, a reload).
	ReferenceID string `json:"reference_id,omitempty"`
}

// fixText words ActionFixInput for each field.
var fixText = map[string]string{
	deepvue.FieldAadhaarNumber: "check the Aadhaar number and enter it again", deepvue.FieldConsent: "we need your consent to verify your Aadhaar",
	deepvue.FieldOTP: "the OTP must be the 6 digits from the SMS", deepvue.FieldMobileNumber: "the mobile number must have 10 digits",
	deepvue.FieldPurpose: "the purpose of the check is missing", deepvue.FieldReferenceID: "the reference is missing; ask for a new OTP",
	"": "check what you entered and try again",
}

// failure answers a failed GenerateOTP or VerifyOTP.
func failure(err error) (int, errorBody) {
	step := deepvue.NextStep(err)
	secs := int((step.After + time.Second - 1) / time.Second)
	b, when := errorBody{Error: step.Action.String(), RetryAfterSeconds: secs}, " in a minute"
	if secs > 0 {
		when = " in " + strconv.Itoa(secs) + " seconds"
	}
	switch step.Action {
	case deepvue.ActionEnterOTP:
		b.Message = "an OTP was sent to your mobile recently and is still valid: enter it; you can ask for a new one" + when
		b.ReferenceID, _ = deepvue.PendingReference(err)
		return http.StatusConflict, b
	case deepvue.ActionCheckSMS:
		b.Message = "an OTP may still arrive: check your SMS and wait a minute before asking again"
		return http.StatusBadGateway, b
	case deepvue.ActionFixInput:
		b.Message = fixText[step.Field]
		return http.StatusBadRequest, b
	case deepvue.ActionTryAgain:
		b.Message = "the Aadhaar service is busy or could not be reached; please try again" + when
		return http.StatusServiceUnavailable, b
	case deepvue.ActionOTPRejected:
		b.Message = "the OTP was not accepted; check the SMS and enter it again, or ask for a new OTP"
		return http.StatusUnprocessableEntity, b
	case deepvue.ActionNoMobileLinked:
		b.Message = "no mobile number is linked to this Aadhaar, so an OTP cannot be sent; please use another KYC method"
		return http.StatusUnprocessableEntity, b
	}
	b.Message = "the KYC service is not configured correctly; we are on it" // ActionFixConfiguration
	return http.StatusInternalServerError, b
}
