package deepvue

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvelopeFieldsDecodeOnTheirOwn(t *testing.T) {
	env, ok := decodeEnvelope([]byte(`{"code":{"a":1},"timestamp":[1,2],"transaction_id":12815,"sub_code":"SOURCE_FAILURE",` +
		`"message":true,"reference_id":2.9756208e7,"detail":null}`))
	require.True(t, ok, "odd field types never fail the answer")
	assert.Equal(t, "SOURCE_FAILURE", env.SubCode.s)
	assert.Equal(t, "12815", env.TransactionID.s)
	assert.Equal(t, "true", env.Message.s)
	assert.Equal(t, "29756208", env.ReferenceID.s)
	assert.True(t, env.Code.bad)
	assert.True(t, env.Timestamp.bad)
	assert.False(t, env.Detail.set)
	for _, body := range []string{``, `[]`, `null`, `"x"`, `{"sub_code":`, `<html>`} {
		_, ok := decodeEnvelope([]byte(body))
		assert.False(t, ok, body)
	}
}

func TestFlexTimeForms(t *testing.T) {
	ms := time.UnixMilli(1738332826135)
	for raw, want := range map[string]time.Time{
		`1738332826135`:               ms,
		`"1738332826135"`:             ms,
		`1738332826`:                  time.Unix(1738332826, 0),
		`1738332826135000`:            time.UnixMicro(1738332826135000),
		`1738332826135000000`:         time.Unix(0, 1738332826135000000),
		`"2025-01-31T14:13:46Z"`:      time.Date(2025, 1, 31, 14, 13, 46, 0, time.UTC),
		`"2025-01-31T19:43:46+05:30"`: time.Date(2025, 1, 31, 14, 13, 46, 0, time.UTC),
		`"2025-01-31 14:13:46"`:       time.Date(2025, 1, 31, 14, 13, 46, 0, time.UTC),
		`null`:                        {},
		`" "`:                         {},
	} {
		var f flexTime
		require.NoError(t, f.UnmarshalJSON([]byte(raw)))
		assert.False(t, f.bad, raw)
		assert.True(t, want.Equal(f.t), "%s: %v", raw, f.t)
	}
	for _, raw := range []string{`"soon"`, `true`, `{"t":1}`, `-5`, `0`} {
		var f flexTime
		require.NoError(t, f.UnmarshalJSON([]byte(raw)))
		assert.True(t, f.t.IsZero(), raw)
		assert.True(t, f.bad, raw)
	}
}

func TestBase64FieldForms(t *testing.T) {
	data := []byte("\xff\xd8\xff photo bytes \x00\x01\xfe")
	std := base64.StdEncoding.EncodeToString(data)
	for name, raw := range map[string]string{
		"standard":        `"` + std + `"`,
		"unpadded":        `"` + base64.RawStdEncoding.EncodeToString(data) + `"`,
		"URL-safe":        `"` + base64.URLEncoding.EncodeToString(data) + `"`,
		"data URI":        `"data:image/jpeg;base64,` + std + `"`,
		"escaped breaks":  `"` + std[:8] + `\n` + std[8:16] + `\r\n` + std[16:] + `"`,
		"escaped slashes": mustJSON(t, std),
	} {
		var f base64Field
		require.NoError(t, f.UnmarshalJSON([]byte(raw)))
		assert.Empty(t, f.problem, name)
		assert.Equal(t, data, f.data, name)
	}
	for raw, problem := range map[string]string{
		`"<base64_encoded_image>"`:   "is a placeholder, not base64 content",
		`"https://x.example/p.jpg"`:  "is a URL, not base64 content",
		`"!!!"`:                      "is not valid base64",
		`{"url":"x"}`:                "is a JSON object, not a base64 string",
		`[1]`:                        "is a JSON array, not a base64 string",
		`42`:                         "is not a base64 string",
		`"data:image/jpeg,rawbytes"`: "is a data URI without base64 content",
	} {
		var f base64Field
		require.NoError(t, f.UnmarshalJSON([]byte(raw)))
		assert.Equal(t, problem, f.problem, raw)
		assert.Nil(t, f.data, raw)
	}
	var f base64Field
	require.NoError(t, f.UnmarshalJSON([]byte(`null`)))
	assert.Equal(t, base64Field{}, f)
}

// mustJSON encodes s as encoding/json would, escaping "/" as "\/" the way
// some servers do.
func mustJSON(t *testing.T, s string) string {
	b, err := json.Marshal(s)
	require.NoError(t, err)
	out := []byte{}
	for _, c := range b {
		if c == '/' {
			out = append(out, '\\')
		}
		out = append(out, c)
	}
	return string(out)
}

func TestDetailFieldForms(t *testing.T) {
	for raw, want := range map[string]detailField{
		`"Invalid Pan pattern"`: {text: "Invalid Pan pattern", set: true},
		`[{"loc":["query","purpose"],"msg":"field required","input":"234123412346"}]`: {text: "query.purpose: field required", list: true, set: true},
		`{"message":"m"}`: {text: "m", set: true},
		`{"msg":"n"}`:     {text: "n", set: true},
		`404`:             {text: "404", set: true},
		`null`:            {},
		`[1,2]`:           {text: "validation error", list: true, set: true},
	} {
		var d detailField
		require.NoError(t, d.UnmarshalJSON([]byte(raw)))
		assert.Equal(t, want, d, raw)
	}
}

// decodeEnvelopeJSON is decodeEnvelope without its fast path: encoding/json.
func decodeEnvelopeJSON(body []byte) (env envelope, ok bool) {
	return env, looksLikeObject(body) && json.Unmarshal(body, &env) == nil
}

// TestDecodeEnvelopeFastIsEncodingJSON: whatever decodeEnvelopeFast
// accepts, encoding/json decodes to the same envelope: the documented
// answers, names in other cases, unknown names of every kind, numbers of
// every form, and 20,000 answers made of members of every kind (known
// names in any case, twice, null, escapes, non-ASCII, nested values), a
// third of them then cut, or with a byte removed, doubled or changed. It must accept the documented answers
// (else it saves nothing).
func TestDecodeEnvelopeFastIsEncodingJSON(t *testing.T) {
	t.Parallel()
	check := func(body string) bool {
		var fast envelope
		if !decodeEnvelopeFast([]byte(body), &fast) {
			return false
		}
		want, ok := decodeEnvelopeJSON([]byte(body))
		require.True(t, ok, "%q: the fast path accepted what encoding/json refuses", body)
		require.Equal(t, want, fast, "%q", body)
		return true
	}
	for _, body := range []string{successOTP, sourceFailBd, `{}`, " {\n} ",
		`{"code":409,"timestamp":1738332826135,"transaction_id":"t","sub_code":"VERIFICATION_PENDING","message":"Otp already generated for this aadhaar, please try after some time.","reference_id":""}`,
		`{"detail":"Invalid client_id or client_secret, access Denied"}`, `{"detail":"Not authenticated"}`,
		`{"Code":"200","TIMESTAMP":"1738332826135","Transaction_ID":12815,"SUB_code":"success","Reference_Id":2.9756208e7}`,
		`{"x":null,"y":true,"z":-0.5e+3,"sub_code":"SUCCESS","w":"","reference_id":"1"}`,
		`{"code":1e400,"timestamp":-1,"message":false,"reference_id":true}`} {
		require.True(t, check(body), "%q: not taken by the fast path", body)
	}
	members := []string{`"sub_code":"SUCCESS"`, `"Sub_Code":"VERIFICATION_PENDING"`, `"reference_id":"29756208"`,
		`"reference_id":29756208`, `"REFERENCE_ID":""`, `"code":200`, `"code":"409"`, `"code":-1.5e2`, `"code":true`,
		`"timestamp":1738332826135`, `"timestamp":"2025-01-31T10:00:00Z"`, `"timestamp":0`, `"message":"OTP sent. 1234"`,
		`"message":""`, `"transaction_id":"12815fb81c084fb7a35eedc0ef1c5a84"`, `"transaction_id":12815`,
		`"detail":"Not authenticated"`, `"detail":false`, `"x":null`, `"y":true`, `"z":"\u00e9"`, `"z2":"é"`, `"w":01`,
		`"code":null`, `"message":"a\"b"`, `"a":{"b":1}`, `"a":[1]`, `"subcode":"SUCCESS"`, `"sub-code":"SUCCESS"`,
		`"transaction_id":"x` + "\x7f" + `"`, `"message":"é"`, `"message":"` + "\t" + `"`, `"n":-0`, `"n":1E+2`,
		// Names encoding/json matches and a byte-wise ASCII match would not:
		// an escape in the name, and the long s (U+017F) that folds to s.
		`"sub\u005fcode":"VERIFICATION_PENDING"`, `"\u0072eference_id":"7"`, "\"\u017fub_code\":\"SUCCESS\"",
		"\"me\u017f\u017fage\":\"m\"", `"sub_code":"` + "\xff" + `"`}
	// Whole answers whatever path takes them: decodeEnvelope is
	// encoding/json's, including where the fast path must refuse (a name
	// with an escape or that folds under Unicode, U+2028 or a BOM around
	// the object, invalid UTF-8, trailing bytes, numbers JSON refuses).
	for _, body := range []string{
		`{"sub\u005fcode":"SUCCESS","reference_id":"1"}`, "{\"\u017fub_code\":\"SUCCESS\",\"reference_id\":\"1\"}",
		"{\"me\u017f\u017fage\":\"m\",\"sub_code\":\"SUCCESS\"}", "{\"sub_code\":\"SUCCESS\"}\u2028",
		"\ufeff{\"sub_code\":\"SUCCESS\"}", "{\"sub_code\":\"SUCC\xffESS\"}", `{"sub_code":"SUCCESS"}{}`,
		`{"code":01}`, `{"code":1.}`, `{"code":-}`, `{"code":1e}`, `{"code":+1}`, `{"code":200,"CODE":409}`,
		`{"sub_code":"SUCCESS","sub_code":null}`, `{"reference_id":99999999999999999999999}`, `{"code":-0}`,
	} {
		got, gotOK := decodeEnvelope([]byte(body))
		want, wantOK := decodeEnvelopeJSON([]byte(body))
		require.Equal(t, wantOK, gotOK, "%q", body)
		require.Equal(t, want, got, "%q", body)
	}
	spaces := []string{"", " ", "\t", "\n", "\r\n  "}
	rng := rand.New(rand.NewPCG(26, 3))
	accepted := 0
	for n := 0; n < 20000; n++ {
		b := []byte(spaces[rng.IntN(len(spaces))] + "{")
		for k := rng.IntN(7); k > 0; k-- {
			b = append(b, spaces[rng.IntN(len(spaces))]...)
			b = append(b, members[rng.IntN(len(members))]...)
			b = append(b, spaces[rng.IntN(len(spaces))]...)
			if k > 1 {
				b = append(b, ',')
			}
		}
		b = append(b, '}')
		b = append(b, spaces[rng.IntN(len(spaces))]...)
		if rng.IntN(3) == 0 {
			for k := 1 + rng.IntN(2); k > 0 && len(b) > 0; k-- { // mutate
				i := rng.IntN(len(b))
				switch rng.IntN(4) {
				case 0:
					b = append(b[:i:i], b[i+1:]...)
				case 1:
					b = append(b[:i+1:i+1], b[i:]...)
				case 2:
					const bytes = `{}[]:,"\ 0-e.tn`
					b[i] = bytes[rng.IntN(len(bytes))]
				default:
					b = b[:i]
				}
			}
		}
		if check(string(b)) {
			accepted++
		}
	}
	t.Logf("accepted %d", accepted)
	assert.Greater(t, accepted, 2000, "the random answers reach the fast path")
}
