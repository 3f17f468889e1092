package deepvue

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestObserverNilFieldsDoNothing sets one of the Observer's functions at a
// time: the call behaves as without an Observer, and the one function set is
// called as often as the call's story says (a 500 SOURCE_FAILURE, then a
// success: one call, two attempts).
func TestObserverNilFieldsDoNothing(t *testing.T) {
	type counter struct{ n atomic.Int32 }
	for _, tt := range []struct {
		name string
		obs  func(*counter) *Observer
		want int32
	}{
		{"StartCall", func(c *counter) *Observer {
			return &Observer{StartCall: func(ctx context.Context, _ CallInfo) context.Context { c.n.Add(1); return ctx }}
		}, 1},
		{"StartAttempt", func(c *counter) *Observer {
			return &Observer{StartAttempt: func(ctx context.Context, _ AttemptInfo, h http.Header) context.Context {
				c.n.Add(1)
				h.Set("X-Seen", "1")
				return ctx
			}}
		}, 2},
		{"EndAttempt", func(c *counter) *Observer {
			return &Observer{EndAttempt: func(context.Context, AttemptInfo, AttemptResult) { c.n.Add(1) }}
		}, 2},
		{"EndCall", func(c *counter) *Observer {
			return &Observer{EndCall: func(context.Context, CallInfo, CallResult) { c.n.Add(1) }}
		}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var cnt counter
			c, mt := mockClient(t, WithObserver(tt.obs(&cnt)))
			require.NotNil(t, c.observer)
			var seen []string
			mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
				seen = append(seen, r.Header.Get("X-Seen"))
				if len(seen) == 1 {
					return jsonResponder(500, sourceFailBd)(r)
				}
				return jsonResponder(200, successOTP)(r)
			})
			res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			require.NoError(t, err)
			assert.Equal(t, "29756208", res.ReferenceID)
			assert.Equal(t, tt.want, cnt.n.Load())
			if tt.name == "StartAttempt" {
				assert.Equal(t, []string{"1", "1"}, seen, "the header set by StartAttempt reaches the server")
			} else {
				assert.Equal(t, []string{"", ""}, seen)
			}
		})
	}
}

// TestWithObserverKeepsACopy: changing the Observer's fields after NewClient
// changes nothing for the Client.
func TestWithObserverKeepsACopy(t *testing.T) {
	var before, after atomic.Int32
	o := &Observer{EndCall: func(context.Context, CallInfo, CallResult) { before.Add(1) }}
	c, mt := mockClient(t, WithObserver(o))
	o.EndCall = func(context.Context, CallInfo, CallResult) { after.Add(1) }
	o.StartCall = func(context.Context, CallInfo) context.Context { panic("a field set after NewClient was called") }
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	assert.Equal(t, int32(1), before.Load())
	assert.Zero(t, after.Load())
}
