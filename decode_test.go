package deepvue

import (
	"encoding/base64"
	"encoding/json"
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
