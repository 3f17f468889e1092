package deepvue

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
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
// WithHTTPClient share one pool (one connection for sequential calls), and
// so do Clients made without WithHTTPClient (the process's pool).
func TestManyTenantsOnePool(t *testing.T) {
	const tenants = 50
	srv, cc := fakeServer(t)
	shared := NewTransport()
	tenantRun(t, srv, tenants, shared, true)
	assert.Equal(t, int32(1), cc.opened.Load(), "one pool for every tenant")
	shared.CloseIdleConnections()
	waitFor(t, "the shared connection closed", func() bool { return cc.closed.Load() == cc.opened.Load() })

	tenantRun(t, srv, tenants, nil, true)
	tenantRun(t, srv, tenants, nil, false)
	assert.Equal(t, int32(2), cc.opened.Load(), "one pool for every Client without WithHTTPClient, closed or not")
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

// TestDefaultCapOnConnectionsPerHost: DefaultMaxConnsPerHost+44 calls at
// once through Clients without WithHTTPClient open at most
// DefaultMaxConnsPerHost connections; the server holds each answer until
// that many calls have arrived, then the rest wait for a free connection
// and every call succeeds. (Without a cap, every call opens its own.)
func TestDefaultCapOnConnectionsPerHost(t *testing.T) {
	const calls = DefaultMaxConnsPerHost + 44
	fake := deepvuetest.NewServer(deepvuetest.WithPendingWindow(0))
	defer fake.Close()
	var arrived atomic.Int32
	full := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == DefaultMaxConnsPerHost {
			close(full)
		}
		<-full
		fake.ServeHTTP(w, r)
	}))
	cc := &connCounter{}
	srv.Config.ConnState = cc.hook
	srv.Start()
	defer srv.Close()
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := NewClient(fake.ClientID, fake.ClientSecret, WithBaseURL(srv.URL))
			if err == nil {
				_, err = c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), ConsentYes, testPurpose)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int32(calls), arrived.Load())
	assert.LessOrEqual(t, cc.opened.Load(), int32(DefaultMaxConnsPerHost))
}
