package deepvue

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// connCounter counts a test server's connections by state.
type connCounter struct {
	opened, closed atomic.Int32
}

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.opened.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.closed.Add(1)
	}
}

// waitFor polls cond until it holds or 10 s pass (a wait, not a timing
// assertion: it ends as soon as cond holds).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fakeServer(t *testing.T, opts ...deepvuetest.Option) (*deepvuetest.Server, *connCounter) {
	t.Helper()
	srv := deepvuetest.NewUnstartedServer(append([]deepvuetest.Option{deepvuetest.WithPendingWindow(0)}, opts...)...)
	cc := &connCounter{}
	srv.Config.ConnState = cc.hook
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cc
}

func TestCloseFailsLaterCallsAtOnce(t *testing.T) {
	srv, _ := fakeServer(t)
	var ended []CallResult
	var mu sync.Mutex
	obs := &Observer{EndCall: func(_ context.Context, _ CallInfo, r CallResult) {
		mu.Lock()
		ended = append(ended, r)
		mu.Unlock()
	}}
	c, err := NewClient(srv.ClientID, srv.ClientSecret, WithBaseURL(srv.URL), WithObserver(obs))
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)

	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close can be called more than once")

	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrClientClosed)
	require.ErrorIs(t, err, ErrNotSent)
	assert.NotErrorIs(t, err, ErrInvalidInput)
	_, err = c.VerifyOTP(context.Background(), VerifyOTPRequest{ReferenceID: "29756209", OTP: testOTP,
		Consent: ConsentYes, Purpose: testPurpose})
	require.ErrorIs(t, err, ErrClientClosed)
	require.ErrorIs(t, err, ErrNotSent)
	assert.Equal(t, 1, srv.Requests(deepvuetest.PathGenerateOTP), "nothing was sent after Close")
	assert.Zero(t, srv.Requests(deepvuetest.PathVerifyOTP))
	assert.Equal(t, "ErrClientClosed", Outcome(err))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, ended, 3)
	assert.Equal(t, "ErrClientClosed", ended[2].Outcome)
	assert.False(t, ended[2].MaybeSent)
	assert.Zero(t, ended[2].Attempts)
}

func TestCloseWaitsForNoLimiter(t *testing.T) {
	// A closed Client does not wait on its limiter: it fails at once.
	srv, _ := fakeServer(t)
	lim := &countingLimiter{}
	c, err := NewClient(srv.ClientID, srv.ClientSecret, WithBaseURL(srv.URL), WithRateLimiter(lim))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrClientClosed)
	assert.Zero(t, lim.waits.Load())
}

type countingLimiter struct{ waits atomic.Int32 }

func (l *countingLimiter) Wait(context.Context) error { l.waits.Add(1); return nil }

func TestCloseLetsCallsInFlightFinish(t *testing.T) {
	// The call in flight at Close gets a 500 SOURCE_FAILURE first, so its
	// retry opens a connection after Close: the call finishes, retry
	// included.
	arrived, release := make(chan struct{}), make(chan struct{})
	fake := deepvuetest.NewServer(deepvuetest.WithPendingWindow(0))
	defer fake.Close()
	fake.Script(deepvuetest.PathGenerateOTP, deepvuetest.SourceFailure)
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			close(arrived)
			<-release
			w.Header().Set("Connection", "close") // the retry needs a new connection
		}
		fake.ServeHTTP(w, r)
	}))
	cc := &connCounter{}
	srv.Config.ConnState = cc.hook
	srv.Start()
	defer srv.Close()

	c, err := NewClient(fake.ClientID, fake.ClientSecret, WithBaseURL(srv.URL), WithRetryWait(0, 0))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		done <- err
	}()
	<-arrived
	require.NoError(t, c.Close())
	close(release)
	require.NoError(t, <-done, "a call in flight at Close finishes, its retry included")
	assert.Equal(t, int32(2), n.Load())
	assert.Equal(t, int32(2), cc.opened.Load())
}

// TestCloseLeavesTheSharedPoolToOthers: Clients made without WithHTTPClient
// share the process's pool; one Client's Close, while another's call is in
// flight, neither fails that call nor closes the pool's connections: the
// other Client's next call reuses the connection its first one opened.
func TestCloseLeavesTheSharedPoolToOthers(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	fake := deepvuetest.NewServer(deepvuetest.WithPendingWindow(0))
	defer fake.Close()
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 2 {
			close(arrived)
			<-release
		}
		fake.ServeHTTP(w, r)
	}))
	cc := &connCounter{}
	srv.Config.ConnState = cc.hook
	srv.Start()
	defer srv.Close()

	a, err := NewClient(fake.ClientID, fake.ClientSecret, WithBaseURL(srv.URL))
	require.NoError(t, err)
	b, err := NewClient(fake.ClientID, fake.ClientSecret, WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = b.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := a.GenerateOTP(context.Background(), otherNumber, ConsentYes, testPurpose)
		done <- err
	}()
	<-arrived
	require.NoError(t, b.Close())
	close(release)
	require.NoError(t, <-done, "another Client's Close does not fail a call in flight")
	_, err = a.GenerateOTP(context.Background(), deepvuetest.NewNumber(), ConsentYes, testPurpose)
	require.NoError(t, err)
	assert.Equal(t, int32(1), cc.opened.Load(), "one pool: b's call, a's two calls on one connection, kept open by b's Close")
	assert.Zero(t, cc.closed.Load())
	_, err = b.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrClientClosed)
}

func TestCloseLeavesTheCallersTransportOpen(t *testing.T) {
	srv, cc := fakeServer(t)
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	c, err := NewClient(srv.ClientID, srv.ClientSecret, WithBaseURL(srv.URL),
		WithHTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrClientClosed)

	// Another Client on the same transport reuses the pooled connection.
	c2, err := NewClient(srv.ClientID, srv.ClientSecret, WithBaseURL(srv.URL),
		WithHTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)
	defer c2.Close()
	_, err = c2.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	assert.Equal(t, int32(1), cc.opened.Load(), "Close must not close a transport given with WithHTTPClient")
	assert.Zero(t, cc.closed.Load())
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd on this system")
	}
	return len(ents)
}

// TestClientsWithoutCloseLeaveNothingBehind makes 200 Clients without
// WithHTTPClient, one call each, one after the other, and drops them
// without Close: they share the process's pool, so the server sees one
// connection, and goroutines and open file descriptors are back at their
// baseline (a Client per request leaks nothing). Before the shared pool,
// each Client kept an idle connection, two goroutines and a descriptor
// until the transport's 90 s idle timeout.
func TestClientsWithoutCloseLeaveNothingBehind(t *testing.T) {
	srv, cc := fakeServer(t)
	// A first Client warms up what stays for the process's life (DNS config,
	// the proxy environment, the pool's connection), so the baseline is
	// taken after it.
	warm, err := NewClient(srv.ClientID, srv.ClientSecret, WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = warm.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)

	baseGoroutines := goleak.IgnoreCurrent()
	baseFDs := openFDs(t)
	for i := 0; i < 200; i++ {
		c, err := NewClient(srv.ClientID, srv.ClientSecret, WithBaseURL(srv.URL))
		require.NoError(t, err)
		_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		require.NoError(t, err)
	}
	assert.Equal(t, int32(1), cc.opened.Load(), "one connection for every Client")
	// goleak retries for about a second; a loaded CI machine gets 10 s.
	for deadline := time.Now().Add(10 * time.Second); goleak.Find(baseGoroutines) != nil && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	goleak.VerifyNone(t, baseGoroutines) // names the goroutines left, if any
	waitFor(t, "open file descriptors back at the baseline", func() bool { return openFDs(t) <= baseFDs })
}

func TestCloseOfNilOrZeroClient(t *testing.T) {
	var nilClient *Client
	assert.NoError(t, nilClient.Close())
	assert.NoError(t, (&Client{}).Close())
}

func TestErrClientClosedIsNotSentAndNamed(t *testing.T) {
	assert.ErrorIs(t, ErrClientClosed, ErrNotSent)
	assert.False(t, errors.Is(ErrClientClosed, ErrInvalidInput))
	assert.Equal(t, "ErrClientClosed", Outcome(ErrClientClosed))
}
