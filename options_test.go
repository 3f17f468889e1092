package deepvue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClientBaseURL(t *testing.T) {
	tests := []struct {
		raw  string
		want string // "" for accepted, else a part of the error
	}{
		{DefaultBaseURL, ""},
		{"https://pre-production.deepvue.tech/", ""},
		{"https://gateway.example.com/deepvue", ""},
		{"https://gw.example.com/api/v2beta/deepvue", ""},
		{"http://127.0.0.1:8080", ""},
		{"http://127.9.9.9", ""},
		{"http://[::1]:9000", ""},
		{"http://localhost:1234", ""},
		{"https://production.deepvue.tech/v2", "the SDK adds the versioned path"},
		{"https://production.deepvue.tech/v1/", "the SDK adds the versioned path"},
		{"https://gw.example.com/deepvue/V3", "the SDK adds the versioned path"},
		{"https://production.deepvue.tech/v2/ekyc/aadhaar", "the SDK adds /v2/ekyc/aadhaar"},
		{"https://gw.example.com/ekyc/", "the SDK adds /v2/ekyc/aadhaar"},
		{"http://production.deepvue.tech", "must use https"},
		{"http://10.0.0.1", "must use https"},
		{"http://localhost.evil.com", "must use https"},
		{"ftp://production.deepvue.tech", "must use https"},
		{"production.deepvue.tech", "absolute URL"},
		{"https://user:pass@production.deepvue.tech", "user information"},
		{"https://production.deepvue.tech?x=1", "query"},
		{"https://production.deepvue.tech#frag", "fragment"},
		{"", "absolute URL"},
		{"://bad", "absolute URL"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			_, err := NewClient(testID, testSecret, WithBaseURL(tt.raw))
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidInput)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "pass")
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	bad := map[string]Option{
		"nil http client":  WithHTTPClient(nil),
		"retry max -1":     WithRetryMax(-1),
		"retry max 11":     WithRetryMax(11),
		"wait min > max":   WithRetryWait(2*time.Second, time.Second),
		"wait negative":    WithRetryWait(-1, time.Second),
		"wait huge":        WithRetryWait(time.Second, time.Hour),
		"empty UA":         WithUserAgent(""),
		"UA newline":       WithUserAgent("app/1\r\nX-Evil: 1"),
		"zero timeout":     WithTimeout(0),
		"budget too small": WithMaxBufferedBytes(1<<20 - 1),
	}
	for name, opt := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := NewClient(testID, testSecret, WithRetryMax(1), opt)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidInput)
		})
	}
	_, err := NewClient(testID, testSecret, nil, WithLogger(nil), WithRateLimiter(nil), WithRetryMax(0), WithRetryMax(10),
		WithMaxBufferedBytes(1<<20))
	assert.NoError(t, err)
}
