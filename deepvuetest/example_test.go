package deepvuetest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
)

// A fake Deepvue for a test: the SDK talks to it over loopback HTTP.
func ExampleNewServer() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	ctx := context.Background()
	_, err = client.GenerateOTP(ctx, deepvuetest.NumberNotLinked, deepvue.ConsentYes, "Loan onboarding KYC")
	fmt.Println(errors.Is(err, deepvue.ErrMobileNotLinked))
	_, err = client.GenerateOTP(ctx, deepvuetest.NumberSuccess, deepvue.ConsentYes, "Loan onboarding KYC")
	fmt.Println(err, srv.SMSSent())
	_, err = client.GenerateOTP(ctx, deepvuetest.NumberSuccess, deepvue.ConsentYes, "Loan onboarding KYC")
	fmt.Println(errors.Is(err, deepvue.ErrVerificationPending), srv.SMSSent())
	// Output:
	// true
	// <nil> 1
	// true 1
}

// A fresh valid number per call, so that the 45 s pending window never
// links two calls (or two tests).
func ExampleNewNumber() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	for i := 0; i < 3; i++ {
		n := deepvuetest.NewNumber()
		_, err := client.GenerateOTP(context.Background(), n, deepvue.ConsentYes, "Loan onboarding KYC")
		fmt.Println(len(n), deepvue.ValidateAadhaar(n), err)
	}
	fmt.Println("SMS sent:", srv.SMSSent())
	// Output:
	// 12 <nil> <nil>
	// 12 <nil> <nil>
	// 12 <nil> <nil>
	// SMS sent: 3
}

// Scripted failures, in order, before the usual answers; and what each
// request carried.
func ExampleServer_Script() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	srv.Script(deepvuetest.PathGenerateOTP, deepvuetest.RateLimited, deepvuetest.ConnectionReset)
	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL),
		deepvue.WithUserAgent("onboarding/1.4"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	for i := 0; i < 3; i++ {
		_, err := client.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, "Loan onboarding KYC")
		fmt.Printf("%s, not sent: %v\n", deepvue.Outcome(err), errors.Is(err, deepvue.ErrNotSent))
	}
	for _, h := range srv.Headers(deepvuetest.PathGenerateOTP) {
		fmt.Println(strings.TrimSuffix(h.Get("User-Agent"), deepvue.Version))
	}
	// Output:
	// ErrRateLimited, not sent: false
	// transport, not sent: false
	// ok, not sent: false
	// onboarding/1.4 deepvue-go/
	// onboarding/1.4 deepvue-go/
	// onboarding/1.4 deepvue-go/
}

// The same script as JSON, the form the deepvue-fake command's -script flag
// reads.
func ExampleServer_LoadScript() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	err := srv.LoadScript(strings.NewReader(`[
		{"path": "/v2/ekyc/aadhaar/generate-otp", "answer": "RateLimited"},
		{"path": "/v2/ekyc/aadhaar/generate-otp", "status": 503, "body": {"detail": "Source Unavailable"}}
	]`))
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	for i := 0; i < 3; i++ {
		_, err := client.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, "Loan onboarding KYC")
		fmt.Println(deepvue.Outcome(err))
	}
	// Output:
	// ErrRateLimited
	// ErrServiceUnavailable
	// ok
}
