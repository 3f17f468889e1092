package slots

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestReserveInOrder: each waiter is handed its own slot when it asks, one
// window apart per limit, and one past the deadline books nothing.
func TestReserveInOrder(t *testing.T) {
	b := New(2)
	ws := []Window{{Limit: 2, Per: time.Second}}
	var ats []time.Time
	for i := 0; i < 5; i++ {
		s, at := b.Reserve(t0, ws, time.Time{})
		require.NotNil(t, s)
		ats = append(ats, at)
	}
	assert.Equal(t, []time.Time{t0, t0, t0.Add(time.Second), t0.Add(time.Second), t0.Add(2 * time.Second)}, ats)
	s, at := b.Reserve(t0, ws, t0.Add(1500*time.Millisecond))
	assert.Nil(t, s, "its slot lies after the deadline: nothing is booked")
	assert.Equal(t, t0.Add(2*time.Second), at)
	assert.Equal(t, 5, b.Len())
}

// TestCancelMovesTheWaitersBehindUp: a waiter that gives its slot back lets
// every pending slot behind it move up; used slots never move.
func TestCancelMovesTheWaitersBehindUp(t *testing.T) {
	b := New(1)
	ws := []Window{{Limit: 1, Per: time.Second}}
	a, _ := b.Reserve(t0, ws, time.Time{})
	bb, _ := b.Reserve(t0, ws, time.Time{})
	c, _ := b.Reserve(t0, ws, time.Time{})
	d, _ := b.Reserve(t0.Add(5*time.Second), ws, time.Time{})
	assert.Equal(t, t0.Add(2*time.Second), b.At(c))
	assert.Equal(t, t0.Add(5*time.Second), b.At(d))
	ch := b.changed
	b.Cancel(bb)
	assert.Equal(t, t0, b.At(a))
	assert.Equal(t, t0.Add(time.Second), b.At(c), "c moves up into b's slot")
	assert.Equal(t, t0.Add(5*time.Second), b.At(d), "d never moves before it asked")
	select {
	case <-ch:
	default:
		t.Fatal("waiters are woken when slots move")
	}
	b.Cancel(bb) // twice: nothing happens
	assert.Equal(t, 3, b.Len())
}

// TestRecordedSlotsCount: slots granted elsewhere count against later
// reservations.
func TestRecordedSlotsCount(t *testing.T) {
	b := New(2)
	ws := []Window{{Limit: 2, Per: time.Second}}
	b.Record(t0.Add(100 * time.Millisecond))
	b.Record(t0) // out of order: kept in time order
	_, at := b.Reserve(t0.Add(200*time.Millisecond), ws, time.Time{})
	assert.Equal(t, t0.Add(time.Second), at)
}

// TestWaitGivesTheSlotBack: a waiter whose context ends gives its slot back;
// one whose slot moves past its deadline is refused with *Late.
func TestWaitGivesTheSlotBack(t *testing.T) {
	b := New(1)
	ws := []Window{{Limit: 1, Per: time.Hour}}
	_, _ = b.Reserve(time.Now(), ws, time.Time{})
	s, _ := b.Reserve(time.Now(), ws, time.Time{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, b.Wait(ctx, s, time.Now), context.Canceled)
	assert.Equal(t, 1, b.Len(), "the slot was given back")

	s, _ = b.Reserve(time.Now(), ws, time.Time{})
	dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
	defer dcancel()
	var late *Late
	require.True(t, errors.As(b.Wait(dctx, s, time.Now), &late))
	assert.Greater(t, late.Wait, 59*time.Minute)
	assert.Equal(t, 1, b.Len())
}

// TestTrimKeepsWhatTheWindowsNeed: the book keeps about the largest limit of
// used slots, not every slot ever handed out.
func TestTrimKeepsWhatTheWindowsNeed(t *testing.T) {
	b := New(3)
	ws := []Window{{Limit: 3, Per: time.Millisecond}}
	now := t0
	for i := 0; i < 1000; i++ {
		s, at := b.Reserve(now, ws, time.Time{})
		now = at
		require.NoError(t, b.Wait(context.Background(), s, func() time.Time { return now }))
	}
	assert.LessOrEqual(t, b.Len(), 3+64, "the keep, a quarter more (none for 3) and 64")
}

// TestLateUseCountsFromWhenUsed: a slot used late (its waiter woke late)
// counts from when it was used, and the pending slots behind it move later,
// so that the windows hold for the times requests really left.
func TestLateUseCountsFromWhenUsed(t *testing.T) {
	b := New(1)
	ws := []Window{{Limit: 1, Per: time.Second}}
	a, _ := b.Reserve(t0, ws, time.Time{})
	c, _ := b.Reserve(t0, ws, time.Time{})
	assert.Equal(t, t0.Add(time.Second), b.At(c))
	late := t0.Add(300 * time.Millisecond)
	require.NoError(t, b.Wait(context.Background(), a, func() time.Time { return late }))
	assert.Equal(t, late, b.At(a))
	assert.Equal(t, late.Add(time.Second), b.At(c), "a second after a was really used")
}
