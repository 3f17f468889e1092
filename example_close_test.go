package deepvue_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
)

// Close at shutdown: later calls fail at once, and nothing is sent.
func ExampleClient_Close() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	client, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := client.Close(); err != nil {
		fmt.Println(err)
	}
	_, err = client.GenerateOTP(context.Background(), "234123412346", deepvue.ConsentYes, "Loan onboarding KYC")
	fmt.Println(err)
	fmt.Println(errors.Is(err, deepvue.ErrClientClosed), errors.Is(err, deepvue.ErrNotSent), srv.Requests(deepvuetest.PathGenerateOTP))
	// Output:
	// deepvue: Client is closed
	// true true 0
}

// A pool of one's own: Clients made without WithHTTPClient already share one
// transport per process; these tenants' Clients share another, which the
// service closes itself (with settings of its own, a higher MaxConnsPerHost
// say).
func ExampleNewTransport() {
	srv := deepvuetest.NewServer()
	defer srv.Close()
	shared := deepvue.NewTransport()
	defer shared.CloseIdleConnections() // at shutdown: Close leaves a shared transport open

	tenants := map[string]*deepvue.Client{}
	for _, tenant := range []string{"acme", "globex"} {
		// In production each tenant has its own client id and secret.
		c, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL),
			deepvue.WithHTTPClient(&http.Client{Transport: shared}))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.Close()
		tenants[tenant] = c
	}
	for _, tenant := range []string{"acme", "globex"} {
		_, err := tenants[tenant].GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, "KYC")
		fmt.Println(tenant, err)
	}
	// Output:
	// acme <nil>
	// globex <nil>
}
