package deepvue

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBudgetGrantsInOrder(t *testing.T) {
	b := newMemBudget(100)
	require.NoError(t, b.acquire(context.Background(), 100))
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- b.acquire(context.Background(), 80) }()
	waitForWaiters(t, b, 1)
	go func() { second <- b.acquire(context.Background(), 30) }()
	waitForWaiters(t, b, 2)

	b.release(30) // 30 free: the second fits, but must not jump the queue
	assert.Equal(t, int64(70), b.inUse())
	waitForWaiters(t, b, 2)
	b.release(70) // 100 free: the first gets 80; the second (30) does not fit beside it
	require.NoError(t, <-first)
	waitForWaiters(t, b, 1)
	assert.Equal(t, int64(80), b.inUse())
	b.release(80)
	require.NoError(t, <-second)
	assert.Equal(t, int64(30), b.inUse())
	waitForWaiters(t, b, 0)
}

func TestBudgetWaitEndsWithContext(t *testing.T) {
	b := newMemBudget(100)
	require.NoError(t, b.acquire(context.Background(), 60))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.acquire(ctx, 50)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, int64(60), b.inUse(), "a waiter that gave up holds nothing")

	// A waiter that gave up at the head of the queue lets the next one in.
	blocked := make(chan error, 1)
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { blocked <- b.acquire(ctx2, 90) }()
	waitForWaiters(t, b, 1)
	small := make(chan error, 1)
	go func() { small <- b.acquire(context.Background(), 30) }()
	waitForWaiters(t, b, 2)
	cancel2()
	assert.ErrorIs(t, <-blocked, context.Canceled)
	assert.NoError(t, <-small)
	assert.Equal(t, int64(90), b.inUse())
}

func TestBudgetNeverExceedsItsSize(t *testing.T) {
	const size = 1000
	b := newMemBudget(size)
	var held, peak atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				n := rand.Int64N(size) + 1
				require.NoError(t, b.acquire(context.Background(), n))
				h := held.Add(n)
				for p := peak.Load(); h > p && !peak.CompareAndSwap(p, h); p = peak.Load() {
				}
				held.Add(-n)
				b.release(n)
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int64(size))
	assert.Zero(t, b.inUse())
}

func waitForWaiters(t *testing.T, b *memBudget, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.waiters.Len() == n
	}, 5*time.Second, time.Millisecond)
}
