package deepvue_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
)

// An Observer sets only the functions it needs; the others stay nil. Here
// EndAttempt and EndCall print what a metrics exporter would record (every
// value is safe to record: no number, OTP or secret).
func ExampleWithObserver() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	obs := &deepvue.Observer{
		EndAttempt: func(_ context.Context, a deepvue.AttemptInfo, r deepvue.AttemptResult) {
			fmt.Println("attempt", a.Attempt, a.Method, r.StatusCode, r.Outcome, "resends:", a.Attempt-1)
		},
		EndCall: func(_ context.Context, c deepvue.CallInfo, r deepvue.CallResult) {
			fmt.Println("call", c.Operation, r.Outcome, "attempts:", r.Attempts, "OTP:", r.OTPState)
		},
	}
	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL),
		deepvue.WithObserver(obs))
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := client.GenerateOTP(context.Background(), "234123412346", deepvue.ConsentYes, "Loan onboarding KYC"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// attempt 1 POST 200 ok resends: 0
	// call generate-otp ok attempts: 1 OTP: sent
}

// StartAttempt may add headers to the request, a trace context say; it
// cannot set the credentials.
func ExampleObserver() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	obs := &deepvue.Observer{
		StartAttempt: func(ctx context.Context, a deepvue.AttemptInfo, h http.Header) context.Context {
			h.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
			_, query, _ := strings.Cut(a.URL, "?")
			fmt.Println("attempt", a.Attempt, "query:", query)
			return ctx
		},
	}
	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL),
		deepvue.WithObserver(obs))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = client.GenerateOTP(context.Background(), "234123412346", deepvue.ConsentYes, "Loan onboarding KYC")
	fmt.Println("error:", err)
	// Output:
	// attempt 1 query: aadhaar_number=REDACTED&consent=REDACTED&purpose=REDACTED
	// error: <nil>
}
