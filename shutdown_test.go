package deepvue

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShutdownWaitsForCallsInFlight: Shutdown refuses new calls at once,
// returns ctx's error while a call is still in flight (which goes on), and
// nil once it has ended, its outcome audit record written.
func TestShutdownWaitsForCallsInFlight(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		close(arrived)
		<-release
		return jsonResponder(200, successOTP)(r)
	})
	var outcomes atomic.Int32
	audit := func(_ context.Context, r AuditRecord) error {
		if r.Stage == AuditOutcome {
			outcomes.Add(1)
		}
		return nil
	}
	c, err := NewClient(testID, testSecret, WithHTTPClient(&http.Client{Transport: mt}), WithBaseURL(testBase),
		WithAuditLog(audit))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		done <- err
	}()
	<-arrived

	shut := make(chan error, 1)
	go func() { shut <- c.Shutdown(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.Shutdown(ctx), context.DeadlineExceeded, "a call is still in flight")
	_, err = c.GenerateOTP(context.Background(), otherNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrClientClosed, "a call after Shutdown is refused at once")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a call in flight", err)
	default:
	}

	close(release)
	require.NoError(t, <-done, "the call in flight finishes")
	require.NoError(t, <-shut)
	assert.Equal(t, int32(1), outcomes.Load(), "Shutdown returned after the call's outcome record")
	require.NoError(t, c.Shutdown(context.Background()), "again, and after Close")
	require.NoError(t, c.Close())
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestShutdownOfNilOrZeroClientAndNilContext(t *testing.T) {
	var nilClient *Client
	assert.NoError(t, nilClient.Shutdown(context.Background()))
	assert.NoError(t, (&Client{}).Shutdown(context.Background()))
	c, err := NewClient(testID, testSecret)
	require.NoError(t, err)
	//lint:ignore SA1012 a nil context is what is tested
	assert.ErrorIs(t, c.Shutdown(nil), ErrNotSent) //nolint:staticcheck
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, ErrClientClosed, "Shutdown(nil) still closes")
}

// startWitness is put in a call's context by TestSwapThenShutdownUnderLoad:
// its Observer's StartCall records whether the Client's Shutdown had begun.
type startWitness struct{ afterShutdown bool }

type witnessKey struct{}

// TestSwapThenShutdownUnderLoad: workers call whichever Client is current
// while another goroutine swaps in a new Client and shuts the old one down,
// 20 times. Every call that began before its Client's Shutdown (its
// Observer's StartCall ran before its Shutdown began) succeeds: none fails with
// ErrClientClosed; and when Shutdown returns, none of the old Client's calls
// is still in flight. The Observer pauses in StartCall, as a slow tracer
// would, so that a Shutdown lands inside calls that have begun.
func TestSwapThenShutdownUnderLoad(t *testing.T) {
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	type counts struct {
		inflight      atomic.Int32
		shutdownBegun atomic.Bool
	}
	newClient := func(n *counts) *Client {
		obs := &Observer{
			// Only the calls that began before Shutdown was called count
			// as in flight: a call that begins after it may still reach
			// StartCall on its way to ErrClientClosed, after Shutdown
			// returned (Shutdown waits for the calls it found, not for
			// the ones it refuses).
			StartCall: func(ctx context.Context, _ CallInfo) context.Context {
				before := !n.shutdownBegun.Load()
				if w, ok := ctx.Value(witnessKey{}).(*startWitness); ok {
					w.afterShutdown = !before
				}
				if before {
					n.inflight.Add(1)
				}
				time.Sleep(100 * time.Microsecond)
				return ctx
			},
			EndCall: func(ctx context.Context, _ CallInfo, _ CallResult) {
				if w, ok := ctx.Value(witnessKey{}).(*startWitness); ok && !w.afterShutdown {
					n.inflight.Add(-1)
				}
			},
		}
		c, err := NewClient(testID, testSecret, WithHTTPClient(&http.Client{Transport: mt}), WithBaseURL(testBase),
			WithObserver(obs))
		require.NoError(t, err)
		return c
	}
	type current struct {
		c *Client
		n *counts
	}
	var cur atomic.Pointer[current]
	first := &counts{}
	cur.Store(&current{newClient(first), first})

	var stop atomic.Bool
	var calls, refusedBefore, refusedAfter, failed atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				c := cur.Load().c
				wit := &startWitness{}
				ctx := context.WithValue(context.Background(), witnessKey{}, wit)
				_, err := c.GenerateOTP(ctx, deepvuetest.NewNumber(), ConsentYes, testPurpose)
				calls.Add(1)
				switch {
				case err == nil:
				case errors.Is(err, ErrClientClosed) && !wit.afterShutdown:
					refusedBefore.Add(1)
				case errors.Is(err, ErrClientClosed):
					refusedAfter.Add(1)
				default:
					failed.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		time.Sleep(5 * time.Millisecond)
		old := cur.Load()
		n := &counts{}
		cur.Store(&current{newClient(n), n})
		old.n.shutdownBegun.Store(true)
		require.NoError(t, old.c.Shutdown(context.Background()))
		assert.Zero(t, old.n.inflight.Load(), "Shutdown returned with a call in flight")
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d calls; refused after their Client's Shutdown began: %d", calls.Load(), refusedAfter.Load())
	assert.Zero(t, refusedBefore.Load(), "calls that began before Shutdown were refused with ErrClientClosed")
	assert.Zero(t, failed.Load())
	require.NoError(t, cur.Load().c.Shutdown(context.Background()))
}
