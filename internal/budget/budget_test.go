package budget

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fill fills b's common pool with holds of at most its largest hold.
func fill(t *testing.T, b *Budget, n int64) []*Hold {
	var hs []*Hold
	for n > 0 {
		h := b.Open()
		step := min(n, b.Largest())
		require.NoError(t, h.Grow(context.Background(), step))
		hs = append(hs, &h)
		n -= step
	}
	return hs
}

// grow starts h.Grow(n) in a goroutine and returns its result's channel.
func grow(h *Hold, ctx context.Context, n int64) <-chan error {
	done := make(chan error, 1)
	go func() { done <- h.Grow(ctx, n) }()
	return done
}

func waitForWaiters(t *testing.T, b *Budget, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.waiters.Len() == n
	}, 5*time.Second, time.Millisecond)
}

// TestSmallGrowthIsNotHeldUpByALargerWaiter: a waiter that does not fit
// does not hold up one behind it that does (issue 24, item 3: small
// answers queued behind a large one's reservation).
func TestSmallGrowthIsNotHeldUpByALargerWaiter(t *testing.T) {
	ctx := context.Background()
	b := New(100, 40)      // a common pool of 60, a reserve of 40
	pool := fill(t, b, 60) // the pool is full
	owner, large, small := b.Open(), b.Open(), b.Open()
	require.NoError(t, owner.Grow(ctx, 30)) // takes the reserve
	assert.True(t, owner.owns)
	largeDone := grow(&large, ctx, 30)
	waitForWaiters(t, b, 1)
	smallDone := grow(&small, ctx, 10)
	waitForWaiters(t, b, 2)

	pool[0].ShrinkTo(25) // 15 free in the pool: the small one fits, the large one does not
	require.NoError(t, <-smallDone)
	waitForWaiters(t, b, 1)
	assert.Equal(t, int64(45+30+10), b.InUse())

	owner.Release() // the reserve is free: the large one takes it
	require.NoError(t, <-largeDone)
	assert.True(t, large.owns)
	assert.Equal(t, int64(45+10+30), b.InUse())
	for _, h := range append(pool, &small, &large) {
		h.Release()
	}
	assert.Zero(t, b.InUse())
	waitForWaiters(t, b, 0)
}

// TestTheReserveGoesToWaitersInOrder: the waiters that do not fit in the
// pool take the reserve in their order of arrival.
func TestTheReserveGoesToWaitersInOrder(t *testing.T) {
	ctx := context.Background()
	b := New(100, 40)
	pool := fill(t, b, 60)
	owner, first, second := b.Open(), b.Open(), b.Open()
	require.NoError(t, owner.Grow(ctx, 40))
	firstDone := grow(&first, ctx, 20)
	waitForWaiters(t, b, 1)
	secondDone := grow(&second, ctx, 20)
	waitForWaiters(t, b, 2)
	owner.Release()
	require.NoError(t, <-firstDone)
	waitForWaiters(t, b, 1)
	first.Release()
	require.NoError(t, <-secondDone)
	second.Release()
	for _, h := range pool {
		h.Release()
	}
	assert.Zero(t, b.InUse())
}

// TestTheOwnerOfTheReserveNeverWaits: whatever the pool holds, the Hold
// that owns the reserve grows to the largest Hold at once.
func TestTheOwnerOfTheReserveNeverWaits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a wait would fail
	b := New(100, 40)
	fill(t, b, 55)
	owner := b.Open()
	require.NoError(t, owner.Grow(context.Background(), 5)) // in the pool
	require.NoError(t, owner.Grow(ctx, 10))                 // the pool is full: it takes the reserve
	require.True(t, owner.owns)
	for owner.Held() < 40 {
		require.NoError(t, owner.Grow(ctx, 5))
	}
	assert.ErrorIs(t, owner.Grow(ctx, 1), ErrTooLarge)
	assert.Equal(t, int64(40), owner.Held())
	assert.Equal(t, int64(95), b.InUse())
}

func TestWaitEndsWithTheContext(t *testing.T) {
	b := New(100, 40)
	fill(t, b, 55)
	owner, h := b.Open(), b.Open()
	require.NoError(t, owner.Grow(context.Background(), 40))
	require.NoError(t, h.Grow(context.Background(), 5))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, h.Grow(ctx, 10), context.DeadlineExceeded)
	assert.Equal(t, int64(5), h.Held(), "a wait that ended holds what it held before")
	waitForWaiters(t, b, 0)
	assert.Equal(t, int64(100), b.InUse())
}

func TestGrowBeyondTheLargestHold(t *testing.T) {
	b := New(100, 40)
	h := b.Open()
	require.NoError(t, h.Grow(context.Background(), 30))
	assert.ErrorIs(t, h.Grow(context.Background(), 11), ErrTooLarge)
	assert.Equal(t, int64(30), h.Held())
	h.Release()
	var zero Hold
	zero.Release() // nothing held: nothing to do
	assert.Equal(t, int64(100), New(100, 1000).Largest(), "a hold is at most the budget")
}

// TestManyReadersNeverExceedTheBudgetNorDeadlock: 32 readers grow holds
// step by step (as answers arrive) to random sizes up to the largest, hold
// them a moment and release them; the budget is never exceeded, and every
// reader finishes (a deadlock would end at the context's deadline).
func TestManyReadersNeverExceedTheBudgetNorDeadlock(t *testing.T) {
	const size, largest = 1000, 300
	b := New(size, largest)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				h := b.Open()
				want := rand.Int64N(largest) + 1
				for h.Held() < want {
					step := min(rand.Int64N(50)+1, want-h.Held())
					if !assert.NoError(t, h.Grow(ctx, step)) {
						return
					}
					assert.LessOrEqual(t, b.InUse(), int64(size))
				}
				if i%3 == 0 {
					h.ShrinkTo(want / 2)
				}
				h.Release()
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, b.InUse())
	waitForWaiters(t, b, 0)
}
