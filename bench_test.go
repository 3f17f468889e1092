package deepvue

// Benchmarks: the SDK against the same call written by hand, all against one
// loopback server answering the documented success body. See BENCHMARKS.md
// for the command, the machine and the results.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue/internal/uid"
)

// handOTPResponse is what a hand-written integration decodes into.
type handOTPResponse struct {
	Code          int    `json:"code"`
	Timestamp     int64  `json:"timestamp"`
	TransactionID string `json:"transaction_id"`
	SubCode       string `json:"sub_code"`
	Message       string `json:"message"`
	ReferenceID   string `json:"reference_id"`
}

// handGenerateOTP is the call written the way the API documentation shows
// it: build the URL, set the two headers, send, read, decode.
func handGenerateOTP(ctx context.Context, hc *http.Client, base, id, secret, number, purpose string) (*handOTPResponse, error) {
	q := url.Values{}
	q.Set("aadhaar_number", number)
	q.Set("consent", "Y")
	q.Set("purpose", purpose)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v2/ekyc/aadhaar/generate-otp?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("client-id", id)
	req.Header.Set("x-api-key", secret)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var out handOTPResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// tunedTransport is what an expert tunes by hand: a large idle pool.
func tunedTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
	}
}

func benchSDK(b *testing.B, srvURL string) *Client {
	c, err := NewClient(testID, testSecret, WithBaseURL(srvURL))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.CloseIdleConnections)
	return c
}

// tunedHTTP2 is a hand-tuned transport that negotiates HTTP/2.
func tunedHTTP2() *http.Transport {
	t := tunedTransport()
	t.ForceAttemptHTTP2 = true
	t.TLSClientConfig = &tls.Config{RootCAs: testPKI.pool}
	return t
}

// tunedHTTP1 is a hand-tuned HTTP/1.1 transport with a large pool.
func tunedHTTP1() *http.Transport {
	t := tunedTransport()
	t.TLSClientConfig = &tls.Config{RootCAs: testPKI.pool}
	return t
}

// sdkBeforeTransport is the SDK 0.1 default: the same pool, negotiating
// HTTP/2, no header bound.
func sdkBeforeTransport() *http.Transport {
	t := NewTransport()
	t.MaxConnsPerHost = 0
	t.ForceAttemptHTTP2 = true
	t.MaxResponseHeaderBytes = 0
	return t
}

// BenchmarkGenerateOTPTLS is BenchmarkGenerateOTP over TLS against a server
// offering HTTP/2: the SDK's default transport (trusting the test CA as a
// system root through SSL_CERT_FILE, see TestMain), the 0.1 default that
// negotiated HTTP/2, the documentation's zero client, and hand-tuned
// HTTP/1.1 and HTTP/2 transports.
func BenchmarkGenerateOTPTLS(b *testing.B) {
	requireSystemTrust(b)
	srvURL := benchTLSServer(b)
	ctx := context.Background()
	sdk := benchSDK(b, srvURL)
	before, err := NewClient(testID, testSecret, WithBaseURL(srvURL), WithHTTPClient(&http.Client{Transport: sdkBeforeTransport()}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(before.CloseIdleConnections)
	docStyle := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true}} // DefaultTransport's settings, own pool
	h1 := &http.Client{Transport: tunedHTTP1()}
	h2 := &http.Client{Transport: tunedHTTP2()}
	for _, hc := range []*http.Client{docStyle, h1, h2} {
		b.Cleanup(hc.CloseIdleConnections)
	}
	hand := func(hc *http.Client) func(string) error {
		return func(number string) error {
			_, err := handGenerateOTP(ctx, hc, srvURL, testID, testSecret, number, testPurpose)
			return err
		}
	}
	calls := []benchCall{
		{"SDK", func(number string) error { _, err := sdk.GenerateOTP(ctx, number, ConsentYes, testPurpose); return err }},
		{"SDKBeforeHTTP2", func(number string) error {
			_, err := before.GenerateOTP(ctx, number, ConsentYes, testPurpose)
			return err
		}},
		{"HandDocStyle", hand(docStyle)},
		{"HandTunedHTTP1", hand(h1)},
		{"HandTunedHTTP2", hand(h2)},
	}
	runVariants(b, calls)
}

// benchCall is one variant of a benchmark: a generate-otp call for number.
type benchCall struct {
	name string
	call func(number string) error
}

// benchNumbers are valid Aadhaar numbers, one per goroutine of a parallel
// benchmark: identical calls made at the same time on one Client share one
// request (double submits, flight.go), so concurrent calls for one number
// would measure the join, not the call.
var benchNumbers = func() []string {
	var ns []string
	for i := 0; len(ns) < 256; i++ {
		body := "23412341" + strconv.Itoa(1000 + i)[1:]
		n := body + string(uid.CheckDigit(body))
		if _, r := uid.Check(n); r == uid.OK {
			ns = append(ns, n)
		}
	}
	return ns
}()

// runVariants runs each call serially (for validNumber) and with 32
// goroutines per CPU (each for a number of its own: benchNumbers), in
// reverse order when DEEPVUE_BENCH_REVERSE=1 (so that no variant always
// runs first, on a cold server, or last).
func runVariants(b *testing.B, calls []benchCall) {
	if os.Getenv("DEEPVUE_BENCH_REVERSE") == "1" {
		for i, j := 0, len(calls)-1; i < j; i, j = i+1, j-1 {
			calls[i], calls[j] = calls[j], calls[i]
		}
	}
	for _, c := range calls {
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := c.call(validNumber); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/parallel32", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(32)
			var next atomic.Int32
			b.RunParallel(func(pb *testing.PB) {
				number := benchNumbers[int(next.Add(1)-1)%len(benchNumbers)]
				for pb.Next() {
					if err := c.call(number); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkGenerateOTP(b *testing.B) {
	srvURL := benchServer(b)
	ctx := context.Background()
	sdk := benchSDK(b, srvURL)
	docStyle := &http.Client{} // the documentation's zero client: DefaultTransport, 2 idle connections per host
	tuned := &http.Client{Transport: tunedTransport()}
	b.Cleanup(tuned.CloseIdleConnections)

	calls := []benchCall{
		{"SDK", func(number string) error {
			_, err := sdk.GenerateOTP(ctx, number, ConsentYes, testPurpose)
			return err
		}},
		{"HandDocStyle", func(number string) error {
			_, err := handGenerateOTP(ctx, docStyle, srvURL, testID, testSecret, number, testPurpose)
			return err
		}},
		{"HandTuned", func(number string) error {
			_, err := handGenerateOTP(ctx, tuned, srvURL, testID, testSecret, number, testPurpose)
			return err
		}},
	}
	runVariants(b, calls)
}

// cannedTransport answers every request from memory: with it, a benchmark
// measures only the client-side cost of a call (building the request,
// headers, retry layer, reading and decoding), free of network noise.
type cannedTransport struct{ body []byte }

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: r}, nil
}

// BenchmarkClientOverhead compares the SDK and the hand-written call on an
// in-memory transport: the SDK's own cost per call.
func BenchmarkClientOverhead(b *testing.B) {
	rt := cannedTransport{[]byte(successOTP)}
	sdk, err := NewClient(testID, testSecret, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: rt}
	b.Run("SDK", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := sdk.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Hand", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := handGenerateOTP(context.Background(), hc, testBase, testID, testSecret, validNumber, testPurpose); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerifyOTP(b *testing.B) {
	srvURL := benchServer(b)
	sdk := benchSDK(b, srvURL)
	req := VerifyOTPRequest{ReferenceID: "29756208", OTP: testOTP, Consent: ConsentYes, Purpose: testPurpose,
		MobileNumber: testMobile, GeneratePDF: true}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d, err := sdk.VerifyOTP(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		if len(d.PDF) != 100<<10 {
			b.Fatal("pdf size", len(d.PDF))
		}
	}
}

func BenchmarkValidateAadhaar(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := ValidateAadhaar("234123412346"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMaskAadhaar(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = MaskAadhaar("234123412346")
	}
}

// BenchmarkPlanLimiterWait is NewPlanLimiter's own cost per call, never
// waiting (a plan far above the rate): compare redislimit's BenchmarkWait.
func BenchmarkPlanLimiterWait(b *testing.B) {
	l := NewPlanLimiter(Plan{PerSecond: 1 << 24, PerMinute: 1 << 24, PerDay: 1 << 24})
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := l.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// statusTransport answers every request from memory with status and body.
type statusTransport struct {
	status int
	body   []byte
}

func (c statusTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: r}, nil
}

// digitsPage is errorPage without a letter in its message: digit runs,
// separators and addresses only ("1234 5678-9012, 98765.43210
// 10.0.0.1:8080; " repeated), so that no letter ends a spelling before the
// cut.
func digitsPage(size int) []byte {
	const head, tail = `{"code":400,"sub_code":"INVALID_INPUT","transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84","message":"`, `"}`
	unit := "1234 5678-9012, 98765.43210 10.0.0.1:8080; "
	var b strings.Builder
	b.Grow(size)
	b.WriteString(head)
	for b.Len()+len(unit)+len(tail) <= size {
		b.WriteString(unit)
	}
	b.WriteString(tail)
	return []byte(b.String())
}

// successPage is a generate-otp success whose message pads it to about size
// bytes.
func successPage(size int) []byte {
	const head, tail = `{"code":200,"timestamp":1738332826135,"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84","sub_code":"SUCCESS","reference_id":"29756208","message":"`, `"}`
	unit := "OTP sent to your Registered Mobile number 1234 5678-9012. "
	var b strings.Builder
	b.WriteString(head)
	for b.Len()+len(unit)+len(tail) <= size {
		b.WriteString(unit)
	}
	b.WriteString(tail)
	return []byte(b.String())
}

// BenchmarkAnswerSize is the cost of a call as its answer grows, from 100 B to
// the bound (MaxResponseBytes), on the error path (HTTP 400 whose message is
// free text full of digit runs), the success path, and the error path with
// no letter in the message (digits: the scrubber's worst case), for the SDK
// and the hand-written call, on an in-memory transport.
// The SDK's cost must stay a constant factor of the hand-written call's: it
// scrubs only what it keeps.
func BenchmarkAnswerSize(b *testing.B) {
	sizes := []struct {
		name string
		n    int
	}{{"100B", 100}, {"1KiB", 1 << 10}, {"10KiB", 10 << 10}, {"100KiB", 100 << 10}, {"500KiB", 500 << 10}, {"1MiB", MaxResponseBytes - 1024}}
	for _, path := range []struct {
		name   string
		status int
		page   func(int) []byte
	}{{"error", 400, errorPage}, {"success", 200, successPage}, {"digits", 400, digitsPage}} {
		for _, size := range sizes {
			rt := statusTransport{path.status, path.page(size.n)}
			sdk, err := NewClient(testID, testSecret, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: rt}))
			if err != nil {
				b.Fatal(err)
			}
			hc := &http.Client{Transport: rt}
			b.Run(path.name+"/"+size.name+"/SDK", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(rt.body)))
				for i := 0; i < b.N; i++ {
					_, err := sdk.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
					if (err != nil) != (path.status != 200) {
						b.Fatal(err)
					}
				}
			})
			b.Run(path.name+"/"+size.name+"/Hand", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(rt.body)))
				for i := 0; i < b.N; i++ {
					if _, err := handGenerateOTP(context.Background(), hc, testBase, testID, testSecret, validNumber, testPurpose); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
