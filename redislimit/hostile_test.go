package redislimit_test

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/redislimit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slotKeys returns the limiter's keys that hold slots (lists).
func slotKeys(t *testing.T, rdb *redis.Client, lim *redislimit.Limiter) []string {
	t.Helper()
	var out []string
	for _, k := range lim.Keys() {
		if rdb.Type(context.Background(), k).Val() == "list" {
			out = append(out, k)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestFarFutureSlotDoesNotStallTheFleet is issue 24's item 5, third point:
// anyone who can write to Redis adds a slot a year ahead (and one that is
// not a time at all). Before, every Wait was refused with a wait of 8,760 h
// until the keys expired, which a booking never let happen. The script
// accepts only slots within its horizon: it drops the others, and the
// next Wait is admitted at once.
func TestFarFutureSlotDoesNotStallTheFleet(t *testing.T) {
	rs := startRedis(t)
	rdb := rs.client(t)
	ctx := context.Background()
	lim, err := redislimit.New(rdb, deepvue.PlanGrowth, redislimit.WithKeyPrefix("far:"))
	require.NoError(t, err)
	require.NoError(t, lim.Wait(ctx))
	yearAhead := strconv.FormatInt(time.Now().Add(365*24*time.Hour).UnixMicro(), 10)
	for _, k := range slotKeys(t, rdb, lim) {
		require.NoError(t, rdb.RPush(ctx, k, yearAhead).Err())
		require.NoError(t, rdb.Persist(ctx, k).Err())
	}
	for i := 0; i < 3; i++ {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		err := lim.Wait(dctx)
		cancel()
		if d, ok := deepvue.RetryAfter(err); ok {
			t.Logf("refused, RetryAfter %v", d)
		}
		assert.NoError(t, err, "Wait %d", i)
	}
	for _, k := range slotKeys(t, rdb, lim) {
		assert.NotContains(t, rdb.LRange(ctx, k, 0, -1).Val(), yearAhead, "dropped")
	}

	// Not a time at all: dropped too, not an error of every Wait.
	for _, k := range slotKeys(t, rdb, lim) {
		require.NoError(t, rdb.RPush(ctx, k, "not-a-slot").Err())
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	assert.NoError(t, lim.Wait(dctx))
}

// TestFutureHeartbeatsAreNotCounted: 1,000 heartbeats scored a year ahead
// (they never age out) made a replica believe 1,001 replicas share the
// plan, so that while Redis was down it paced itself at a thousandth of it
// (Plan{PerSecond: 10}: one request every 110 s). Only heartbeats up to
// Redis's own time count.
func TestFutureHeartbeatsAreNotCounted(t *testing.T) {
	rs := startRedis(t)
	rdb := rs.client(t)
	ctx := context.Background()
	var logs bytes.Buffer
	lim, err := redislimit.New(rdb, deepvue.Plan{PerSecond: 10}, redislimit.WithKeyPrefix("beat:"),
		redislimit.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	require.NoError(t, err)
	var replicasKey string
	for _, k := range lim.Keys() {
		if strings.HasSuffix(k, "}replicas") {
			replicasKey = k
		}
	}
	require.NotEmpty(t, replicasKey)
	ahead := float64(time.Now().Add(365 * 24 * time.Hour).UnixMicro())
	for i := 0; i < 1000; i++ {
		require.NoError(t, rdb.ZAdd(ctx, replicasKey, redis.Z{Score: ahead, Member: "intruder" + strconv.Itoa(i)}).Err())
	}
	require.NoError(t, lim.Wait(ctx))
	rs.kill()
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	assert.NoError(t, lim.Wait(dctx), "paced at the whole plan: this replica is the only one")
	assert.Contains(t, logs.String(), `"replicas":1}`)
}
