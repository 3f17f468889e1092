package deepvue

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/internal/budget"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowGzipServer is a real HTTP server, behind the SDK's own transport
// (which asks for gzip, so its answers carry no length): a verify-otp
// answer is gzipped and sent slowly (its first photo bytes, then nothing
// until the test ends), a generate-otp answer is gzipped and sent at once.
// started counts the verify answers whose first bytes went out.
func slowGzipServer(t *testing.T, photoBytes int) (srv *httptest.Server, started *atomic.Int32) {
	t.Helper()
	started = new(atomic.Int32)
	hold := make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			http.Error(w, "this test needs a transport that asks for gzip", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		if strings.HasSuffix(r.URL.Path, "/verify-otp") {
			_, _ = zw.Write([]byte(`{"code":200,"sub_code":"SUCCESS","data":{"photo":"` + strings.Repeat("QUJD", photoBytes/4)))
			_ = zw.Flush()
			w.(http.Flusher).Flush()
			started.Add(1)
			select { // the rest never comes while the test runs
			case <-hold:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = zw.Write([]byte(successOTP))
		_ = zw.Close()
	}))
	t.Cleanup(func() { close(hold); srv.Close() })
	return srv, started
}

// TestSlowGzippedAnswersDoNotStallOtherCalls is issue 24's item 3: five
// slow gzipped verify answers are being read, then 20 GenerateOTP calls
// are made, each with a 2 s deadline. Every SMS went out (the server
// answered), so every call must return its reference: none may wait for
// memory that the slow answers reserved but never received. (Before: each
// slow answer reserved 32 MiB, the fifth waited for room, and the 20 calls
// queued behind it: 20 sent, 0 succeeded.)
func TestSlowGzippedAnswersDoNotStallOtherCalls(t *testing.T) {
	srv, started := slowGzipServer(t, 4<<10)
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL))
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseIdleConnections() })
	assert.Equal(t, 20, generatesBesideSlowAnswers(t, c, started, 5))
}

// TestSlowAnswerInASmallBudgetDoesNotHoldUpOthers: a Client with a budget
// of its own of 4 MiB; one slow gzipped verify answer has sent 600 KiB
// (its buffer holds 2 MiB: all the common pool) and stalls. The 20
// GenerateOTP calls that follow take the reserve one after the other and
// all succeed: a slow answer never holds the whole of a budget.
func TestSlowAnswerInASmallBudgetDoesNotHoldUpOthers(t *testing.T) {
	srv, started := slowGzipServer(t, 600<<10)
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithMaxBufferedBytes(4<<20))
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseIdleConnections() })
	assert.Equal(t, 20, generatesBesideSlowAnswers(t, c, started, 1))
}

// generatesBesideSlowAnswers starts slow verify calls through c, then 20
// GenerateOTP calls with a 2 s deadline each, and returns how many of
// those succeeded.
func generatesBesideSlowAnswers(t *testing.T, c *Client, started *atomic.Int32, slow int32) int {
	t.Helper()
	vctx, stopVerifies := context.WithCancel(context.Background())
	var verifies sync.WaitGroup
	for i := int32(0); i < slow; i++ {
		verifies.Add(1)
		go func() {
			defer verifies.Done()
			req := validVerifyRequest()
			req.ReferenceID = strconv.Itoa(29756200 + int(i)) // a call of its own: identical ones would share one request
			_, _ = c.VerifyOTP(vctx, req)
		}()
	}
	require.Eventually(t, func() bool { return started.Load() == slow }, 10*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // the slow answers are inside their reads

	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			res, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose+" "+strconv.Itoa(i)) // a call of its own
			if assert.NoError(t, err) && assert.Equal(t, "29756208", res.ReferenceID) {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d slow gzipped verify answer(s) in flight: %d of 20 GenerateOTP succeeded", slow, ok.Load())
	stopVerifies()
	verifies.Wait()
	return int(ok.Load())
}

// panicBody is a caller's transport's body whose Read panics after it
// gave left bytes (of a photo, in a verify answer).
type panicBody struct{ left int }

func (b *panicBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		panic("caller transport: Read panicked")
	}
	n := min(len(p), b.left)
	for i := range p[:n] {
		p[i] = 'A'
	}
	b.left -= n
	return n, nil
}

func (b *panicBody) Close() error { return nil }

// TestPanicInBodyReadReturnsTheReservation is issue 24's item 4: a caller's
// transport whose Body.Read panics (the panic reaches the caller, as
// net/http's would) must not keep the memory the answer held. Eight such
// panics, each after 4 MiB of answer (which hold 16 MiB of the budget: the
// buffer's growth), then a call through the same Client succeeds at once;
// the budget holds nothing between calls.
// (Before: each panic kept 32 MiB of the 128 MiB budget for good; after
// four, every call sent its request and timed out waiting for memory.)
func TestPanicInBodyReadReturnsTheReservation(t *testing.T) {
	var panicking atomic.Bool
	panicking.Store(true)
	var sent atomic.Int32
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		if panicking.Load() {
			return &http.Response{StatusCode: 200, ContentLength: -1, Body: &panicBody{left: 4 << 20}, Header: http.Header{}, Request: r}, nil
		}
		body := verifySuccessBody("")
		return &http.Response{StatusCode: 200, ContentLength: -1, Body: io.NopCloser(strings.NewReader(body)),
			Header: http.Header{"Content-Type": {"application/json"}}, Request: r}, nil
	})
	c, err := NewClient(testID, testSecret, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: rt}),
		WithMaxBufferedBytes(DefaultMaxBufferedBytes))
	require.NoError(t, err)
	for i := 0; i < 8; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		assert.Panics(t, func() { _, _ = c.VerifyOTP(ctx, validVerifyRequest()) }, "call %d", i)
		cancel()
	}
	assert.Zero(t, c.budget.InUse(), "every reservation is returned")
	panicking.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = c.VerifyOTP(ctx, validVerifyRequest())
	assert.NoError(t, err, "after 8 panics, a call still finds memory")
	assert.Equal(t, int32(9), sent.Load())
}

// TestClientsShareOneMemoryBudget is issue 25's: the memory budget is the
// process's by default, so that 1,000 Clients (one per tenant) hold at most
// DefaultMaxBufferedBytes of answers, not 1,000 times that (before: one
// budget per Client); WithMaxBufferedBytes gives a Client one of its own,
// which the others do not share.
func TestClientsShareOneMemoryBudget(t *testing.T) {
	budgets := map[*budget.Budget]bool{}
	for i := 0; i < 1000; i++ {
		c, err := NewClient(testID, testSecret)
		require.NoError(t, err)
		budgets[c.budget] = true
		require.NoError(t, c.Close())
	}
	t.Logf("1,000 Clients: %d memory budget(s)", len(budgets))
	require.Len(t, budgets, 1)
	for b := range budgets {
		assert.Equal(t, int64(DefaultMaxBufferedBytes), b.Size())
	}

	// A private budget, spent: its Client's calls wait for it, another
	// Client's do not.
	own, ownMock := mockClient(t, WithMaxBufferedBytes(2<<20))
	shared, sharedMock := mockClient(t)
	shared.budget = processBudget() // mockClient gives each Client its own
	for _, mt := range []*httpmock.MockTransport{ownMock, sharedMock} {
		mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	}
	require.NotSame(t, own.budget, shared.budget)
	defer spend(t, own.budget)()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := own.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "its own budget is spent")
	_, err = shared.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.NoError(t, err, "the process's budget is not")
}

// chunkReader gives data step bytes at a time (all at once when step is 0),
// and io.EOF with the last bytes when eofWithData is set.
type chunkReader struct {
	data        []byte
	step        int
	eofWithData bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if r.step > 0 {
		n = min(n, r.step)
	}
	n = copy(p, r.data[:min(n, len(r.data))])
	r.data = r.data[n:]
	if len(r.data) == 0 && r.eofWithData {
		return n, io.EOF
	}
	return n, nil
}

// FuzzReadBody: whatever the body, its announced length (right, wrong or
// unknown), the bound and the sizes of the reads, readBody returns exactly
// the body when it is within the bound and errTooLarge when it is not, and
// the memory it holds covers twice the bytes it returns and never exceeds
// twice one byte more than the bound.
func FuzzReadBody(f *testing.F) {
	f.Add([]byte(successOTP), int64(-1), int64(1024), uint8(7), false)
	f.Add([]byte(successOTP), int64(len(successOTP)), int64(len(successOTP)), uint8(0), true)
	f.Add(bytes.Repeat([]byte("QUJD"), 3000), int64(100), int64(16<<10), uint8(255), false)
	f.Add(bytes.Repeat([]byte("x"), 9000), int64(-1), int64(8192), uint8(0), true)
	f.Fuzz(func(t *testing.T, body []byte, n, limit int64, step uint8, eofWithData bool) {
		limit = 1 + (limit&0x7fffffff)%(64<<10)
		n = max(n%(2*limit+2), -1)
		b := budget.New(1<<30, 1<<30)
		h := b.Open()
		r := &chunkReader{data: body, step: int(step), eofWithData: eofWithData}
		got, pooled, err := readBody(context.Background(), r, n, limit, &h)
		if pooled != nil {
			defer putBuffer(pooled)
		}
		if int64(len(body)) > limit {
			if !errors.Is(err, errTooLarge) {
				t.Fatalf("%d bytes over a bound of %d (length %d): %v", len(body), limit, n, err)
			}
		} else {
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("%d bytes within a bound of %d (length %d): %d bytes, %v", len(body), limit, n, len(got), err)
			}
			if h.Held() < 2*int64(len(got)) {
				t.Fatalf("holds %d for %d bytes", h.Held(), len(got))
			}
		}
		if h.Held() > 2*(limit+1) {
			t.Fatalf("holds %d, over twice the bound of %d", h.Held(), limit)
		}
		h.Release()
		if b.InUse() != 0 {
			t.Fatalf("%d bytes still held", b.InUse())
		}
	})
}

// spend takes the whole of b (in holds of at most its largest), and
// returns what gives it back.
func spend(t *testing.T, b *budget.Budget) (giveBack func()) {
	t.Helper()
	var holds []*budget.Hold
	for b.InUse() < b.Size() {
		h := b.Open()
		require.NoError(t, h.Grow(context.Background(), min(b.Largest(), b.Size()-b.InUse())))
		holds = append(holds, &h)
	}
	return func() {
		for _, h := range holds {
			h.Release()
		}
	}
}
