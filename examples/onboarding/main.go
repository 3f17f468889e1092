// Command onboarding is the small KYC backend an onboarding team writes with
// the SDK: two JSON endpoints for the two steps of Aadhaar eKYC.
//
//	POST /kyc/otp     {"aadhaar_number": "2341 2341 2346", "consent": true, "purpose": "Loan onboarding"}
//	POST /kyc/verify  {"reference_id": "29756209", "otp": "123456"}
//
// With DEEPVUE_CLIENT_ID and DEEPVUE_CLIENT_SECRET set it calls Deepvue;
// without them it runs against the in-process fake (deepvuetest), where OTP
// 123456 succeeds:
//
//	go run ./examples/onboarding -addr 127.0.0.1:8080
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
)

func main() { os.Exit(realMain()) }

func realMain() int {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	id, secret := os.Getenv("DEEPVUE_CLIENT_ID"), os.Getenv("DEEPVUE_CLIENT_SECRET")
	opts := []deepvue.Option{deepvue.WithLogger(log), deepvue.WithUserAgent("onboarding-example/1.0")}
	if id == "" || secret == "" {
		fake := deepvuetest.NewServer()
		defer fake.Close()
		id, secret = fake.ClientID, fake.ClientSecret
		opts = append(opts, deepvue.WithBaseURL(fake.URL))
		log.Info("no DEEPVUE_CLIENT_ID/DEEPVUE_CLIENT_SECRET: using the in-process fake Deepvue (OTP " + deepvuetest.OTPValid + " succeeds)")
	} else if base := os.Getenv("DEEPVUE_BASE_URL"); base != "" {
		opts = append(opts, deepvue.WithBaseURL(base))
	}
	kyc, err := deepvue.NewClient(id, secret, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	srv := &http.Server{
		Addr:              *addr,
		Handler:           newService(kyc, log).routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("listening", "addr", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
