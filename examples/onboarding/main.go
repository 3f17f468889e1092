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
//
// With OTEL_EXPORTER_OTLP_ENDPOINT set (e.g. http://localhost:4318) it
// exports traces over OTLP/HTTP: a server span per request (otelhttp) with
// the SDK's call and attempt spans (deepvueotel) inside it. The SDK's own
// transport is not wrapped with otelhttp, whose spans would record the
// Aadhaar number and OTP in url.full.
//
// With REDIS_URL set (e.g. redis://localhost:6379/0), every replica shares
// the API key's plan (DEEPVUE_PLAN: starter, business, growth, enterprise)
// through Redis (the redislimit module).
//
// With DATABASE_URL set (e.g. postgres://kyc@localhost:5432/kyc), the consent
// of each call is stored in PostgreSQL before anything is sent, and its
// outcome after (the deepvueaudit module): a call whose consent cannot be
// stored is refused, and nothing reaches Deepvue.
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
	"github.com/deepvue-go/deepvue/deepvueotel"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

func main() { os.Exit(realMain()) }

func realMain() int {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	tracing, shutdownTracing, err := setupTracing(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracing:", err)
		return 2
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(ctx)
	}()

	id, secret := os.Getenv("DEEPVUE_CLIENT_ID"), os.Getenv("DEEPVUE_CLIENT_SECRET")
	opts := []deepvue.Option{deepvue.WithLogger(log), deepvue.WithUserAgent("onboarding-example/1.0")}
	if tracing {
		opts = append(opts, deepvue.WithObserver(deepvueotel.NewObserver()))
		log.Info("exporting traces over OTLP/HTTP")
	}
	if id == "" || secret == "" {
		fake := deepvuetest.NewServer()
		defer fake.Close()
		id, secret = fake.ClientID, fake.ClientSecret
		opts = append(opts, deepvue.WithBaseURL(fake.URL))
		log.Info("no DEEPVUE_CLIENT_ID/DEEPVUE_CLIENT_SECRET: using the in-process fake Deepvue (OTP " + deepvuetest.OTPValid + " succeeds)")
	} else if base := os.Getenv("DEEPVUE_BASE_URL"); base != "" {
		opts = append(opts, deepvue.WithBaseURL(base))
	}
	if redisURL := os.Getenv("REDIS_URL"); redisURL != "" {
		lim, closeRedis, err := fleetLimiter(redisURL, os.Getenv("DEEPVUE_PLAN"), id, log)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer closeRedis()
		opts = append(opts, deepvue.WithRateLimiter(lim))
		log.Info("sharing the plan with the fleet through Redis", "keys", lim.Keys())
	}
	if databaseURL := os.Getenv("DATABASE_URL"); databaseURL != "" {
		trail, closeDB, err := auditTrail(context.Background(), databaseURL)
		if err != nil {
			fmt.Fprintln(os.Stderr, "audit trail:", err)
			return 2
		}
		defer closeDB()
		opts = append(opts, deepvue.WithAuditLog(trail.Record))
		log.Info("writing the consent and audit trail to PostgreSQL", "table", trail.Table())
	}
	kyc, err := deepvue.NewClient(id, secret, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	handler := newService(kyc, log).routes()
	if tracing {
		handler = otelhttp.NewHandler(handler, "onboarding")
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           handler,
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
		_ = kyc.Shutdown(shutdown) // the KYC calls still in flight finish (audit records written); new ones are refused
	}()
	log.Info("listening", "addr", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
