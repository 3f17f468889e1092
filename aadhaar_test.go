package deepvue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ---- ValidateAadhaar / MaskAadhaar ----

func TestValidateAadhaarVectors(t *testing.T) {
	valid := []string{
		"234123412346", "234567890124", "499181234560", "999941057058",
		"2341 2341 2346", "2341-2341-2346", " 234123412346\n", "\t2341 2341 2346 \r\n",
		"2-3-4-1-2-3-4-1-2-3-4-6", "  --234123412346--  ", "\u00a0234123412346\u3000", "\x1c234123412346\x1f",
	}
	for _, v := range valid {
		assert.NoError(t, ValidateAadhaar(v), "%q", v)
	}
	invalid := map[string]string{
		"234123412347":    "wrong check digit",
		"123412341234":    "must not start with 0 or 1",
		"023412341234":    "must not start with 0 or 1",
		"222222222222":    "must not be a palindrome",
		"643343121":       "must have 12 digits",
		"":                "must have 12 digits",
		"   ":             "must have 12 digits",
		"2341234123460":   "must have 12 digits",
		"2341\t23412346":  "only digits",
		"23412341234a":    "only digits",
		"２３４１２３４１２３４６":    "only digits", // full-width digits are not ASCII
		"2341.2341.2346":  "only digits",
		"+91234123412346": "only digits",
	}
	for v, want := range invalid {
		err := ValidateAadhaar(v)
		require.Error(t, err, "%q", v)
		assert.Contains(t, err.Error(), want, "%q", v)
		assert.ErrorIs(t, err, ErrInvalidInput)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "aadhaar_number", ve.Field)
		if len(v) >= 4 {
			assert.NotContains(t, err.Error(), strings.TrimSpace(v)[:4])
		}
	}
}

func TestValidateAadhaarDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { _ = ValidateAadhaar("234123412346") })
	assert.Zero(t, allocs)
	allocs = testing.AllocsPerRun(100, func() { _ = ValidateAadhaar("2341 2341 2346") })
	assert.Zero(t, allocs)
}

func TestMaskAadhaar(t *testing.T) {
	assert.Equal(t, "XXXX XXXX 2346", MaskAadhaar("234123412346"))
	assert.Equal(t, "XXXX XXXX 0124", MaskAadhaar("2345 6789 0124"))
	assert.Equal(t, "XXXX XXXX 2347", MaskAadhaar("234123412347"), "a typo is still masked, not refused")
	assert.Equal(t, "XXXX XXXX XXXX", MaskAadhaar("643343121"))
	assert.Equal(t, "XXXX XXXX XXXX", MaskAadhaar("hello 1234"))
	assert.Equal(t, "XXXX XXXX XXXX", MaskAadhaar(""))
}

// ---- GenerateOTP: request ----

func TestGenerateOTPRequest(t *testing.T) {
	c, mt := mockClient(t)
	var got *http.Request
	mt.RegisterResponder(http.MethodPost, genURL, func(r *http.Request) (*http.Response, error) {
		got = r
		return jsonResponder(200, successOTP)(r)
	})
	res, err := c.GenerateOTP(context.Background(), " 2341-2341 2346 ", ConsentYes, "KYC for loan & card: 100%")
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, http.MethodPost, got.Method)
	assert.Equal(t, "/base/v2/ekyc/aadhaar/generate-otp", got.URL.Path)
	assert.Equal(t, url.Values{
		"aadhaar_number": {"234123412346"},
		"consent":        {"Y"},
		"purpose":        {"KYC for loan & card: 100%"},
	}, got.URL.Query())
	assert.Equal(t, int64(0), got.ContentLength)

	assert.Equal(t, &OTPResponse{
		ReferenceID:   "29756208",
		TransactionID: "12815fb81c084fb7a35eedc0ef1c5a84",
		Message:       "OTP sent to your Registered Mobile number. Check your mobile.",
		Timestamp:     time.UnixMilli(1738332826135),
		ExpiresAt:     time.UnixMilli(1738332826135).Add(10 * time.Minute),
	}, res)
}

func TestLocalValidationNeverReachesNetwork(t *testing.T) {
	tests := []struct {
		name, number string
		consent      Consent
		purpose      string
		field        string
	}{
		{"checksum", "234123412347", ConsentYes, testPurpose, "aadhaar_number"},
		{"length", "643343121", ConsentYes, testPurpose, "aadhaar_number"},
		{"starts with 1", "123412341234", ConsentYes, testPurpose, "aadhaar_number"},
		{"palindrome", "222222222222", ConsentYes, testPurpose, "aadhaar_number"},
		{"consent N", validNumber, ConsentNo, testPurpose, "consent"},
		{"consent empty", validNumber, "", testPurpose, "consent"},
		{"consent lower y", validNumber, "y", testPurpose, "consent"},
		{"consent yes", validNumber, "yes", testPurpose, "consent"},
		{"purpose blank", validNumber, ConsentYes, " \t ", "purpose"},
		{"purpose empty", validNumber, ConsentYes, "", "purpose"},
		{"purpose too long", validNumber, ConsentYes, strings.Repeat("p", 501), "purpose"},
		{"purpose control", validNumber, ConsentYes, "kyc\r\nX: y", "purpose"},
		{"purpose bad utf8", validNumber, ConsentYes, "kyc\xff", "purpose"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
			res, err := c.GenerateOTP(context.Background(), tt.number, tt.consent, tt.purpose)
			assert.Nil(t, res)
			require.Error(t, err)
			assert.Equal(t, []error{ErrInvalidInput}, matched(err))
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.field, ve.Field)
			assert.Zero(t, mt.GetTotalCallCount())
			assertNoLeak(t, err)
		})
	}
}

// ---- GenerateOTP: every documented answer ----

func TestGenerateOTPDocumentedAnswers(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    error
		subCode string
		message string
		detail  string
		ref     string
	}{
		{"invalid UID", 400,
			`{"code":400,"timestamp":1738332826135,"transaction_id":"t1","sub_code":"INVALID_INPUT","message":"Invalid UID. Please enter valid UID"}`,
			ErrInvalidInput, "INVALID_INPUT", "Invalid UID. Please enter valid UID", "", ""},
		{"mobile not linked", 400,
			`{"code":400,"timestamp":1738332826135,"transaction_id":"t2","sub_code":"AADHAAR_MOBILE_NOT_LINKED","message":"Aadhaar number does not have mobile number","reference_id":"29756209"}`,
			ErrMobileNotLinked, "AADHAAR_MOBILE_NOT_LINKED", "Aadhaar number does not have mobile number", "", "29756209"},
		{"pending", 409,
			`{"code":409,"timestamp":1738332826135,"transaction_id":"t3","sub_code":"VERIFICATION_PENDING","message":"Otp already generated for this aadhaar, please try after some time.","reference_id":""}`,
			ErrVerificationPending, "VERIFICATION_PENDING", "Otp already generated for this aadhaar, please try after some time.", "", ""},
		{"pattern", 422,
			`{"code":422,"timestamp":1738332826135,"transaction_id":"t4","sub_code":"INVALID_INPUT","message":"Invalid Aadhaar Number Pattern."}`,
			ErrInvalidInput, "INVALID_INPUT", "Invalid Aadhaar Number Pattern.", "", ""},
		{"source failure", 500, sourceFailBd,
			ErrSourceFailure, "SOURCE_FAILURE", "Authorised source is temporarily unavailable, please try again shortly.", "", ""},
		{"wrong credentials 401", 401, `{"detail":"Invalid client_id or client_secret, access Denied"}`,
			ErrUnauthorized, "", "", "Invalid client_id or client_secret, access Denied", ""},
		{"wrong credentials 403", 403, `{"detail":"Invalid client_id or client_secret, access Denied"}`,
			ErrUnauthorized, "", "", "Invalid client_id or client_secret, access Denied", ""},
		{"missing header 401", 401, `{"detail":"Not authenticated"}`, ErrUnauthorized, "", "", "Not authenticated", ""},
		{"missing header 403", 403, `{"detail":"Not authenticated"}`, ErrUnauthorized, "", "", "Not authenticated", ""},
		{"inactive client", 400, `{"detail":"Inactive client_id"}`, ErrUnauthorized, "", "", "Inactive client_id", ""},
		{"IP not allow-listed", 403, `<html>Forbidden</html>`, ErrUnauthorized, "", "answer is not a valid JSON object (application/json, 22 bytes)", "", ""},
		{"rate limited", 429, `{"detail":"Rate limit exceeded. Please retry after some time."}`,
			ErrRateLimited, "", "", "Rate limit exceeded. Please retry after some time.", ""},
		{"source unavailable", 503, `{"detail":"Source Unavailable"}`, ErrServiceUnavailable, "", "", "Source Unavailable", ""},
		{"framework 422", 422,
			`{"detail":[{"loc":["query","purpose"],"msg":"field required","type":"value_error.missing"},{"loc":["query","consent"],"msg":"field required","type":"value_error.missing","input":"234123412346"}]}`,
			ErrInvalidInput, "", "", "query.purpose: field required; query.consent: field required", ""},
		{"undocumented 418", 418, `{"sub_code":"TEAPOT","message":"short and stout"}`, nil, "TEAPOT", "short and stout", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t, WithRetryMax(0))
			mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(tt.status, tt.body))
			res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			assert.Nil(t, res)
			require.Error(t, err)
			if tt.want == nil {
				assert.Empty(t, matched(err))
			} else {
				assert.Equal(t, []error{tt.want}, matched(err), "exactly one sentinel")
			}
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.subCode, ae.SubCode)
			assert.Equal(t, tt.message, ae.Message)
			assert.Equal(t, tt.detail, ae.Detail)
			assert.Equal(t, tt.ref, ae.ReferenceID)
			assert.Equal(t, opGenerate, ae.Operation)
			assert.Less(t, len(err.Error()), 400)
			assertNoLeak(t, err)
		})
	}
}

func TestAPIErrorText(t *testing.T) {
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(409,
		`{"code":409,"transaction_id":"abc123","sub_code":"VERIFICATION_PENDING","message":"Otp already generated for this aadhaar, please try after some time.","reference_id":""}`))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.EqualError(t, err, "deepvue: generate-otp: HTTP 409 VERIFICATION_PENDING: Otp already generated for this aadhaar, please try after some time. (transaction_id abc123)")
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 409, ae.Code)
	assert.Equal(t, "abc123", ae.TransactionID)
	assert.False(t, ae.Temporary())
}

func TestServerEchoOfNumberIsMasked(t *testing.T) {
	bodies := []string{
		`{"sub_code":"INVALID_INPUT","message":"Invalid UID 234123412346, please check","transaction_id":"234123412346"}`,
		`{"sub_code":"INVALID_INPUT","message":"UID 2341 2341 2346 is not valid"}`,
		`{"sub_code":"INVALID_INPUT","message":"UID 2341-2341-2346 bad"}`,
		`{"detail":[{"loc":["query","aadhaar_number"],"msg":"bad value 234123412346","input":"234123412346"}]}`,
		`{"detail":"client live_s3cr3t_value_never_print is not allowed"}`,
	}
	for _, body := range bodies {
		c, mt := mockClient(t)
		mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(422, body))
		_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
		require.Error(t, err)
		assertNoLeak(t, err)
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		assert.NotContains(t, ae.Message+ae.Detail, "23412341", body)
	}
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(400, `{"sub_code":"INVALID_INPUT","message":"Invalid UID 234123412346"}`))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	assert.Contains(t, err.Error(), "Invalid UID XXXX XXXX 2346")
}

// ---- GenerateOTP: hostile or broken answers ----

func TestGenerateOTPHostileAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ctype  string
		body   string
		want   error
	}{
		{"empty 200", 200, "application/json", ``, ErrUnexpectedResponse},
		{"not JSON 200", 200, "text/plain", `OTP sent`, ErrUnexpectedResponse},
		{"truncated 200", 200, "application/json", successOTP[:60], ErrUnexpectedResponse},
		{"JSON array", 200, "application/json", `[1,2,3]`, ErrUnexpectedResponse},
		{"JSON null", 200, "application/json", `null`, ErrUnexpectedResponse},
		{"wrong type reference", 200, "application/json", `{"sub_code":"SUCCESS","reference_id":{"a":1}}`, ErrUnexpectedResponse},
		{"no reference_id", 200, "application/json", `{"code":200,"sub_code":"SUCCESS","message":"ok"}`, ErrUnexpectedResponse},
		{"empty reference_id", 200, "application/json", `{"sub_code":"SUCCESS","reference_id":""}`, ErrUnexpectedResponse},
		{"reference with spaces", 200, "application/json", `{"sub_code":"SUCCESS","reference_id":"a b"}`, ErrUnexpectedResponse},
		{"200 not SUCCESS", 200, "application/json", `{"sub_code":"FAILED","reference_id":"1"}`, ErrUnexpectedResponse},
		{"200 pending", 200, "application/json", `{"sub_code":"VERIFICATION_PENDING","reference_id":""}`, ErrVerificationPending},
		{"html 502", 502, "text/html", `<html><body><h1>502 Bad Gateway</h1></body></html>`, nil},
		{"html 504", 504, "text/html", `<html><body><h1>504 Gateway Time-out</h1></body></html>`, nil},
		{"html 500", 500, "text/html", `<html>Internal Server Error</html>`, nil},
		{"deep nesting", 200, "application/json", strings.Repeat("[", 20000), ErrUnexpectedResponse},
		{"binary", 200, "application/octet-stream", "\x00\x01\x02\xff", ErrUnexpectedResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, genURL, func(*http.Request) (*http.Response, error) {
				r := httpmock.NewStringResponse(tt.status, tt.body)
				r.Header.Set("Content-Type", tt.ctype)
				return r, nil
			})
			res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			assert.Nil(t, res)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			if tt.want == nil {
				assert.Empty(t, matched(err))
			} else {
				assert.Equal(t, []error{tt.want}, matched(err))
			}
			assert.Less(t, len(err.Error()), 300, "no pasted bodies")
			assert.NotContains(t, err.Error(), "<html")
			assert.Equal(t, 1, mt.GetTotalCallCount())
		})
	}
}

func TestLenientSuccessDecoding(t *testing.T) {
	tests := map[string]string{
		"numeric reference and string timestamp": `{"code":"200","timestamp":"1738332826135","sub_code":"SUCCESS","reference_id":29756208}`,
		"null fields":                            `{"code":null,"timestamp":null,"transaction_id":null,"message":null,"sub_code":"SUCCESS","reference_id":"29756208","extra":{"x":[1]}}`,
		"lower-case sub_code":                    `{"sub_code":"success","reference_id":"29756208","timestamp":1738332826}`,
		"ISO timestamp, float reference":         `{"sub_code":"SUCCESS","reference_id":2.9756208e7,"timestamp":"2025-01-31T10:00:00Z"}`,
		"odd types elsewhere":                    `{"code":[200],"timestamp":{"x":1},"transaction_id":["t"],"message":{"m":1},"sub_code":" SUCCESS ","reference_id":" 29756208 "}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, body))
			res, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			require.NoError(t, err)
			assert.Equal(t, "29756208", res.ReferenceID)
			assert.False(t, res.Timestamp.IsZero())
			assert.Equal(t, OTPValidity, res.ExpiresAt.Sub(res.Timestamp))
		})
	}
}

func TestErrorsAsAndIsThroughWrapping(t *testing.T) {
	c, mt := mockClient(t)
	mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(409, `{"sub_code":"VERIFICATION_PENDING","transaction_id":"tx9"}`))
	_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	wrapped := errors.Join(errors.New("onboarding step 1"), err)
	assert.ErrorIs(t, wrapped, ErrVerificationPending)
	var ae *APIError
	require.ErrorAs(t, wrapped, &ae)
	assert.Equal(t, "tx9", ae.TransactionID)
}

// TestRandomIDsReachTheCallerIntact: a random 32-hex transaction id holds a
// 12-digit run about 3 % of the time and must reach Deepvue support
// unchanged, in an *APIError and in a success (the scrubber's rule:
// TestScrubIDKeepsIDsIntact in internal/redact).
func TestRandomIDsReachTheCallerIntact(t *testing.T) {
	// Parallel: it runs beside the long rate tests, which mostly wait.
	t.Parallel()
	// What a generate-otp call knows: the number and the secret. (A verify
	// call also knows the OTP, and a random hex id holds a given 6-digit OTP
	// about once in 600,000: then masking it is right, and the 20,000 ids
	// here would hit that a few times in a hundred runs.)
	known := &secrets{Number: validNumber, Secret: testSecret}
	run := regexp.MustCompile(`[0-9]{12}`)
	withRun := 0
	for i := 0; i < 20000; i++ {
		var b [16]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		if run.MatchString(id) {
			withRun++
		}
		a := &answer{status: 409, body: []byte(`{"sub_code":"VERIFICATION_PENDING","transaction_id":"` + id + `"}`)}
		ae := newAPIError(opGenerate, a, nil, "", known)
		require.Equal(t, id, ae.TransactionID)
		a = &answer{status: 200, body: []byte(`{"sub_code":"SUCCESS","reference_id":"1","transaction_id":"` + id + `"}`)}
		res, err := generateResult(a, known)
		require.NoError(t, err)
		require.Equal(t, id, res.TransactionID)
	}
	t.Logf("%d of 20000 random ids (%.1f %%) hold a 12-digit run; all kept intact", withRun, float64(withRun)/200)
	assert.Greater(t, withRun, 100, "the sample must exercise the case")
}
