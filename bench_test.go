package deepvue

// Benchmarks: the SDK against the same call written by hand, all against one
// loopback server answering the documented success body. See BENCHMARKS.md
// for the command, the machine and the results.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// benchServer answers generate-otp with the documented success body and
// verify-otp with a realistic answer (about 30 KB of photo, 100 KB of PDF).
func benchServer(b *testing.B) *httptest.Server {
	b.Helper()
	gen := []byte(successOTP)
	photo := bytes.Repeat([]byte{0xFF, 0xD8, 0x42}, 10<<10)  // 30 KiB
	pdf := bytes.Repeat([]byte("%PDF-1.4 sample "), 100<<6) // 100 KiB
	ver := []byte(`{"code":200,"timestamp":1738243999577,"transaction_id":"f6efc218742a405c8dd65cf19c13b878","sub_code":"SUCCESS","message":"Aadhaar eKYC Successful","data":{"address":{"careOf":"S/O H. Nue Mahammed","country":"India","district":"Bangalore","house":"NO. 6","landmark":"","locality":"MTS LAYOUT J X NAGAR 51TH PHASE","pin":"561118","postOffice":"J P Nagar","state":"Karnataka","street":"19TH MAIN","subDistrict":"","vtc":"Bangalore"},"dateOfBirth":"28-06-1999","email":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","gender":"M","generatedAt":"1738304139979","maskedNumber":"xxxx-xxxx-8091","name":"Mohammed Nihar","phone":"60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752","photo":"` +
		base64.StdEncoding.EncodeToString(photo) + `","aadhaar_linked_mobile_match":"Yes","document_pdf":"` +
		base64.StdEncoding.EncodeToString(pdf) + `"}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := gen
		if r.URL.Path == "/v2/ekyc/aadhaar/verify-otp" {
			body = ver
		}
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

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

func benchSDK(b *testing.B, srv *httptest.Server) *Client {
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.CloseIdleConnections)
	return c
}

func BenchmarkGenerateOTP(b *testing.B) {
	srv := benchServer(b)
	ctx := context.Background()
	sdk := benchSDK(b, srv)
	docStyle := &http.Client{} // the documentation's zero client: DefaultTransport, 2 idle connections per host
	tuned := &http.Client{Transport: tunedTransport()}
	b.Cleanup(tuned.CloseIdleConnections)

	calls := []struct {
		name string
		call func() error
	}{
		{"SDK", func() error {
			_, err := sdk.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
			return err
		}},
		{"HandDocStyle", func() error {
			_, err := handGenerateOTP(ctx, docStyle, srv.URL, testID, testSecret, validNumber, testPurpose)
			return err
		}},
		{"HandTuned", func() error {
			_, err := handGenerateOTP(ctx, tuned, srv.URL, testID, testSecret, validNumber, testPurpose)
			return err
		}},
	}
	for _, c := range calls {
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := c.call(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/parallel32", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkVerifyOTP(b *testing.B) {
	srv := benchServer(b)
	sdk := benchSDK(b, srv)
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
