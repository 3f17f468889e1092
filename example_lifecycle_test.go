package deepvue_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
)

// Shutdown when the service stops: new calls are refused, and it returns
// once the calls in flight have ended.
func ExampleClient_Shutdown() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	fmt.Println(client.Shutdown(ctx))
	_, err = client.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, "KYC")
	fmt.Println(errors.Is(err, deepvue.ErrClientClosed))
	// Output:
	// <nil>
	// true
}

// Rotating a secret without a new Client: the calls that start after
// SetCredentials send the new pair.
func ExampleClient_SetCredentials() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	client, err := deepvue.NewClient(srv.ClientID, "live_the_old_secret", deepvue.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = client.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, "KYC")
	fmt.Println(errors.Is(err, deepvue.ErrUnauthorized))
	if err := client.SetCredentials(srv.ClientID, srv.ClientSecret); err != nil {
		fmt.Println(err)
		return
	}
	_, err = client.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, "KYC")
	fmt.Println(err)
	// Output:
	// true
	// <nil>
}

// A customer asks for an OTP again while the first is pending: Deepvue
// answers 409 with no reference id; the SDK remembers the one it sent.
func ExamplePendingReference() {
	srv := deepvuetest.NewServer() // a second OTP within 45 s: 409
	defer srv.Close()
	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	number := deepvuetest.NewNumber()
	sent, err := client.GenerateOTP(context.Background(), number, deepvue.ConsentYes, "KYC")
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = client.GenerateOTP(context.Background(), number, deepvue.ConsentYes, "KYC")
	ref, ok := deepvue.PendingReference(err)
	fmt.Println(errors.Is(err, deepvue.ErrVerificationPending), ok, ref == sent.ReferenceID)
	// Output:
	// true true true
}
