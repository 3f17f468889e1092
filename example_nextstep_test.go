package deepvue_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/jarcoal/httpmock"
)

// What to tell the customer after a failed call: a switch on NextStep's
// Action, in the SDK's own order of precedence.
func ExampleNextStep() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	srv.Script(deepvuetest.PathGenerateOTP, deepvuetest.Answer{Status: 409, Header: http.Header{"Retry-After": {"40"}},
		Body: `{"code":409,"sub_code":"VERIFICATION_PENDING","message":"Otp already generated for this aadhaar, please try after some time."}`})
	for _, number := range []string{"234123412347", deepvuetest.NumberSuccess, deepvuetest.NumberNotLinked} {
		_, err := client.GenerateOTP(context.Background(), number, deepvue.ConsentYes, "Loan onboarding KYC")
		step := deepvue.NextStep(err)
		switch step.Action {
		case deepvue.ActionFixInput:
			fmt.Println("fix the", step.Field)
		case deepvue.ActionNoMobileLinked:
			fmt.Println("no mobile linked: offer another way to verify")
		case deepvue.ActionEnterOTP:
			fmt.Println("enter the OTP you have; a new one in", step.After)
		default:
			fmt.Println(step.Action)
		}
	}
	// Output:
	// fix the aadhaar_number
	// enter the OTP you have; a new one in 40s
	// no mobile linked: offer another way to verify
}

// A test through httpmock gets production's states for Deepvue's answers
// once the mock is declared a single-attempt transport.
func ExampleWithSingleAttemptTransport() {
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, deepvue.DefaultBaseURL+deepvuetest.PathGenerateOTP,
		httpmock.NewStringResponder(429, `{"detail":"Rate limit exceeded. Please retry after some time."}`))
	for _, declared := range []bool{false, true} {
		opts := []deepvue.Option{deepvue.WithHTTPClient(&http.Client{Transport: mt})}
		if declared {
			opts = append(opts, deepvue.WithSingleAttemptTransport())
		}
		client, err := deepvue.NewClient("client-id", "free_tier_secret", opts...)
		if err != nil {
			fmt.Println(err)
			return
		}
		_, err = client.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, "KYC")
		fmt.Println(declared, deepvue.OTPStateOf(err), deepvue.NextStep(err).Action)
	}
	// Output:
	// false maybe_sent check_sms
	// true not_sent try_again
}
