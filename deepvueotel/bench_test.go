package deepvueotel_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueotel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// successOTP is the documented generate-otp success.
const successOTP = `{"code":200,"timestamp":1738332826135,"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84",` +
	`"sub_code":"SUCCESS","message":"OTP sent to your Registered Mobile number. Check your mobile.","reference_id":"29756208"}`

// cannedTransport answers every request from memory with the documented
// generate-otp success: the benchmark counts the client's work only.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader([]byte(successOTP))), ContentLength: int64(len(successOTP)), Request: r}, nil
}

// benchServeEnv makes the test binary serve the documented generate-otp
// success on loopback instead of running tests (TestMain): the loopback
// benchmark's server, in a process of its own, so that callgrind counts the
// client's work only.
const benchServeEnv = "DEEPVUEOTEL_BENCH_SERVE"

// serveBench prints its address, serves until its standard input closes,
// then returns.
func serveBench() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
		_, _ = w.Write([]byte(successOTP))
	})}
	go func() { _ = srv.Serve(ln) }()
	_, _ = os.Stdout.WriteString(ln.Addr().String() + "\n")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
}

// loopbackServer starts serveBench in a child process and returns its base
// URL; the child ends with the benchmark.
func loopbackServer(b *testing.B) string {
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), benchServeEnv+"=1", "GOMAXPROCS=1")
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = in.Close(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return "http://" + addr[:len(addr)-1]
}

// BenchmarkObserver is what deepvueotel adds to a GenerateOTP on an
// in-memory transport (and, as loopback/..., over loopback HTTP to a server
// in a process of its own): none (the SDK alone), with no-op providers
// (trace/noop and metric/noop: nothing records), with the global providers
// when nothing is installed (nothing records either, but they may be given
// an SDK later), and with the SDK's providers (every span sampled and
// ended, metrics kept by a manual reader that is never read).
//
//	go test -run '^$' -bench Observer -benchmem ./deepvueotel/
func BenchmarkObserver(b *testing.B) {
	for _, tc := range []struct {
		name string
		obs  func(b *testing.B) *deepvue.Observer
	}{
		{"none", func(*testing.B) *deepvue.Observer { return nil }},
		{"noop", func(*testing.B) *deepvue.Observer {
			return deepvueotel.NewObserver(deepvueotel.WithTracerProvider(tracenoop.NewTracerProvider()),
				deepvueotel.WithMeterProvider(metricnoop.NewMeterProvider()))
		}},
		// The global providers with nothing installed: what NewObserver()
		// gives a service that never configured OpenTelemetry.
		{"global", func(*testing.B) *deepvue.Observer { return deepvueotel.NewObserver() }},
		{"sdk", func(b *testing.B) *deepvue.Observer {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
			return deepvueotel.NewObserver(deepvueotel.WithTracerProvider(tp), deepvueotel.WithMeterProvider(mp),
				deepvueotel.WithPropagators(propagation.TraceContext{}))
		}},
	} {
		for _, where := range []string{"", "loopback/"} {
			b.Run(where+tc.name, func(b *testing.B) {
				opts := []deepvue.Option{deepvue.WithBaseURL("https://production.deepvue.tech"),
					deepvue.WithHTTPClient(&http.Client{Transport: cannedTransport{}})}
				if where != "" {
					opts = []deepvue.Option{deepvue.WithBaseURL(loopbackServer(b))} // the SDK's own transport
				}
				if o := tc.obs(b); o != nil {
					opts = append(opts, deepvue.WithObserver(o))
				}
				c, err := deepvue.NewClient("bench-client", secret, opts...)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(c.CloseIdleConnections)
				ctx := context.Background()
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if _, err := c.GenerateOTP(ctx, number, deepvue.ConsentYes, purpose); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
