package redislimit

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/redis/go-redis/v9"
)

// DefaultPendingPrefix is the prefix of a PendingStore's keys when
// WithPendingPrefix is not given.
const DefaultPendingPrefix = "deepvue:pending:"

// PendingStore is a deepvue.PendingStore in Redis, so that every replica of
// a service knows the OTPs the fleet sent: a GenerateOTP answered 409
// VERIFICATION_PENDING on one replica gets the reference of the OTP another
// replica sent (deepvue.PendingReference), and the time it has left.
//
//	store, err := redislimit.NewPendingStore(rdb)
//	if err != nil {
//		return err
//	}
//	client, err := deepvue.NewClient(id, secret, deepvue.WithPendingStore(store, hashKey))
//
// hashKey is the secret key of the SDK's hashes (at least
// deepvue.MinPendingKeyBytes random bytes), the same in every replica.
//
// Each OTP is one Redis string, written with SET and an expiry at the OTP's
// own (so Redis drops it when the OTP stops being valid) and read with GET.
// The key is the prefix and the SDK's keyed hash of the client id, tenant and the
// number (64 hex digits: Put refuses any other key, so that no number can
// reach Redis through it); the value is the reference id and two times
// ("1 <sent, Unix ms> <expires, Unix ms> <reference id>"). Nothing else
// about the customer, and not the API secret, is ever written to Redis.
// The keys hold no hash tag: each is read and written alone, so they spread
// over a Redis Cluster.
type PendingStore struct {
	rdb    redis.UniversalClient
	prefix string
}

// PendingOption configures NewPendingStore.
type PendingOption func(*PendingStore) error

// WithPendingPrefix sets the prefix of the store's keys (default
// DefaultPendingPrefix). Replicas that share an API key and a hash key must
// share a prefix. It must not be empty.
func WithPendingPrefix(prefix string) PendingOption {
	return func(s *PendingStore) error {
		if prefix == "" {
			return errors.New("redislimit: the pending key prefix must not be empty")
		}
		s.prefix = prefix
		return nil
	}
}

// NewPendingStore returns a PendingStore in rdb.
func NewPendingStore(rdb redis.UniversalClient, opts ...PendingOption) (*PendingStore, error) {
	if rdb == nil {
		return nil, errors.New("redislimit: the Redis client must not be nil")
	}
	s := &PendingStore{rdb: rdb, prefix: DefaultPendingPrefix}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// errNotAHash is Put's and Get's answer to a key that is not the SDK's hash.
var errNotAHash = errors.New("redislimit: a pending key must be 64 lowercase hex digits (the SDK's keyed hash)")

// isHash reports whether key is 64 lowercase hex digits.
func isHash(key string) bool {
	if len(key) != 64 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// opaqueRef reports whether ref can be stored: 1 to 64 printable ASCII
// bytes without a space (the SDK stores only reference ids it checked).
func opaqueRef(ref string) bool {
	if ref == "" || len(ref) > 64 {
		return false
	}
	for i := 0; i < len(ref); i++ {
		if ref[i] <= ' ' || ref[i] > '~' {
			return false
		}
	}
	return true
}

// Put records p under key until p.ExpiresAt (an OTP already expired is not
// written).
func (s *PendingStore) Put(ctx context.Context, key string, p deepvue.PendingOTP) error {
	if !isHash(key) {
		return errNotAHash
	}
	if !opaqueRef(p.ReferenceID) {
		return errors.New("redislimit: a pending reference id must be 1 to 64 printable ASCII bytes")
	}
	ttl := time.Until(p.ExpiresAt)
	if ttl < time.Millisecond {
		return nil
	}
	v := "1 " + strconv.FormatInt(p.SentAt.UnixMilli(), 10) + " " + strconv.FormatInt(p.ExpiresAt.UnixMilli(), 10) +
		" " + p.ReferenceID
	return s.rdb.Set(ctx, s.prefix+key, v, ttl).Err()
}

// Get returns what is recorded under key, if it has not expired.
func (s *PendingStore) Get(ctx context.Context, key string) (deepvue.PendingOTP, bool, error) {
	if !isHash(key) {
		return deepvue.PendingOTP{}, false, errNotAHash
	}
	v, err := s.rdb.Get(ctx, s.prefix+key).Result()
	if errors.Is(err, redis.Nil) {
		return deepvue.PendingOTP{}, false, nil
	}
	if err != nil {
		return deepvue.PendingOTP{}, false, err
	}
	f := strings.SplitN(v, " ", 4)
	if len(f) != 4 || f[0] != "1" || !opaqueRef(f[3]) {
		return deepvue.PendingOTP{}, false, errors.New("redislimit: a pending value not written by this store")
	}
	sent, err1 := strconv.ParseInt(f[1], 10, 64)
	exp, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return deepvue.PendingOTP{}, false, errors.New("redislimit: a pending value not written by this store")
	}
	p := deepvue.PendingOTP{ReferenceID: f[3], SentAt: time.UnixMilli(sent), ExpiresAt: time.UnixMilli(exp)}
	if !p.ExpiresAt.After(time.Now()) {
		return deepvue.PendingOTP{}, false, nil
	}
	return p, true, nil
}
