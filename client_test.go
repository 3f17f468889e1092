package deepvue

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
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

func TestNewClientBaseURL(t *testing.T) {
	tests := []struct {
		raw string
		ok  bool
	}{
		{DefaultBaseURL, true},
		{"https://pre-production.deepvue.tech/", true},
		{"https://gateway.example.com/deepvue", true},
		{"http://127.0.0.1:8080", true},
		{"http://127.9.9.9", true},
		{"http://[::1]:9000", true},
		{"http://localhost:1234", true},
		{"http://production.deepvue.tech", false},
		{"http://10.0.0.1", false},
		{"http://localhost.evil.com", false},
		{"ftp://production.deepvue.tech", false},
		{"production.deepvue.tech", false},
		{"https://user:pass@production.deepvue.tech", false},
		{"https://production.deepvue.tech?x=1", false},
		{"https://production.deepvue.tech#frag", false},
		{"", false},
		{"://bad", false},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			_, err := NewClient(testID, testSecret, WithBaseURL(tt.raw))
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidInput)
			assert.NotContains(t, err.Error(), "pass")
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	bad := map[string]Option{
		"nil http client": WithHTTPClient(nil),
		"retry max -1":    WithRetryMax(-1),
		"retry max 11":    WithRetryMax(11),
		"wait min > max":  WithRetryWait(2*time.Second, time.Second),
		"wait negative":   WithRetryWait(-1, time.Second),
		"wait huge":       WithRetryWait(time.Second, time.Hour),
		"empty UA":        WithUserAgent(""),
		"UA newline":      WithUserAgent("app/1\r\nX-Evil: 1"),
		"zero timeout":    WithTimeout(0),
	}
	for name, opt := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := NewClient(testID, testSecret, WithRetryMax(1), opt)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidInput)
		})
	}
	_, err := NewClient(testID, testSecret, nil, WithLogger(nil), WithRateLimiter(nil), WithRetryMax(0), WithRetryMax(10))
	assert.NoError(t, err)
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

	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestDefaultTransportIsTunedForBusyBackends(t *testing.T) {
	c, err := NewClient(testID, testSecret)
	require.NoError(t, err)
	tr, ok := c.hc.HTTPClient.Transport.(keepIdle).rt.(*http.Transport)
	require.True(t, ok)
	assert.GreaterOrEqual(t, tr.MaxIdleConnsPerHost, 256)
	assert.GreaterOrEqual(t, tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	assert.Equal(t, uint16(tls.VersionTLS12), tr.TLSClientConfig.MinVersion)
	assert.Zero(t, tr.MaxConnsPerHost)
	assert.Nil(t, c.hc.Logger, "retryablehttp's logger prints full URLs")
	_, closer := c.hc.HTTPClient.Transport.(interface{ CloseIdleConnections() })
	assert.False(t, closer, "retryablehttp must not be able to empty the pool")
}

func TestClientNeverPrintsSecret(t *testing.T) {
	c, _ := mockClient(t)
	assertNoLeak(t, c)
	assertNoLeak(t, *c) // even a copied struct: credentials sit behind a pointer
	assert.Contains(t, fmt.Sprint(c), "[REDACTED]")
	assert.Contains(t, fmt.Sprint(c), "test****")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("client", "c", c)
	assert.NotContains(t, buf.String(), testSecret)
	assert.Contains(t, buf.String(), "api.deepvue.test")
}

func TestUserAgentAndHeaders(t *testing.T) {
	c, mt := mockClient(t, WithUserAgent("lender-app/2.1"))
	var got http.Header
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		got = r.Header.Clone()
		return jsonResponder(200, successOTP)(r)
	})
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	assert.Equal(t, "lender-app/2.1 deepvue-go/"+Version, got.Get("User-Agent"))
	assert.Equal(t, testID, got.Get("client-id"))
	assert.Equal(t, testSecret, got.Get("x-api-key"))
	assert.Empty(t, got.Get("Authorization"))
}

// ---- retry policy ----

func TestShouldRetryDecision(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   bool
	}{
		{"500 SOURCE_FAILURE", 500, sourceFailBd, true},
		{"500 source_failure lower case", 500, `{"sub_code":"source_failure"}`, true},
		{"500 other sub_code", 500, `{"sub_code":"INTERNAL_ERROR"}`, false},
		{"500 HTML", 500, `<html>oops</html>`, false},
		{"500 empty", 500, ``, false},
		{"503 Source Unavailable", 503, `{"detail":"Source Unavailable"}`, false},
		{"503 with SOURCE_FAILURE body", 503, sourceFailBd, false},
		{"502 gateway", 502, `<html>Bad Gateway</html>`, false},
		{"504 gateway", 504, `<html>Gateway Timeout</html>`, false},
		{"429", 429, `{"detail":"Rate limit exceeded. Please retry after some time."}`, false},
		{"409 pending", 409, `{"sub_code":"VERIFICATION_PENDING"}`, false},
		{"400", 400, `{"sub_code":"INVALID_INPUT"}`, false},
		{"401", 401, `{"detail":"Not authenticated"}`, false},
		{"200", 200, successOTP, false},
		{"200 with SOURCE_FAILURE", 200, sourceFailBd, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, genURL, nil)
			resp := &http.Response{StatusCode: tt.status, Body: io.NopCloser(strings.NewReader(tt.body)), Request: req}
			retry, _ := shouldRetry(resp)
			assert.Equal(t, tt.want, retry)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.body, string(b), "the body must be readable after the peek")
		})
	}
}

func TestCheckRetry(t *testing.T) {
	c, _ := mockClient(t, WithRetryMax(2))
	src := func() *http.Response {
		req := httptest.NewRequest(http.MethodPost, genURL, nil)
		return &http.Response{StatusCode: 500, Body: io.NopCloser(strings.NewReader(sourceFailBd)), Request: req}
	}
	st := &callState{op: opGenerate}
	ctx := context.WithValue(context.Background(), stateKey{}, st)

	retry, err := c.checkRetry(ctx, src(), nil)
	assert.True(t, retry)
	assert.NoError(t, err)
	retry, _ = c.checkRetry(ctx, src(), nil)
	assert.True(t, retry, "second attempt: one retry left")
	retry, _ = c.checkRetry(ctx, src(), nil)
	assert.False(t, retry, "retries spent")

	// A transport error is never retried: the request may have been sent.
	retry, err = c.checkRetry(ctx, nil, errors.New("connection reset by peer"))
	assert.False(t, retry)
	assert.NoError(t, err)

	// An ended context stops retries.
	cctx, cancel := context.WithCancel(context.WithValue(context.Background(), stateKey{}, &callState{}))
	cancel()
	retry, _ = c.checkRetry(cctx, src(), nil)
	assert.False(t, retry)
}

func TestBackoffBounds(t *testing.T) {
	min, max := 100*time.Millisecond, 800*time.Millisecond
	for attempt := 0; attempt < 40; attempt++ {
		ceil := max
		if attempt < 4 {
			ceil = min << attempt
		}
		for i := 0; i < 200; i++ {
			d := backoff(min, max, attempt, nil)
			require.GreaterOrEqual(t, d, min)
			require.LessOrEqual(t, d, ceil, "attempt %d", attempt)
		}
	}
	assert.Equal(t, time.Duration(0), backoff(0, 0, 3, nil))
	// Retry-After is ignored: never above max.
	resp := &http.Response{StatusCode: 500, Header: http.Header{"Retry-After": {"3600"}}}
	assert.LessOrEqual(t, backoff(min, max, 1, resp), max)
}

func TestRetriesOnlySourceFailure(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantCalls int
		want      error
	}{
		{"source failure, retried twice then given up", 500, sourceFailBd, 3, ErrSourceFailure},
		{"500 other", 500, `{"sub_code":"SOMETHING_ELSE","message":"x"}`, 1, nil},
		{"503", 503, `{"detail":"Source Unavailable"}`, 1, ErrServiceUnavailable},
		{"502 html", 502, `<html><body>Bad Gateway</body></html>`, 1, nil},
		{"429", 429, `{"detail":"Rate limit exceeded. Please retry after some time."}`, 1, ErrRateLimited},
		{"409", 409, `{"sub_code":"VERIFICATION_PENDING","reference_id":""}`, 1, ErrVerificationPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(tt.status, tt.body))
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			require.Error(t, err)
			assert.Equal(t, tt.wantCalls, mt.GetTotalCallCount())
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			if tt.want != nil {
				assert.Equal(t, []error{tt.want}, matched(err))
			} else {
				assert.Empty(t, matched(err))
			}
		})
	}
}

func TestSourceFailureThenSuccess(t *testing.T) {
	logs := &logBuffer{}
	c, mt := mockClient(t, WithLogger(logs.logger()))
	mt.RegisterResponder(http.MethodPost, genURL,
		jsonResponder(500, sourceFailBd).Then(jsonResponder(200, successOTP)))
	res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.NoError(t, err)
	assert.Equal(t, "29756208", res.ReferenceID)
	assert.Equal(t, 2, mt.GetTotalCallCount())

	out := logs.String()
	assert.Contains(t, out, `"level":"WARN"`)
	assert.Contains(t, out, `"msg":"deepvue: retrying after SOURCE_FAILURE"`)
	assert.Contains(t, out, `"attempt":1`)
	assert.Contains(t, out, `"transaction_id":"tx-source"`)
	assert.Contains(t, out, `"msg":"deepvue: call finished"`)
	assert.Contains(t, out, `"attempts":2`)
	for _, s := range sensitive {
		assert.NotContains(t, out, s)
	}
	assert.NotContains(t, out, "aadhaar_number=")
}

func TestRetryMaxZeroDoesNotRetry(t *testing.T) {
	c, mt := mockClient(t, WithRetryMax(0))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(500, sourceFailBd))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, ErrSourceFailure)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestTransportErrorIsNotRetriedAndLeaksNothing(t *testing.T) {
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, genURL, httpmock.NewErrorResponder(errors.New("read: connection reset by peer")))
	_, err := c.GenerateOTP(context.Background(), "2341-2341-2346", ConsentYes, testPurpose)
	require.Error(t, err)
	assert.Equal(t, 1, mt.GetTotalCallCount(), "a broken connection may have sent the SMS: never re-sent")
	assert.Contains(t, err.Error(), "connection reset by peer")
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, genURL, ue.URL, "the URL keeps no query")
	assert.Empty(t, matched(err))
	assertNoLeak(t, err)
}

func TestNoResponderLeaksNothing(t *testing.T) {
	// httpmock's own error for an unknown route quotes the full URL.
	c, _ := mockClient(t)
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	assertNoLeak(t, err)
}

// ---- context and deadlines ----

func TestContextCanceledDuringBackoffReturnsAtOnce(t *testing.T) {
	c, mt := mockClient(t, WithRetryWait(time.Hour/20, time.Hour/20)) // 3 minutes
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(500, sourceFailBd))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, 1, mt.GetTotalCallCount())
	assertNoLeak(t, err)
}

func TestDeadlineDuringBackoff(t *testing.T) {
	c, mt := mockClient(t, WithRetryWait(time.Minute, time.Minute))
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(500, sourceFailBd))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestWithTimeoutAppliesWhenContextHasNoDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithTimeout(100*time.Millisecond))
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assertNoLeak(t, err)
}

func TestNilContextIsAnError(t *testing.T) {
	c, mt := mockClient(t)
	//lint:ignore SA1012 checking that a nil context is refused, not a panic
	_, err := c.GenerateOTP(nil, validNumber, ConsentYes, testPurpose) //nolint:staticcheck
	assert.ErrorIs(t, err, ErrInvalidInput)
	assert.Zero(t, mt.GetTotalCallCount())
}

// ---- redirects, hosts and sizes over real sockets ----

func TestRedirectIsNeverFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusTemporaryRedirect, ae.StatusCode)
	assert.ErrorIs(t, err, ErrUnexpectedResponse)
	assert.Zero(t, elsewhere.Load(), "credentials and the number must reach one host only")
	assertNoLeak(t, err)
}

func TestOversizedAnswerIsBounded(t *testing.T) {
	for _, status := range []int{200, 400, 500} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			c, mt := mockClient(t)
			big := `{"sub_code":"SOURCE_FAILURE","message":"` + strings.Repeat("a", 2<<20) + `"}`
			mt.RegisterResponder(http.MethodPost, genURL, func(*http.Request) (*http.Response, error) {
				r := httpmock.NewStringResponse(status, big)
				r.ContentLength = -1 // unknown length: the read itself must stop
				return r, nil
			})
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, status, ae.StatusCode)
			assert.Contains(t, ae.Message, "larger than")
			assert.Less(t, len(err.Error()), 300)
			assert.Equal(t, 1, mt.GetTotalCallCount(), "an oversized 500 is not known to be SOURCE_FAILURE")
		})
	}
}

func TestConcurrentUseIsSafe(t *testing.T) {
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, genURL,
		func(r *http.Request) (*http.Response, error) {
			if r.URL.Query().Get("aadhaar_number") == otherNumber {
				return jsonResponder(500, sourceFailBd)(r)
			}
			return jsonResponder(200, successOTP)(r)
		})
	var wg sync.WaitGroup
	var ok, failed atomic.Int32
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			n := validNumber
			if i%4 == 0 {
				n = otherNumber
			}
			_, err := c.GenerateOTP(context.Background(), n, ConsentYes, testPurpose)
			if err == nil {
				ok.Add(1)
			} else if errors.Is(err, ErrSourceFailure) {
				failed.Add(1)
			}
		}(i)
	}
	wg.Wait()
	assert.Equal(t, int32(48), ok.Load())
	assert.Equal(t, int32(16), failed.Load())
	assert.Equal(t, 48+16*3, mt.GetTotalCallCount())
}
