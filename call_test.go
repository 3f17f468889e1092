package deepvue

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWithTimeoutAppliesWhenContextHasNoDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithTimeout(100*time.Millisecond))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrNotSent, "the request was written: no answer is not no SMS")
	assertNoLeak(t, err)
}

// TestNilContextIsAProgrammingError: a nil context is a bug in the caller,
// not bad input, so it must not send a handler's "fix your input" branch.
func TestNilContextIsAProgrammingError(t *testing.T) {
	c, mt := mockClient(t)
	//lint:ignore SA1012 checking that a nil context is refused, not a panic
	_, err := c.GenerateOTP(nil, validNumber, ConsentYes, testPurpose) //nolint:staticcheck
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrInvalidInput)
	assert.ErrorIs(t, err, ErrNotSent)
	assert.EqualError(t, err, "deepvue: nil Context")
	//lint:ignore SA1012 checking that a nil context is refused, not a panic
	_, err = c.VerifyOTP(nil, validVerifyRequest()) //nolint:staticcheck
	assert.EqualError(t, err, "deepvue: nil Context")
	assert.Zero(t, mt.GetTotalCallCount())
}

func TestContextEndedBeforeSendingIsNotSent(t *testing.T) {
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, ErrNotSent)
	assert.Zero(t, mt.GetTotalCallCount())
}

func TestOversizedAnswerIsBounded(t *testing.T) {
	for _, status := range []int{200, 400, 500} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			c, mt := mockClient(t)
			big := `{"sub_code":"SOURCE_FAILURE","message":"` + strings.Repeat("a", 2<<20) + `"}`
			mt.RegisterResponder(http.MethodPost, genURL, func(*http.Request) (*http.Response, error) {
				r := httpmock.NewStringResponse(status, big)
				r.ContentLength = -1 // unknown length: the read itself must stop
				return r, nil
			})
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, status, ae.StatusCode)
			assert.Contains(t, ae.Message, "larger than")
			assert.Less(t, len(err.Error()), 300)
			assert.Equal(t, 1, mt.GetTotalCallCount(), "an oversized 500 is not known to be SOURCE_FAILURE")
			assert.Zero(t, c.budget.InUse())
		})
	}
}

func TestConcurrentUseIsSafe(t *testing.T) {
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, genURL,
		func(r *http.Request) (*http.Response, error) {
			if r.URL.Query().Get("aadhaar_number") == otherNumber {
				return jsonResponder(500, sourceFailBd)(r)
			}
			return jsonResponder(200, successOTP)(r)
		})
	var wg sync.WaitGroup
	var ok, failed atomic.Int32
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			n := validNumber
			if i%4 == 0 {
				n = otherNumber
			}
			// A purpose of its own: identical calls would share one request (flight.go).
			_, err := c.GenerateOTP(context.Background(), n, ConsentYes, testPurpose+" "+strconv.Itoa(i))
			if err == nil {
				ok.Add(1)
			} else if errors.Is(err, ErrSourceFailure) {
				failed.Add(1)
			}
		}(i)
	}
	wg.Wait()
	assert.Equal(t, int32(48), ok.Load())
	assert.Equal(t, int32(16), failed.Load())
	assert.Equal(t, 48+16*3, mt.GetTotalCallCount())
	assert.Zero(t, c.budget.InUse())
}

// bigVerifyBody is a verify-otp success of about size bytes: the documented
// sample with a photo of random bytes that fills it.
func bigVerifyBody(size int) (body []byte, photoLen int) {
	base := verifySuccessBody("")
	photoLen = (size - len(base)) / 4 * 3
	photo := make([]byte, photoLen)
	for i := range photo {
		photo[i] = byte(i*7 + i>>8)
	}
	b64 := base64.StdEncoding.EncodeToString(photo)
	i := strings.Index(base, `"photo":"`) + len(`"photo":"`)
	j := i + strings.IndexByte(base[i:], '"')
	return []byte(base[:i] + b64 + base[j:]), photoLen
}

// TestMemoryBudget100ConcurrentVerifiesOf15MiB is the per-Client memory
// bound: 100 concurrent verify calls, each answered with a 15 MiB success
// (under MaxVerifyResponseBytes), all succeed while the Go heap grows by at
// most 1 GiB. BENCHMARKS.md records the measured peak.
func TestMemoryBudget100ConcurrentVerifiesOf15MiB(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("moves 1.5 GB: skipped with -short and under the race detector (the bound does not depend on it)")
	}
	body, photoLen := bigVerifyBody(15 << 20)
	require.Less(t, len(body), MaxVerifyResponseBytes)
	var refs atomic.Int32
	run := runUnderHeapWatch(t, http.StatusOK, body, 100, func(c *Client) bool {
		req := validVerifyRequest()
		req.ReferenceID = strconv.Itoa(int(29756200 + refs.Add(1))) // a call of its own: identical ones would share one request
		d, err := c.VerifyOTP(context.Background(), req)
		return assert.NoError(t, err) && assert.Len(t, d.Photo, photoLen)
	})
	t.Logf("100 concurrent verify calls of %.1f MiB each: %d succeeded in %v; heap grew by at most %d MiB (budget %d MiB)",
		float64(len(body))/(1<<20), run.ok, run.elapsed.Round(time.Millisecond), run.growth>>20, DefaultMaxBufferedBytes>>20)
	assert.Equal(t, int32(100), run.ok)
	assert.LessOrEqual(t, run.growth, uint64(1<<30), "heap growth")
	assert.Zero(t, run.c.budget.InUse())
}

// sampleHeap records the Go heap (live and not yet swept objects) every
// millisecond; stop returns the peak above the level at the start.
func sampleHeap() (stop func() (growth uint64)) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	peak := new(atomic.Uint64)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		if p := peak.Load(); p > base {
			return p - base
		}
		return 0
	}
}

// TestBudgetMakesCallsWaitNotFail: with a budget that fits few answers at
// a time, concurrent calls wait for room and all succeed; a call whose
// context ends while it waits gets its context's error, having been sent.
func TestBudgetMakesCallsWaitNotFail(t *testing.T) {
	body, _ := bigVerifyBody(600 << 10)
	// 3 MiB: a pool of 1.5 MiB and a reserve of 1.5 MiB (internal/budget). A
	// 600 KiB answer holds 512 KiB when its read starts (its first 256 KiB,
	// twice) and 1.2 MiB in the end: three start in the pool, and one more
	// in the reserve.
	c, mt := mockClient(t, WithMaxBufferedBytes(3<<20))
	var inFlight, maxInFlight atomic.Int32
	mt.RegisterResponder(http.MethodPost, verURL, func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, ContentLength: int64(len(body)),
			Body: &slowBody{r: bytes.NewReader(body), in: &inFlight, max: &maxInFlight}}, nil
	})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := validVerifyRequest()
			req.ReferenceID = strconv.Itoa(29756200 + i) // a call of its own: identical ones would share one request
			_, err := c.VerifyOTP(context.Background(), req)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, maxInFlight.Load(), int32(4), "answers read at once")
	assert.Zero(t, c.budget.InUse())

	// Hold the budget, then make a call wait for it until its deadline.
	giveBack := spend(t, c.budget)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.VerifyOTP(ctx, validVerifyRequest())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrNotSent)
	giveBack()
	assert.Zero(t, c.budget.InUse())
}

// slowBody counts the bodies being read at once.
type slowBody struct {
	r       io.Reader
	in, max *atomic.Int32
	started bool
}

func (s *slowBody) Read(p []byte) (int, error) {
	if !s.started {
		s.started = true
		n := s.in.Add(1)
		for m := s.max.Load(); n > m && !s.max.CompareAndSwap(m, n); m = s.max.Load() {
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s.r.Read(p)
}

func (s *slowBody) Close() error {
	if s.started {
		s.started = false
		s.in.Add(-1)
	}
	return nil
}

func TestAnswerLargerThanTheBudgetIsRefused(t *testing.T) {
	body, _ := bigVerifyBody(3 << 20)
	c, mt := mockClient(t, WithMaxBufferedBytes(4<<20)) // holds at most a 1 MiB answer (a quarter)
	mt.RegisterResponder(http.MethodPost, verURL, func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, ContentLength: int64(len(body)), Body: io.NopCloser(bytes.NewReader(body))}, nil
	})
	_, err := c.VerifyOTP(context.Background(), validVerifyRequest())
	require.ErrorIs(t, err, ErrUnexpectedResponse)
	assert.ErrorContains(t, err, "memory budget")
}
