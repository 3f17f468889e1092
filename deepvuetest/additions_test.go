package deepvuetest_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewNumberIsValidFreshAndNotMagic(t *testing.T) {
	magic := map[string]bool{deepvuetest.NumberSuccess: true, deepvuetest.NumberNotLinked: true,
		deepvuetest.NumberInvalidUID: true, deepvuetest.NumberSourceFailure: true,
		deepvuetest.NumberSourceFailureOnce: true, deepvuetest.NumberRateLimited: true, deepvuetest.NumberUnavailable: true}
	seen := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				n := deepvuetest.NewNumber()
				mu.Lock()
				assert.False(t, seen[n], "a number handed out twice")
				seen[n] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, seen, 2000)
	for n := range seen {
		require.Len(t, n, 12)
		assert.NotEqual(t, byte('9'), n[0])
		assert.False(t, magic[n])
		assert.NoError(t, deepvue.ValidateAadhaar(n), n)
	}
	// Each one is sent and succeeds, with the pending window on.
	srv, c := start(t)
	for i := 0; i < 5; i++ {
		_, err := c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
		require.NoError(t, err)
	}
	assert.Equal(t, 5, srv.SMSSent())
}

func TestHeadersOfEachRequest(t *testing.T) {
	srv, c := start(t)
	srv.Script(deepvuetest.PathGenerateOTP, deepvuetest.SourceFailure)
	c2, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL),
		deepvue.WithUserAgent("tenant-b/1.0"))
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
	require.NoError(t, err)
	_, err = c2.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
	require.NoError(t, err)
	hs := srv.Headers(deepvuetest.PathGenerateOTP)
	require.Len(t, hs, 3, "the retried attempt counts")
	for _, h := range hs {
		assert.Equal(t, srv.ClientID, h.Get("client-id"))
		assert.Equal(t, srv.ClientSecret, h.Get("x-api-key"))
	}
	assert.Equal(t, "deepvue-go/"+deepvue.Version, hs[0].Get("User-Agent"))
	assert.Equal(t, "tenant-b/1.0 deepvue-go/"+deepvue.Version, hs[2].Get("User-Agent"))
	hs[0].Set("client-id", "changed")
	assert.Equal(t, srv.ClientID, srv.Headers(deepvuetest.PathGenerateOTP)[0].Get("client-id"), "a copy")
	assert.Empty(t, srv.Headers(deepvuetest.PathVerifyOTP))
}

func TestConnectionResetAfterTheRequestWasRead(t *testing.T) {
	srv, c := start(t)
	srv.Script(deepvuetest.PathGenerateOTP, deepvuetest.ConnectionReset)
	_, err := c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
	require.Error(t, err)
	assert.NotErrorIs(t, err, deepvue.ErrNotSent, "the request was read: it may have been acted on")
	assert.NotErrorIs(t, err, deepvue.ErrInvalidInput)
	var ae *deepvue.APIError
	assert.NotErrorAs(t, err, &ae, "no answer came")
	assert.Equal(t, 1, srv.Requests(deepvuetest.PathGenerateOTP))
	assert.Zero(t, srv.SMSSent())
	_, err = c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
	require.NoError(t, err, "then the usual answers")
}

func TestConnectionResetOverTLS(t *testing.T) {
	srv := deepvuetest.NewUnstartedServer()
	srv.StartTLS()
	defer srv.Close()
	srv.Script(deepvuetest.PathGenerateOTP, deepvuetest.ConnectionReset)
	c, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL),
		deepvue.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
	require.Error(t, err)
	assert.NotErrorIs(t, err, deepvue.ErrNotSent)
	_, err = c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
	require.NoError(t, err)
}

func TestLoadScript(t *testing.T) {
	srv, c := start(t)
	require.NoError(t, srv.LoadScript(strings.NewReader(`[
		{"path": "/v2/ekyc/aadhaar/generate-otp", "answer": "Unauthorized"},
		{"path": "/v2/ekyc/aadhaar/generate-otp", "status": 400, "body": "{\"detail\":\"Inactive client_id\"}"},
		{"path": "/v2/ekyc/aadhaar/generate-otp", "status": 429, "body": {"detail": "slow down"}, "times": 2},
		{"path": "/v2/ekyc/aadhaar/generate-otp", "delay": "1ms"}
	]`)))
	ctx := context.Background()
	for i, want := range []error{deepvue.ErrUnauthorized, deepvue.ErrUnauthorized, deepvue.ErrRateLimited,
		deepvue.ErrRateLimited, nil} {
		_, err := c.GenerateOTP(ctx, deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
		if want == nil {
			require.NoError(t, err, i)
		} else {
			require.ErrorIs(t, err, want, i)
		}
	}
	var ae *deepvue.APIError
	srv.Script(deepvuetest.PathGenerateOTP) // nothing queued
	require.NoError(t, srv.LoadScript(strings.NewReader(`[{"path": "/v2/ekyc/aadhaar/generate-otp", "status": 429, "body": {"detail": "slow down"}}]`)))
	_, err := c.GenerateOTP(ctx, deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "slow down", ae.Detail, "a JSON body is sent as is")
}

func TestLoadScriptRefusesMistakesAndQueuesNothing(t *testing.T) {
	for name, doc := range map[string]string{
		"not a list":     `{"path": "/v2/ekyc/aadhaar/generate-otp"}`,
		"unknown field":  `[{"path": "/v2/ekyc/aadhaar/generate-otp", "stauts": 429}]`,
		"unknown path":   `[{"path": "/v2/other", "status": 429}]`,
		"unknown answer": `[{"path": "/v2/ekyc/aadhaar/generate-otp", "answer": "Teapot"}]`,
		"bad status":     `[{"path": "/v2/ekyc/aadhaar/generate-otp", "status": 42}]`,
		"body alone":     `[{"path": "/v2/ekyc/aadhaar/generate-otp", "body": "x"}]`,
		"bad delay":      `[{"path": "/v2/ekyc/aadhaar/generate-otp", "delay": "soon"}]`,
		"empty entry":    `[{"path": "/v2/ekyc/aadhaar/generate-otp"}]`,
		"bad times":      `[{"path": "/v2/ekyc/aadhaar/generate-otp", "status": 429, "times": 0}]`,
		"answer+status":  `[{"path": "/v2/ekyc/aadhaar/generate-otp", "answer": "RateLimited", "status": 500}]`,
		"late mistake":   `[{"path": "/v2/ekyc/aadhaar/generate-otp", "status": 429}, {"path": "/x"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			srv, c := start(t)
			require.Error(t, srv.LoadScript(strings.NewReader(doc)))
			_, err := c.GenerateOTP(context.Background(), deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
			require.NoError(t, err, "nothing was queued")
		})
	}
}
