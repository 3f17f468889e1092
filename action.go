package deepvue

import "time"

// Action is what to do after a call, as NextStep advises it: what an
// onboarding handler tells the customer (or its operator). A switch on it
// needs no other check of the error.
type Action int

// Actions. The zero Action is none of them: NextStep never returns it.
const (
	// ActionDone: the call succeeded (err is nil). After GenerateOTP, ask
	// the customer for the OTP; after VerifyOTP, the KYC is done.
	ActionDone Action = iota + 1
	// ActionEnterOTP: an OTP sent earlier for this number is still valid
	// (409 VERIFICATION_PENDING): ask the customer to enter it. After, when
	// known, is how long until a new one may be requested.
	ActionEnterOTP
	// ActionCheckSMS: GenerateOTP's request may have reached Deepvue and an
	// OTP may be on its way (OTPMaybeSent): ask the customer to check their
	// SMS, and do not send again at once (a second request costs an SMS, or
	// meets a 409).
	ActionCheckSMS
	// ActionFixInput: the input was refused, locally or by Deepvue; nothing
	// was sent to the customer. Field names it when known (FieldAadhaarNumber,
	// FieldOTP, ...): ask the customer to correct it.
	ActionFixInput
	// ActionTryAgain: the same call may be made again: for GenerateOTP only
	// when no OTP went out (OTPNotSent); for VerifyOTP, whose retry sends no
	// SMS, also after a failure whose outcome is unknown. After, when known,
	// is how long to wait first (RetryAfter).
	ActionTryAgain
	// ActionOTPRejected: VerifyOTP's OTP or reference will not verify
	// (ErrOTPRejected): ask the customer to re-enter the OTP, or to request a
	// new one.
	ActionOTPRejected
	// ActionNoMobileLinked: no mobile number is linked to this Aadhaar
	// number, so no OTP can be sent: offer another way to verify.
	ActionNoMobileLinked
	// ActionFixConfiguration: the customer can do nothing: the credentials
	// are wrong or the account inactive (ErrUnauthorized), or the program
	// is wrong (a nil context, a bad option, a request that lost a parameter
	// on its way). Field names the argument or option at fault when known.
	// Tell the customer the service is unavailable, and an operator why.
	ActionFixConfiguration
)

// String returns "done", "enter_otp", "check_sms", "fix_input",
// "try_again", "otp_rejected", "no_mobile_linked" or "fix_configuration".
func (a Action) String() string {
	switch a {
	case ActionDone:
		return "done"
	case ActionEnterOTP:
		return "enter_otp"
	case ActionCheckSMS:
		return "check_sms"
	case ActionFixInput:
		return "fix_input"
	case ActionTryAgain:
		return "try_again"
	case ActionOTPRejected:
		return "otp_rejected"
	case ActionNoMobileLinked:
		return "no_mobile_linked"
	case ActionFixConfiguration:
		return "fix_configuration"
	}
	return "Action(invalid)"
}

// Step is NextStep's answer: what to do, and what it needs. Fields may be
// added in later releases.
type Step struct {
	// Action is what to do.
	Action Action
	// Field is the input at fault (one of the Field constants) for
	// ActionFixInput, and the argument or option at fault for
	// ActionFixConfiguration; "" when not known.
	Field string
	// After is how long to wait, when the SDK knows it (RetryAfter): for
	// ActionTryAgain, before the same call; for ActionEnterOTP, before a new
	// OTP may be requested. 0 when not known (never a guess).
	After time.Duration
}
