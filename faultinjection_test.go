package deepvue

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFaultInjection is the fault matrix and the leak sweep in one: every
// public call against every failure mode.
func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets and deadlines: skipped with -short")
	}
	for _, f := range faults() {
		for _, pc := range publicCalls {
			t.Run(f.name+"/"+pc.name, func(t *testing.T) {
				t.Parallel()
				base, seen := f.start(t, pc)
				logs := &logBuffer{}
				// A memory budget of its own, so that the check that it is all
				// returned is not disturbed by the parallel subtests.
				opts := append([]Option{WithBaseURL(base), WithLogger(logs.logger()), WithRetryWait(0, 0),
					WithMaxBufferedBytes(DefaultMaxBufferedBytes)}, f.opts...)
				c, err := NewClient(testID, testSecret, opts...)
				require.NoError(t, err)
				defer c.CloseIdleConnections()

				// The clock is read before the caller's deadline is set: read
				// after it, a loaded machine made "elapsed" 1.6 ms shorter than
				// a deadline the call had waited out.
				start := time.Now()
				ctx := context.Background()
				if f.ctxTimeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, f.ctxTimeout)
					defer cancel()
				}
				res, err := pc.call(ctx, c)
				elapsed := time.Since(start)

				if f.wantSuccess {
					require.NoError(t, err)
					require.NotNil(t, res)
				} else {
					require.Error(t, err)
					var ae *APIError
					var ve *ValidationError
					assert.False(t, errors.As(err, &ve))
					if f.wantStatus != 0 {
						require.ErrorAs(t, err, &ae)
						assert.Equal(t, f.wantStatus, ae.StatusCode)
					} else {
						assert.False(t, errors.As(err, &ae), "a transport failure is not an *APIError: %v", err)
					}
					if f.wantSentinel != nil {
						assert.Equal(t, []error{f.wantSentinel}, matched(err))
					} else {
						assert.Empty(t, matched(err))
					}
					switch cause := f.wantCause.(type) {
					case nil:
					case x509.UnknownAuthorityError:
						assert.ErrorAs(t, err, &cause)
					default:
						assert.ErrorIs(t, err, cause)
					}
					switch f.wantNotSent {
					case notSentKnow:
						assert.ErrorIs(t, err, ErrNotSent, "nothing left the process")
					case maybeSent:
						assert.NotErrorIs(t, err, ErrNotSent, "the request may have been written")
					}
					assert.Less(t, len(err.Error()), 400, "short error text: %q", err)
					if f.wantStatus == 0 {
						// A transport error must not carry the request URL's query at all.
						assertNoLeak(t, err, "aadhaar_number=", "otp=")
					} else {
						assertNoLeak(t, err)
					}
				}
				requests, conns := seen()
				if errors.Is(err, ErrNotSent) && requests >= 0 {
					assert.Zero(t, requests, "ErrNotSent, yet the server saw a request")
				}
				if f.wantRequests >= 0 {
					assert.Equal(t, f.wantRequests, requests, "requests the server saw: never re-sent")
				}
				if f.wantConns >= 0 {
					assert.Equal(t, f.wantConns, conns, "connections: a request is never re-sent on a new one")
				}
				assert.GreaterOrEqual(t, elapsed, f.minElapsed)
				assert.Less(t, elapsed, f.maxElapsed)
				t.Logf("%s/%s: %v in %v, requests seen %d", f.name, pc.name, err, elapsed.Round(time.Millisecond), requests)
				assert.Zero(t, c.budget.InUse(), "every reservation of the memory budget is returned")

				out := logs.String()
				assert.Contains(t, out, `"msg":"deepvue: call finished"`)
				// No value, and no query with a value (a server echo keeps the
				// key names with masked values).
				for _, s := range append(sensitive, "aadhaar_number=2", "otp=4") {
					assert.NotContains(t, out, s, "log records")
				}
			})
		}
	}
}

// TestGzipBombMemoryStaysBounded checks that reading a 64 MiB inflated answer
// allocates about the bound, not the answer.
func TestGzipBombMemoryStaysBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gzipBomb())
	}))
	defer srv.Close()
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	runtime.ReadMemStats(&after)
	assert.ErrorIs(t, err, ErrUnexpectedResponse)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB for a 64 MiB inflated answer (bound %d KiB)", allocated>>10, MaxResponseBytes>>10)
	assert.Less(t, allocated, uint64(16*MaxResponseBytes), "a quarter of the inflated size at most")
}

// TestConnectionsStayBoundedUnderMixedFailures makes thousands of calls with
// failures mixed in (SOURCE_FAILURE with retries, 409, 429, HTML 502, and
// connections dropped mid-call) and checks that the pool reuses
// connections: a failed call, after which go-retryablehttp closes idle
// connections, must not empty it.
func TestConnectionsStayBoundedUnderMixedFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of calls: skipped with -short")
	}
	var newConns, requests, dropped atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch n % 10 {
		case 5:
			// A connection that breaks after the request was read: a transport
			// error, after which go-retryablehttp closes idle connections.
			if n%20 == 5 {
				dropped.Add(1)
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
			_, _ = io.WriteString(w, successOTP)
		case 1:
			w.WriteHeader(500)
			_, _ = io.WriteString(w, sourceFailBd)
		case 2:
			w.WriteHeader(409)
			_, _ = io.WriteString(w, `{"sub_code":"VERIFICATION_PENDING","reference_id":""}`)
		case 3:
			w.WriteHeader(429)
			_, _ = io.WriteString(w, `{"detail":"Rate limit exceeded. Please retry after some time."}`)
		case 4:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			_, _ = io.WriteString(w, "<html>"+strings.Repeat("bad gateway ", 400)+"</html>")
		default:
			_, _ = io.WriteString(w, successOTP)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithRetryWait(0, 0))
	require.NoError(t, err)
	defer c.CloseIdleConnections()

	const workers, perWorker = 16, 150
	var wg sync.WaitGroup
	var ok, failed atomic.Int32
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				// A purpose of its own: identical calls at once would share one request.
				purpose := fmt.Sprintf("%s %d-%d", testPurpose, w, i)
				if _, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, purpose); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d calls (%d ok, %d failed), %d requests, %d connections dropped by the server, %d connections opened",
		workers*perWorker, ok.Load(), failed.Load(), requests.Load(), dropped.Load(), newConns.Load())
	assert.Equal(t, int32(workers*perWorker), ok.Load()+failed.Load())
	assert.Greater(t, failed.Load(), int32(workers*perWorker/10))
	assert.Greater(t, dropped.Load(), int32(0))
	// Each dropped connection is replaced by one new connection; no failure
	// empties the rest of the pool.
	assert.LessOrEqual(t, newConns.Load(), 2*workers+dropped.Load(), "connections are reused, not reopened per failure")
}
