package redislimit_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/redislimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOutageAfterAnIdleSpellPacesFromTheDrainedQueue is issue 24's item 5,
// first point, at a small scale: a queue of slots (two Waits at 1/s: the
// second's slot lay 1.1 s ahead when Redis answered), then an idle spell,
// then Redis dies. The queue the limiter last saw has drained, so pacing
// starts from the slots it knows (the next slot 1.1 s after the last one,
// inside the call's 1 s deadline). Before, it refused every call until now
// plus the old queue's depth, however long ago it saw it (the issue's
// case: 24 calls, 8 s idle, every call with a 4 s deadline refused).
func TestOutageAfterAnIdleSpellPacesFromTheDrainedQueue(t *testing.T) {
	t.Parallel() // its own redis-server; seconds of waiting, with margins of hundreds of milliseconds
	rs := startRedis(t)
	lim, err := redislimit.New(rs.client(t), deepvue.Plan{PerSecond: 1}, redislimit.WithKeyPrefix("idle:"))
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, lim.Wait(context.Background()))
	require.NoError(t, lim.Wait(context.Background())) // booked 1.1 s ahead, then waited for
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	rs.kill()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	assert.NoError(t, lim.Wait(ctx), "the queue drained 0.4 s ago: the next slot is 0.7 s away")
}

// TestRestartWithoutPersistenceKeepsThePlan is issue 24's item 5, second
// point: a plan of 10 per minute, 10 Waits, then Redis restarts without
// persistence (it forgets every slot). The limiter knows the slots it
// booked and gives them back to Redis: the next 10 Waits are refused
// within the minute. Before: all 10 admitted (20 in well under a second).
func TestRestartWithoutPersistenceKeepsThePlan(t *testing.T) {
	rs := startRedis(t)
	plan := deepvue.Plan{PerMinute: 10}
	lim, err := redislimit.New(rs.client(t), plan, redislimit.WithKeyPrefix("restart:"))
	require.NoError(t, err)
	admitted := 0
	wait := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if lim.Wait(ctx) == nil {
			admitted++
		}
	}
	start := time.Now()
	for i := 0; i < 10; i++ {
		wait()
	}
	require.Equal(t, 10, admitted)
	rs.kill()
	rs.start() // no persistence: an empty Redis
	for i := 0; i < 10; i++ {
		wait()
	}
	t.Logf("plan of %d per minute, Redis restarted without persistence: %d admitted in %v", plan.PerMinute, admitted,
		time.Since(start).Round(time.Millisecond))
	assert.Equal(t, plan.PerMinute, admitted)
}

// TestSlotsPacedDuringAnOutageAreGivenBackToRedis: Redis hangs (SIGSTOP: a
// partition; it keeps its data), a replica admits calls on its own, Redis
// answers again. The slots the replica took on its own are written back to
// Redis with its next Wait, so that another replica, which never saw them,
// counts them too: a plan of 4 per minute admits 4 in all, not 6.
func TestSlotsPacedDuringAnOutageAreGivenBackToRedis(t *testing.T) {
	t.Parallel() // its own redis-server; seconds of waiting, with margins of hundreds of milliseconds
	rs := startRedis(t)
	plan := deepvue.Plan{PerMinute: 4}
	opts := []redislimit.Option{redislimit.WithKeyPrefix("partition:"), redislimit.WithRedisTimeout(200 * time.Millisecond)}
	a, err := redislimit.New(rs.client(t), plan, opts...)
	require.NoError(t, err)
	b, err := redislimit.New(rs.client(t), plan, opts...)
	require.NoError(t, err)
	admitted := 0
	wait := func(lim *redislimit.Limiter) {
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		defer cancel()
		if lim.Wait(ctx) == nil {
			admitted++
		}
	}
	wait(a)
	wait(a)
	rs.mu.Lock()
	proc := rs.cmd.Process
	rs.mu.Unlock()
	require.NoError(t, proc.Signal(syscall.SIGSTOP))
	wait(a) // Redis does not answer: paced alone, admitted
	wait(a)
	require.NoError(t, proc.Signal(syscall.SIGCONT))
	require.Equal(t, 4, admitted)
	time.Sleep(redislimit.DefaultRetryEvery)
	wait(a) // Redis again: the two local slots go back to it; the minute is full
	wait(b)
	wait(b)
	t.Logf("plan of %d per minute, Redis hung for two calls: %d admitted", plan.PerMinute, admitted)
	assert.Equal(t, plan.PerMinute, admitted)
}

// TestRestartFromAnOlderSnapshotKeepsThePlan: Redis with persistence
// restarts from a snapshot taken before the latest slots were booked (a
// crash after the last RDB save, or AOF's lost second). The epoch is in the
// snapshot, so it is unchanged; the slots booked after it are gone. The
// limiter knows them and gives them back: a plan of 10 per minute, 5 Waits,
// a SAVE, 5 more Waits, a crash and a restart from the save: the next 10
// are refused. Before: 5 more admitted (15 in the minute).
func TestRestartFromAnOlderSnapshotKeepsThePlan(t *testing.T) {
	rs := startRedis(t)
	plan := deepvue.Plan{PerMinute: 10}
	rdb := rs.client(t)
	lim, err := redislimit.New(rdb, plan, redislimit.WithKeyPrefix("snapshot:"))
	require.NoError(t, err)
	admitted := 0
	wait := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if lim.Wait(ctx) == nil {
			admitted++
		}
	}
	for i := 0; i < 5; i++ {
		wait()
	}
	require.NoError(t, rdb.Save(context.Background()).Err()) // dump.rdb in the server's folder
	for i := 0; i < 5; i++ {
		wait()
	}
	require.Equal(t, 10, admitted)
	rs.kill()
	rs.start() // loads dump.rdb: 5 slots, the same epoch
	for i := 0; i < 10; i++ {
		wait()
	}
	t.Logf("plan of %d per minute, Redis restarted from an older snapshot: %d admitted", plan.PerMinute, admitted)
	assert.Equal(t, plan.PerMinute, admitted)
}

// TestReplicasOutliveARedisThatLostThem: two replicas share Plan{PerSecond:
// 4, PerMinute: 100}; Redis restarts empty, or from a snapshot taken before the second
// replica's first heartbeat (the heartbeats gone with the slots), one
// replica asks once (Redis counts it alone), then Redis dies. That replica
// still knows it shares the plan with another (whose heartbeat Redis lost,
// not the replica): it paces at its share, 2 per second, so of 4 quick calls
// only one more than the slot it just booked is admitted. Before: it took
// itself for the only one and admitted 3.
func TestReplicasOutliveARedisThatLostThem(t *testing.T) {
	for _, snapshot := range []bool{false, true} {
		t.Run(map[bool]string{false: "empty", true: "older snapshot"}[snapshot], func(t *testing.T) {
			t.Parallel() // its own redis-server; a second of waiting
			rs := startRedis(t)
			rdb := rs.client(t)
			plan := deepvue.Plan{PerSecond: 4, PerMinute: 100} // the minute still needs the slots the snapshot lacks
			opts := []redislimit.Option{redislimit.WithKeyPrefix("lost:"), redislimit.WithRedisTimeout(200 * time.Millisecond)}
			a, err := redislimit.New(rs.client(t), plan, opts...)
			require.NoError(t, err)
			b, err := redislimit.New(rs.client(t), plan, opts...)
			require.NoError(t, err)
			require.NoError(t, a.Wait(context.Background()))
			if snapshot {
				require.NoError(t, rdb.Save(context.Background()).Err()) // a's heartbeat and slot, not b's
			}
			require.NoError(t, b.Wait(context.Background()))
			require.NoError(t, a.Wait(context.Background())) // counts 2 replicas
			rs.kill()
			rs.start()                                                      // empty, or from the snapshot
			time.Sleep(redislimit.DefaultRetryEvery + 200*time.Millisecond) // a's next heartbeat is due
			require.NoError(t, a.Wait(context.Background()))                // Redis counts a alone
			rs.kill()
			admitted := 0
			for i := 0; i < 4; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond) // the first tries Redis for 200 ms
				if a.Wait(ctx) == nil {
					admitted++
				}
				cancel()
			}
			t.Logf("%+v, 2 replicas, Redis restarted then down: %d more admitted at once", plan, admitted)
			assert.Equal(t, 1, admitted, "the share of 2 replicas is 2 per second, one of which a just booked")
		})
	}
}

// TestDeadlineHoldsWhileRedisHangs: Redis hangs (SIGSTOP) and the Redis
// timeout is 2 s; a Wait whose context has 50 ms left returns with that
// context's error soon after its deadline, not after the Redis timeout (a
// *redis.Client's socket timeout does not follow the context: before, it
// returned after 2 s).
func TestDeadlineHoldsWhileRedisHangs(t *testing.T) {
	t.Parallel() // its own redis-server
	rs := startRedis(t)
	lim, err := redislimit.New(rs.client(t), deepvue.Plan{PerSecond: 5}, redislimit.WithKeyPrefix("hang:"),
		redislimit.WithRedisTimeout(2*time.Second))
	require.NoError(t, err)
	require.NoError(t, lim.Wait(context.Background())) // connected
	rs.mu.Lock()
	proc := rs.cmd.Process
	rs.mu.Unlock()
	require.NoError(t, proc.Signal(syscall.SIGSTOP))
	defer proc.Signal(syscall.SIGCONT)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	assert.ErrorIs(t, lim.Wait(ctx), context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second, "the Redis timeout is 2 s, the deadline 50 ms")
}
