package deepvue

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests of the table of answers (errors.go): every row is checked
// against the answers Deepvue documents, and every sentinel must have a row.

// answerSentinels returns, in the table's order, the sentinels an answer
// selects (classify's rows and Unwrap's): an answer or a validation failure
// matches exactly one of them (the tests' helper matched uses it).
func answerSentinels() []error {
	var out []error
	for i := range answers {
		r := &answers[i]
		switch r.by {
		case byStatus, bySubCode, byDetail, byUnusable:
			if rowOf(r.err) == r {
				out = append(out, r.err)
			}
		}
	}
	return out
}

// documentedAnswer is one answer /work/shared/deepvue-api.md lists for
// generate-otp, with the sentinel it documents (written here, not read
// from the table, so that a row selected wrongly fails).
type documentedAnswer struct {
	name   string
	status int
	body   string // "" for an answer whose body is not documented
	want   error
	// What the documentation says of it, written here too: worth trying
	// again later (SOURCE_FAILURE, 429, 503), and whether an OTP went out.
	temporary bool
	state     OTPState
}

// documentedAnswers are the generate-otp failures Deepvue documents (the
// seed page and the errors page), status and body as documented.
var documentedAnswers = []documentedAnswer{
	{"400 INVALID_INPUT invalid UID", 400, `{"code":400,"timestamp":1738332826135,"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84",` +
		`"sub_code":"INVALID_INPUT","message":"Invalid UID. Please enter valid UID"}`, ErrInvalidInput, false, OTPNotSent},
	{"400 AADHAAR_MOBILE_NOT_LINKED", 400, `{"code":400,"timestamp":1738332826135,"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84",` +
		`"sub_code":"AADHAAR_MOBILE_NOT_LINKED","message":"Aadhaar number does not have mobile number","reference_id":"29756208"}`, ErrMobileNotLinked, false, OTPNotSent},
	{"409 VERIFICATION_PENDING", 409, `{"code":409,"timestamp":1738332826135,"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84",` +
		`"sub_code":"VERIFICATION_PENDING","message":"Otp already generated for this aadhaar, please try after some time.","reference_id":""}`, ErrVerificationPending, false, OTPPending},
	{"422 INVALID_INPUT pattern", 422, `{"code":422,"timestamp":1738332826135,"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84",` +
		`"sub_code":"INVALID_INPUT","message":"Invalid Aadhaar Number Pattern."}`, ErrInvalidInput, false, OTPNotSent},
	{"500 SOURCE_FAILURE", 500, sourceFailBd, ErrSourceFailure, true, OTPNotSent},
	{"401 wrong credentials", 401, `{"detail":"Invalid client_id or client_secret, access Denied"}`, ErrUnauthorized, false, OTPNotSent},
	{"403 wrong credentials", 403, `{"detail":"Invalid client_id or client_secret, access Denied"}`, ErrUnauthorized, false, OTPNotSent},
	{"401 not authenticated", 401, `{"detail":"Not authenticated"}`, ErrUnauthorized, false, OTPNotSent},
	{"403 not authenticated", 403, `{"detail":"Not authenticated"}`, ErrUnauthorized, false, OTPNotSent},
	// The IP refusal's body is not documented: it cannot be told from a
	// proxy's 403 after it forwarded the request (issue 24).
	{"403 IP not allow-listed", 403, "", ErrUnauthorized, false, OTPMaybeSent},
	{"400 Bad Request", 400, `{"detail":"Bad Request"}`, ErrInvalidInput, false, OTPNotSent},
	{"422 string detail", 422, `{"detail":"Invalid Pan pattern"}`, ErrInvalidInput, false, OTPNotSent},
	{"422 validation list", 422, `{"detail":[{"loc":["query","purpose"],"msg":"field required","type":"value_error.missing"}]}`, ErrInvalidInput, false, OTPNotSent},
	{"400 Inactive client_id", 400, `{"detail":"Inactive client_id"}`, ErrUnauthorized, false, OTPNotSent},
	{"429 rate limit", 429, `{"detail":"Rate limit exceeded. Please retry after some time."}`, ErrRateLimited, true, OTPNotSent},
	{"503 Source Unavailable", 503, `{"detail":"Source Unavailable"}`, ErrServiceUnavailable, true, OTPNotSent},
}

// generateWith makes one GenerateOTP call answered with status and body by
// a server on a real socket (through httpmock, which reports no trace
// events, a 429 or 5xx "may have been sent more than once").
func generateWith(t *testing.T, status int, body string) (*APIError, error) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithRetryWait(0, 0))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
	require.Error(t, err)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, status, ae.StatusCode)
	return ae, err
}

// checkRow checks what the SDK answers for err against row r, the row of
// an answer with a documented status, and against d, what the
// documentation says of it.
func checkRow(t *testing.T, r *answerRow, d documentedAnswer, err error, ae *APIError) {
	t.Helper()
	assert.ErrorIs(t, err, r.err)
	assert.Equal(t, []error{r.err}, matched(err), "exactly one answer sentinel")
	assert.NotErrorIs(t, err, ErrNotSent)
	assert.Equal(t, d.temporary, ae.Temporary(), "Temporary")
	assert.Equal(t, r.outcomeName(), Outcome(err), "Outcome")
	assert.Equal(t, d.state.String(), OTPStateOf(err).String(), "OTPStateOf")
	assert.Equal(t, r.err, classify(ae.StatusCode, ae.SubCode, ae.Detail), "classify")
	assert.Equal(t, r.err, ae.Unwrap())
	assert.False(t, errors.Is(err, ErrOTPRejected), "a GenerateOTP error never matches ErrOTPRejected")
	assertNoLeak(t, err)
}

// TestAnswersTableAgainstDocumentedAnswers sends every answer Deepvue
// documents for generate-otp through a Client, and checks the error against
// the row it selects: the sentinel (errors.Is, and no other), Temporary,
// Outcome, OTPStateOf and classify. Every row that selects an answer is
// reached by at least one documented answer; a sub_code row's sub_code at a
// status Deepvue does not document it with keeps the sentinel but leaves
// OTPMaybeSent, as does a 503 that is not Deepvue's.
func TestAnswersTableAgainstDocumentedAnswers(t *testing.T) {
	reached := map[*answerRow]bool{}
	for _, d := range documentedAnswers {
		t.Run(d.name, func(t *testing.T) {
			ae, err := generateWith(t, d.status, d.body)
			r := classifyRow(ae.StatusCode, ae.SubCode, ae.Detail)
			require.NotNil(t, r, "no row for a documented answer")
			require.Equal(t, d.want, r.err, "the row selected")
			require.True(t, r.hasStatus(d.status), "the row documents the status")
			reached[r] = true
			assert.Equal(t, d.temporary, r.temporary && r.stateOf(d.status, ae.Detail) != OTPMaybeSent, "the row's Temporary")
			assert.Equal(t, d.state, r.stateOf(d.status, ae.Detail), "the row's state")
			checkRow(t, r, d, err, ae)
		})
	}
	for i := range answers {
		r := &answers[i]
		switch r.by {
		case byStatus, bySubCode, byDetail:
			assert.True(t, reached[r], "row %d (%s) is reached by no documented answer", i, r.name)
		}
	}

	// A documented sub_code at an undocumented status: the sentinel, maybe sent.
	for i := range answers {
		r := &answers[i]
		if r.by != bySubCode {
			continue
		}
		for _, status := range []int{418, 502} {
			t.Run(r.subCode+" at "+strconv.Itoa(status), func(t *testing.T) {
				require.False(t, r.hasStatus(status))
				ae, err := generateWith(t, status, `{"code":`+strconv.Itoa(status)+`,"sub_code":"`+r.subCode+`","message":"x"}`)
				assert.ErrorIs(t, err, r.err)
				assert.Equal(t, r.outcomeName(), Outcome(err))
				assert.False(t, ae.Temporary(), "never Temporary when an SMS may have gone out")
				assert.Equal(t, OTPMaybeSent, OTPStateOf(err))
			})
		}
	}
	// A row whose state needs a detail (Deepvue's 401, 403, 429, 503):
	// another detail, or none, keeps the sentinel, maybe sent.
	for i := range answers {
		r := &answers[i]
		if r.by != byStatus {
			continue
		}
		require.NotEmpty(t, r.details, "row %d (%s): a status alone never says that no OTP went out (issue 24)", i, r.name)
		for _, status := range r.statuses {
			for _, body := range []string{`{"detail":"upstream connect error or disconnect/reset before headers"}`, "", "<html>x</html>"} {
				ae, err := generateWith(t, status, body)
				assert.ErrorIs(t, err, r.err)
				assert.Equal(t, r.outcomeName(), Outcome(err))
				assert.False(t, ae.Temporary(), "never Temporary when an SMS may have gone out")
				assert.Equal(t, OTPMaybeSent, OTPStateOf(err), "%d with another detail", status)
			}
		}
	}
}

// TestAnswersTableRowsNoAnswerSelects checks the rows that classify does
// not select against the errors the SDK builds for them.
func TestAnswersTableRowsNoAnswerSelects(t *testing.T) {
	check := func(t *testing.T, r *answerRow, err error) {
		t.Helper()
		require.Error(t, err)
		assert.ErrorIs(t, err, r.err)
		if !r.also {
			assert.Equal(t, r.outcomeName(), Outcome(err), "Outcome")
		}
		assert.Equal(t, r.state.String(), OTPStateOf(err).String(), "OTPStateOf")
		var ae *APIError
		if errors.As(err, &ae) {
			assert.Equal(t, r.temporary, ae.Temporary(), "Temporary")
		} else {
			assert.False(t, r.temporary, "only an answer is Temporary")
		}
		assertNoLeak(t, err)
	}
	for i := range answers {
		r := &answers[i]
		switch r.err {
		case ErrUnexpectedResponse:
			require.Equal(t, byUnusable, r.by)
			for _, a := range []struct {
				status int
				body   string
			}{{200, `{"code":200,"sub_code":"OTP_QUEUED","message":"queued","reference_id":"29756208"}`}, {302, ""}} {
				ae, err := generateWith(t, a.status, a.body)
				check(t, r, err)
				assert.Nil(t, classify(ae.StatusCode, ae.SubCode, ae.Detail), "Unwrap's row, not classify's")
			}
		case ErrOTPRejected:
			require.Equal(t, byVerify, r.by)
			for _, status := range r.statuses {
				c, mt := mockClient(t)
				mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(status, `{"code":`+strconv.Itoa(status)+`,"sub_code":"INVALID_OTP","message":"OTP entered is invalid"}`))
				_, err := c.VerifyOTP(context.Background(), validVerifyRequest())
				check(t, r, err)
				_, gerr := generateWith(t, status, `{"code":`+strconv.Itoa(status)+`,"sub_code":"INVALID_OTP","message":"x"}`)
				assert.NotErrorIs(t, gerr, r.err, "a GenerateOTP error never matches it")
			}
			c, mt := mockClient(t)
			mt.RegisterResponder(http.MethodPost, verURL, jsonResponder(409, `{"code":409,"sub_code":"INVALID_OTP"}`))
			_, err := c.VerifyOTP(context.Background(), validVerifyRequest())
			assert.NotErrorIs(t, err, r.err, "409 is not one of the row's statuses")
		case ErrAuditFailed:
			c, _ := mockClient(t, WithAuditLog(func(context.Context, AuditRecord) error { return errors.New("database down") }))
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			check(t, r, err)
		case ErrLimiter:
			// Refused: the next slot lies after the deadline.
			c, mt := mockClient(t, WithRateLimiter(NewPlanLimiter(Plan{PerSecond: 1})))
			mt.RegisterResponder(http.MethodPost, genURL, jsonResponder(200, successOTP))
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			_, err = c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
			cancel()
			check(t, r, err)
			var le *LimitError
			assert.ErrorAs(t, err, &le)
			assert.ErrorIs(t, err, ErrNotSent)
			// The caller's context ended while the call waited.
			ctx, cancel = context.WithCancel(context.Background())
			cancel()
			_, err = c.GenerateOTP(ctx, validNumber, ConsentYes, testPurpose)
			assert.ErrorIs(t, err, ErrLimiter)
		case ErrClientClosed:
			c, _ := mockClient(t)
			require.NoError(t, c.Close())
			_, err := c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			check(t, r, err)
		case ErrResendBlocked:
			u, err := url.Parse(genURL)
			require.NoError(t, err)
			check(t, r, newTransportError(opGenerate, u, "sending the request", errResendBlocked, false, &secrets{Number: validNumber}))
		case errNilContext:
			c, _ := mockClient(t)
			//lint:ignore SA1012 a nil context is what the test passes
			_, err := c.GenerateOTP(nil, validNumber, ConsentYes, testPurpose)
			check(t, r, err)
			assert.Equal(t, errNilContext, err)
		case ErrMaybeSentMoreThanOnce:
			// A transport that is not net/http's and was not declared: its
			// 502 may follow a resend of its own.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }))
			t.Cleanup(srv.Close)
			tr := NewTransport()
			t.Cleanup(tr.CloseIdleConnections)
			c, err := NewClient(testID, testSecret, WithBaseURL(srv.URL), WithHTTPClient(&http.Client{
				Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) { return tr.RoundTrip(req) })}))
			require.NoError(t, err)
			_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			check(t, r, err)
			assert.Equal(t, "http_502", Outcome(err), "Outcome names what else the error is")
		case ErrNotSent:
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			addr := ln.Addr().String()
			require.NoError(t, ln.Close())
			c, err := NewClient(testID, testSecret, WithBaseURL("http://"+addr))
			require.NoError(t, err)
			_, err = c.GenerateOTP(context.Background(), validNumber, ConsentYes, testPurpose)
			check(t, r, err)
			assert.Equal(t, "not_sent", Outcome(err), "a class, not a sentinel name")
		default:
			require.Contains(t, []selector{byStatus, bySubCode, byDetail}, r.by, "row %d (%s): no check", i, r.name)
		}
	}
}

// TestAnswersTableIsConsistent: the rows of one sentinel stand together and
// agree on its name and on Temporary; a row has what its selector needs.
func TestAnswersTableIsConsistent(t *testing.T) {
	seen := map[error]bool{}
	for i := range answers {
		r := &answers[i]
		require.NotNil(t, r.err, "row %d", i)
		first := rowOf(r.err)
		if first != r {
			assert.Equal(t, first.err, answers[i-1].err, "row %d (%s): the rows of a sentinel stand together", i, r.name)
			assert.Equal(t, first.name, r.name, "row %d", i)
			assert.Equal(t, first.temporary, r.temporary, "row %d: Temporary is the sentinel's", i)
		} else {
			assert.False(t, seen[r.err], "row %d", i)
			seen[r.err] = true
		}
		assert.True(t, strings.HasPrefix(r.name, "Err") || r.err == errNilContext, "row %d: the Go name", i)
		switch r.by {
		case byStatus, byDetail, byVerify:
			assert.NotEmpty(t, r.statuses, "row %d", i)
			assert.Empty(t, r.subCode, "row %d", i)
		case bySubCode:
			assert.NotEmpty(t, r.statuses, "row %d: the documented statuses", i)
			assert.Equal(t, strings.ToUpper(r.subCode), r.subCode, "row %d", i)
		default:
			assert.Empty(t, r.statuses, "row %d", i)
		}
		if r.by == byDetail {
			assert.NotEmpty(t, r.details, "row %d", i)
		}
		assert.NotZero(t, r.action, "row %d: NextStep's action", i)
	}
	// Outcome tries the sentinels in the table's order, ErrNotSent apart.
	var names []string
	for _, r := range namedRows {
		names = append(names, r.name)
	}
	assert.Equal(t, []string{"ErrLimiter", "ErrAuditFailed", "ErrInvalidInput", "ErrMobileNotLinked", "ErrVerificationPending",
		"ErrSourceFailure", "ErrUnauthorized", "ErrRateLimited", "ErrServiceUnavailable", "ErrUnexpectedResponse",
		"ErrClientClosed", "errNilContext", "ErrOTPRejected", "ErrResendBlocked"}, names)
}

// TestEverySentinelHasARow reads the package's source: every exported
// package-level variable named Err... must have a row of the table whose
// name is the variable's and whose error text is the one the source
// declares, so that a sentinel cannot be added without a row; and every row
// names a sentinel the source declares.
func TestEverySentinelHasARow(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	declared := map[string]string{} // name -> the text its initializer gives
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		file, err := parser.ParseFile(fset, f, src, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for j, name := range vs.Names {
					if !name.IsExported() || !strings.HasPrefix(name.Name, "Err") {
						continue
					}
					text := "(no text: " + f + ")"
					if j < len(vs.Values) {
						if call, ok := vs.Values[j].(*ast.CallExpr); ok && len(call.Args) == 1 {
							if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								text, err = strconv.Unquote(lit.Value)
								require.NoError(t, err)
							}
						}
					}
					declared[name.Name] = text
				}
			}
		}
	}
	require.GreaterOrEqual(t, len(declared), 13, "the scan finds the sentinels")
	rows := map[string]*answerRow{}
	for i := range answers {
		rows[answers[i].name] = rowOf(answers[i].err)
	}
	for name, text := range declared {
		r, ok := rows[name]
		if assert.True(t, ok, "sentinel %s has no row in the table of answers (errors.go)", name) {
			assert.Equal(t, text, r.err.Error(), "the row named %s holds that sentinel", name)
		}
	}
	for name := range rows {
		if token.IsExported(name) {
			assert.Contains(t, declared, name, "a row names a sentinel the source does not declare")
		}
	}
}
