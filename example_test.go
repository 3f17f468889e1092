package deepvue_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
)

// The two steps of Aadhaar eKYC, against the fake server. In production,
// drop deepvuetest and WithBaseURL and pass your client id and secret.
func Example() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Step 1: the customer typed their number and consented.
	otp, err := client.GenerateOTP(ctx, "2341 2341 2346", deepvue.ConsentYes, "Loan onboarding KYC")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("OTP sent for", deepvue.MaskAadhaar("2341 2341 2346"), "reference", otp.ReferenceID)

	// Step 2: the customer typed the OTP from the SMS.
	data, err := client.VerifyOTP(ctx, deepvue.VerifyOTPRequest{
		ReferenceID: otp.ReferenceID,
		OTP:         deepvuetest.OTPValid,
		Consent:     deepvue.ConsentYes,
		Purpose:     "Loan onboarding KYC",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(data.Name, data.DateOfBirth, data.MaskedNumber, data.Address.State)
	fmt.Println("photo is a JPEG:", len(data.Photo) > 2 && data.Photo[0] == 0xFF && data.Photo[1] == 0xD8)
	// Output:
	// OTP sent for XXXX XXXX 2346 reference 29756209
	// Mohammed Nihar 28-06-1999 XXXX XXXX 8091 Karnataka
	// photo is a JPEG: true
}

// Every documented failure matches one sentinel error; *APIError carries
// the status, sub_code and transaction id.
func ExampleClient_GenerateOTP_errors() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}

	_, err = client.GenerateOTP(context.Background(), deepvuetest.NumberNotLinked, deepvue.ConsentYes, "KYC")
	switch {
	case errors.Is(err, deepvue.ErrMobileNotLinked):
		fmt.Println("no mobile linked: offer another KYC method")
	case errors.Is(err, deepvue.ErrVerificationPending):
		fmt.Println("an OTP was sent recently: wait")
	case err != nil:
		fmt.Println("failed:", err)
	}
	var apiErr *deepvue.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.SubCode)
	}

	// Invalid input never reaches the network.
	_, err = client.GenerateOTP(context.Background(), "2341 2341 2347", deepvue.ConsentYes, "KYC")
	fmt.Println(err)
	fmt.Println(errors.Is(err, deepvue.ErrInvalidInput), srv.Requests(deepvuetest.PathGenerateOTP))
	// Output:
	// no mobile linked: offer another KYC method
	// 400 AADHAAR_MOBILE_NOT_LINKED
	// deepvue: invalid aadhaar_number: has a wrong check digit (probably a typo)
	// true 1
}

func ExampleValidateAadhaar() {
	for _, n := range []string{"2341 2341 2346", "2341 2341 2347", "1234 1234 1234", "6433 4312 1"} {
		fmt.Println(deepvue.MaskAadhaar(n), deepvue.ValidateAadhaar(n))
	}
	// Output:
	// XXXX XXXX 2346 <nil>
	// XXXX XXXX 2347 deepvue: invalid aadhaar_number: has a wrong check digit (probably a typo)
	// XXXX XXXX 1234 deepvue: invalid aadhaar_number: must not start with 0 or 1
	// XXXX XXXX XXXX deepvue: invalid aadhaar_number: must have 12 digits
}

func ExampleMaskAadhaar() {
	fmt.Println(deepvue.MaskAadhaar("234567890124"))
	// Output: XXXX XXXX 0124
}

// Printing a request never shows the OTP or the mobile number.
func ExampleVerifyOTPRequest() {
	req := deepvue.VerifyOTPRequest{ReferenceID: "29756208", OTP: "123456", Consent: deepvue.ConsentYes,
		Purpose: "KYC", MobileNumber: "9876543210"}
	fmt.Printf("%+v\n", req)
	// Output:
	// deepvue.VerifyOTPRequest{ReferenceID: "29756208", OTP: [REDACTED], Consent: "Y", Purpose: "KYC", MobileNumber: [REDACTED], GeneratePDF: false}
}

// Keep a busy backend inside its plan's limits instead of collecting 429s.
func ExampleNewPlanLimiter() {
	client, err := deepvue.NewClient("my-client-id", "my-secret",
		deepvue.WithRateLimiter(deepvue.NewPlanLimiter(deepvue.PlanBusiness)))
	fmt.Println(client != nil, err)
	// Output: true <nil>
}
