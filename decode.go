package deepvue

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Decoding is lenient, because the documentation and the server may
// disagree: every field decodes on its own, accepts the types a server is
// likely to send (a number where a string is documented, and the reverse),
// and never fails the whole answer. A field it cannot use is left empty and
// marked bad. Only an answer that is not a JSON object fails.

// envelope is the part every Deepvue answer shares.
type envelope struct {
	Code          flexInt     `json:"code"`
	Timestamp     flexTime    `json:"timestamp"`
	TransactionID flexString  `json:"transaction_id"`
	SubCode       flexString  `json:"sub_code"`
	Message       flexString  `json:"message"`
	ReferenceID   flexString  `json:"reference_id"`
	Detail        detailField `json:"detail"`
}

// decodeEnvelope decodes body; ok is false only if it is not a JSON object
// (every field is lenient). The common answer takes decodeEnvelopeFast;
// anything else encoding/json.
func decodeEnvelope(body []byte) (env envelope, ok bool) {
	if decodeEnvelopeFast(body, &env) {
		return env, true
	}
	env = envelope{}
	return env, looksLikeObject(body) && json.Unmarshal(body, &env) == nil
}

// decodeEnvelopeFast decodes the common form of an answer, and reports
// false for any other, which it leaves to encoding/json: a JSON object whose
// names are ASCII strings without escapes, whose values are strings of
// ASCII without escapes or control characters, numbers, true, false or (for
// a name that is not the envelope's) null, with each of the envelope's
// names at most once. Its names are matched as encoding/json matches them
// (an exact name, else one that differs in ASCII case), and each field is
// decoded by its own UnmarshalJSON from the bytes encoding/json would hand
// it, so the result is encoding/json's (TestDecodeEnvelopeFastIsEncodingJSON,
// FuzzGenerateAnswer), without its reflection and its scan of the whole
// answer before the decoding.
func decodeEnvelopeFast(body []byte, env *envelope) bool {
	i := skipJSONSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = skipJSONSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return skipJSONSpace(body, i+1) == len(body)
	}
	var seen uint8
	for {
		if i >= len(body) || body[i] != '"' {
			return false
		}
		end, ok := plainStringEnd(body, i)
		if !ok {
			return false
		}
		name := body[i+1 : end-1]
		i = skipJSONSpace(body, end)
		if i >= len(body) || body[i] != ':' {
			return false
		}
		i = skipJSONSpace(body, i+1)
		start := i
		end, null, ok := simpleValueEnd(body, i)
		if !ok {
			return false
		}
		if f := envelopeField(name); f >= 0 {
			if null || seen&(1<<f) != 0 {
				return false // null, or a name twice: encoding/json's rules, not these
			}
			seen |= 1 << f
			v := body[start:end]
			var fs *flexString
			switch f { // the methods never fail (see each)
			case 0:
				_ = env.Code.UnmarshalJSON(v)
			case 1:
				_ = env.Timestamp.UnmarshalJSON(v)
			case 2:
				fs = &env.TransactionID
			case 3:
				fs = &env.SubCode
			case 4:
				fs = &env.Message
			case 5:
				fs = &env.ReferenceID
			default:
				_ = env.Detail.UnmarshalJSON(v)
			}
			if fs != nil {
				if v[0] == '"' {
					*fs = flexString{s: string(v[1 : len(v)-1])} // plain ASCII: what UnmarshalJSON makes of it
				} else {
					_ = fs.UnmarshalJSON(v)
				}
			}
		}
		i = skipJSONSpace(body, end)
		if i >= len(body) {
			return false
		}
		switch body[i] {
		case ',':
			i = skipJSONSpace(body, i+1)
		case '}':
			return skipJSONSpace(body, i+1) == len(body)
		default:
			return false
		}
	}
}

// envelopeNames are the envelope's JSON names, in decodeEnvelopeFast's order.
var envelopeNames = [...]string{"code", "timestamp", "transaction_id", "sub_code", "message", "reference_id", "detail"}

// envelopeField returns the index in envelopeNames of name, matched in any
// ASCII case, or -1.
func envelopeField(name []byte) int {
	for f, n := range envelopeNames {
		if len(n) == len(name) && equalFoldASCIIBytes(name, n) {
			return f
		}
	}
	return -1
}

// equalFoldASCII is strings.EqualFold for ASCII, without allocating.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// equalFoldASCIIBytes reports whether b and s (of one length, s lower-case
// ASCII) differ only in ASCII case.
func equalFoldASCIIBytes(b []byte, s string) bool {
	for i := 0; i < len(s); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// skipJSONSpace returns the index of the first byte at or after i that is
// not JSON whitespace.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainStringEnd returns the index after the closing quote of the string
// that opens at b[i], if it holds only ASCII bytes from the space on, and no
// escape.
func plainStringEnd(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, true
		case c < ' ' || c >= 0x80 || c == '\\':
			return 0, false
		}
	}
	return 0, false
}

// simpleValueEnd returns the index after the value at b[i] if it is a plain
// string (plainStringEnd), a number, true, false or null (null reported).
// An object or an array is not simple.
func simpleValueEnd(b []byte, i int) (end int, null, ok bool) {
	if i >= len(b) {
		return 0, false, false
	}
	switch c := b[i]; {
	case c == '"':
		end, ok = plainStringEnd(b, i)
		return end, false, ok
	case c == 't':
		return literalEnd(b, i, "true")
	case c == 'f':
		return literalEnd(b, i, "false")
	case c == 'n':
		end, _, ok = literalEnd(b, i, "null")
		return end, true, ok
	case c == '-' || ('0' <= c && c <= '9'):
		end, ok = numberEnd(b, i)
		return end, false, ok
	}
	return 0, false, false
}

func literalEnd(b []byte, i int, lit string) (int, bool, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false, false
	}
	return i + len(lit), false, true
}

// numberEnd returns the index after the JSON number at b[i]: -?(0|[1-9]d*)
// (.d+)?([eE][+-]?d+)?
func numberEnd(b []byte, i int) (int, bool) {
	digits := func(j int) int {
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
		return j
	}
	j := i
	if b[j] == '-' {
		j++
	}
	switch {
	case j >= len(b) || b[j] < '0' || b[j] > '9':
		return 0, false
	case b[j] == '0':
		j++
	default:
		j = digits(j)
	}
	if j < len(b) && b[j] == '.' {
		k := digits(j + 1)
		if k == j+1 {
			return 0, false
		}
		j = k
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := digits(j)
		if k == j {
			return 0, false
		}
		j = k
	}
	return j, true
}

func looksLikeObject(body []byte) bool {
	body = bytes.TrimLeft(body, " \t\r\n")
	return len(body) > 0 && body[0] == '{'
}

// flexString accepts a JSON string, number or boolean; null is "". An object
// or array leaves it empty and bad.
type flexString struct {
	s   string
	bad bool
}

// String returns the decoded text.
func (f flexString) String() string { return f.s }

// UnmarshalJSON never fails: see flexString.
func (f *flexString) UnmarshalJSON(b []byte) error {
	f.s, f.bad = "", false
	switch {
	case len(b) == 0:
	case b[0] == '"':
		if inner := b[1 : len(b)-1]; plainJSONString(inner) {
			f.s = string(inner) // no escapes: the bytes are the string
		} else if json.Unmarshal(b, &f.s) != nil {
			f.bad = true
		}
	case b[0] == 'n': // null
	case b[0] == 't' || b[0] == 'f':
		f.s = string(b)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		f.s = numberText(b)
	default:
		f.bad = true
	}
	return nil
}

// numberText renders a JSON number as text; an integral float such as
// 2.9756208e7 becomes "29756208".
func numberText(b []byte) string {
	if !bytes.ContainsAny(b, ".eE") {
		return string(b)
	}
	if x, err := strconv.ParseFloat(string(b), 64); err == nil && x == math.Trunc(x) && math.Abs(x) < 1e18 {
		return strconv.FormatInt(int64(x), 10)
	}
	return string(b)
}

// flexInt accepts a JSON number or a string holding one; anything else is
// 0 and bad.
type flexInt struct {
	n   int64
	bad bool
}

// UnmarshalJSON never fails: see flexInt.
func (f *flexInt) UnmarshalJSON(b []byte) error {
	f.n, f.bad = 0, false
	if n, ok := parseDigits(b); ok {
		f.n = n
		return nil
	}
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) > 0 && s[0] == '"' {
		if json.Unmarshal(b, &s) != nil {
			f.bad = true
			return nil
		}
		if s = strings.TrimSpace(s); s == "" {
			return nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		f.n = n
		return nil
	}
	if x, err := strconv.ParseFloat(s, 64); err == nil && x >= -9e18 && x <= 9e18 {
		f.n = int64(x)
		return nil
	}
	f.bad = true
	return nil
}

// flexTime accepts epoch seconds, milliseconds, microseconds or nanoseconds
// (told apart by size), as a number or a string, and an RFC 3339 string.
// null or "" is the zero time; anything else is the zero time and bad.
type flexTime struct {
	t   time.Time
	bad bool
}

// UnmarshalJSON never fails: see flexTime.
func (f *flexTime) UnmarshalJSON(b []byte) error {
	f.t, f.bad = time.Time{}, false
	if n, ok := parseDigits(b); ok { // the documented form, without allocating
		if f.t = epochTime(n); f.t.IsZero() {
			f.bad = true
		}
		return nil
	}
	var s flexString
	_ = s.UnmarshalJSON(b)
	text := strings.TrimSpace(s.s)
	if s.bad || text == "true" || text == "false" {
		f.bad = true
		return nil
	}
	if text == "" {
		return nil
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		if f.t = epochTime(n); f.t.IsZero() {
			f.bad = true
		}
		return nil
	}
	if x, err := strconv.ParseFloat(text, 64); err == nil && x > 0 && x < 9e18 {
		f.t = epochTime(int64(x))
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, text); err == nil {
			f.t = t
			return nil
		}
	}
	f.bad = true
	return nil
}

// epochTime converts an epoch count, telling seconds, milliseconds,
// microseconds and nanoseconds apart by size. 0 or less is the zero time.
func epochTime(n int64) time.Time {
	switch {
	case n <= 0:
		return time.Time{}
	case n < 100_000_000_000: // seconds until the year 5138
		return time.Unix(n, 0)
	case n < 100_000_000_000_000:
		return time.UnixMilli(n)
	case n < 100_000_000_000_000_000:
		return time.UnixMicro(n)
	}
	return time.Unix(0, n)
}

// detailField is the "detail" of platform errors, turned into text while the
// answer is decoded: a string as it is; a FastAPI validation list as
// "query.purpose: field required; ..." (only loc and msg are kept: newer
// FastAPI echoes the submitted value in "input"); an object's message.
type detailField struct {
	text string
	list bool // it was a validation list
	set  bool // the answer had a non-null detail
}

// UnmarshalJSON never fails: see detailField.
func (d *detailField) UnmarshalJSON(raw []byte) error {
	*d = detailField{}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	d.set = true
	switch raw[0] {
	case '"':
		_ = json.Unmarshal(raw, &d.text)
	case '[':
		d.list = true
		var items []struct {
			Loc []flexString `json:"loc"`
			Msg flexString   `json:"msg"`
		}
		if json.Unmarshal(raw, &items) != nil {
			d.text = "validation error"
			return nil
		}
		var b strings.Builder
		for i, it := range items {
			if i == 8 {
				b.WriteString("; …")
				break
			}
			if i > 0 {
				b.WriteString("; ")
			}
			for j, l := range it.Loc {
				if j > 0 {
					b.WriteByte('.')
				}
				b.WriteString(clip(l.String(), 40))
			}
			if it.Msg.s != "" {
				b.WriteString(": ")
				b.WriteString(clip(it.Msg.String(), 80))
			}
		}
		d.text = b.String()
	case '{':
		var obj struct {
			Msg     flexString `json:"msg"`
			Message flexString `json:"message"`
		}
		if json.Unmarshal(raw, &obj) == nil {
			d.text = obj.Message.s
			if d.text == "" {
				d.text = obj.Msg.s
			}
		}
	default:
		var s flexString
		_ = s.UnmarshalJSON(raw)
		d.text = s.s
	}
	return nil
}

// base64Field is a base64 string (a photo, a PDF), decoded while the answer
// is decoded, straight from the decoder's bytes: the encoded text is never
// copied into a string. It accepts standard or URL-safe base64, padded or
// not, with line breaks and a "data:...;base64," prefix. Anything else
// leaves it empty with a problem.
type base64Field struct {
	data    []byte
	problem string
}

// UnmarshalJSON never fails: see base64Field.
func (f *base64Field) UnmarshalJSON(b []byte) error {
	*f = base64Field{}
	switch {
	case len(b) == 0 || string(b) == "null":
		return nil
	case b[0] == '{':
		f.problem = "is a JSON object, not a base64 string"
		return nil
	case b[0] == '[':
		f.problem = "is a JSON array, not a base64 string"
		return nil
	case b[0] != '"':
		f.problem = "is not a base64 string"
		return nil
	}
	src := b[1 : len(b)-1]
	if bytes.IndexByte(src, '\\') >= 0 { // escapes (\n, \/): unescape first
		var s string
		if json.Unmarshal(b, &s) != nil {
			f.problem = "is not a valid JSON string"
			return nil
		}
		src = []byte(s)
	}
	f.data, f.problem = decodeBase64(src)
	return nil
}

// decodeBase64 decodes src into a new slice; problem says why it could not.
func decodeBase64(src []byte) (out []byte, problem string) {
	src = bytes.TrimSpace(src)
	if len(src) == 0 {
		return nil, ""
	}
	if bytes.HasPrefix(src, []byte("data:")) {
		i := bytes.Index(src, []byte(";base64,"))
		if i < 0 {
			return nil, "is a data URI without base64 content"
		}
		src = src[i+len(";base64,"):]
	}
	if bytes.ContainsAny(src, "\r\n \t") {
		src = bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, src)
	}
	enc := base64.StdEncoding
	if bytes.ContainsAny(src, "-_") {
		enc = base64.URLEncoding
	}
	if len(src)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	out = make([]byte, enc.DecodedLen(len(src)))
	n, err := enc.Decode(out, src)
	if err != nil {
		switch {
		case bytes.HasPrefix(src, []byte("http://")) || bytes.HasPrefix(src, []byte("https://")):
			return nil, "is a URL, not base64 content"
		case bytes.HasPrefix(src, []byte("<")):
			return nil, "is a placeholder, not base64 content"
		}
		return nil, "is not valid base64"
	}
	return out[:n], ""
}

// plainJSONString reports whether the inside of a JSON string literal has no
// escapes and is valid UTF-8, so that its bytes are the string. (The decoder
// has already checked the whole answer, so the literal holds no raw control
// characters.)
func plainJSONString(b []byte) bool {
	return bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b)
}

// parseDigits parses a plain non-negative integer literal of up to 18 digits.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
