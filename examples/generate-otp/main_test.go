package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunAgainstFake(t *testing.T) {
	srv := deepvuetest.NewServer()
	t.Cleanup(srv.Close)
	c, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL),
		deepvue.WithRetryWait(time.Millisecond, time.Millisecond))
	require.NoError(t, err)

	tests := []struct {
		number, want string
		code         int
	}{
		{deepvuetest.NumberSuccess, "OTP sent to the mobile linked to Aadhaar XXXX XXXX 2346", 0},
		{deepvuetest.NumberSuccess, "an OTP was sent recently", 1},
		{deepvuetest.NumberNotLinked, "no mobile number is linked", 1},
		{deepvuetest.NumberInvalidUID, "the input was refused", 1},
		{deepvuetest.NumberSourceFailure, "UIDAI is temporarily unavailable", 1},
		{deepvuetest.NumberRateLimited, "rate limit", 1},
		{deepvuetest.NumberUnavailable, "Deepvue is unavailable", 1},
		{"234123412347", "wrong check digit", 1},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		code := run(context.Background(), c, tt.number, "onboarding", &out)
		assert.Equal(t, tt.code, code, out.String())
		assert.Contains(t, out.String(), tt.want)
		assert.NotContains(t, out.String(), tt.number, "the full number is never printed")
	}
}
