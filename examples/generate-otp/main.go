// Command generate-otp sends an Aadhaar OTP through Deepvue.
//
// With DEEPVUE_CLIENT_ID and DEEPVUE_CLIENT_SECRET set it calls production
// (DEEPVUE_BASE_URL overrides the host) and needs -aadhaar. Without them it
// starts the in-process fake server (deepvuetest) and runs the same code, so
// it works with no credentials and no network:
//
//	go run ./examples/generate-otp
//	go run ./examples/generate-otp -aadhaar 999900000016   # a number with no mobile linked
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
)

func main() { os.Exit(realMain()) }

func realMain() int {
	number := flag.String("aadhaar", "", "Aadhaar number to send the OTP for (default with the fake server: "+deepvuetest.NumberSuccess+")")
	purpose := flag.String("purpose", "Customer onboarding KYC", "purpose of the KYC check, required by regulation")
	flag.Parse()

	id, secret := os.Getenv("DEEPVUE_CLIENT_ID"), os.Getenv("DEEPVUE_CLIENT_SECRET")
	var opts []deepvue.Option
	if id == "" || secret == "" {
		srv := deepvuetest.NewServer()
		defer srv.Close()
		id, secret = srv.ClientID, srv.ClientSecret
		opts = append(opts, deepvue.WithBaseURL(srv.URL))
		if *number == "" {
			*number = deepvuetest.NumberSuccess
		}
		fmt.Println("No DEEPVUE_CLIENT_ID/DEEPVUE_CLIENT_SECRET set: using the in-process fake Deepvue server (deepvuetest), no network.")
	} else {
		if base := os.Getenv("DEEPVUE_BASE_URL"); base != "" {
			opts = append(opts, deepvue.WithBaseURL(base))
		}
		if *number == "" {
			fmt.Fprintln(os.Stderr, "with real credentials, pass the customer's number: -aadhaar NNNN NNNN NNNN (an OTP SMS will be sent)")
			return 2
		}
	}

	client, err := deepvue.NewClient(id, secret, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return run(ctx, client, *number, *purpose, os.Stdout)
}

// run sends the OTP and prints the outcome; it returns the exit code.
func run(ctx context.Context, client *deepvue.Client, number, purpose string, out io.Writer) int {
	masked := deepvue.MaskAadhaar(number) // never print the full number
	res, err := client.GenerateOTP(ctx, number, deepvue.ConsentYes, purpose)
	if err != nil {
		fmt.Fprintf(out, "Aadhaar %s: %s\n", masked, explain(err))
		var apiErr *deepvue.APIError
		if errors.As(err, &apiErr) && apiErr.TransactionID != "" {
			fmt.Fprintf(out, "  transaction id: %s (quote it to Deepvue support)\n", apiErr.TransactionID)
		}
		return 1
	}
	fmt.Fprintf(out, "OTP sent to the mobile linked to Aadhaar %s\n", masked)
	fmt.Fprintf(out, "  reference id:   %s\n", res.ReferenceID)
	fmt.Fprintf(out, "  transaction id: %s\n", res.TransactionID)
	fmt.Fprintf(out, "  valid until:    %s\n", res.ExpiresAt.Format(time.RFC3339))
	return 0
}

// explain turns an SDK error into a sentence for a person.
func explain(err error) string {
	switch {
	case errors.Is(err, deepvue.ErrInvalidInput):
		return "the input was refused: " + err.Error()
	case errors.Is(err, deepvue.ErrMobileNotLinked):
		return "no mobile number is linked to this Aadhaar, so no OTP can be sent; use another KYC method"
	case errors.Is(err, deepvue.ErrVerificationPending):
		return "an OTP was sent recently for this Aadhaar; use it, or wait before asking for another"
	case errors.Is(err, deepvue.ErrSourceFailure):
		return "UIDAI is temporarily unavailable (retried already); try again in a few minutes"
	case errors.Is(err, deepvue.ErrUnauthorized):
		return "Deepvue refused the credentials (check DEEPVUE_CLIENT_ID/DEEPVUE_CLIENT_SECRET and the IP allow-list)"
	case errors.Is(err, deepvue.ErrRateLimited):
		return "the API key's rate limit was exceeded; slow down and try again later"
	case errors.Is(err, deepvue.ErrServiceUnavailable):
		return "Deepvue is unavailable; try again later"
	case errors.Is(err, deepvue.ErrNotSent):
		return "Deepvue could not be reached and nothing was sent; it is safe to try again: " + err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time; the OTP may or may not have been sent, so do not retry at once"
	}
	return "the call failed: " + err.Error()
}
