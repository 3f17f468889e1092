package deepvue

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSetCredentialsRotatesWithoutANewClient: a Client made with a secret
// the fake refuses gets 401; after SetCredentials the next call succeeds,
// on the same Client.
func TestSetCredentialsRotatesWithoutANewClient(t *testing.T) {
	srv, _ := fakeServer(t)
	c, err := NewClient(srv.ClientID, "live_old_secret_revoked", WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrUnauthorized)
	require.NoError(t, c.SetCredentials(srv.ClientID, srv.ClientSecret))
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	assertNoLeak(t, c, srv.ClientSecret, "live_old_secret_revoked")
}

// TestSetCredentialsIsCheckedAsNewClient: a refused pair changes nothing and
// its error shows neither value.
func TestSetCredentialsIsCheckedAsNewClient(t *testing.T) {
	c, mt := mockClient(t)
	var seen atomic.Value
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		seen.Store(r.Header.Get("X-Api-Key"))
		return jsonResponder(200, successOTP)(r)
	})
	for _, bad := range []struct{ id, secret, field string }{
		{"", "live_new_secret", FieldClientID},
		{"new-id", "", FieldClientSecret},
		{"new-id", "live_new_secret\n", FieldClientSecret},
		{"new id\t", "live_new_secret", FieldClientID},
	} {
		err := c.SetCredentials(bad.id, bad.secret)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, "%q", bad)
		assert.Equal(t, bad.field, ve.Field)
		assert.NotContains(t, err.Error(), "live_new_secret")
	}
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	assert.Equal(t, testSecret, seen.Load(), "a refused pair changed nothing")
	var nilClient *Client
	assert.ErrorIs(t, nilClient.SetCredentials(testID, testSecret), ErrNotSent)
}

// TestSetCredentialsDuringACall: a call keeps the credentials it began with
// for all its attempts (its retry after a 500 too), and scrubs the secret it
// sent from an echoing answer; the calls after SetCredentials send the new
// pair.
func TestSetCredentialsDuringACall(t *testing.T) {
	c, mt := mockClient(t)
	const newSecret = "live_rotated_secret_value"
	var mu sync.Mutex
	var keys []string
	first, release := make(chan struct{}), make(chan struct{})
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Client-Id")+" "+r.Header.Get("X-Api-Key"))
		n := len(keys)
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release
			return jsonResponder(500, sourceFailBd)(r)
		}
		// An answer that echoes the key it was sent.
		return jsonResponder(400, `{"code":400,"sub_code":"INVALID_INPUT","message":"bad key `+
			r.Header.Get("X-Api-Key")+`"}`)(r)
	})
	done := make(chan error, 1)
	go func() {
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		done <- err
	}()
	<-first
	require.NoError(t, c.SetCredentials("rotated-id", newSecret))
	close(release)
	err := <-done
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.NotContains(t, err.Error(), testSecret)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.NotContains(t, err.Error(), newSecret, "the new secret is scrubbed from its calls' answers")
	assert.Equal(t, []string{testID + " " + testSecret, testID + " " + testSecret, "rotated-id " + newSecret}, keys)
	assertNoLeak(t, c, newSecret)
}

// TestSetCredentialsUnderLoad: while one goroutine rotates between two
// pairs, every request carries one whole pair, never the id of one and
// the secret of the other (run with -race).
func TestSetCredentialsUnderLoad(t *testing.T) {
	pairs := map[string]string{"id-one": "live_secret_one", "id-two": "live_secret_two"}
	mt := httpmock.NewMockTransport()
	var mixed atomic.Int32
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		if pairs[r.Header.Get("Client-Id")] != r.Header.Get("X-Api-Key") {
			mixed.Add(1)
		}
		return jsonResponder(200, successOTP)(r)
	})
	c, err := NewClient("id-one", "live_secret_one", WithHTTPClient(&http.Client{Transport: mt}), WithBaseURL(testBase))
	require.NoError(t, err)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := []string{"id-one", "id-two"}[i%2]
			if err := c.SetCredentials(id, pairs[id]); err != nil {
				panic(err)
			}
		}
	}()
	var calls sync.WaitGroup
	for w := 0; w < 4; w++ {
		calls.Add(1)
		go func() {
			defer calls.Done()
			for i := 0; i < 50; i++ {
				if _, err := c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), ConsentYes, testPurpose); err != nil {
					panic(fmt.Sprint(errors.Unwrap(err)))
				}
			}
		}()
	}
	calls.Wait()
	close(stop)
	wg.Wait()
	assert.Zero(t, mixed.Load())
	assert.Equal(t, 200, mt.GetTotalCallCount())
}

// rotatingLimiter rotates the Client's credentials while a call waits on it.
type rotatingLimiter struct {
	c          *Client
	id, secret string
}

func (l *rotatingLimiter) Wait(context.Context) error { return l.c.SetCredentials(l.id, l.secret) }

// TestSetCredentialsWhileACallWaits: a call reads its credentials once, when
// it begins: rotated while it waits on the limiter, it still sends the pair
// it began with, and scrubs that secret from an echoing answer (were the
// headers read later than the secret to scrub, the new secret would show in
// the error).
func TestSetCredentialsWhileACallWaits(t *testing.T) {
	lim := &rotatingLimiter{id: "rotated-id", secret: "live_rotated_while_waiting"}
	c, mt := mockClient(t, WithRateLimiter(lim))
	lim.c = c
	var sent atomic.Value
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		sent.Store(r.Header.Get("X-Api-Key"))
		return jsonResponder(400, `{"code":400,"sub_code":"INVALID_INPUT","message":"bad key `+
			r.Header.Get("X-Api-Key")+`"}`)(r)
	})
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Equal(t, testSecret, sent.Load(), "the call sent the pair it began with")
	assertNoLeak(t, err, lim.secret)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrInvalidInput)
	assert.Equal(t, lim.secret, sent.Load(), "the next call sends the new pair")
	assertNoLeak(t, err, lim.secret)
}
