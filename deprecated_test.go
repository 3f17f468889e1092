package deepvue

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeprecatedNamesStillWork: the names 0.4.0 replaced still do what they
// did in 0.3.0, for one release.
func TestDeprecatedNamesStillWork(t *testing.T) {
	var mu sync.Mutex
	var resends []int
	var ended int
	funcs := ObserverFuncs{
		OnStartAttempt: func(ctx context.Context, a AttemptInfo, _ http.Header) context.Context {
			mu.Lock()
			defer mu.Unlock()
			resends = append(resends, a.ResendCount)
			assert.Equal(t, a.Attempt-1, a.ResendCount)
			return ctx
		},
		OnEndCall: func(context.Context, CallInfo, CallResult) { ended++ },
	}
	c, mt := mockClient(t, WithObserver(funcs.Observer()))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(500, sourceFailBd))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.ErrorIs(t, err, ErrSourceFailure)
	assert.Equal(t, []int{0, 1, 2}, resends)
	assert.Equal(t, 1, ended)

	ctx := context.Background()
	empty := ObserverFuncs{}
	assert.Equal(t, ctx, empty.StartCall(ctx, CallInfo{}))
	assert.Equal(t, ctx, empty.StartAttempt(ctx, AttemptInfo{}, nil))
	empty.EndAttempt(ctx, AttemptInfo{}, AttemptResult{})
	empty.EndCall(ctx, CallInfo{}, CallResult{})
	funcs.EndCall(ctx, CallInfo{}, CallResult{})
	assert.Equal(t, 2, ended)

	assert.Equal(t, 101*time.Millisecond, WindowMargin(time.Second))
	assert.Equal(t, []Window{
		{Limit: 5, Per: time.Second + 101*time.Millisecond, Base: time.Second},
		{Limit: 500, Per: time.Minute + 160*time.Millisecond, Base: time.Minute},
		{Limit: 20000, Per: 24*time.Hour + 86500*time.Millisecond, Base: 24 * time.Hour},
	}, PlanGrowth.Windows())
	assert.Empty(t, Plan{}.Windows())

	assert.Equal(t, c.String(), c.GoString())
	assert.NotContains(t, c.GoString(), testSecret)
	req := validVerifyRequest()
	assert.Equal(t, req.String(), req.GoString())
	assert.NotContains(t, req.GoString(), req.OTP)
	var d AadhaarData
	assert.Equal(t, d.String(), d.GoString())
	assert.Equal(t, fmt.Sprintf("%#v", c), c.String(), "fmt still prints String")
}
