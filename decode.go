package deepvue

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// envelope is the part every Deepvue answer shares. Decoding is lenient
// about types (a number where a string is expected, and the reverse),
// because the documentation and the server may disagree.
type envelope struct {
	Code          flexInt         `json:"code"`
	Timestamp     flexInt         `json:"timestamp"`
	TransactionID flexString      `json:"transaction_id"`
	SubCode       flexString      `json:"sub_code"`
	Message       flexString      `json:"message"`
	ReferenceID   flexString      `json:"reference_id"`
	Detail        json.RawMessage `json:"detail"`
}

// decodeEnvelope decodes body; ok is false if it is not a JSON object of the
// expected shape.
func decodeEnvelope(body []byte) (env envelope, ok bool) {
	if !looksLikeObject(body) {
		return env, false
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return envelope{}, false
	}
	return env, true
}

func looksLikeObject(body []byte) bool {
	body = bytes.TrimLeft(body, " \t\r\n")
	return len(body) > 0 && body[0] == '{'
}

var errWrongType = errors.New("wrong JSON type")

// flexString accepts a JSON string, number or boolean; null is "".
type flexString struct{ s string }

// String returns the decoded text.
func (f flexString) String() string { return f.s }

// UnmarshalJSON accepts a string, number, boolean or null.
func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		return nil
	case b[0] == '"':
		if inner := b[1 : len(b)-1]; plainJSONString(inner) {
			f.s = string(inner) // no escapes: the bytes are the string
			return nil
		}
		return json.Unmarshal(b, &f.s)
	case string(b) == "null":
		f.s = ""
		return nil
	case string(b) == "true" || string(b) == "false" || b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		f.s = string(b)
		return nil
	}
	return errWrongType
}

// flexInt accepts a JSON number or a string holding an integer; null is 0.
type flexInt struct{ n int64 }

// UnmarshalJSON accepts a number, a string holding an integer, or null.
func (f *flexInt) UnmarshalJSON(b []byte) error {
	if n, ok := parseDigits(b); ok {
		f.n = n
		return nil
	}
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) > 0 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
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
	return errWrongType
}

// detailText turns a "detail" field into text: a string as it is; a
// FastAPI validation list as "query.purpose: field required; ..." (only loc
// and msg are kept: newer FastAPI echoes the submitted value in "input").
// list reports whether it was a list.
func detailText(raw json.RawMessage) (text string, list bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, false
		}
	case '[':
		var items []struct {
			Loc []flexString `json:"loc"`
			Msg flexString   `json:"msg"`
		}
		if json.Unmarshal(raw, &items) != nil {
			return "validation error", true
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
		return b.String(), true
	case '{':
		var obj struct {
			Msg     flexString `json:"msg"`
			Message flexString `json:"message"`
		}
		if json.Unmarshal(raw, &obj) == nil {
			if obj.Message.s != "" {
				return obj.Message.s, false
			}
			return obj.Msg.s, false
		}
	}
	return "", false
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
