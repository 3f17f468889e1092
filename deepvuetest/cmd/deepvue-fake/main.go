// Command deepvue-fake runs the deepvuetest fake of Deepvue's Aadhaar eKYC
// V2 API as a server, for test stacks that are not a Go test: a
// docker-compose service next to the application, or tests written in
// another language.
//
//	go run github.com/deepvue-go/deepvue/deepvuetest/cmd/deepvue-fake -addr 127.0.0.1:8080
//
// It serves the same endpoints, magic numbers and answers as
// deepvuetest.NewServer (see the deepvuetest package documentation), over
// plain HTTP. Its first line on standard output is the base URL
// ("http://127.0.0.1:8080"), so a script can start it with -addr
// 127.0.0.1:0 and read the port it got. GET /healthz answers 200 "ok" (for
// a container health check). It stops cleanly on SIGINT or SIGTERM, with
// exit status 0.
//
// Flags:
//
//	-addr HOST:PORT        where to listen (default 127.0.0.1:8080; 0.0.0.0:8080 in a container)
//	-client-id ID          the client-id the fake accepts (default deepvuetest-client)
//	-client-secret SECRET  the x-api-key it accepts (default free_tier_deepvuetest_secret)
//	-pending DURATION      the 409 VERIFICATION_PENDING window (default 45s; 0 disables it)
//	-otp-validity DURATION how long a reference id can be verified (default 10m)
//	-script FILE           scripted answers, as JSON (see deepvuetest.Server.LoadScript)
//
// A Go client reaches it from another container only with
// deepvue.WithInsecurePlainHTTP (the SDK refuses plain http to any host that
// is not loopback otherwise).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/deepvue-go/deepvue/deepvuetest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run starts the fake, prints its base URL to stdout, and serves until
// SIGINT or SIGTERM. It returns the exit status: 0 after a signal, 2 for a
// usage error, 1 when the fake cannot start.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("deepvue-fake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "`host:port` to listen on (port 0: any free port)")
	id := fs.String("client-id", deepvuetest.DefaultClientID, "the client-id header value the fake accepts")
	secret := fs.String("client-secret", deepvuetest.DefaultClientSecret, "the x-api-key header value the fake accepts")
	pending := fs.Duration("pending", 45*time.Second, "how long after an OTP a new one for the same number gets 409 (0 disables it)")
	validity := fs.Duration("otp-validity", 10*time.Minute, "how long a reference id can be verified")
	script := fs.String("script", "", "JSON `file` of scripted answers (see deepvuetest.Server.LoadScript)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "deepvue-fake: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *id == "" || *secret == "" {
		fmt.Fprintln(stderr, "deepvue-fake: -client-id and -client-secret must not be empty")
		return 2
	}

	srv := deepvuetest.NewUnstartedServer(deepvuetest.WithCredentials(*id, *secret),
		deepvuetest.WithPendingWindow(*pending), deepvuetest.WithOTPValidity(*validity))
	if *script != "" {
		f, err := os.Open(*script)
		if err != nil {
			fmt.Fprintf(stderr, "deepvue-fake: %v\n", err)
			return 1
		}
		err = srv.LoadScript(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "deepvue-fake: %s: %v\n", *script, err)
			return 1
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "deepvue-fake: %v\n", err)
		return 1
	}
	srv.Listener.Close() // the loopback listener NewUnstartedServer opened
	srv.Listener = ln
	fake := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		fake.ServeHTTP(w, r)
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv.Start()
	if _, err := fmt.Fprintln(stdout, srv.URL); err != nil && !errors.Is(err, os.ErrClosed) {
		fmt.Fprintf(stderr, "deepvue-fake: %v\n", err)
	}
	fmt.Fprintf(stderr, "deepvue-fake: serving the Deepvue Aadhaar eKYC V2 fake on %s (client-id %s); stop with SIGINT or SIGTERM\n",
		srv.URL, *id)
	<-ctx.Done()
	stop()
	srv.CloseClientConnections() // a scripted delay must not hold the exit
	srv.Close()
	fmt.Fprintln(stderr, "deepvue-fake: stopped")
	return 0
}
