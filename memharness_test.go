package deepvue

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// heapRun is what runUnderHeapWatch measured.
type heapRun struct {
	c       *Client       // the client the calls went through (its budget can be checked)
	ok      int32         // how many calls the callback counted as expected
	growth  uint64        // the heap's peak growth (sampleHeap) while the calls ran
	elapsed time.Duration // how long the calls took together
}

// runUnderHeapWatch is the memory-budget harness: an httptest server
// answers every request with status and body (JSON, with Content-Length), a
// Client with a long timeout calls it n times concurrently, and sampleHeap
// watches the heap meanwhile. call makes one call and says whether it ended
// as the test expects.
func runUnderHeapWatch(t *testing.T, status int, body []byte, n int, call func(c *Client) bool) heapRun {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithTimeout(5*time.Minute))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)

	stop := sampleHeap()
	var wg sync.WaitGroup
	var ok atomic.Int32
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if call(c) {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	growth := stop()
	return heapRun{c: c, ok: ok.Load(), growth: growth, elapsed: time.Since(start)}
}
