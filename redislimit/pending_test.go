package redislimit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/deepvue-go/deepvue/redislimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hashKey is the SDK's hash key the replicas of a test fleet share.
var hashKey = []byte("test-fleet-hash-key-0123456789abcdef")

// pendingReplica is one backend instance with its own Redis client and
// PendingStore, all sharing one Redis and one hash key.
func pendingReplica(t *testing.T, rs *redisServer, fake *deepvuetest.Server) *deepvue.Client {
	t.Helper()
	store, err := redislimit.NewPendingStore(rs.client(t))
	require.NoError(t, err)
	c, err := deepvue.NewClient(fake.ClientID, fake.ClientSecret, deepvue.WithBaseURL(fake.URL),
		deepvue.WithPendingStore(store, hashKey))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// TestPendingOTPResumesAcrossReplicas: replica A sends the OTP; replica B,
// asked for one for the same number while it is pending, gets the fake's 409
// (with an empty reference_id) and, from Redis, A's reference; the customer
// verifies with it on B. Every key and value then in Redis is a keyed hash,
// the reference and two times, expiring with the OTP.
func TestPendingOTPResumesAcrossReplicas(t *testing.T) {
	rs := startRedis(t)
	fake := deepvuetest.NewServer(deepvuetest.WithPendingWindow(time.Minute))
	t.Cleanup(fake.Close)
	a, b := pendingReplica(t, rs, fake), pendingReplica(t, rs, fake)
	ctx := context.Background()

	sent, err := a.GenerateOTP(ctx, number, deepvue.ConsentYes, "KYC for loan account opening")
	require.NoError(t, err)
	_, err = b.GenerateOTP(ctx, "2341-2341-2346", deepvue.ConsentYes, "KYC")
	require.ErrorIs(t, err, deepvue.ErrVerificationPending)
	var ae *deepvue.APIError
	require.ErrorAs(t, err, &ae)
	assert.Empty(t, ae.ReferenceID, "the fake's 409 carries no reference")
	ref, ok := deepvue.PendingReference(err)
	require.True(t, ok, "B learns A's reference from Redis")
	assert.Equal(t, sent.ReferenceID, ref)
	wait, ok := deepvue.RetryAfter(err)
	require.True(t, ok)
	// Deepvue's 409 (and the fake's) carries no Retry-After: the wait is
	// what is left of A's OTP's validity, from Redis.
	assert.InDelta(t, deepvue.OTPValidity.Seconds(), wait.Seconds(), 10)
	_, err = b.VerifyOTP(ctx, deepvue.VerifyOTPRequest{ReferenceID: ref, OTP: deepvuetest.OTPValid,
		Consent: deepvue.ConsentYes, Purpose: "KYC", MobileNumber: mobile})
	require.NoError(t, err, "the customer enters the OTP they received")

	rdb := rs.client(t)
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	sensitive := []string{number, otp, mobile, deepvuetest.OTPValid, fake.ClientSecret, fake.ClientID, "KYC"}
	k := keys[0]
	assert.Regexp(t, `^`+redislimit.DefaultPendingPrefix+`[0-9a-f]{64}$`, k)
	v, err := rdb.Get(ctx, k).Result()
	require.NoError(t, err)
	assert.Regexp(t, `^1 [0-9]+ [0-9]+ `+sent.ReferenceID+`$`, v)
	for _, s := range sensitive {
		assert.NotContains(t, strings.TrimPrefix(k, redislimit.DefaultPendingPrefix), s)
		assert.NotContains(t, strings.TrimSuffix(v, sent.ReferenceID), s)
	}
	ttl, err := rdb.PTTL(ctx, k).Result()
	require.NoError(t, err)
	assert.InDelta(t, time.Until(sent.ExpiresAt).Seconds(), ttl.Seconds(), 5, "expires with the OTP")
}

// TestPendingStoreRefusesWhatIsNotAHash: Put and Get take only the SDK's
// keyed hashes, so that a number passed by mistake never reaches Redis; an
// expired OTP is not written; a missing key is no error.
func TestPendingStoreRefusesWhatIsNotAHash(t *testing.T) {
	rs := startRedis(t)
	store, err := redislimit.NewPendingStore(rs.client(t), redislimit.WithPendingPrefix("p:"))
	require.NoError(t, err)
	ctx := context.Background()
	p := deepvue.PendingOTP{ReferenceID: "29756208", SentAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)}
	for _, bad := range []string{number, strings.Repeat("A", 64), strings.Repeat("a", 63), ""} {
		assert.Error(t, store.Put(ctx, bad, p), bad)
		_, _, err := store.Get(ctx, bad)
		assert.Error(t, err, bad)
	}
	key := strings.Repeat("ab", 32)
	assert.Error(t, store.Put(ctx, key, deepvue.PendingOTP{ReferenceID: "has space", ExpiresAt: p.ExpiresAt}))
	require.NoError(t, store.Put(ctx, key, deepvue.PendingOTP{ReferenceID: "old", ExpiresAt: time.Now().Add(-time.Second)}))
	_, ok, err := store.Get(ctx, key)
	require.NoError(t, err)
	assert.False(t, ok, "an expired OTP is not written")
	require.NoError(t, store.Put(ctx, key, p))
	got, ok, err := store.Get(ctx, key)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, p.ReferenceID, got.ReferenceID)
	assert.Equal(t, p.ExpiresAt.UnixMilli(), got.ExpiresAt.UnixMilli())
	keys, err := rs.client(t).Keys(ctx, "*").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"p:" + key}, keys)

	_, err = redislimit.NewPendingStore(nil)
	assert.Error(t, err)
	_, err = redislimit.NewPendingStore(rs.client(t), redislimit.WithPendingPrefix(""))
	assert.Error(t, err)
}
