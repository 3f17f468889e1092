package deepvue

import (
	"errors"
	"strings"
)

// NextStep tells what to do after a GenerateOTP or VerifyOTP call, from the
// error it returned (nil: ActionDone). It is the SDK's own order of
// precedence, so a handler needs no order of errors.Is checks of its own:
//
//  1. For GenerateOTP, the state of the customer's phone comes first
//     (OTPStateOf): an error that may have sent an OTP is ActionCheckSMS,
//     whatever else it matches (a proxy's 401 page after it forwarded the
//     request, a deadline with no answer), so no advice ever leads to a
//     second SMS; OTPPending is ActionEnterOTP.
//  2. For VerifyOTP, ErrOTPRejected comes first: ActionOTPRejected (a
//     documented platform answer never matches it).
//  3. Otherwise the sentinel the error matches decides, in the order of the
//     SDK's table of answers (the order Outcome names them in): invalid
//     input is ActionFixInput (an option or argument of NewClient, a nil
//     Client, or a 422 naming a missing parameter, which the SDK always
//     sends: ActionFixConfiguration), no mobile linked is
//     ActionNoMobileLinked, unauthorized and a nil context are
//     ActionFixConfiguration, and a limiter refusal, a failed consent
//     record, SOURCE_FAILURE, 429, 503, a closed Client and anything that
//     sent nothing are ActionTryAgain.
//  4. Anything else (a VerifyOTP that got no usable answer) is
//     ActionTryAgain.
//
// The operation is read from the error (APIError.Operation, or the SDK's
// transport error); an error that names none is treated as GenerateOTP's,
// the conservative reading. OTPStateOf stays the state; NextStep is the
// advice that follows from it.
func NextStep(err error) Step {
	if err == nil {
		return Step{Action: ActionDone}
	}
	verify := opOf(err) == opVerify
	if !verify {
		if OTPStateOf(err) == OTPMaybeSent {
			return Step{Action: ActionCheckSMS}
		}
	}
	var r *answerRow
	if verify && errors.Is(err, ErrOTPRejected) {
		r = rowOf(ErrOTPRejected)
	} else {
		r = namedRow(err)
	}
	step := Step{Action: ActionTryAgain}
	if r != nil {
		step.Action = r.action
	}
	switch step.Action {
	case ActionFixInput:
		step.Action, step.Field = inputAtFault(err, verify)
	case ActionTryAgain, ActionEnterOTP:
		step.After, _ = RetryAfter(err)
	}
	return step
}

// opOf returns the operation an error of the SDK names: an *APIError's, or
// a transport error's ("" if none).
func opOf(err error) string {
	var ae *APIError
	if errors.As(err, &ae) && ae != nil {
		return ae.Operation
	}
	var te *transportError
	if errors.As(err, &te) {
		return te.op
	}
	return ""
}

// inputAtFault is the step for an error matching ErrInvalidInput: the field
// at fault, and whether the customer or the program must fix it.
func inputAtFault(err error, verify bool) (Action, string) {
	var ve *ValidationError
	if errors.As(err, &ve) {
		if callerFields[ve.Field] {
			return ActionFixInput, ve.Field
		}
		return ActionFixConfiguration, ve.Field
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae == nil {
		return ActionFixInput, ""
	}
	if r := classifyRow(ae.StatusCode, ae.SubCode, ae.Detail); r != nil && r.by == bySubCode {
		if verify {
			return ActionFixInput, ""
		}
		return ActionFixInput, FieldAadhaarNumber // "Invalid UID", "Invalid Aadhaar Number Pattern."
	}
	field, missing := detailField422(ae.Detail)
	if missing {
		// The SDK sends every parameter: one that arrived missing was lost
		// on its way (a proxy that strips the query), or the SDK is wrong.
		return ActionFixConfiguration, field
	}
	return ActionFixInput, field
}

// callerFields are the Field constants of the two operations' inputs; the
// others name an argument or option of NewClient.
var callerFields = map[string]bool{
	FieldAadhaarNumber: true, FieldConsent: true, FieldPurpose: true,
	FieldReferenceID: true, FieldOTP: true, FieldMobileNumber: true,
}

// detailField422 reads the first item of a validation list as APIError
// summarises it ("query.purpose: field required; ..."): the parameter it
// names, when it is one of the operations' inputs, and whether it says the
// parameter is missing.
func detailField422(detail string) (field string, missing bool) {
	first, _, _ := strings.Cut(detail, ";")
	loc, msg, ok := strings.Cut(first, ":")
	if !ok {
		return "", false
	}
	loc = strings.TrimSpace(loc)
	if i := strings.LastIndexByte(loc, '.'); i >= 0 {
		loc = loc[i+1:]
	}
	if !callerFields[loc] {
		return "", false
	}
	msg = strings.ToLower(msg)
	return loc, strings.Contains(msg, "field required") || strings.Contains(msg, "missing")
}
