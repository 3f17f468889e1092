package deepvue

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Pending OTPs. While an OTP is pending for a number, Deepvue answers a new
// generate-otp for it with 409 VERIFICATION_PENDING, whose reference_id may
// be empty: the customer can only enter the OTP they received if the service
// still knows its reference. So the SDK remembers, for each number a Client
// sent an OTP to, the reference id and the OTP's expiry in a PendingStore,
// under a keyed hash of the Client's id, its tenant (WithTenant) and the
// number, until the OTP expires; a 409 then carries the pending reference
// (PendingReference) and the time it has left (RetryAfter).

// PendingOTP is an OTP that was sent and may still be valid.
type PendingOTP struct {
	// ReferenceID is the OTP's reference id, for VerifyOTP.
	ReferenceID string
	// SentAt is when Deepvue answered (OTPResponse.Timestamp).
	SentAt time.Time
	// ExpiresAt is when the OTP stops being valid (OTPResponse.ExpiresAt,
	// SentAt + OTPValidity).
	ExpiresAt time.Time
}

// PendingStore keeps the PendingOTP of each number a Client sent an OTP to,
// until it expires. The key is a keyed hash (HMAC-SHA256, 64 hex digits) of
// the Client's id, its tenant and the Aadhaar number: a store never sees a number, and
// holds nothing about the customer but that hash, an opaque reference id
// and two times. (The process's default store, which only the SDK reads,
// is keyed by a 128-bit hash/maphash of the same under random seeds of the
// process: as private, and cheaper.) Clients share the in-memory store of their process unless
// given another with WithPendingStore; the redislimit module has one in
// Redis for a fleet. Implementations must be safe for concurrent use and
// honour ctx.
type PendingStore interface {
	// Put records p under key until p.ExpiresAt, replacing what was there.
	Put(ctx context.Context, key string, p PendingOTP) error
	// Get returns what is recorded under key, if it has not expired; ok is
	// false (and err nil) when there is nothing.
	Get(ctx context.Context, key string) (p PendingOTP, ok bool, err error)
}

// DefaultPendingEntries bounds the in-memory PendingStore Clients share by
// default: more than the OTPs valid at once for the largest plan
// (Enterprise, 1,000 calls a minute for OTPValidity, 10 minutes: 10,000).
// An entry holds a 64-byte key, the reference id and two times: about 200
// bytes, so at most about 3 MiB.
const DefaultPendingEntries = 16384

// pendingStoreTimeout bounds a PendingStore's Put and Get within a call.
const pendingStoreTimeout = 2 * time.Second

// MemoryPendingStore is a PendingStore in memory, bounded: when full, Put
// drops the expired entries, then the oldest. It is the default of every
// Client made without WithPendingStore (one per process); a fleet of
// replicas needs a shared one (redislimit.NewPendingStore).
type MemoryPendingStore struct {
	max int
	now func() time.Time // tests; nil means time.Now

	mu    sync.Mutex
	m     map[string]memPending
	order []memQueued // keys in the order they were put; may hold replaced ones
	head  int
	seq   uint64
}

type memPending struct {
	p   PendingOTP
	seq uint64
}

type memQueued struct {
	key string
	seq uint64
}

// NewMemoryPendingStore returns a MemoryPendingStore of at most maxEntries
// entries (DefaultPendingEntries if maxEntries <= 0).
func NewMemoryPendingStore(maxEntries int) *MemoryPendingStore {
	if maxEntries <= 0 {
		maxEntries = DefaultPendingEntries
	}
	return &MemoryPendingStore{max: maxEntries, m: map[string]memPending{}}
}

func (s *MemoryPendingStore) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// Put records p under key until p.ExpiresAt.
func (s *MemoryPendingStore) Put(_ context.Context, key string, p PendingOTP) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	if !p.ExpiresAt.After(now) {
		return nil
	}
	s.seq++
	s.m[key] = memPending{p: p, seq: s.seq}
	s.order = append(s.order, memQueued{key: key, seq: s.seq})
	// Drop from the front what was replaced or expired, and the oldest while
	// over the bound.
	for s.head < len(s.order) {
		q := s.order[s.head]
		e, ok := s.m[q.key]
		switch {
		case !ok || e.seq != q.seq: // replaced, or dropped already
		case len(s.m) > s.max || !e.p.ExpiresAt.After(now):
			delete(s.m, q.key)
		default:
			s.compact()
			return nil
		}
		s.order[s.head] = memQueued{}
		s.head++
	}
	s.compact()
	return nil
}

// compact moves the queue to the front of its array once half of it is
// spent, so that its memory stays bounded by twice the entries.
func (s *MemoryPendingStore) compact() {
	if s.head > len(s.order)/2 {
		n := copy(s.order, s.order[s.head:])
		clear(s.order[n:])
		s.order, s.head = s.order[:n], 0
	}
	if len(s.order) > 2*s.max+16 {
		// Many replaced keys: keep only the live ones, in order.
		live := s.order[:0]
		for _, q := range s.order {
			if e, ok := s.m[q.key]; ok && e.seq == q.seq {
				live = append(live, q)
			}
		}
		clear(s.order[len(live):])
		s.order = live
	}
}

// Get returns what is recorded under key, if it has not expired.
func (s *MemoryPendingStore) Get(_ context.Context, key string) (PendingOTP, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || !e.p.ExpiresAt.After(s.clock()) {
		return PendingOTP{}, false, nil
	}
	return e.p, true, nil
}

// Len returns the number of entries held (expired ones included, until a
// Put drops them).
func (s *MemoryPendingStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// defaultPending is the store and hash seeds of the Clients made without
// WithPendingStore: one per process, the seeds random. Its keys never leave
// the process and are never compared with another's, so they need not be
// HMAC-SHA256, which a fleet's replicas share: a 128-bit hash/maphash under
// two random seeds costs about 300 instructions instead of two SHA-256
// compressions (about 5,000 where SHA-NI is not used).
var defaultPending = sync.OnceValues(func() (*pendingConfig, error) {
	return &pendingConfig{store: NewMemoryPendingStore(DefaultPendingEntries), private: true,
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}, nil
})

// pendingConfig is a Client's PendingStore and the key of its hashes.
type pendingConfig struct {
	store   PendingStore
	hash    *keyedHash      // WithPendingStore's: HMAC-SHA256 under the caller's key
	private bool            // the process's default store: keys from seeds
	seeds   [2]maphash.Seed // private's
}

// MinPendingKeyBytes is the shortest hash key WithPendingStore accepts.
const MinPendingKeyBytes = 32

// WithPendingStore makes the Client remember the OTPs it sends in store,
// under HMAC-SHA256 hashes keyed with key, instead of in the process's
// in-memory store. For a fleet, give every replica the same store (e.g.
// redislimit.NewPendingStore) and the same key: at least
// MinPendingKeyBytes random bytes, kept as a secret (with the key, anyone
// holding the hashes could test candidate numbers against them). The key
// is copied. WithPendingStore(nil, nil) makes the Client remember nothing:
// a 409 then carries a pending reference only when Deepvue's answer has one.
func WithPendingStore(store PendingStore, key []byte) Option {
	return func(s *settings) error {
		if store == nil {
			s.pending, s.noPending = nil, true
			return nil
		}
		if len(key) < MinPendingKeyBytes {
			return invalid(FieldPendingStore, "needs a hash key of at least "+strconv.Itoa(MinPendingKeyBytes)+
				" random bytes, the same in every replica")
		}
		s.pending, s.noPending = &pendingConfig{store: store, hash: newKeyedHash(key)}, false
		return nil
	}
}

// key returns the store key of a number for the Client with clientID and
// tenant (WithTenant): the hex HMAC of them, or in the process's default
// store their 128-bit keyed hash in hex. Tenants that share a client id
// never see each other's pending OTPs; without a tenant the key is what it
// was before tenants (the number is always 12 digits, so the two forms never
// meet).
func (p *pendingConfig) key(clientID, tenant string, number []byte) string {
	var buf [600]byte
	b := append(buf[:0], "pending\x00"...)
	b = append(b, clientID...)
	b = append(b, 0)
	b = append(b, number...)
	if tenant != "" {
		b = append(b, 0)
		b = append(b, tenant...)
	}
	if p.private {
		var sum [16]byte
		binary.BigEndian.PutUint64(sum[:8], maphash.Bytes(p.seeds[0], b))
		binary.BigEndian.PutUint64(sum[8:], maphash.Bytes(p.seeds[1], b))
		var h [2 * len(sum)]byte
		hex.Encode(h[:], sum[:])
		return string(h[:])
	}
	sum := p.hash.sum(b)
	var h [2 * len(sum)]byte
	hex.Encode(h[:], sum[:])
	return string(h[:])
}

// rememberPending records an OTP the call sent (generate-otp's success).
// A store that fails costs the call nothing: a Warn record says so.
func (c *Client) rememberPending(ctx context.Context, cl *call, number []byte, p PendingOTP) {
	if c.pending == nil {
		return
	}
	wctx, cancel := storeContext(ctx, c.pending.store)
	defer cancel()
	if err := c.pending.store.Put(wctx, c.pending.key(cl.creds.clientID, c.tenant, number), p); err != nil {
		c.warnPending(ctx, cl, "deepvue: the pending OTP was not stored", err)
	}
}

// recallPending is what a 409 VERIFICATION_PENDING answer gets: the OTP
// the store remembers for the number, on the error (see PendingReference).
// Any other error is returned as it is.
func (c *Client) recallPending(ctx context.Context, cl *call, number []byte, err error) error {
	ae, ok := err.(*APIError)
	if !ok || c.pending == nil || ae.Unwrap() != ErrVerificationPending {
		return err
	}
	rctx, cancel := storeContext(ctx, c.pending.store)
	defer cancel()
	p, found, serr := c.pending.store.Get(rctx, c.pending.key(cl.creds.clientID, c.tenant, number))
	if serr != nil {
		c.warnPending(ctx, cl, "deepvue: the pending OTP could not be read", serr)
		return err
	}
	if !found || !p.ExpiresAt.After(time.Now()) || !validReferenceID(p.ReferenceID) || cl.sec.ScrubID(p.ReferenceID) != p.ReferenceID {
		return err
	}
	if ae.ReferenceID != "" && ae.ReferenceID != p.ReferenceID {
		// Deepvue names another pending OTP (sent since by a process that
		// does not share the store, the remembered one verified): its
		// word, not the stale memory.
		return err
	}
	return &pendingError{APIError: ae, p: p}
}

// storeContext is the context of a store's Put or Get within a call: the
// call's values, not its cancel (an OTP sent must be remembered even if the
// caller gave up), bounded by pendingStoreTimeout. The in-memory store
// neither waits nor reads it: it gets ctx as it is, for free.
func storeContext(ctx context.Context, store PendingStore) (context.Context, context.CancelFunc) {
	if _, ok := store.(*MemoryPendingStore); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), pendingStoreTimeout)
}

func (c *Client) warnPending(ctx context.Context, cl *call, msg string, err error) {
	if c.logger != nil {
		c.logger.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("operation", cl.op),
			slog.String("error", newSafeError(err, &cl.sec).Error()))
	}
}

// pendingError is a 409 VERIFICATION_PENDING answer for a number whose
// pending OTP the store remembers. Its text is the answer's; it unwraps to
// the *APIError, so it matches what the answer matches.
type pendingError struct {
	*APIError
	p PendingOTP
}

func (e *pendingError) Error() string { return e.APIError.Error() }
func (e *pendingError) Unwrap() error { return e.APIError }

// RetryAfter is the wait the answer's Retry-After header asked for, if it
// did, else the time the pending OTP has left.
func (e *pendingError) RetryAfter() time.Duration {
	if e.APIError.RetryAfter > 0 {
		return min(e.APIError.RetryAfter, MaxRetryAfter)
	}
	return min(time.Until(e.p.ExpiresAt), MaxRetryAfter)
}

// GoString keeps %#v to the answer's text and the reference.
func (e *pendingError) GoString() string {
	return "deepvue.pendingError{" + strconv.Quote(e.Error()) + ", reference_id: " + strconv.Quote(e.p.ReferenceID) + "}"
}

// PendingReference returns the reference id of the OTP that is pending when
// err is GenerateOTP's 409 VERIFICATION_PENDING: the one Deepvue's answer
// carries, or else the one the Client remembers sending for that number
// (see PendingStore). The customer can enter the OTP they received
// with it (VerifyOTP), and RetryAfter(err) says how long the OTP has left
// (or what the answer's Retry-After header asked). It reports false when
// err is not that answer or no reference is known: the OTP was sent by
// another process, more than OTPValidity ago, or the store was not reached.
func PendingReference(err error) (string, bool) {
	var pe *pendingError
	if errors.As(err, &pe) && pe != nil {
		return pe.p.ReferenceID, true
	}
	var ae *APIError
	if errors.As(err, &ae) && ae != nil && ae.Unwrap() == ErrVerificationPending && ae.ReferenceID != "" {
		return ae.ReferenceID, true
	}
	return "", false
}
