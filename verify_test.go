package deepvue

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	photoBytes = []byte("\xff\xd8\xff\xe0 fake jpeg bytes PHOTOSECRETBYTES \xff\xd9")
	pdfBytes   = []byte("%PDF-1.4 fake pdf PDFSECRETBYTES %%EOF")
)

func verifySuccessBody(extra string) string {
	return `{"code":200,"timestamp":1738243999577,"transaction_id":"f6efc218742a405c8dd65cf19c13b878","sub_code":"SUCCESS",
 "message":"Aadhaar eKYC Successful",
 "data":{"address":{"careOf":"S/O H. Nue Mahammed","country":"India","district":"Bangalore","house":"NO. 6","landmark":"",
   "locality":"MTS LAYOUT J X NAGAR 51TH PHASE","pin":"561118","postOffice":"J P Nagar","state":"Karnataka",
   "street":"19TH MAIN","subDistrict":"","vtc":"Bangalore"},
   "dateOfBirth":"28-06-1999","email":"a1b2","gender":"M","generatedAt":"1738304139979",
   "maskedNumber":"xxxx-xxxx-8091","name":"Mohammed Nihar","phone":"c3d4","photo":"` +
		base64.StdEncoding.EncodeToString(photoBytes) + `"` + extra + `}}`
}

func validVerifyRequest() VerifyOTPRequest {
	return VerifyOTPRequest{ReferenceID: "29756208", OTP: testOTP, Consent: ConsentYes, Purpose: testPurpose}
}

func TestVerifyOTPSuccess(t *testing.T) {
	c, mt := mockClient(t)
	var got *http.Request
	body := verifySuccessBody(`,"aadhaar_linked_mobile_match":"Yes","document_pdf":"` + base64.StdEncoding.EncodeToString(pdfBytes) + `"`)
	mt.RegisterResponder(http.MethodPost, verURL, func(r *http.Request) (*http.Response, error) {
		got = r
		return jsonResponder(200, body)(r)
	})
	req := validVerifyRequest()
	req.MobileNumber = testMobile
	req.GeneratePDF = true
	d, err := c.VerifyOTP(context.Background(), req)
	require.NoError(t, err)

	assert.Equal(t, "/base/v2/ekyc/aadhaar/verify-otp", got.URL.Path)
	assert.Equal(t, url.Values{
		"otp": {testOTP}, "reference_id": {"29756208"}, "consent": {"Y"}, "purpose": {testPurpose},
		"mobile_number": {testMobile}, "generate_pdf": {"true"},
	}, got.URL.Query())

	yes := true
	assert.Equal(t, &AadhaarData{
		TransactionID: "f6efc218742a405c8dd65cf19c13b878",
		Name:          "Mohammed Nihar",
		Gender:        "M",
		DateOfBirth:   "28-06-1999",
		MaskedNumber:  "XXXX XXXX 8091", // Deepvue's "xxxx-xxxx-8091" in the SDK's one form
		Address: Address{CareOf: "S/O H. Nue Mahammed", House: "NO. 6", Street: "19TH MAIN",
			Locality: "MTS LAYOUT J X NAGAR 51TH PHASE", VTC: "Bangalore", PostOffice: "J P Nagar",
			District: "Bangalore", State: "Karnataka", Country: "India", Pin: "561118"},
		Photo:       photoBytes,
		PDF:         pdfBytes,
		EmailHash:   "a1b2",
		PhoneHash:   "c3d4",
		MobileMatch: &yes,
		GeneratedAt: time.UnixMilli(1738304139979),
	}, d)

	dob, yearOnly, err := d.BirthDate()
	require.NoError(t, err)
	assert.False(t, yearOnly)
	assert.Equal(t, time.Date(1999, 6, 28, 0, 0, 0, 0, time.UTC), dob)
	age, err := d.AgeOn(time.Date(2017, 6, 27, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, 17, age)
	age, _ = d.AgeOn(time.Date(2017, 6, 28, 0, 0, 0, 0, time.UTC))
	assert.Equal(t, 18, age)
	assert.Equal(t, "NO. 6, 19TH MAIN, MTS LAYOUT J X NAGAR 51TH PHASE, Bangalore, J P Nagar, Bangalore, Karnataka, India - 561118", d.Address.String())
}

func TestVerifyOTPOptionalParamsOmitted(t *testing.T) {
	c, mt := mockClient(t)
	var got *http.Request
	mt.RegisterResponder(http.MethodPost, verURL, func(r *http.Request) (*http.Response, error) {
		got = r
		return jsonResponder(200, verifySuccessBody(""))(r)
	})
	d, err := c.VerifyOTP(context.Background(), validVerifyRequest())
	require.NoError(t, err)
	q := got.URL.Query()
	assert.NotContains(t, q, "mobile_number")
	assert.NotContains(t, q, "generate_pdf")
	assert.Nil(t, d.MobileMatch)
	assert.Empty(t, d.PDF)
}

func TestVerifyOTPLocalValidation(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*VerifyOTPRequest)
		field string
	}{
		{"empty reference", func(r *VerifyOTPRequest) { r.ReferenceID = "" }, "reference_id"},
		{"blank reference", func(r *VerifyOTPRequest) { r.ReferenceID = "  " }, "reference_id"},
		{"reference with control", func(r *VerifyOTPRequest) { r.ReferenceID = "12\n34" }, "reference_id"},
		{"otp 5 digits", func(r *VerifyOTPRequest) { r.OTP = "48291" }, "otp"},
		{"otp 7 digits", func(r *VerifyOTPRequest) { r.OTP = "4829130" }, "otp"},
		{"otp letters", func(r *VerifyOTPRequest) { r.OTP = "48291a" }, "otp"},
		{"otp empty", func(r *VerifyOTPRequest) { r.OTP = "" }, "otp"},
		{"otp non-ASCII digits", func(r *VerifyOTPRequest) { r.OTP = "४८२९१३" }, "otp"},
		{"consent N", func(r *VerifyOTPRequest) { r.Consent = ConsentNo }, "consent"},
		{"consent empty", func(r *VerifyOTPRequest) { r.Consent = "" }, "consent"},
		{"purpose blank", func(r *VerifyOTPRequest) { r.Purpose = "   " }, "purpose"},
		{"mobile 9 digits", func(r *VerifyOTPRequest) { r.MobileNumber = "912345678" }, "mobile_number"},
		{"mobile +91", func(r *VerifyOTPRequest) { r.MobileNumber = "+919123456780" }, "mobile_number"},
		{"mobile letters", func(r *VerifyOTPRequest) { r.MobileNumber = "91234567ab" }, "mobile_number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(200, verifySuccessBody("")))
			req := validVerifyRequest()
			req.MobileNumber = testMobile
			tt.edit(&req)
			d, err := c.VerifyOTP(context.Background(), req)
			assert.Nil(t, d)
			assert.Equal(t, []error{ErrInvalidInput}, matched(err))
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.field, ve.Field)
			assert.Zero(t, mt.GetTotalCallCount())
			assertNoLeak(t, err, "48291", "912345678")
		})
	}
}

func TestVerifyOTPTrimsPastedValues(t *testing.T) {
	c, mt := mockClient(t)
	var got url.Values
	mt.RegisterResponder(http.MethodPost, verURL, func(r *http.Request) (*http.Response, error) {
		got = r.URL.Query()
		return jsonResponder(200, verifySuccessBody(""))(r)
	})
	req := validVerifyRequest()
	req.OTP = " " + testOTP + "\n"
	req.MobileNumber = testMobile + " "
	_, err := c.VerifyOTP(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, testOTP, got.Get("otp"))
	assert.Equal(t, testMobile, got.Get("mobile_number"))
}

func TestVerifyOTPFailures(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    error
		subCode string
		calls   int
	}{
		{"wrong OTP (undocumented sub_code)", 400, `{"code":400,"transaction_id":"tv1","sub_code":"INVALID_OTP","message":"Invalid OTP. Please enter the correct OTP."}`, nil, "INVALID_OTP", 1},
		{"expired (undocumented)", 400, `{"code":400,"sub_code":"OTP_EXPIRED","message":"OTP has expired"}`, nil, "OTP_EXPIRED", 1},
		{"invalid input", 422, `{"code":422,"sub_code":"INVALID_INPUT","message":"Invalid OTP"}`, ErrInvalidInput, "INVALID_INPUT", 1},
		{"source failure retried", 500, sourceFailBd, ErrSourceFailure, "SOURCE_FAILURE", 3},
		{"unauthorized", 403, `{"detail":"Invalid client_id or client_secret, access Denied"}`, ErrUnauthorized, "", 1},
		{"rate limited", 429, `{"detail":"Rate limit exceeded. Please retry after some time."}`, ErrRateLimited, "", 1},
		{"unavailable", 503, `{"detail":"Source Unavailable"}`, ErrServiceUnavailable, "", 1},
		{"200 without data", 200, `{"code":200,"sub_code":"SUCCESS","transaction_id":"tv2"}`, ErrUnexpectedResponse, "SUCCESS", 1},
		{"200 null data", 200, `{"sub_code":"SUCCESS","data":null}`, ErrUnexpectedResponse, "SUCCESS", 1},
		{"200 data string", 200, `{"sub_code":"SUCCESS","data":"oops"}`, ErrUnexpectedResponse, "SUCCESS", 1},
		{"200 not SUCCESS", 200, `{"sub_code":"FAILED","data":{}}`, ErrUnexpectedResponse, "FAILED", 1},
		{"200 data array", 200, `{"sub_code":"SUCCESS","data":[{"name":"x"}]}`, ErrUnexpectedResponse, "SUCCESS", 1},
		{"200 not JSON", 200, `<html>ok</html>`, ErrUnexpectedResponse, "", 1},
		{"200 truncated", 200, verifySuccessBody("")[:300], ErrUnexpectedResponse, "", 1},
		{"html 504", 504, `<html>Gateway Time-out</html>`, nil, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(tt.status, tt.body))
			req := validVerifyRequest()
			req.MobileNumber = testMobile
			d, err := c.VerifyOTP(context.Background(), req)
			assert.Nil(t, d)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.subCode, ae.SubCode)
			assert.Equal(t, opVerify, ae.Operation)
			if tt.want == nil {
				assert.Empty(t, matched(err))
			} else {
				assert.Equal(t, []error{tt.want}, matched(err))
			}
			assert.Equal(t, tt.calls, mt.GetTotalCallCount())
			assert.Less(t, len(err.Error()), 400)
			assertNoLeak(t, err)
		})
	}
}

// TestVerifyOTPKeepsTheDataAndNamesTheProblem: a success whose data holds a
// field the SDK cannot decode is still a success (Deepvue has spent the
// OTP); the field is left empty and named in Problems.
func TestVerifyOTPKeepsTheDataAndNamesTheProblem(t *testing.T) {
	tests := []struct {
		name    string
		extra   string // fields added to (or overriding) the documented sample's data
		problem FieldProblem
		check   func(*testing.T, *AadhaarData)
	}{
		{"the docs' photo placeholder", `,"photo":"<base64_encoded_image>"`,
			FieldProblem{"data.photo", "is a placeholder, not base64 content"}, nil},
		{"photo as a URL", `,"photo":"https://cdn.example.com/p/123.jpg"`,
			FieldProblem{"data.photo", "is a URL, not base64 content"}, nil},
		{"photo as an object", `,"photo":{"url":"x","type":"jpeg"}`,
			FieldProblem{"data.photo", "is a JSON object, not a base64 string"}, nil},
		{"broken photo", `,"photo":"!!!not base64!!!"`,
			FieldProblem{"data.photo", "is not valid base64"}, nil},
		{"broken pdf", `,"document_pdf":"@@@"`,
			FieldProblem{"data.document_pdf", "is not valid base64"}, func(t *testing.T, d *AadhaarData) {
				assert.Equal(t, photoBytes, d.Photo, "the photo is kept")
			}},
		{"generatedAt as words", `,"generatedAt":"yesterday"`,
			FieldProblem{"data.generatedAt", "is not an epoch time (seconds or milliseconds) or an RFC 3339 time"}, nil},
		{"address as one string", `,"address":"NO. 6, 19TH MAIN, Bangalore"`,
			FieldProblem{"data.address", "is not a JSON object"}, func(t *testing.T, d *AadhaarData) {
				assert.Equal(t, Address{}, d.Address)
			}},
		{"name as an object", `,"name":{"first":"Mohammed"}`,
			FieldProblem{"data.name", "is a JSON object or array, not a string"}, func(t *testing.T, d *AadhaarData) {
				assert.Empty(t, d.Name)
			}},
		{"mobile match neither", `,"aadhaar_linked_mobile_match":"Maybe"`,
			FieldProblem{"data.aadhaar_linked_mobile_match", "is neither Yes nor No"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(200, verifySuccessBody(tt.extra)))
			d, err := c.VerifyOTP(context.Background(), validVerifyRequest())
			require.NoError(t, err)
			assert.Equal(t, []FieldProblem{tt.problem}, d.Problems)
			assert.Equal(t, "f6efc218742a405c8dd65cf19c13b878", d.TransactionID)
			assert.Equal(t, "28-06-1999", d.DateOfBirth, "the other fields are returned")
			assert.Equal(t, "XXXX XXXX 8091", d.MaskedNumber)
			if tt.problem.Field != "data.name" {
				assert.Equal(t, "Mohammed Nihar", d.Name)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
			assert.Contains(t, fmt.Sprint(d), tt.problem.String(), "printing names the problem")
		})
	}
}

// TestVerifyOTPGeneratedAtForms: epoch milliseconds or seconds, as a string
// or a number, and RFC 3339.
func TestVerifyOTPGeneratedAtForms(t *testing.T) {
	want := time.UnixMilli(1738304139979)
	for raw, at := range map[string]time.Time{
		`"1738304139979"`:             want,
		`1738304139979`:               want,
		`1738304139`:                  time.Unix(1738304139, 0),
		`"1738304139"`:                time.Unix(1738304139, 0),
		`"2025-01-31T06:15:39Z"`:      time.Date(2025, 1, 31, 6, 15, 39, 0, time.UTC),
		`"2025-01-31T11:45:39+05:30"`: time.Date(2025, 1, 31, 6, 15, 39, 0, time.UTC),
		`1.738304139979e12`:           want,
		`null`:                        {},
		`""`:                          {},
	} {
		c, mt := mockClient(t)
		mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(200, verifySuccessBody(`,"generatedAt":`+raw)))
		d, err := c.VerifyOTP(context.Background(), validVerifyRequest())
		require.NoError(t, err, raw)
		assert.True(t, at.Equal(d.GeneratedAt), "%s: got %v", raw, d.GeneratedAt)
		assert.Empty(t, d.Problems, raw)
	}
}

func TestVerifyOTPLenientData(t *testing.T) {
	tests := map[string]func(*testing.T, *AadhaarData){
		`{}`: func(t *testing.T, d *AadhaarData) {
			assert.Equal(t, AadhaarData{TransactionID: "t"}, *d)
		},
		`{"address":null,"name":null,"photo":null,"generatedAt":null,"aadhaar_linked_mobile_match":null}`: func(t *testing.T, d *AadhaarData) {
			assert.Empty(t, d.Name)
			assert.Nil(t, d.Photo)
			assert.True(t, d.GeneratedAt.IsZero())
			assert.Nil(t, d.MobileMatch)
		},
		`{"address":{"pin":561118},"generatedAt":1738304139979,"aadhaar_linked_mobile_match":"No","photo":"` +
			base64.RawStdEncoding.EncodeToString(photoBytes) + `"}`: func(t *testing.T, d *AadhaarData) {
			assert.Equal(t, "561118", d.Address.Pin)
			assert.Equal(t, time.UnixMilli(1738304139979), d.GeneratedAt)
			require.NotNil(t, d.MobileMatch)
			assert.False(t, *d.MobileMatch)
			assert.Equal(t, photoBytes, d.Photo, "unpadded base64")
		},
		`{"photo":"data:image/jpeg;base64,` + base64.StdEncoding.EncodeToString(photoBytes) + `","aadhaar_linked_mobile_match":""}`: func(t *testing.T, d *AadhaarData) {
			assert.Equal(t, photoBytes, d.Photo, "data URI")
			assert.Nil(t, d.MobileMatch)
		},
		`{"photo":"` + splitLines(base64.StdEncoding.EncodeToString(bytes.Repeat(photoBytes, 10))) + `"}`: func(t *testing.T, d *AadhaarData) {
			assert.Equal(t, bytes.Repeat(photoBytes, 10), d.Photo, "base64 with line breaks")
		},
		`{"maskedNumber":"234123412346","name":"A 2341 2341 2346"}`: func(t *testing.T, d *AadhaarData) {
			assert.Equal(t, "XXXX XXXX 2346", d.MaskedNumber, "a full number from the server is masked")
			assert.Equal(t, "A XXXX XXXX 2346", d.Name)
		},
		`{"name":"A 2341.2341.2346 or ２３４１２３４１２３４６","email":"ab234123412346cd","phone":"x482913y"}`: func(t *testing.T, d *AadhaarData) {
			assert.Equal(t, "A XXXX XXXX 2346 or XXXX XXXX 2346", d.Name, "free text: any Aadhaar-like run, any spelling, one mask")
			assert.Equal(t, "ab234123412346cd", d.EmailHash, "an id keeps a 12-digit run the call does not know")
			assert.Equal(t, "x******y", d.PhoneHash, "but never the call's OTP")
		},
	}
	for data, check := range tests {
		t.Run(data[:min(len(data), 40)], func(t *testing.T) {
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(200, `{"sub_code":"SUCCESS","transaction_id":"t","data":`+data+`}`))
			d, err := c.VerifyOTP(context.Background(), validVerifyRequest())
			require.NoError(t, err)
			check(t, d)
		})
	}
}
