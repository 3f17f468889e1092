package deepvue

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
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

func splitLines(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + `\n`)
		s = s[76:]
	}
	return b.String() + s
}

func TestBirthDateForms(t *testing.T) {
	for in, want := range map[string]time.Time{
		"28-06-1999": time.Date(1999, 6, 28, 0, 0, 0, 0, time.UTC),
		"28/06/1999": time.Date(1999, 6, 28, 0, 0, 0, 0, time.UTC),
		"1999-06-28": time.Date(1999, 6, 28, 0, 0, 0, 0, time.UTC),
		"1999":       time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		d := AadhaarData{DateOfBirth: in}
		got, yearOnly, err := d.BirthDate()
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
		assert.Equal(t, in == "1999", yearOnly)
	}
	for _, in := range []string{"", "31-02-1999", "tomorrow", "0000"} {
		d := AadhaarData{DateOfBirth: in}
		_, _, err := d.BirthDate()
		assert.Error(t, err, in)
		_, err = d.AgeOn(time.Now())
		assert.Error(t, err, in)
	}
}

func TestVerifyRequestNeverPrintsOTPOrMobile(t *testing.T) {
	req := validVerifyRequest()
	req.MobileNumber = testMobile
	assertNoLeak(t, req)
	assertNoLeak(t, &req)
	assert.Contains(t, fmt.Sprint(req), "OTP: [REDACTED]")
	assert.Contains(t, fmt.Sprintf("%+v", &req), "MobileNumber: [REDACTED]")
	// Inside the caller's own struct, fmt still calls Format on the field and
	// slog's JSON handler calls MarshalJSON.
	type wrapper struct{ Req VerifyOTPRequest }
	assertNoLeak(t, wrapper{req})
	b, err := json.Marshal(req)
	require.NoError(t, err)
	assert.JSONEq(t, `{"reference_id":"29756208","otp":"[REDACTED]","consent":"Y","purpose":"KYC for loan account opening","mobile_number":"[REDACTED]","generate_pdf":false}`, string(b))
}

// TestVerifyRequestScrubsPurposeAndReferenceID (issue 24 item 8): a
// Purpose, ReferenceID or Consent that holds the request's own OTP or
// mobile number, or an Aadhaar number, in any spelling, is printed scrubbed
// in every fmt verb, in slog (text and JSON) and in JSON (before: in
// clear).
func TestVerifyRequestScrubsPurposeAndReferenceID(t *testing.T) {
	spellings := []string{testOTP, "482 913", "४८२९१३", testMobile, "91234-56780", validNumber, "2341 2341 2346", "2341%202341%202346"}
	for _, s := range spellings {
		for _, req := range []VerifyOTPRequest{
			{ReferenceID: "ref-" + s, OTP: testOTP, Consent: ConsentYes, Purpose: testPurpose, MobileNumber: testMobile},
			{ReferenceID: "29756208", OTP: testOTP, Consent: ConsentYes, Purpose: "KYC for " + s, MobileNumber: testMobile},
			{ReferenceID: "29756208", OTP: testOTP, Consent: Consent(testOTP), Purpose: testPurpose},
		} {
			var texts []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
				texts = append(texts, fmt.Sprintf(verb, req), fmt.Sprintf(verb, &req))
			}
			b, err := json.Marshal(req)
			require.NoError(t, err)
			texts = append(texts, string(b))
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "req", req)
			slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "req", req)
			texts = append(texts, buf.String())
			for _, text := range texts {
				for _, v := range []string{testOTP, "482 913", "४८२९१३", testMobile, "91234-56780", "234123412346", "2341 2341 2346", "2341%202341"} {
					assert.NotContains(t, text, v, "spelling %q", s)
				}
			}
		}
	}
	// What holds none of them is printed as it is.
	req := VerifyOTPRequest{ReferenceID: "29756208", OTP: testOTP, Consent: ConsentYes, Purpose: "Loan onboarding KYC, branch 42"}
	assert.Contains(t, fmt.Sprint(req), `Purpose: "Loan onboarding KYC, branch 42"`)
	assert.Contains(t, fmt.Sprint(req), `ReferenceID: "29756208"`)
}

// TestAadhaarDataPrintsNoPersonalData: every fmt verb and slog show what
// LogValue shows (ids, masked number, sizes, which fields are present),
// never the name, birth date, gender, address, hashes, photo or PDF; while
// json.Marshal, for storing the result, keeps everything.
func TestAadhaarDataPrintsNoPersonalData(t *testing.T) {
	yes := true
	d := &AadhaarData{TransactionID: "tx-1", Name: "Mohammed Nihar", Gender: "M", DateOfBirth: "28-06-1999",
		Address:   Address{House: "NO. 6", Street: "19TH MAIN", VTC: "Bangalore", Pin: "561118"},
		EmailHash: "emailhash9f86d0", PhoneHash: "phonehash60303a",
		Photo: photoBytes, PDF: pdfBytes, MobileMatch: &yes, MaskedNumber: "xxxx-xxxx-8091"}
	personal := []string{"Mohammed", "28-06-1999", "1999", "NO. 6", "19TH MAIN", "Bangalore", "561118",
		"emailhash9f86d0", "phonehash60303a", "PHOTOSECRETBYTES", "PDFSECRETBYTES",
		base64.StdEncoding.EncodeToString(photoBytes)[:12]}
	type wrapper struct{ Data AadhaarData }
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for _, v := range []any{d, *d, wrapper{*d}} {
			out := fmt.Sprintf(verb, v)
			for _, p := range personal {
				assert.NotContains(t, out, p, "%s of %T", verb, v)
			}
			assert.Contains(t, out, fmt.Sprintf("Photo: <%d bytes>", len(photoBytes)), verb)
			assert.Contains(t, out, "tx-1", verb)
			assert.Contains(t, out, "xxxx-xxxx-8091", verb)
			assert.Contains(t, out, "name gender date_of_birth address email_hash phone_hash", verb)
		}
	}
	assert.True(t, strings.HasPrefix(fmt.Sprintf("%q", d), `"deepvue.AadhaarData{`), "%q quotes")
	for _, h := range []slog.Handler{slog.NewJSONHandler(&bytes.Buffer{}, nil), slog.NewTextHandler(&bytes.Buffer{}, nil)} {
		var buf bytes.Buffer
		switch h.(type) {
		case *slog.JSONHandler:
			h = slog.NewJSONHandler(&buf, testHandlerOptions)
		default:
			h = slog.NewTextHandler(&buf, testHandlerOptions)
		}
		slog.New(h).Info("kyc", "data", d)
		out := buf.String()
		assert.Contains(t, out, `photo_bytes`)
		assert.Contains(t, out, "tx-1")
		for _, p := range personal {
			assert.NotContains(t, out, p)
		}
	}
	b, err := json.Marshal(d)
	require.NoError(t, err)
	var back AadhaarData
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, *d, back, "json.Marshal is complete, for storing the KYC result")
}

func TestVerifyOTPBoundIsLargerForPhotoAndPDF(t *testing.T) {
	c, mt := mockClient(t)
	bigPDF := bytes.Repeat([]byte{'%'}, 3<<20) // 3 MiB PDF: over the 1 MiB bound of generate-otp
	body := verifySuccessBody(`,"document_pdf":"` + base64.StdEncoding.EncodeToString(bigPDF) + `"`)
	mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(200, body))
	req := validVerifyRequest()
	req.GeneratePDF = true
	d, err := c.VerifyOTP(context.Background(), req)
	require.NoError(t, err)
	assert.Len(t, d.PDF, len(bigPDF))

	huge := `{"sub_code":"SUCCESS","data":{"photo":"` + strings.Repeat("A", MaxVerifyResponseBytes) + `"}}`
	mt.RegisterResponder(http.MethodPost, verURL, func(*http.Request) (*http.Response, error) {
		r := httpmock.NewStringResponse(200, huge)
		r.ContentLength = -1
		return r, nil
	})
	_, err = c.VerifyOTP(context.Background(), req)
	assert.ErrorIs(t, err, ErrUnexpectedResponse)
	assert.ErrorContains(t, err, "larger than")
}

func TestVerifyOTPLogsNoPII(t *testing.T) {
	logs := &logBuffer{}
	c, mt := mockClient(t, WithLogger(logs.logger()))
	mt.RegisterResponder(http.MethodPost, verURL,
		jsonResponder(500, sourceFailBd).Then(jsonResponder(400, `{"sub_code":"INVALID_OTP","message":"OTP `+testOTP+` is wrong for `+testMobile+`"}`)))
	req := validVerifyRequest()
	req.MobileNumber = testMobile
	_, err := c.VerifyOTP(context.Background(), req)
	require.Error(t, err)
	assertNoLeak(t, err)
	assert.Contains(t, err.Error(), "OTP ****** is wrong for **********")
	out := logs.String()
	assert.Contains(t, out, "retrying after SOURCE_FAILURE")
	for _, s := range sensitive {
		assert.NotContains(t, out, s)
	}
}
