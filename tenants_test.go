package deepvue

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tenantRun makes n Clients (one per tenant) and one call with each, and
// reports the connections the server saw.
func tenantRun(t testing.TB, srv *deepvuetest.Server, n int, shared *http.Transport, closeEach bool) {
	t.Helper()
	for i := 0; i < n; i++ {
		opts := []Option{WithBaseURL(srv.URL)}
		if shared != nil {
			opts = append(opts, WithHTTPClient(&http.Client{Transport: shared}))
		}
		c, err := NewClient(srv.ClientID, srv.ClientSecret, opts...)
		require.NoError(t, err)
		_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		require.NoError(t, err)
		if closeEach {
			require.NoError(t, c.Close())
		}
	}
}

// TestManyTenantsOnePool: Clients that share NewTransport through
// WithHTTPClient share one pool (one connection for sequential calls);
// Clients with their own transport open one connection each.
func TestManyTenantsOnePool(t *testing.T) {
	const tenants = 50
	srv, cc := fakeServer(t)
	shared := NewTransport()
	tenantRun(t, srv, tenants, shared, true)
	assert.Equal(t, int32(1), cc.opened.Load(), "one pool for every tenant")
	shared.CloseIdleConnections()
	waitFor(t, "the shared connection closed", func() bool { return cc.closed.Load() == cc.opened.Load() })

	tenantRun(t, srv, tenants, nil, true)
	assert.Equal(t, int32(1+tenants), cc.opened.Load(), "a pool per Client")
	waitFor(t, "every Client's connection closed by its Close", func() bool { return cc.closed.Load() == cc.opened.Load() })
}

// TestMeasureTenants prints the figures of BENCHMARKS.md's "Many tenants, one
// pool": DEEPVUE_MEASURE_TENANTS=1000 go test -run TestMeasureTenants -v .
func TestMeasureTenants(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DEEPVUE_MEASURE_TENANTS"))
	if n <= 0 {
		t.Skip("set DEEPVUE_MEASURE_TENANTS to the number of tenants")
	}
	for _, mode := range []string{"own transport, dropped", "own transport, Close", "shared NewTransport, dropped"} {
		srv, cc := fakeServer(t)
		var shared *http.Transport
		if mode == "shared NewTransport, dropped" {
			shared = NewTransport()
		}
		g0, h0 := settle()
		start := time.Now()
		tenantRun(t, srv, n, shared, mode == "own transport, Close")
		took := time.Since(start)
		if mode == "own transport, Close" {
			waitFor(t, "connections closed", func() bool { return cc.closed.Load() == cc.opened.Load() })
		}
		g1, h1 := settle()
		t.Logf("%d tenants, %s: %v for the calls; connections opened %d, still open %d; goroutines +%d; heap in use %+.1f MiB",
			n, mode, took.Round(time.Millisecond), cc.opened.Load(), cc.opened.Load()-cc.closed.Load(), g1-g0,
			float64(int64(h1)-int64(h0))/(1<<20))
		if shared != nil {
			shared.CloseIdleConnections()
		}
		srv.CloseClientConnections()
		srv.Close()
	}
}

// settle lets closed connections' goroutines end, collects garbage, and
// returns the goroutine count and the heap in use.
func settle() (int, uint64) {
	for i := 0; i < 20; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapInuse
}
