package deepvue

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// otpNow is a generate-otp success without a timestamp: the SDK dates it
// now, so that the OTP is still valid.
const otpNow = `{"code":200,"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84","sub_code":"SUCCESS","message":"OTP sent","reference_id":"29756208"}`

// pending409 is Deepvue's 409, with the empty reference_id it may carry.
const pending409 = `{"code":409,"transaction_id":"tx-409","sub_code":"VERIFICATION_PENDING","message":"Otp already generated for this aadhaar, please try after some time.","reference_id":""}`

// recordingStore is a PendingStore that records the keys and values it is
// given, and can fail.
type recordingStore struct {
	mu   sync.Mutex
	mem  *MemoryPendingStore
	keys []string
	fail error
}

func (s *recordingStore) Put(ctx context.Context, key string, p PendingOTP) error {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return fail
	}
	return s.mem.Put(ctx, key, p)
}

func (s *recordingStore) Get(ctx context.Context, key string) (PendingOTP, bool, error) {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return PendingOTP{}, false, fail
	}
	return s.mem.Get(ctx, key)
}

var testPendingKey = []byte("0123456789abcdef0123456789abcdef")

// TestPendingReferenceAfter409: a number the Client sent an OTP to gets a
// 409 with an empty reference_id; the error carries the reference sent
// (PendingReference) and the time the OTP has left (RetryAfter), and still
// matches what the answer matches.
func TestPendingReferenceAfter409(t *testing.T) {
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, genURL, httpmock.ResponderFromMultipleResponses([]*http.Response{
		jsonResponse(200, otpNow), jsonResponse(409, pending409),
	}))
	sent, err := c.GenerateOTP(context.Background(), "2341 2341 2346", ConsentYes, testPurpose)
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, "another purpose")
	require.ErrorIs(t, err, ErrVerificationPending)
	ref, ok := PendingReference(err)
	require.True(t, ok)
	assert.Equal(t, sent.ReferenceID, ref)
	wait, ok := RetryAfter(err)
	require.True(t, ok)
	assert.InDelta(t, time.Until(sent.ExpiresAt).Seconds(), wait.Seconds(), 5, "the time the OTP has left")
	assert.Greater(t, wait, OTPValidity-time.Minute)
	assert.Equal(t, OTPPending, OTPStateOf(err))
	assert.Equal(t, "ErrVerificationPending", Outcome(err))
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 409, ae.StatusCode)
	assert.Equal(t, ae.Error(), err.Error(), "the answer's text")
	assert.Equal(t, []error{ErrVerificationPending}, matched(err))
	assertNoLeak(t, err)
}

func jsonResponse(status int, body string) *http.Response {
	r := httpmock.NewStringResponse(status, body)
	r.Header.Set("Content-Type", "application/json")
	return r
}

// TestPendingRetryAfterHeaderWins: an answer's own Retry-After is what
// RetryAfter gives (Deepvue's word on when a new OTP may be asked for).
func TestPendingRetryAfterHeaderWins(t *testing.T) {
	c, mt := mockClient(t)
	withHeader := jsonResponse(409, pending409)
	withHeader.Header.Set("Retry-After", "40")
	mt.RegisterResponder(http.MethodPost, genURL, httpmock.ResponderFromMultipleResponses([]*http.Response{
		jsonResponse(200, otpNow), withHeader,
	}))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	_, ok := PendingReference(err)
	require.True(t, ok)
	wait, ok := RetryAfter(err)
	require.True(t, ok)
	assert.Equal(t, 40*time.Second, wait)
}

// TestPendingAcrossClientsOfAProcess: Clients made per request share the
// process's store, so a Client made after the OTP was sent finds it; a
// Client with another client id does not (tenants never see each other's
// references); WithPendingStore(nil, nil) remembers nothing, and a 409 then
// carries a reference only when Deepvue's answer has one.
func TestPendingAcrossClientsOfAProcess(t *testing.T) {
	srv, _ := fakeServer(t, deepvuetest.WithPendingWindow(time.Minute))
	number := deepvuetest.NewNumber()
	newClient := func(id string, opts ...Option) *Client {
		c, err := NewClient(id, srv.ClientSecret, append([]Option{WithBaseURL(srv.URL)}, opts...)...)
		require.NoError(t, err)
		return c
	}
	sent, err := newClient(srv.ClientID).GenerateOTP(context.Background(), number, ConsentYes, testPurpose)
	require.NoError(t, err)

	_, err = newClient(srv.ClientID).GenerateOTP(context.Background(), number, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrVerificationPending)
	ref, ok := PendingReference(err)
	require.True(t, ok, "a new Client of the same process")
	assert.Equal(t, sent.ReferenceID, ref)

	_, err = newClient(srv.ClientID, WithPendingStore(nil, nil)).GenerateOTP(context.Background(), number, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrVerificationPending)
	_, ok = PendingReference(err)
	assert.False(t, ok, "nothing remembered, and the fake's 409 carries no reference")

	// Another client id: the fake refuses it (401), so ask the store the
	// way the Client would.
	d, err := defaultPending()
	require.NoError(t, err)
	n, _ := compactForTest(number)
	_, found, err := d.store.Get(context.Background(), d.key("another-client", "", n))
	require.NoError(t, err)
	assert.False(t, found)
	_, found, err = d.store.Get(context.Background(), d.key(srv.ClientID, "", n))
	require.NoError(t, err)
	assert.True(t, found)

	var ae *APIError = &APIError{StatusCode: 409, SubCode: SubCodeVerificationPending, ReferenceID: "29756208"}
	ref, ok = PendingReference(ae)
	assert.True(t, ok, "Deepvue's own reference_id")
	assert.Equal(t, "29756208", ref)
	_, ok = PendingReference(&APIError{StatusCode: 400, SubCode: SubCodeMobileNotLinked, ReferenceID: "1"})
	assert.False(t, ok, "not a 409")
	_, ok = PendingReference(nil)
	assert.False(t, ok)
}

func compactForTest(number string) ([]byte, bool) {
	var b []byte
	for i := 0; i < len(number); i++ {
		if number[i] >= '0' && number[i] <= '9' {
			b = append(b, number[i])
		}
	}
	return b, len(b) == 12
}

// TestPendingStoreSeesOnlyKeyedHashes: what a store is given is a 64-hex
// key that holds no number and depends on the hash key (the same in two
// replicas that share it, different with another key), a reference id and
// two times.
func TestPendingStoreSeesOnlyKeyedHashes(t *testing.T) {
	run := func(key []byte) string {
		store := &recordingStore{mem: NewMemoryPendingStore(0)}
		c, mt := mockClient(t, WithPendingStore(store, key))
		mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, otpNow))
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		require.NoError(t, err)
		require.Len(t, store.keys, 1)
		k := store.keys[0]
		assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{64}$`), k)
		for _, s := range append(sensitive, "2346", testID) {
			assert.NotContains(t, k, s)
		}
		p, ok, err := store.mem.Get(context.Background(), k)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, "29756208", p.ReferenceID)
		assert.WithinDuration(t, p.SentAt.Add(OTPValidity), p.ExpiresAt, 0)
		return k
	}
	a, b := run(testPendingKey), run(testPendingKey)
	assert.Equal(t, a, b, "replicas sharing the key share the hashes")
	assert.NotEqual(t, a, run([]byte(strings.Repeat("k", 32))))

	_, err := NewClient(testID, testSecret, WithPendingStore(NewMemoryPendingStore(0), []byte("short")))
	var ve *ValidationError
	require.True(t, errors.As(err, &ve))
	assert.Equal(t, FieldPendingStore, ve.Field)
}

// TestPendingStoreFailures: a store that fails costs the call nothing: the
// success stands and a Warn says the OTP was not stored (without the
// store's text unscrubbed); a 409 comes without a pending reference.
func TestPendingStoreFailures(t *testing.T) {
	store := &recordingStore{mem: NewMemoryPendingStore(0), fail: errors.New("redis down near " + validNumber)}
	var logs logBuffer
	c, mt := mockClient(t, WithPendingStore(store, testPendingKey), WithLogger(logs.logger()))
	mt.RegisterResponder(http.MethodPost, genURL, httpmock.ResponderFromMultipleResponses([]*http.Response{
		jsonResponse(200, otpNow), jsonResponse(409, pending409),
	}))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "the pending OTP was not stored")
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrVerificationPending)
	_, ok := PendingReference(err)
	assert.False(t, ok)
	assert.Contains(t, logs.String(), "the pending OTP could not be read")
	for _, s := range sensitive {
		assert.NotContains(t, logs.String(), s)
	}
}

// TestMemoryPendingStoreExpiresAndIsBounded: an entry is gone once its OTP
// expired; the store holds at most its bound (the oldest go first), and its
// queue stays bounded when one key is put again and again.
func TestMemoryPendingStoreExpiresAndIsBounded(t *testing.T) {
	now := time.Now()
	s := NewMemoryPendingStore(3)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	put := func(key string, ttl time.Duration) {
		require.NoError(t, s.Put(ctx, key, PendingOTP{ReferenceID: "ref-" + key, SentAt: now, ExpiresAt: now.Add(ttl)}))
	}
	put("a", time.Minute)
	put("b", 2*time.Minute)
	_, ok, _ := s.Get(ctx, "a")
	assert.True(t, ok)
	now = now.Add(90 * time.Second)
	_, ok, _ = s.Get(ctx, "a")
	assert.False(t, ok, "expired")
	p, ok, _ := s.Get(ctx, "b")
	assert.True(t, ok)
	assert.Equal(t, "ref-b", p.ReferenceID)

	for _, k := range []string{"c", "d", "e", "f"} {
		put(k, 10*time.Minute)
	}
	assert.LessOrEqual(t, s.Len(), 3)
	_, ok, _ = s.Get(ctx, "c")
	assert.False(t, ok, "the oldest went first")
	_, ok, _ = s.Get(ctx, "f")
	assert.True(t, ok)

	for i := 0; i < 1000; i++ {
		put("f", 10*time.Minute)
	}
	assert.LessOrEqual(t, len(s.order)-s.head, 2*3+16)
	assert.LessOrEqual(t, s.Len(), 3)
	require.NoError(t, s.Put(ctx, "g", PendingOTP{ReferenceID: "x", ExpiresAt: now.Add(-time.Second)}))
	_, ok, _ = s.Get(ctx, "g")
	assert.False(t, ok, "an expired OTP is not stored")
}

// TestPendingNeverCrossesTenants: Clients of two tenants that share one
// Deepvue account (one client id, as a platform's merchants do) never see
// each other's pending references: tenant B's 409 for a number tenant A
// sent an OTP to carries no reference of A's (B's customer would verify
// under A's consent, and B would learn A's reference); A's own 409 does.
func TestPendingNeverCrossesTenants(t *testing.T) {
	srv, _ := fakeServer(t, deepvuetest.WithPendingWindow(time.Minute))
	number := deepvuetest.NewNumber()
	tenant := func(id string, opts ...Option) *Client {
		c, err := NewClient(srv.ClientID, srv.ClientSecret, append([]Option{WithBaseURL(srv.URL), WithTenant(id)}, opts...)...)
		require.NoError(t, err)
		return c
	}
	for _, opts := range [][]Option{nil, {WithPendingStore(NewMemoryPendingStore(0), testPendingKey)}} {
		number := number
		if opts != nil {
			number = deepvuetest.NewNumber()
		}
		sent, err := tenant("merchant-a", opts...).GenerateOTP(context.Background(), number, ConsentYes, testPurpose)
		require.NoError(t, err)
		_, err = tenant("merchant-b", opts...).GenerateOTP(context.Background(), number, ConsentYes, testPurpose)
		require.ErrorIs(t, err, ErrVerificationPending)
		ref, ok := PendingReference(err)
		assert.False(t, ok, "tenant B got tenant A's reference %q", ref)
		_, err = tenant("merchant-a", opts...).GenerateOTP(context.Background(), number, ConsentYes, testPurpose)
		require.ErrorIs(t, err, ErrVerificationPending)
		ref, ok = PendingReference(err)
		require.True(t, ok, "the tenant that sent it")
		assert.Equal(t, sent.ReferenceID, ref)
	}
}

// TestPendingAnswersOwnReferenceWins: a 409 whose answer carries a
// reference id other than the one the store remembers (an OTP another
// process sent since, the remembered one verified) gives Deepvue's: the
// remembered one is not the OTP the customer holds.
func TestPendingAnswersOwnReferenceWins(t *testing.T) {
	c, mt := mockClient(t, WithPendingStore(NewMemoryPendingStore(0), testPendingKey))
	withRef := strings.Replace(pending409, `"reference_id":""`, `"reference_id":"31000001"`, 1)
	mt.RegisterResponder(http.MethodPost, genURL, httpmock.ResponderFromMultipleResponses([]*http.Response{
		jsonResponse(200, otpNow), jsonResponse(409, withRef), jsonResponse(409, pending409),
	}))
	sent, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrVerificationPending)
	ref, ok := PendingReference(err)
	require.True(t, ok)
	assert.Equal(t, "31000001", ref, "the answer's own reference, not the remembered %q", sent.ReferenceID)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	ref, ok = PendingReference(err)
	require.True(t, ok)
	assert.Equal(t, sent.ReferenceID, ref, "an answer without a reference: the remembered one")
}
