package deepvue

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedFake is the fake Deepvue (with its pending window: a second
// generate-otp for a number answers 409, a second verify of a reference
// OTP_ALREADY_USED) behind a gate that holds every answer until opened.
type gatedFake struct {
	fake    *deepvuetest.Server
	srv     *httptest.Server
	mu      sync.Mutex
	gate    chan struct{}
	arrived atomic.Int32
}

// open lets the answers held so far and all later ones through.
func (g *gatedFake) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.gate:
	default:
		close(g.gate)
	}
}

// close makes the gate hold the next answers.
func (g *gatedFake) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = make(chan struct{})
}

func (g *gatedFake) wait() {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	<-gate
}

func newGatedFake(t *testing.T, opts ...deepvuetest.Option) *gatedFake {
	g := &gatedFake{gate: make(chan struct{})}
	g.fake = deepvuetest.NewServer(opts...)
	t.Cleanup(g.fake.Close)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.arrived.Add(1)
		g.wait()
		g.fake.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	t.Cleanup(g.open) // first: a failed test must not leave the server's Close waiting on the gate
	return g
}

func (g *gatedFake) client(t *testing.T, opts ...Option) *Client {
	c, err := NewClient(g.fake.ClientID, g.fake.ClientSecret, append([]Option{WithBaseURL(g.srv.URL)}, opts...)...)
	require.NoError(t, err)
	return c
}

// waitJoined waits until the Client's one flight has n callers: its
// leader and n-1 joiners.
func waitJoined(t *testing.T, c *Client, n int) {
	t.Helper()
	waitFor(t, "callers joined", func() bool {
		c.flights.mu.Lock()
		defer c.flights.mu.Unlock()
		for _, f := range c.flights.m {
			f.mu.Lock()
			w := f.joiners
			f.mu.Unlock()
			return 1+w == n
		}
		return false
	})
}

// theFlight returns the Client's one flight.
func theFlight(c *Client) *flight {
	c.flights.mu.Lock()
	defer c.flights.mu.Unlock()
	for _, f := range c.flights.m {
		return f
	}
	return nil
}

// TestDoubleSubmitGenerateIsOneRequest: 100 concurrent GenerateOTP for one
// number on one Client send one request (the fake would answer a second
// with 409) and return 100 identical results, each its own copy; one pair
// of audit records; the Observer sees 100 calls, 99 of them joined, and one
// attempt. Once that call ended, the next one sends a request of its own.
func TestDoubleSubmitGenerateIsOneRequest(t *testing.T) {
	const n = 100
	g := newGatedFake(t)
	var mu sync.Mutex
	var records []AuditRecord
	var results []CallResult
	var attempts atomic.Int32
	c := g.client(t, WithAuditLog(func(_ context.Context, r AuditRecord) error {
		mu.Lock()
		defer mu.Unlock()
		records = append(records, r)
		return nil
	}), WithObserver(&Observer{
		StartAttempt: func(ctx context.Context, _ AttemptInfo, _ http.Header) context.Context {
			attempts.Add(1)
			return ctx
		},
		EndCall: func(_ context.Context, _ CallInfo, r CallResult) {
			mu.Lock()
			defer mu.Unlock()
			results = append(results, r)
		},
	}))
	out := make([]*OTPResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = c.GenerateOTP(context.Background(), "2341 2341 2346", ConsentYes, testPurpose)
		}()
	}
	waitJoined(t, c, n)
	g.open()
	wg.Wait()
	assert.Equal(t, int32(1), g.arrived.Load(), "one request at the server")
	assert.Equal(t, 1, g.fake.SMSSent())
	for i := 0; i < n; i++ {
		require.NoError(t, errs[i])
		assert.Equal(t, *out[0], *out[i], "identical results")
		if i > 0 {
			assert.NotSame(t, out[0], out[i], "each caller its own copy")
		}
	}
	require.Len(t, records, 2, "one call's consent and outcome records")
	assert.Equal(t, records[0].CallID, records[1].CallID)
	assert.Equal(t, int32(1), attempts.Load())
	require.Len(t, results, n)
	joined := 0
	for _, r := range results {
		if r.Joined {
			joined++
			assert.Zero(t, r.Attempts)
		}
		assert.Equal(t, "ok", r.Outcome)
		assert.Equal(t, OTPSent, r.OTPState)
	}
	assert.Equal(t, n-1, joined)

	// The flight is over: a new call is a new request (answered 409 by the fake).
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrVerificationPending)
	assert.Equal(t, int32(2), g.arrived.Load())
	assert.Empty(t, c.flights.m, "no flight left behind")
}

// TestDoubleSubmitVerifyIsOneRequest: 100 concurrent VerifyOTP with one
// reference and OTP send one request (the fake would answer a second with
// OTP_ALREADY_USED) and return 100 identical successes.
func TestDoubleSubmitVerifyIsOneRequest(t *testing.T) {
	const n = 100
	g := newGatedFake(t)
	c := g.client(t)
	g.open()
	otp, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	g.close()
	req := VerifyOTPRequest{ReferenceID: otp.ReferenceID, OTP: deepvuetest.OTPValid, Consent: ConsentYes,
		Purpose: testPurpose, GeneratePDF: true}
	out := make([]*AadhaarData, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = c.VerifyOTP(context.Background(), req)
		}()
	}
	waitJoined(t, c, n)
	g.open()
	wg.Wait()
	assert.Equal(t, int32(2), g.arrived.Load(), "one generate, one verify")
	for i := 0; i < n; i++ {
		require.NoError(t, errs[i])
		assert.Equal(t, out[0].TransactionID, out[i].TransactionID)
		assert.Equal(t, out[0].Name, out[i].Name)
		assert.True(t, bytes.Equal(out[0].PDF, out[i].PDF))
		assert.NotEmpty(t, out[i].PDF)
	}
	_, err = c.VerifyOTP(context.Background(), req)
	require.Error(t, err, "the reference is used: a later call is a request of its own")
}

// TestDoubleSubmitOnlyIdenticalCalls: another purpose for the same number,
// another OTP for the same reference, or another Client, is a request of
// its own.
func TestDoubleSubmitOnlyIdenticalCalls(t *testing.T) {
	g := newGatedFake(t, deepvuetest.WithPendingWindow(0))
	c := g.client(t)
	other := g.client(t)
	var wg sync.WaitGroup
	call := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	call(func() { _, _ = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose) })
	call(func() { _, _ = c.GenerateOTP(context.Background(), validNumber, ConsentYes, "Another purpose") })
	call(func() { _, _ = other.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose) })
	verify := func(otp string) func() {
		return func() {
			_, _ = c.VerifyOTP(context.Background(), VerifyOTPRequest{ReferenceID: "29756209", OTP: otp,
				Consent: ConsentYes, Purpose: testPurpose})
		}
	}
	call(verify("111111"))
	call(verify("222222"))
	waitFor(t, "five requests at the server", func() bool { return g.arrived.Load() == 5 })
	g.open()
	wg.Wait()
	assert.Equal(t, int32(5), g.arrived.Load())
}

// TestDoubleSubmitCancelledJoinerLeavesAlone: a joiner whose context ends
// returns at once with its context's error (not ErrNotSent: the shared
// request may be on its way), and the request goes on for the others.
func TestDoubleSubmitCancelledJoinerLeavesAlone(t *testing.T) {
	g := newGatedFake(t)
	c := g.client(t)
	leader := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		leader <- err
	}()
	waitJoined(t, c, 1)
	ctx, cancel := context.WithCancel(context.Background())
	joiner := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
		joiner <- err
	}()
	waitJoined(t, c, 2)
	cancel()
	err := <-joiner
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrNotSent, "the shared request may have been sent")
	assert.Equal(t, OTPMaybeSent, OTPStateOf(err))
	assertNoLeak(t, err)
	g.open()
	require.NoError(t, <-leader, "the joiner's cancel did not cancel the request")
	assert.Equal(t, int32(1), g.arrived.Load())
}

// TestDoubleSubmitCancelledLeader: the leader's cancel does not end the
// request while a joiner waits for it (the joiner gets its success); a
// leader alone is cancelled at once, as without double submits.
func TestDoubleSubmitCancelledLeader(t *testing.T) {
	g := newGatedFake(t)
	c := g.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
		leader <- err
	}()
	waitJoined(t, c, 1)
	joiner := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		joiner <- err
	}()
	waitJoined(t, c, 2)
	f := theFlight(c)
	cancel()
	<-f.parent.Done()
	assert.NoError(t, f.Err(), "the leader's cancel does not end the request while a joiner waits")
	g.open()
	require.NoError(t, <-joiner)
	require.NoError(t, <-leader, "the leader's request went on for the joiner, and it ended well")

	alone, cancelAlone := context.WithCancel(context.Background())
	g.close()
	defer g.open()
	done := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(alone, otherNumber, ConsentYes, testPurpose)
		done <- err
	}()
	waitFor(t, "the request at the server", func() bool { return g.arrived.Load() == 2 })
	cancelAlone()
	require.ErrorIs(t, <-done, context.Canceled)
}

// TestDoubleSubmitSharesTheLeadersDeadline: the request runs with the
// leader's deadline, which a joiner without one shares.
func TestDoubleSubmitSharesTheLeadersDeadline(t *testing.T) {
	g := newGatedFake(t)
	defer g.open()
	c := g.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	leader := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
		leader <- err
	}()
	waitJoined(t, c, 1)
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, <-leader, context.DeadlineExceeded)
	assert.Equal(t, int32(1), g.arrived.Load())
}

// TestFlightKeysAreKeyedHashes: the flights are found by a keyed hash of
// what the call sends: the map's keys hold no number, and differ between
// two Clients for the same call (each Client has a seed of its own).
func TestFlightKeysAreKeyedHashes(t *testing.T) {
	g := newGatedFake(t)
	a, b := g.client(t), g.client(t)
	var wg sync.WaitGroup
	for _, c := range []*Client{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		}()
		waitJoined(t, c, 1)
	}
	var keys []uint64
	for _, c := range []*Client{a, b} {
		c.flights.mu.Lock()
		for k := range c.flights.m {
			keys = append(keys, k)
			for _, kb := range [][]byte{binary.BigEndian.AppendUint64(nil, k), binary.LittleEndian.AppendUint64(nil, k),
				strconv.AppendUint(nil, k, 10)} {
				assert.False(t, bytes.Contains(kb, []byte(validNumber)))
				assert.False(t, bytes.Contains(kb, []byte("2346")))
			}
		}
		c.flights.mu.Unlock()
	}
	require.Len(t, keys, 2)
	assert.NotEqual(t, keys[0], keys[1], "a key per Client")
	g.open()
	wg.Wait()
}

// TestDoubleSubmitWithOtherConsentEvidence: two identical calls at once
// carrying different consent evidence are two requests, each audited with
// its own evidence; with the same evidence they share one.
func TestDoubleSubmitWithOtherConsentEvidence(t *testing.T) {
	g := newGatedFake(t, deepvuetest.WithPendingWindow(0))
	var mu sync.Mutex
	var consents []ConsentEvidence
	c := g.client(t, WithAuditLog(func(_ context.Context, r AuditRecord) error {
		if r.Stage == AuditConsent {
			mu.Lock()
			consents = append(consents, r.Evidence)
			mu.Unlock()
		}
		return nil
	}))
	first, second := completeEvidence(), completeEvidence()
	second.DecidedAt = first.DecidedAt.Add(-time.Second)
	var wg sync.WaitGroup
	for _, e := range []ConsentEvidence{first, second, first} {
		ctx := WithConsentEvidence(context.Background(), e)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
			assert.NoError(t, err)
		}()
	}
	waitFor(t, "two requests at the server, the third call joined the first", func() bool {
		c.flights.mu.Lock()
		defer c.flights.mu.Unlock()
		joined := 0
		for _, f := range c.flights.m {
			f.mu.Lock()
			joined += f.joiners
			f.mu.Unlock()
		}
		return g.arrived.Load() == 2 && joined == 1
	})
	g.open()
	wg.Wait()
	assert.Equal(t, int32(2), g.arrived.Load())
	require.Len(t, consents, 2)
	assert.NotEqual(t, consents[0].DecidedAt, consents[1].DecidedAt, "each request audited with its own evidence")
}

// TestDoubleSubmitHashCollisionSendsItsOwn: a call whose flight key equals
// that of a different call in flight (a hash collision, forced here by
// listing the flight in flight under the second call's key) does not join
// it: the key finds, the comparison of what each call sends decides.
func TestDoubleSubmitHashCollisionSendsItsOwn(t *testing.T) {
	g := newGatedFake(t)
	c := g.client(t)
	first := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		first <- err
	}()
	waitJoined(t, c, 1)
	other := generateInput{number: otherNumber, consent: ConsentYes, purpose: testPurpose}
	require.NoError(t, other.check(&secrets{}))
	c.flights.mu.Lock()
	for k, f := range c.flights.m {
		delete(c.flights.m, k)
		f.key = other.flightKey(c.flights.seed)
		c.flights.m[f.key] = f
	}
	c.flights.mu.Unlock()
	second := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(context.Background(), otherNumber, ConsentYes, testPurpose)
		second <- err
	}()
	waitFor(t, "both requests at the server", func() bool { return g.arrived.Load() == 2 })
	g.open()
	require.NoError(t, <-first)
	require.NoError(t, <-second)
	assert.Equal(t, int32(2), g.arrived.Load())
}

// TestDoubleSubmitAfterSetCredentialsSendsItsOwn: a call that starts after
// SetCredentials sends the new pair, even when an identical call that began
// with the old pair is still in flight: it does not join that call (whose
// answer is the old pair's: a 401 once the old secret is revoked, or a
// reference of another account).
func TestDoubleSubmitAfterSetCredentialsSendsItsOwn(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	var sent []string
	var arrived atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Header.Get("Client-Id"))
		mu.Unlock()
		arrived.Add(1)
		<-gate
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(otpNow))
	}))
	defer srv.Close()
	defer func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}()
	c, err := NewClient("old-id", "old_secret_value", WithBaseURL(srv.URL))
	require.NoError(t, err)
	first := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		first <- err
	}()
	waitFor(t, "the first request at the server", func() bool { return arrived.Load() == 1 })
	require.NoError(t, c.SetCredentials("new-id", "new_secret_value"))
	second := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		second <- err
	}()
	waitFor(t, "the second call joined or sent", func() bool {
		f := theFlight(c)
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.joiners == 1 || arrived.Load() == 2
	})
	assert.Equal(t, int32(2), arrived.Load(), "the call after SetCredentials sends its own request")
	close(gate)
	require.NoError(t, <-first)
	require.NoError(t, <-second)
	assert.ElementsMatch(t, []string{"old-id", "new-id"}, sent)
}

// TestDoubleSubmitAfterTheAnswerJoinsEvenIfTheLeaderLeft: once the
// leader's request has its answer (the SMS sent), an identical call made
// while the leader still writes its outcome record joins it and gets that
// answer, even though the leader's context ended meanwhile: it never sends a
// second generate-otp for an OTP that went out.
func TestDoubleSubmitAfterTheAnswerJoinsEvenIfTheLeaderLeft(t *testing.T) {
	var arrived atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(otpNow))
	}))
	defer srv.Close()
	writing, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithPendingStore(nil, nil),
		WithAuditLog(func(_ context.Context, r AuditRecord) error {
			if r.Stage == AuditOutcome {
				once.Do(func() { close(writing); <-release })
			}
			return nil
		}))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan *OTPResponse, 1)
	go func() {
		res, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
		assert.NoError(t, err)
		first <- res
	}()
	<-writing
	cancel() // the customer closed the page: the leader's context ends
	second := make(chan *OTPResponse, 1)
	go func() {
		res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		assert.NoError(t, err)
		second <- res
	}()
	waitFor(t, "the second call joined or sent", func() bool {
		f := theFlight(c)
		if f == nil {
			return arrived.Load() == 2
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.joiners == 1 || arrived.Load() == 2
	})
	close(release)
	a, b := <-first, <-second
	assert.Equal(t, int32(1), arrived.Load(), "one generate-otp: the OTP went out")
	require.NotNil(t, a)
	require.NotNil(t, b)
	assert.Equal(t, a.ReferenceID, b.ReferenceID)
}
