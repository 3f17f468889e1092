package deepvuetest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const purpose = "KYC for account opening"

func newClient(t *testing.T, srv *deepvuetest.Server) *deepvue.Client {
	t.Helper()
	c, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret,
		deepvue.WithBaseURL(srv.URL), deepvue.WithRetryWait(time.Millisecond, 2*time.Millisecond))
	require.NoError(t, err)
	return c
}

func start(t *testing.T, opts ...deepvuetest.Option) (*deepvuetest.Server, *deepvue.Client) {
	srv := deepvuetest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv, newClient(t, srv)
}

func TestGenerateOTPSuccess(t *testing.T) {
	srv, c := start(t)
	res, err := c.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	require.NoError(t, err)
	assert.Regexp(t, `^\d{8}$`, res.ReferenceID)
	assert.Regexp(t, `^[0-9a-f]{32}$`, res.TransactionID)
	assert.Equal(t, "OTP sent to your Registered Mobile number. Check your mobile.", res.Message)
	assert.WithinDuration(t, time.Now(), res.Timestamp, 5*time.Second)
	assert.Equal(t, 1, srv.SMSSent())
	assert.Equal(t, 1, srv.Requests(deepvuetest.PathGenerateOTP))
}

func TestMagicNumbers(t *testing.T) {
	tests := []struct {
		number   string
		want     error
		status   int
		requests int
	}{
		{deepvuetest.NumberNotLinked, deepvue.ErrMobileNotLinked, 400, 1},
		{deepvuetest.NumberInvalidUID, deepvue.ErrInvalidInput, 400, 1},
		{deepvuetest.NumberSourceFailure, deepvue.ErrSourceFailure, 500, 3},
		{deepvuetest.NumberRateLimited, deepvue.ErrRateLimited, 429, 1},
		{deepvuetest.NumberUnavailable, deepvue.ErrServiceUnavailable, 503, 1},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			require.NoError(t, deepvue.ValidateAadhaar(tt.number), "magic numbers must pass local validation")
			srv, c := start(t)
			_, err := c.GenerateOTP(context.Background(), tt.number, deepvue.ConsentYes, purpose)
			assert.ErrorIs(t, err, tt.want)
			var ae *deepvue.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.requests, srv.Requests(deepvuetest.PathGenerateOTP))
			assert.Zero(t, srv.SMSSent())
		})
	}
}

func TestNotLinkedCarriesReference(t *testing.T) {
	_, c := start(t)
	_, err := c.GenerateOTP(context.Background(), deepvuetest.NumberNotLinked, deepvue.ConsentYes, purpose)
	var ae *deepvue.APIError
	require.ErrorAs(t, err, &ae)
	assert.NotEmpty(t, ae.ReferenceID)
	assert.Equal(t, "AADHAAR_MOBILE_NOT_LINKED", ae.SubCode)
}

func TestSourceFailureOnceThenSuccess(t *testing.T) {
	srv, c := start(t)
	res, err := c.GenerateOTP(context.Background(), deepvuetest.NumberSourceFailureOnce, deepvue.ConsentYes, purpose)
	require.NoError(t, err)
	assert.NotEmpty(t, res.ReferenceID)
	assert.Equal(t, 2, srv.Requests(deepvuetest.PathGenerateOTP))
	assert.Equal(t, 1, srv.SMSSent())
}

func TestPendingWindow(t *testing.T) {
	clock := deepvuetest.NewClock(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))
	srv, c := start(t, deepvuetest.WithClock(clock.Now), deepvuetest.WithPendingWindow(time.Minute))

	_, err := c.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), "2341 2341 2346", deepvue.ConsentYes, purpose)
	assert.ErrorIs(t, err, deepvue.ErrVerificationPending)
	var ae *deepvue.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 409, ae.StatusCode)
	assert.Empty(t, ae.ReferenceID)

	_, err = c.GenerateOTP(context.Background(), "234567890124", deepvue.ConsentYes, purpose)
	assert.NoError(t, err, "another number is not pending")

	clock.Advance(61 * time.Second)
	_, err = c.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	assert.NoError(t, err)
	assert.Equal(t, 3, srv.SMSSent())
}

func TestPendingWindowZeroDisables(t *testing.T) {
	_, c := start(t, deepvuetest.WithPendingWindow(0))
	for i := 0; i < 3; i++ {
		_, err := c.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
		require.NoError(t, err)
	}
}

func TestCredentialsChecked(t *testing.T) {
	srv := deepvuetest.NewServer(deepvuetest.WithCredentials("my-id", "my-secret"))
	t.Cleanup(srv.Close)
	c, err := deepvue.NewClient("my-id", "wrong-secret", deepvue.WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = c.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	assert.ErrorIs(t, err, deepvue.ErrUnauthorized)
	var ae *deepvue.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 401, ae.StatusCode, "Deepvue's errors page lists wrong credentials under 401")
	assert.ErrorContains(t, err, "Invalid client_id or client_secret, access Denied")
	assert.NotContains(t, err.Error(), "wrong-secret")

	ok := newClient(t, srv)
	_, err = ok.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	assert.NoError(t, err)
}

// rawPost sends a request the SDK would refuse to send, to check the fake
// answers like the API.
func rawPost(t *testing.T, srv *deepvuetest.Server, path, query string, auth bool) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path+"?"+query, nil)
	require.NoError(t, err)
	if auth {
		req.Header.Set("client-id", srv.ClientID)
		req.Header.Set("x-api-key", srv.ClientSecret)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(b, &body))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	return resp.StatusCode, body
}

func TestRawAnswers(t *testing.T) {
	srv := deepvuetest.NewServer()
	t.Cleanup(srv.Close)

	status, body := rawPost(t, srv, deepvuetest.PathGenerateOTP, "aadhaar_number=234123412346&consent=Y&purpose=kyc", false)
	assert.Equal(t, 401, status)
	assert.Equal(t, "Not authenticated", body["detail"])

	status, body = rawPost(t, srv, deepvuetest.PathGenerateOTP, "aadhaar_number=234123412346&consent=Y", true)
	assert.Equal(t, 422, status)
	assert.Equal(t, []any{map[string]any{"loc": []any{"query", "purpose"}, "msg": "field required", "type": "value_error.missing"}}, body["detail"])

	status, body = rawPost(t, srv, deepvuetest.PathGenerateOTP, "aadhaar_number=234123412347&consent=Y&purpose=kyc", true)
	assert.Equal(t, 422, status)
	assert.Equal(t, "INVALID_INPUT", body["sub_code"])
	assert.Equal(t, "Invalid Aadhaar Number Pattern.", body["message"])
	for _, k := range []string{"code", "timestamp", "transaction_id", "sub_code", "message"} {
		assert.Contains(t, body, k)
	}

	status, body = rawPost(t, srv, deepvuetest.PathGenerateOTP, "aadhaar_number=234123412346&consent=N&purpose=kyc", true)
	assert.Equal(t, 400, status)
	assert.Equal(t, "INVALID_INPUT", body["sub_code"])

	status, body = rawPost(t, srv, deepvuetest.PathGenerateOTP, "aadhaar_number=234123412346&consent=Y&purpose=kyc", true)
	assert.Equal(t, 200, status)
	assert.Equal(t, float64(200), body["code"])
	assert.Equal(t, "SUCCESS", body["sub_code"])
	assert.IsType(t, "", body["reference_id"])
	assert.Greater(t, body["timestamp"].(float64), float64(1.7e12), "epoch milliseconds")

	status, _ = rawPost(t, srv, "/v2/other", "", true)
	assert.Equal(t, 404, status)
}

// ---- verify side ----

func sendOTP(t *testing.T, c *deepvue.Client, number string) string {
	t.Helper()
	res, err := c.GenerateOTP(context.Background(), number, deepvue.ConsentYes, purpose)
	require.NoError(t, err)
	return res.ReferenceID
}

func verifyReq(ref, otp string) deepvue.VerifyOTPRequest {
	return deepvue.VerifyOTPRequest{ReferenceID: ref, OTP: otp, Consent: deepvue.ConsentYes, Purpose: purpose}
}

func TestVerifySuccessReturnsSampleDataWithRealPhotoAndPDF(t *testing.T) {
	_, c := start(t)
	req := verifyReq(sendOTP(t, c, deepvuetest.NumberSuccess), deepvuetest.OTPValid)
	req.MobileNumber = deepvuetest.MobileLinked
	req.GeneratePDF = true
	d, err := c.VerifyOTP(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, deepvuetest.SampleName, d.Name)
	assert.Equal(t, deepvuetest.SampleDateOfBirth, d.DateOfBirth)
	assert.Equal(t, "XXXX XXXX 8091", d.MaskedNumber, "the fake's (Deepvue's) xxxx-xxxx-8091 in the SDK's one form")
	assert.Equal(t, "561118", d.Address.Pin)
	assert.Equal(t, time.UnixMilli(1738304139979), d.GeneratedAt)
	require.NotNil(t, d.MobileMatch)
	assert.True(t, *d.MobileMatch)
	img, err := jpeg.Decode(bytes.NewReader(d.Photo))
	require.NoError(t, err, "the photo is a real JPEG")
	assert.Equal(t, 120, img.Bounds().Dx())
	assert.True(t, bytes.HasPrefix(d.PDF, []byte("%PDF-1.4")))
	assert.True(t, bytes.HasSuffix(d.PDF, []byte("%%EOF\n")))
	assert.Equal(t, deepvuetest.SamplePDF(), d.PDF)
}

func TestVerifyMobileMismatchAndNoPDF(t *testing.T) {
	_, c := start(t)
	req := verifyReq(sendOTP(t, c, deepvuetest.NumberSuccess), deepvuetest.OTPValid)
	req.MobileNumber = "9000000001"
	d, err := c.VerifyOTP(context.Background(), req)
	require.NoError(t, err)
	require.NotNil(t, d.MobileMatch)
	assert.False(t, *d.MobileMatch)
	assert.Empty(t, d.PDF)
}

// subCode returns the sub_code of the *APIError in err.
func subCode(t *testing.T, err error) string {
	t.Helper()
	var ae *deepvue.APIError
	require.ErrorAs(t, err, &ae)
	return ae.SubCode
}

func TestVerifyReferenceUsableOnce(t *testing.T) {
	_, c := start(t)
	ref := sendOTP(t, c, deepvuetest.NumberSuccess)
	_, err := c.VerifyOTP(context.Background(), verifyReq(ref, deepvuetest.OTPValid))
	require.NoError(t, err)
	_, err = c.VerifyOTP(context.Background(), verifyReq(ref, deepvuetest.OTPValid))
	assert.Equal(t, "OTP_ALREADY_USED", subCode(t, err))
}

func TestVerifyWrongOTPThreeTimesUsesReferenceUp(t *testing.T) {
	_, c := start(t)
	ref := sendOTP(t, c, deepvuetest.NumberSuccess)
	for i, want := range []string{"INVALID_OTP", "INVALID_OTP", "OTP_ATTEMPTS_EXCEEDED"} {
		_, err := c.VerifyOTP(context.Background(), verifyReq(ref, "000001"))
		var ae *deepvue.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, want, ae.SubCode, "wrong OTP %d", i+1)
		assert.Equal(t, 400, ae.StatusCode)
	}
	_, err := c.VerifyOTP(context.Background(), verifyReq(ref, deepvuetest.OTPValid))
	assert.Equal(t, "OTP_ATTEMPTS_EXCEEDED", subCode(t, err), "the locked reference stays locked, even for the right OTP")
}

func TestVerifyExpiry(t *testing.T) {
	clock := deepvuetest.NewClock(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))
	_, c := start(t, deepvuetest.WithClock(clock.Now), deepvuetest.WithOTPValidity(2*time.Minute))
	ref := sendOTP(t, c, deepvuetest.NumberSuccess)
	clock.Advance(2*time.Minute + time.Second)
	_, err := c.VerifyOTP(context.Background(), verifyReq(ref, deepvuetest.OTPValid))
	assert.Equal(t, "OTP_EXPIRED", subCode(t, err))
}

func TestVerifySourceFailureIsRetriedAndKeepsReference(t *testing.T) {
	srv, c := start(t)
	ref := sendOTP(t, c, deepvuetest.NumberSuccess)
	_, err := c.VerifyOTP(context.Background(), verifyReq(ref, deepvuetest.OTPSourceFailure))
	assert.ErrorIs(t, err, deepvue.ErrSourceFailure)
	assert.Equal(t, 3, srv.Requests(deepvuetest.PathVerifyOTP))
	_, err = c.VerifyOTP(context.Background(), verifyReq(ref, deepvuetest.OTPValid))
	assert.NoError(t, err)
}

func TestVerifyUnknownReference(t *testing.T) {
	_, c := start(t)
	_, err := c.VerifyOTP(context.Background(), verifyReq("11111111", deepvuetest.OTPValid))
	assert.Equal(t, "INVALID_REFERENCE_ID", subCode(t, err))
}

func TestServerIsSafeForConcurrentUse(t *testing.T) {
	srv, c := start(t, deepvuetest.WithPendingWindow(0))
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := sendOTP(t, c, deepvuetest.NewNumber()) // fresh numbers: identical calls at once would share one request
			_, err := c.VerifyOTP(context.Background(), verifyReq(ref, deepvuetest.OTPValid))
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Equal(t, 32, srv.SMSSent())
}

// TestScriptedAnswers: the documented answers the fake cannot otherwise
// produce, on either endpoint, in order, before normal behaviour resumes.
func TestScriptedAnswers(t *testing.T) {
	srv, c := start(t)
	ref := sendOTP(t, c, deepvuetest.NumberSuccess)
	srv.Script(deepvuetest.PathVerifyOTP, deepvuetest.RateLimited, deepvuetest.Unavailable,
		deepvuetest.Unauthorized, deepvuetest.InactiveClient, deepvuetest.BadRequest,
		deepvuetest.Answer{Status: 418, Body: `{"sub_code":"TEAPOT","message":"short and stout"}`})
	for _, want := range []error{deepvue.ErrRateLimited, deepvue.ErrServiceUnavailable, deepvue.ErrUnauthorized,
		deepvue.ErrUnauthorized, deepvue.ErrInvalidInput} {
		_, err := c.VerifyOTP(context.Background(), verifyReq(ref, deepvuetest.OTPValid))
		assert.ErrorIs(t, err, want)
	}
	_, err := c.VerifyOTP(context.Background(), verifyReq(ref, deepvuetest.OTPValid))
	var ae *deepvue.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 418, ae.StatusCode)
	assert.Equal(t, "TEAPOT", ae.SubCode)

	d, err := c.VerifyOTP(context.Background(), verifyReq(ref, deepvuetest.OTPValid))
	require.NoError(t, err, "normal behaviour resumes; scripted answers did not use the reference up")
	assert.Equal(t, deepvuetest.SampleName, d.Name)
	assert.Equal(t, 7, srv.Requests(deepvuetest.PathVerifyOTP))

	// A scripted SOURCE_FAILURE is retried by the SDK, then the real answer comes.
	srv.Script(deepvuetest.PathGenerateOTP, deepvuetest.SourceFailure)
	_, err = c.GenerateOTP(context.Background(), "499181234560", deepvue.ConsentYes, purpose)
	require.NoError(t, err)
	assert.Equal(t, 3, srv.Requests(deepvuetest.PathGenerateOTP))
}

// TestScriptedDelay: a slow answer, which ends early when the caller goes
// away; Status 0 means the normal answer after the delay.
func TestScriptedDelay(t *testing.T) {
	srv, c := start(t)
	srv.Script(deepvuetest.PathGenerateOTP, deepvuetest.Answer{Delay: 150 * time.Millisecond})
	start := time.Now()
	_, err := c.GenerateOTP(context.Background(), deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	assert.Equal(t, 1, srv.SMSSent())

	srv.Script(deepvuetest.PathGenerateOTP, deepvuetest.Answer{Status: 200, Body: `{}`, Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = c.GenerateOTP(ctx, "499181234560", deepvue.ConsentYes, purpose)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, deepvue.ErrNotSent, "it reached the server")
	assert.Less(t, time.Since(start), 5*time.Second)
	c.CloseIdleConnections()
	// srv.Close (in Cleanup) returns at once: the handler left when the
	// caller went away.
}

func TestGeneratePDFInTheDocsSpelling(t *testing.T) {
	srv := deepvuetest.NewServer()
	t.Cleanup(srv.Close)
	c := newClient(t, srv)
	for i, spelling := range []string{"True", "true", "TRUE"} {
		ref := sendOTP(t, c, []string{"234567890124", "499181234560", "999941057058"}[i])
		status, body := rawPost(t, srv, deepvuetest.PathVerifyOTP,
			"otp=123456&reference_id="+ref+"&consent=Y&purpose=kyc&generate_pdf="+spelling, true)
		assert.Equal(t, 200, status)
		data := body["data"].(map[string]any)
		assert.NotEmpty(t, data["document_pdf"], spelling)
	}
}

func TestArrivalsAndPeak(t *testing.T) {
	srv, c := start(t, deepvuetest.WithPendingWindow(0))
	for i := 0; i < 3; i++ {
		sendOTP(t, c, deepvuetest.NumberSuccess)
	}
	times := srv.Arrivals(deepvuetest.PathGenerateOTP)
	require.Len(t, times, 3)
	assert.True(t, !times[1].Before(times[0]) && !times[2].Before(times[1]), "in order of arrival")
	assert.Equal(t, 3, deepvuetest.PeakArrivals(times, time.Minute))
	assert.Empty(t, srv.Arrivals(deepvuetest.PathVerifyOTP))

	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, base.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	assert.Equal(t, 2, deepvuetest.PeakArrivals(at(0, 500, 1000, 1500), time.Second), "a window is half-open: [t, t+1s)")
	assert.Equal(t, 3, deepvuetest.PeakArrivals(at(0, 10, 20, 2000), time.Second))
	assert.Zero(t, deepvuetest.PeakArrivals(nil, time.Second))
}
