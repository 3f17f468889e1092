package deepvue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
	assert.NotErrorIs(t, err, ErrNotSent, "a transport that reports nothing may have sent it")
	assertNoLeak(t, err)
}

func TestNoResponderLeaksNothing(t *testing.T) {
	// httpmock's own error for an unknown route quotes the full URL.
	c, _ := mockClient(t)
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	assertNoLeak(t, err)
}

// echoError is an error from below the SDK whose text quotes the server: it
// holds the request's query and secret, and it is also a net.Error.
type echoError struct{ text string }

func (e *echoError) Error() string   { return e.text }
func (e *echoError) Timeout() bool   { return true }
func (e *echoError) Temporary() bool { return false }

// TestErrorChainIsScrubbedAtEveryLink: whatever a caller or an error
// tracker reaches through Unwrap or errors.As has scrubbed text, while
// errors.Is with the context's errors, errors.As to *url.Error and
// net.Error, and Timeout keep working.
func TestErrorChainIsScrubbedAtEveryLink(t *testing.T) {
	c, mt := mockClient(t)
	var wire error
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		wire = &echoError{text: `malformed MIME header line: "` + r.URL.RawQuery + ` x-api-key: ` + r.Header.Get("x-api-key") +
			` 2341.2341.2346 ２３４１２３４１２３４６"; unquoted: 2341.2341.2346 ２３４１２３４１２３４６ ` + r.Header.Get("x-api-key")}
		return nil, fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w (%w)", wire, context.DeadlineExceeded)
	})
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	extra := []string{"2341.2341.2346", "２３４１２３４１２３４６", "aadhaar_number=2"}

	for e := err; e != nil; e = errors.Unwrap(e) {
		assertNoLeak(t, e, extra...)
	}
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, genURL, ue.URL)
	assertNoLeak(t, ue, extra...)
	assertNoLeak(t, ue.Err, extra...)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assertNoLeak(t, ne, extra...)
	var ee *echoError
	assert.False(t, errors.As(err, &ee), "an error whose text holds the query is never handed out")
	assert.Nil(t, ee)
	assert.Contains(t, err.Error(), `malformed MIME header line: "[server bytes]"`, "what net/http quotes is replaced, the kind of fault kept")
	assert.Contains(t, err.Error(), "XXXX XXXX 2346 XXXX XXXX 2346", "masked in the UIDAI form, keeping the last four digits")
	assert.Contains(t, err.Error(), "[REDACTED]")
}

// TestCleanErrorsAreHandedOut: errors.As still reaches an error of the
// original chain whose text quotes nothing sensitive.
func TestCleanErrorsAreHandedOut(t *testing.T) {
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, genURL, httpmock.NewErrorResponder(&net.OpError{Op: "read", Net: "tcp",
		Err: errors.New("connection reset by peer")}))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "read", oe.Op)
}

// TestNilTransportMeansDefaultTransport follows net/http: with
// WithHTTPClient(&http.Client{}) or http.DefaultClient the SDK sends through
// http.DefaultTransport, looked up at each call, so httpmock.Activate
// intercepts every call instead of letting it reach production.
func TestNilTransportMeansDefaultTransport(t *testing.T) {
	httpmock.Activate()
	defer httpmock.DeactivateAndReset()
	httpmock.RegisterResponder(http.MethodPost, DefaultBaseURL+"/v2/ekyc/aadhaar/generate-otp", jsonResponder(200, successOTP))
	for name, hc := range map[string]*http.Client{"&http.Client{}": {}, "http.DefaultClient": http.DefaultClient} {
		t.Run(name, func(t *testing.T) {
			c, err := NewClient(testID, testSecret, WithHTTPClient(hc))
			require.NoError(t, err)
			res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			require.NoError(t, err)
			assert.Equal(t, "29756208", res.ReferenceID)
		})
	}
	assert.Equal(t, 2, httpmock.GetTotalCallCount())
	assert.Nil(t, http.DefaultClient.CheckRedirect, "the caller's client is not modified")
}

// TestResponseHeadersAreBounded: the SDK's transport reads at most 64 KiB
// of response headers (Go's default is 10 MiB per answer).
func TestResponseHeadersAreBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 40; i++ {
			w.Header().Add("X-Padding-"+strconv.Itoa(i), strings.Repeat("p", 4000))
		}
		_, _ = io.WriteString(w, successOTP)
	}))
	defer srv.Close()
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL))
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "headers exceeded")
	assertNoLeak(t, err)
}

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
	defer c.CloseIdleConnections()
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusTemporaryRedirect, ae.StatusCode)
	assert.ErrorIs(t, err, ErrUnexpectedResponse)
	assert.Zero(t, elsewhere.Load(), "credentials and the number must reach one host only")
	assertNoLeak(t, err)
}
