package deepvue

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test values. The Aadhaar numbers are python-stdnum's public test vectors
// and the fake server's synthetic ones; the OTP and mobile are made up.
const (
	testID       = "test-client-id"
	testSecret   = "live_s3cr3t_value_never_print"
	validNumber  = "234123412346"
	otherNumber  = "499181234560"
	testOTP      = "482913"
	testMobile   = "9123456780"
	testBase     = "https://api.deepvue.test/base"
	genURL       = testBase + "/v2/ekyc/aadhaar/generate-otp"
	verURL       = testBase + "/v2/ekyc/aadhaar/verify-otp"
	testPurpose  = "KYC for loan account opening"
	successOTP   = `{"code":200,"timestamp":1738332826135,"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84","sub_code":"SUCCESS","message":"OTP sent to your Registered Mobile number. Check your mobile.","reference_id":"29756208"}`
	sourceFailBd = `{"code":500,"timestamp":1738332826135,"transaction_id":"tx-source","sub_code":"SOURCE_FAILURE","message":"Authorised source is temporarily unavailable, please try again shortly."}`
)

// sensitive lists every value that must never be printed or logged.
var sensitive = []string{validNumber, "2341 2341 2346", otherNumber, testOTP, testMobile, testSecret}

// mockClient returns a Client whose requests go to an httpmock transport,
// declared single-attempt as the README advises (so its answers get
// production's states), with a base path so that a wrongly built URL finds
// no responder.
func mockClient(t *testing.T, opts ...Option) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	all := append([]Option{
		WithHTTPClient(&http.Client{Transport: mt}),
		WithSingleAttemptTransport(), // httpmock makes one attempt per RoundTrip: production's states
		// A memory budget of its own, so that a test can check it is all
		// returned whatever other tests hold of the process's.
		WithMaxBufferedBytes(DefaultMaxBufferedBytes),
		WithBaseURL(testBase),
		WithRetryWait(0, 0),
		// A pending store of its own: the process's would carry the OTPs
		// other tests sent for the same numbers into this test's 409s.
		WithPendingStore(NewMemoryPendingStore(0), []byte("mockClient-pending-hash-key-0123")),
	}, opts...)
	c, err := NewClient(testID, testSecret, all...)
	require.NoError(t, err)
	return c, mt
}

// jsonResponder answers status with body as JSON.
func jsonResponder(status int, body string) httpmock.Responder {
	return func(*http.Request) (*http.Response, error) {
		r := httpmock.NewStringResponse(status, body)
		r.Header.Set("Content-Type", "application/json")
		return r, nil
	}
}

// assertNoLeak checks every rendering of v, and every error in its chain,
// for the sensitive values.
func assertNoLeak(t *testing.T, v any, extra ...string) {
	t.Helper()
	var texts []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		texts = append(texts, fmt.Sprintf(verb, v))
	}
	if err, ok := v.(error); ok {
		for e := err; e != nil; e = errors.Unwrap(e) {
			texts = append(texts, e.Error(), fmt.Sprintf("%#v", e))
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, testHandlerOptions)).Debug("x", "value", v)
	texts = append(texts, buf.String())
	for _, text := range texts {
		for _, s := range append(sensitive, extra...) {
			assert.NotContains(t, text, s, "leaked in %q", text)
		}
	}
}

// logBuffer is a concurrency-safe slog JSON sink at debug level.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, testHandlerOptions))
}

// testHandlerOptions log at Debug without the record's time and the
// "elapsed_ms": their digits are arbitrary, and a timestamp such as
// 22:49:50.482913205 holds the test OTP by chance (a flake the stress runs
// found), while neither can carry anything the SDK was given.
var testHandlerOptions = &slog.HandlerOptions{
	Level: slog.LevelDebug,
	ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == "elapsed_ms") {
			return slog.Attr{}
		}
		return a
	},
}

// sentinels lists every sentinel an answer or a validation failure selects,
// from the table of answers (errors.go), to check that an error matches
// exactly one.
var sentinels = answerSentinels()

// matched returns the sentinels err matches.
func matched(err error) []error {
	var out []error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			out = append(out, s)
		}
	}
	return out
}

// ---- TLS ----

// testPKI is a certificate authority made for this test binary, and a
// server certificate it signed for 127.0.0.1, ::1 and localhost. TestMain
// writes the CA to a file named by SSL_CERT_FILE before anything loads the
// system roots, so the SDK's default transport, unchanged, trusts test
// servers as it trusts Deepvue.
var testPKI struct {
	pool          *x509.CertPool
	leaf          tls.Certificate
	systemTrusted bool // SSL_CERT_FILE took effect (Linux and BSDs; not macOS or Windows)
}

func setupPKI() (cleanup func()) {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "deepvue-go test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	ca, err := x509.ParseCertificate(caDER)
	must(err)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	must(err)
	testPKI.leaf = tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
	testPKI.pool = x509.NewCertPool()
	testPKI.pool.AddCert(ca)

	dir, err := os.MkdirTemp("", "deepvue-pki-")
	must(err)
	file := filepath.Join(dir, "ca.pem")
	must(os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	must(os.Setenv("SSL_CERT_FILE", file))
	leaf, err := x509.ParseCertificate(leafDER)
	must(err)
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1"}) // system roots
	testPKI.systemTrusted = err == nil
	return func() { os.RemoveAll(dir) }
}

// serverTLS returns a server config with the test certificate, offering
// protos by ALPN.
func serverTLS(protos ...string) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{testPKI.leaf}, NextProtos: protos, MinVersion: tls.VersionTLS12}
}

// requireSystemTrust skips a test that needs the SDK's default transport to
// trust the test CA where SSL_CERT_FILE does not set the system roots.
func requireSystemTrust(t testing.TB) {
	t.Helper()
	if !testPKI.systemTrusted {
		t.Skip("SSL_CERT_FILE does not set the system roots on this platform")
	}
}
