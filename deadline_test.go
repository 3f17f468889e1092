package deepvue

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// endRecorder is a deadlineOwner that records when it was ended.
type endRecorder struct {
	name string
	mu   *sync.Mutex
	log  *[]string
	at   time.Time
}

func (e *endRecorder) deadlinePassed() {
	e.mu.Lock()
	defer e.mu.Unlock()
	*e.log = append(*e.log, e.name)
	e.at = time.Now()
}

// TestDeadlinesEndEachAtItsDeadline: the Client's one timer ends each
// listed context once its deadline passed, in the order of the deadlines
// across both lists (a shorter duration listed later sets the timer
// earlier), never one that left its list, and never one early.
func TestDeadlinesEndEachAtItsDeadline(t *testing.T) {
	t.Parallel()
	var dl deadlines
	var mu sync.Mutex
	var log []string
	owner := func(name string) *endRecorder { return &endRecorder{name: name, mu: &mu, log: &log} }
	a, b, c, short := owner("a"), owner("b"), owner("c"), owner("short")
	var na, nb, nc, ns deadlineNode
	atA := dl.add(deadlineCall, &na, a, 150*time.Millisecond)
	dl.add(deadlineCall, &nb, b, 150*time.Millisecond)
	atC := dl.add(deadlineCall, &nc, c, 150*time.Millisecond)
	atShort := dl.add(deadlineOutcome, &ns, short, 30*time.Millisecond)
	assert.False(t, atC.Before(atA), "a list is in the order of its deadlines")
	assert.True(t, atShort.Before(atA))
	dl.remove(deadlineCall, &nb)
	waitFor(t, "a and c ended", func() bool { mu.Lock(); defer mu.Unlock(); return len(log) == 3 })
	// b's deadline is a's: had it been listed, the fire that ended a would
	// have ended it. Had the timer waited for a's deadline, short would
	// have ended after a and c (the lists are visited in order).
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"short", "a", "c"}, log)
	assert.False(t, short.at.Before(atShort), "not before its deadline")
	assert.False(t, a.at.Before(atA), "not before its deadline")
	assert.False(t, na.listed || nb.listed || nc.listed || ns.listed)
}

// TestOutcomeContextEndsAtItsDeadline: an outcome record's context ends
// with context.DeadlineExceeded when the Client's timer reaches its
// deadline (a stalled audit sink is bounded with no timer of its own),
// keeps the call's values, and stays ended once the write returns.
func TestOutcomeContextEndsAtItsDeadline(t *testing.T) {
	t.Parallel()
	var dl deadlines
	type key struct{}
	o := &outcomeCtx{values: context.WithValue(context.Background(), key{}, "v")}
	at := dl.add(deadlineOutcome, &o.dl, o, 30*time.Millisecond)
	d, ok := o.Deadline()
	require.True(t, ok)
	assert.Equal(t, at, d)
	assert.NoError(t, o.Err())
	select {
	case <-o.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the outcome context did not end at its deadline")
	}
	assert.ErrorIs(t, o.Err(), context.DeadlineExceeded)
	assert.False(t, time.Now().Before(at))
	assert.Equal(t, "v", o.Value(key{}))
	o.end(context.Canceled)
	assert.ErrorIs(t, o.Err(), context.DeadlineExceeded, "the first end stands")
}

// TestDefaultDeadlineMakesNoTimerPerCall: calls whose context has no
// deadline get the Client's default from its one timer (one *time.Timer
// for all of them, made at the first) and leave its list when they end.
func TestDefaultDeadlineMakesNoTimerPerCall(t *testing.T) {
	t.Parallel()
	c, err := NewClient(testID, testSecret, WithBaseURL(testBase),
		WithHTTPClient(&http.Client{Transport: cannedTransport{[]byte(successOTP)}}))
	require.NoError(t, err)
	var first *time.Timer
	for i := 0; i < 20; i++ {
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		require.NoError(t, err)
		dl := c.deadlines
		dl.mu.Lock()
		if i == 0 {
			first = dl.timer
		}
		timer, listed := dl.timer, dl.lists[deadlineCall].first
		dl.mu.Unlock()
		require.NotNil(t, timer)
		assert.Same(t, first, timer, "one timer for every call")
		assert.Nil(t, listed, "an ended call leaves the list")
	}
}

// TestOutcomeContextHidesTheCallsCancel: the outcome record's context has
// the call's values but not its cancel, as context.WithoutCancel under
// context.WithTimeout gave it before the Client's timer: context.Cause
// tells nothing of why the call ended, neither while the record is written
// (Go 1.23's Cause asks the cancelable context Value finds, the caller's)
// nor once the deadline passed, and a context the sink derives from it
// ends with the deadline as its cause, not the caller's.
func TestOutcomeContextHidesTheCallsCancel(t *testing.T) {
	t.Parallel()
	errLeft := errors.New("the customer closed the page")
	type key struct{}
	caller, cancel := context.WithCancelCause(context.WithValue(context.Background(), key{}, "v"))
	cancel(errLeft)
	var dl deadlines
	o := &outcomeCtx{}
	o.begin(&dl, caller, 30*time.Millisecond)
	derived, stop := context.WithCancel(o)
	defer stop()
	assert.NoError(t, o.Err())
	assert.NoError(t, context.Cause(o), "the record is being written: no cause")
	assert.NoError(t, context.Cause(derived))
	assert.Equal(t, "v", o.Value(key{}), "the call's values")
	select {
	case <-derived.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the derived context did not end at the outcome context's deadline")
	}
	assert.ErrorIs(t, o.Err(), context.DeadlineExceeded)
	assert.Equal(t, context.DeadlineExceeded, context.Cause(o), "its deadline, not the caller's cause")
	assert.Equal(t, context.DeadlineExceeded, context.Cause(derived), "its deadline, not the caller's cause")
}
