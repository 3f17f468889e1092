package main

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFleetLimiterFromTheEnvironment(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	lim, closeRedis, err := fleetLimiter("redis://127.0.0.1:1/0", "Growth", "client-id-1", log)
	require.NoError(t, err, "New does not touch Redis")
	defer closeRedis()
	keys := lim.Keys()
	assert.Len(t, keys, 3, "the slots (one list for the second, minute and day), the replicas' heartbeats, the epoch")
	for _, k := range keys {
		assert.NotContains(t, k, "client-id-1", "the client id is not written to Redis")
		assert.Regexp(t, `^\{deepvue:limit:[0-9a-f]{12}:\}(1d|replicas|epoch)$`, k)
	}
	other, closeOther, err := fleetLimiter("redis://127.0.0.1:1/0", "", "client-id-2", log)
	require.NoError(t, err)
	defer closeOther()
	assert.NotEqual(t, keys[0], other.Keys()[0], "one prefix per API key")
	assert.Len(t, other.Keys(), 3, "the default plan, Starter: the same three keys")

	_, _, err = fleetLimiter("redis://127.0.0.1:1/0", "platinum", "id", log)
	assert.ErrorContains(t, err, "DEEPVUE_PLAN")
	_, _, err = fleetLimiter("http://not-redis", "", "id", log)
	assert.ErrorContains(t, err, "REDIS_URL")
}
