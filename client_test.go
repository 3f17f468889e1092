package deepvue

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClientCredentials(t *testing.T) {
	tests := []struct {
		name, id, secret, want string
	}{
		{"empty id", "", testSecret, "client ID: is empty"},
		{"empty secret", testID, "", "client secret: is empty"},
		{"trailing newline", testID, testSecret + "\n", "client secret: contains whitespace at byte 29"},
		{"leading space", " " + testID, testSecret, "client ID: contains whitespace at byte 0"},
		{"tab inside", testID, "live\tkey", "client secret: contains whitespace"},
		{"control char", testID, "live\x00key", "client secret: contains a control character"},
		{"non-ASCII", testID, "live\u00a0key", "client secret: contains a non-ASCII byte"},
		{"too long", testID, strings.Repeat("k", 513), "client secret: is longer than 512 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.id, tt.secret)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), tt.want)
			assert.ErrorIs(t, err, ErrInvalidInput)
			assert.NotContains(t, err.Error(), "live")
			assert.NotContains(t, err.Error(), testSecret)
		})
	}
}

func TestWithHTTPClientIsCopiedNotMutated(t *testing.T) {
	mt := httpmock.NewMockTransport()
	hc := &http.Client{Transport: mt, Timeout: 7 * time.Second}
	c, err := NewClient(testID, testSecret, WithHTTPClient(hc), WithBaseURL(testBase))
	require.NoError(t, err)
	assert.Nil(t, hc.CheckRedirect, "caller's client must not be modified")
	assert.Same(t, mt, hc.Transport)
	assert.Equal(t, 7*time.Second, c.hc.HTTPClient.Timeout, "the copy keeps the caller's settings")
	assert.NotSame(t, hc, c.hc.HTTPClient)
	assert.Equal(t, guardedTransport{rt: mt}, c.hc.HTTPClient.Transport, "the caller's transport sits behind the send-once guard")

	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestDefaultTransportIsTunedForBusyBackends(t *testing.T) {
	c, err := NewClient(testID, testSecret)
	require.NoError(t, err)
	tr, ok := c.base.rt.(*http.Transport)
	require.True(t, ok)
	assert.GreaterOrEqual(t, tr.MaxIdleConnsPerHost, 256)
	assert.GreaterOrEqual(t, tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	assert.Equal(t, uint16(tls.VersionTLS12), tr.TLSClientConfig.MinVersion)
	assert.Equal(t, DefaultMaxConnsPerHost, tr.MaxConnsPerHost)
	assert.Equal(t, int64(64<<10), tr.MaxResponseHeaderBytes, "Go's default is 10 MiB of headers per answer")
	assert.False(t, tr.ForceAttemptHTTP2, "HTTP/1.1 measured faster over TLS (BENCHMARKS.md)")
	assert.Nil(t, c.hc.Logger, "retryablehttp's logger prints full URLs")
	_, closer := c.hc.HTTPClient.Transport.(interface{ CloseIdleConnections() })
	assert.False(t, closer, "retryablehttp must not be able to empty the pool")
}

func TestClientNeverPrintsSecret(t *testing.T) {
	c, _ := mockClient(t)
	assertNoLeak(t, c)
	assertNoLeak(t, *c) // even a copied struct: credentials sit behind a func
	assert.Contains(t, fmt.Sprint(c), "[REDACTED]")
	assert.Contains(t, fmt.Sprint(c), "test****")
	assert.Equal(t, `"`+c.String()+`"`, fmt.Sprintf("%q", c), "%q quotes, as for the other types")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("client", "c", c)
	assert.NotContains(t, buf.String(), testSecret)
	assert.Contains(t, buf.String(), "api.deepvue.test")
}

func TestUserAgentAndHeaders(t *testing.T) {
	c, mt := mockClient(t, WithUserAgent("lender-app/2.1"))
	var got http.Header
	var length int64
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		got, length = r.Header.Clone(), r.ContentLength
		return jsonResponder(200, successOTP)(r)
	})
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	assert.Equal(t, "lender-app/2.1 deepvue-go/"+Version, got.Get("User-Agent"))
	assert.Equal(t, testID, got.Get("client-id"))
	assert.Equal(t, testSecret, got.Get("x-api-key"))
	assert.Equal(t, "application/json", got.Get("Content-Type"), "as Deepvue's documented calls send")
	assert.Zero(t, length, "no body")
	assert.Empty(t, got.Get("Authorization"))
}
