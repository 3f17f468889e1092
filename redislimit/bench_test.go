package redislimit_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/redislimit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// benchPlan has the three windows of a documented plan, with limits far
// above any rate a benchmark reaches: no Wait ever waits.
var benchPlan = deepvue.Plan{PerSecond: 1 << 30, PerMinute: 1 << 30, PerDay: 1 << 30}

// redisCommands returns how many commands Redis has run since its last
// CONFIG RESETSTAT, how many of them were script calls (EVAL, EVALSHA),
// and the microseconds Redis spent in those calls (the commands they ran
// included), from INFO commandstats.
func redisCommands(tb testing.TB, rdb *redis.Client) (all, scripts, scriptMicros int64) {
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	require.NoError(tb, err)
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
		require.NoError(tb, err)
		switch name = strings.TrimPrefix(name, "cmdstat_"); name {
		case "info", "config|resetstat", "hello", "client|setinfo", "ping":
			// The test's own, and a new connection's handshake.
		case "eval", "evalsha":
			scripts += n
			_, usec, _ := strings.Cut(rest, "usec=")
			u, err := strconv.ParseInt(usec[:strings.IndexByte(usec, ',')], 10, 64)
			require.NoError(tb, err)
			scriptMicros += u
		default:
			all += n
		}
	}
	return all, scripts, scriptMicros
}

// benchWait runs Wait b.N times on replicas limiters (each with its own
// Redis client, as processes would have), goroutines at once, and reports
// the Redis commands each Wait ran (inside its script), the time Redis
// spent on each Wait (its single thread is what bounds a fleet's Waits per
// second), and the Waits per second.
func benchWait(b *testing.B, replicas, goroutines int) {
	rs := startRedis(b)
	admin := rs.client(b)
	lims := make([]*redislimit.Limiter, replicas)
	for i := range lims {
		var err error
		lims[i], err = redislimit.New(rs.client(b), benchPlan, redislimit.WithKeyPrefix("bench:"))
		require.NoError(b, err)
		require.NoError(b, lims[i].Wait(context.Background())) // a connection each, before the clock starts
	}
	require.NoError(b, admin.ConfigResetStat(context.Background()).Err())
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(max(goroutines/max(1, runtimeProcs()), 1))
	b.ResetTimer()
	if goroutines == 1 {
		for i := 0; i < b.N; i++ {
			if err := lims[i%replicas].Wait(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.RunParallel(func(pb *testing.PB) {
			lim := lims[int(next.Add(1))%replicas]
			for pb.Next() {
				if err := lim.Wait(context.Background()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	all, scripts, micros := redisCommands(b, admin)
	b.ReportMetric(float64(all)/float64(b.N), "cmds/wait")
	b.ReportMetric(float64(micros)/float64(b.N), "redis-µs/wait")
	b.ReportMetric(float64(scripts)/float64(b.N), "scripts/wait")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "waits/s")
}

// BenchmarkWait: one replica, one goroutine.
func BenchmarkWait(b *testing.B) { benchWait(b, 1, 1) }

// BenchmarkWait64: one replica, 64 goroutines (SetParallelism rounds to a
// multiple of GOMAXPROCS).
func BenchmarkWait64(b *testing.B) { benchWait(b, 1, 64) }

// BenchmarkWaitFleet64: four replicas on one Redis, 64 goroutines: the
// Waits per second one Redis serves.
func BenchmarkWaitFleet64(b *testing.B) { benchWait(b, 4, 64) }

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// TestCommandsPerWait is issue 26's bound: a granted Wait runs at most 15
// Redis commands inside its script (before: 21), its heartbeat and the
// fleet's latest slots included; between heartbeats (at most one a second)
// a Wait of a three-window plan runs 8: TIME, GET (the epoch), LINDEX (the
// last slot), one LINDEX per window, RPUSH and ZCOUNT (the replicas).
// BENCHMARKS.md gives the mean under load.
func TestCommandsPerWait(t *testing.T) {
	rs := startRedis(t)
	admin := rs.client(t)
	ctx := context.Background()
	a, err := redislimit.New(rs.client(t), deepvue.PlanEnterprise, redislimit.WithKeyPrefix("cmds:"))
	require.NoError(t, err)
	b, err := redislimit.New(rs.client(t), deepvue.PlanEnterprise, redislimit.WithKeyPrefix("cmds:"))
	require.NoError(t, err)
	require.NoError(t, b.Wait(ctx))
	count := func(name string) int64 {
		require.NoError(t, admin.ConfigResetStat(ctx).Err())
		require.NoError(t, a.Wait(ctx))
		all, scripts, _ := redisCommands(t, admin)
		require.Equal(t, int64(1), scripts, "one round trip")
		t.Logf("%s: %d commands", name, all)
		return all
	}
	// a's first Wait: its heartbeat, and b's slot, which it had not seen.
	assert.LessOrEqual(t, count("the first Wait (heartbeat, the fleet's latest slots)"), int64(15))
	n := count("the next Wait")
	assert.LessOrEqual(t, n, int64(15))
	if n != 8 {
		t.Logf("the next Wait came a second later (a loaded machine): it sent a heartbeat")
	}
}
