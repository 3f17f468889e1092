package deepvue

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/require"
)

// TestMeasureManyClients prints the figures of BENCHMARKS.md's "Many Clients
// per process": n Clients made without WithHTTPClient (the default
// transport), one GenerateOTP each over TLS to the in-process fake, the
// Clients dropped without Close; then the connections the server saw, the
// goroutines, open file descriptors and heap left once the garbage is
// collected. "sequential" makes the calls one after the other, "concurrent"
// all at once, each Client in its own goroutine; the fake answers after
// DEEPVUE_MEASURE_DELAY in the concurrent runs (default 0). With
// DEEPVUE_MEASURE_CAPS (e.g. "0,64,256") it also makes n concurrent calls
// through one transport per cap on connections per host.
//
//	DEEPVUE_LONG=1 go test -run TestMeasureManyClients -v -count=1 .
//	DEEPVUE_LONG=1 DEEPVUE_MEASURE_DELAY=100ms DEEPVUE_MEASURE_CAPS=0,32,64,128,256 go test -run TestMeasureManyClients -v -count=1 .
//
// It uses only the API of release 0.3.0, so that it measures main too.
func TestMeasureManyClients(t *testing.T) {
	if os.Getenv("DEEPVUE_LONG") == "" {
		t.Skip("a measurement: set DEEPVUE_LONG=1")
	}
	requireSystemTrust(t)
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("DEEPVUE_MEASURE_CLIENTS")); err == nil && v > 0 {
		n = v
	}
	delay, _ := time.ParseDuration(os.Getenv("DEEPVUE_MEASURE_DELAY"))
	for _, mode := range []string{"sequential", "concurrent"} {
		d := delay
		if mode == "sequential" {
			d = 0 // n times the delay, and nothing learnt
		}
		srv, cc := tlsFake(t, d)
		g0, h0 := settle()
		fd0 := openFDs(t)
		start := time.Now()
		manyClients(t, srv, n, mode == "concurrent", nil)
		took := time.Since(start)
		g1, h1 := settle()
		fd1 := openFDs(t)
		t.Logf("%d Clients, %s, delay %v: %v for the calls; connections opened %d, still open %d; goroutines %+d; fds %+d; heap in use %+.1f MiB",
			n, mode, d, took.Round(10*time.Millisecond), cc.opened.Load(), cc.opened.Load()-cc.closed.Load(),
			g1-g0, fd1-fd0, float64(int64(h1)-int64(h0))/(1<<20))
		srv.CloseClientConnections()
		srv.Close()
	}
	// The cap on connections per host: n concurrent calls through one
	// transport (NewTransport with MaxConnsPerHost set; 0 is no cap).
	for _, v := range strings.Split(os.Getenv("DEEPVUE_MEASURE_CAPS"), ",") {
		limit, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		srv, cc := tlsFake(t, delay)
		tr := NewTransport()
		tr.MaxConnsPerHost = limit
		start := time.Now()
		manyClients(t, srv, n, true, tr)
		took := time.Since(start)
		t.Logf("%d concurrent calls, one transport, MaxConnsPerHost %d, delay %v: %v; connections opened %d",
			n, limit, delay, took.Round(10*time.Millisecond), cc.opened.Load())
		tr.CloseIdleConnections()
		srv.CloseClientConnections()
		srv.Close()
	}
}

// tlsFake starts the fake over TLS (the test CA), answering after delay.
func tlsFake(t testing.TB, delay time.Duration) (*deepvuetest.Server, *connCounter) {
	fake := deepvuetest.NewUnstartedServer(deepvuetest.WithPendingWindow(0))
	if delay > 0 {
		inner := fake.Config.Handler
		fake.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(delay)
			inner.ServeHTTP(w, r)
		})
	}
	cc := &connCounter{}
	fake.Config.ConnState = cc.hook
	fake.TLS = serverTLS("http/1.1")
	fake.StartTLS()
	return fake, cc
}

// manyClients makes n Clients with the default transport and one call with
// each, and drops them (tr: through it, else the default transport).
func manyClients(t testing.TB, srv *deepvuetest.Server, n int, concurrent bool, tr *http.Transport) {
	opts := []Option{WithBaseURL(srv.URL)}
	if tr != nil {
		opts = append(opts, WithHTTPClient(&http.Client{Transport: tr}))
	}
	one := func() {
		c, err := NewClient(srv.ClientID, srv.ClientSecret, opts...)
		require.NoError(t, err)
		_, err = c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), ConsentYes, testPurpose)
		require.NoError(t, err)
	}
	if !concurrent {
		for i := 0; i < n; i++ {
			one()
		}
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			one()
		}()
	}
	wg.Wait()
}
