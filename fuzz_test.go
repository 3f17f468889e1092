package deepvue

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// referenceValidate is a second, deliberately simple implementation of
// python-stdnum's aadhaar.validate, written from its source: compact, then
// isdigits, length, regex, palindrome, Verhoeff. It returns "" for valid
// numbers or the name of the first failed rule.
func referenceValidate(number string) string {
	// compact: clean(number, ' -').strip()
	number = strings.NewReplacer(" ", "", "-", "").Replace(number)
	number = strings.TrimFunc(number, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) // Python's str.isspace()
	})
	for _, r := range number {
		if r < '0' || r > '9' {
			return "format"
		}
	}
	if len(number) != 12 {
		return "length"
	}
	if !regexp.MustCompile(`^[2-9][0-9]{11}$`).MatchString(number) {
		return "format"
	}
	reversed := []byte(number)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	if string(reversed) == number {
		return "format"
	}
	// Verhoeff, with the group D5 computed rather than tabled.
	mul := func(a, b int) int {
		if a < 5 && b < 5 {
			return (a + b) % 5
		}
		if a < 5 {
			return 5 + (a+b-5)%5
		}
		if b < 5 {
			return 5 + (a-5-b+5)%5
		}
		return (a - b + 5) % 5
	}
	perm := [10]int{1, 5, 7, 6, 2, 8, 3, 0, 9, 4}
	p := func(pos, d int) int {
		for i := 0; i < pos%8; i++ {
			d = perm[d]
		}
		return d
	}
	c := 0
	for i := 0; i < len(number); i++ {
		d, _ := strconv.Atoi(string(number[len(number)-1-i]))
		c = mul(c, p(i, d))
	}
	if c != 0 {
		return "checksum"
	}
	return ""
}

func ruleOf(err error) string {
	if err == nil {
		return ""
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return "not a ValidationError"
	}
	switch {
	case strings.Contains(ve.Reason, "12 digits"):
		return "length"
	case strings.Contains(ve.Reason, "check digit"):
		return "checksum"
	}
	return "format"
}

var aadhaarSeeds = []string{
	"234123412346", "234567890124", "499181234560", "999941057058", "234123412347",
	"123412341234", "222222222222", "643343121", "2341 2341 2346", "2341-2341-2346",
	" \t234123412346\n", "\x1c234123412346", "２３４１２３４１２３４６", "", "-", "0", "999900000016",
	"23412341234\u00a06", "\u3000234123412346\u2029", "2341\t23412346", "234123412346 0",
}

func TestReferenceValidateAgreesOnVectors(t *testing.T) {
	for _, s := range aadhaarSeeds {
		if got, want := ruleOf(ValidateAadhaar(s)), referenceValidate(s); got != want {
			t.Errorf("%q: ValidateAadhaar says %q, reference says %q", s, got, want)
		}
	}
}

func FuzzValidateAadhaar(f *testing.F) {
	for _, s := range aadhaarSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateAadhaar(s)
		if got, want := ruleOf(err), referenceValidate(s); got != want {
			t.Fatalf("%q: ValidateAadhaar says %q, reference says %q", s, got, want)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("%q: error does not match ErrInvalidInput", s)
			}
			if digits := onlyDigits(s); len(digits) >= 4 && strings.Contains(err.Error(), digits) {
				t.Fatalf("%q: error %q contains the input", s, err)
			}
		}
	})
}

func onlyDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

var maskPattern = regexp.MustCompile(`^XXXX XXXX (XXXX|[0-9]{4})$`)

func FuzzMaskAadhaar(f *testing.F) {
	for _, s := range aadhaarSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := MaskAadhaar(s)
		if !maskPattern.MatchString(m) {
			t.Fatalf("%q: mask %q has the wrong form", s, m)
		}
		d := onlyDigits(s)
		if strings.HasSuffix(m, "XXXX") {
			return
		}
		// Showing digits is allowed only for input that compacts to 12
		// digits, and only its last four.
		if len(d) != 12 || m[10:] != d[8:] {
			t.Fatalf("%q: mask %q shows digits it should not", s, m)
		}
	})
}

func FuzzGenerateAnswer(f *testing.F) {
	f.Add(200, successOTP)
	f.Add(200, `{"sub_code":"SUCCESS","reference_id":29756208,"timestamp":"1"}`)
	f.Add(409, `{"sub_code":"VERIFICATION_PENDING","reference_id":""}`)
	f.Add(422, `{"detail":[{"loc":["query","purpose"],"msg":"field required"}]}`)
	f.Add(500, sourceFailBd)
	f.Add(502, `<html>bad gateway</html>`)
	f.Add(200, `{"sub_code":"SUCCESS","reference_id":{"x":1}}`)
	f.Add(200, successOTP[:70])
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 100 || status > 599 {
			return
		}
		a := &answer{status: status, body: []byte(body), contentType: "application/json"}
		res, err := generateResult(a, &secrets{number: validNumber, secret: testSecret})
		if (res == nil) == (err == nil) {
			t.Fatalf("exactly one of result and error: %v %v", res, err)
		}
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != status {
				t.Fatalf("not an *APIError with the status: %v", err)
			}
			if len(matched(err)) > 1 {
				t.Fatalf("matches %d sentinels", len(matched(err)))
			}
			if len(err.Error()) > 600 {
				t.Fatalf("error text too long: %d", len(err.Error()))
			}
			if strings.Contains(err.Error(), validNumber) || strings.Contains(err.Error(), testSecret) {
				t.Fatalf("leak: %q", err)
			}
			return
		}
		// Success only for a well-formed success answer.
		env, ok := decodeEnvelope([]byte(body))
		if status/100 != 2 || !ok || !strings.EqualFold(strings.TrimSpace(env.SubCode.s), "SUCCESS") || !validReferenceID(res.ReferenceID) {
			t.Fatalf("success for a malformed answer %d %q", status, body)
		}
	})
}

func FuzzVerifyAnswer(f *testing.F) {
	f.Add(200, `{"sub_code":"SUCCESS","transaction_id":"t","data":{"name":"A","photo":"aGVsbG8=","generatedAt":"1738304139979","address":{"pin":561118}}}`)
	f.Add(200, `{"sub_code":"SUCCESS","data":null}`)
	f.Add(200, `{"sub_code":"SUCCESS","data":{"photo":"!!"}}`)
	f.Add(200, `{"sub_code":"SUCCESS","data":{"document_pdf":"data:application/pdf;base64,aGk="}}`)
	f.Add(400, `{"sub_code":"INVALID_OTP","message":"OTP 482913 wrong"}`)
	f.Add(500, sourceFailBd)
	f.Add(200, `{"sub_code":"SUCCESS","data":{"photo":{"url":"x"},"generatedAt":"2025-01-31T10:00:00Z","address":"one line"}}`)
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 100 || status > 599 {
			return
		}
		a := &answer{status: status, body: []byte(body)}
		d, err := verifyResult(a, &secrets{otp: testOTP, mobile: testMobile, secret: testSecret})
		if (d == nil) == (err == nil) {
			t.Fatalf("exactly one of result and error")
		}
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != status || len(matched(err)) > 1 {
				t.Fatalf("bad error %v", err)
			}
			if strings.Contains(err.Error(), testOTP) || strings.Contains(err.Error(), testMobile) {
				t.Fatalf("leak: %q", err)
			}
			return
		}
		if status/100 != 2 {
			t.Fatalf("success for status %d", status)
		}
		if len(d.Photo) > len(body) || len(d.PDF) > len(body) {
			t.Fatalf("decoded more bytes than the answer held")
		}
		for _, p := range d.Problems {
			if !strings.HasPrefix(p.Field, "data.") || p.Reason == "" {
				t.Fatalf("bad problem %+v", p)
			}
		}
		if text := fmt.Sprintf("%v %+v %#v", d, d, d); strings.Contains(text, testOTP) || strings.Contains(text, testMobile) {
			t.Fatalf("leak in %q", text)
		}
	})
}

// digitScripts spell the digits 0-9 in ASCII, full-width and Devanagari.
var digitScripts = []rune{'0', '０', '०'}

// oracleDigits is an independent reading of s for FuzzScrubKnownValues:
// digits of the three scripts become ASCII, letters and other digits become
// '|' (they break a spelling), everything else is dropped.
func oracleDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch d, ok := scriptDigit(r); {
		case ok:
			b.WriteByte(d)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteByte('|')
		}
	}
	return b.String()
}

// scriptDigit reads r as a digit of digitScripts: the ASCII digit, and
// whether r is one.
func scriptDigit(r rune) (byte, bool) {
	for _, zero := range digitScripts {
		if r >= zero && r <= zero+9 {
			return byte('0' + r - zero), true
		}
	}
	return 0, false
}

// FuzzScrubKnownValues spells the Aadhaar number, OTP and mobile number with
// any separator, in any of three scripts, amid any text, and checks that no
// spelling of them survives the scrubber (the number keeps its last four).
func FuzzScrubKnownValues(f *testing.F) {
	for _, seed := range []struct {
		prefix, sep, suffix string
		script              uint8
	}{
		{"Invalid UID ", "", "", 0}, {"", " ", ".", 0}, {"(+91) ", ".", "", 1}, {"x", "\u00a0", "", 2},
		{"9", "/", "1", 0}, {"", "	", "", 1}, {"otp=", "-", "&mobile", 2}, {"", " - ", "", 0},
	} {
		f.Add(seed.prefix, seed.sep, seed.suffix, seed.script)
	}
	sec := &secrets{number: validNumber, otp: testOTP, mobile: testMobile, secret: testSecret}
	f.Fuzz(func(t *testing.T, prefix, sep, suffix string, script uint8) {
		for _, r := range sep {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return // not a separator: the digits are not one value any more
			}
		}
		zero := digitScripts[int(script)%len(digitScripts)]
		spell := func(v string) string {
			parts := make([]string, len(v))
			for i, c := range v {
				parts[i] = string(zero + (c - '0'))
			}
			return strings.Join(parts, sep)
		}
		for _, v := range []string{validNumber, testOTP, testMobile} {
			in := prefix + spell(v) + suffix
			for _, out := range []string{sec.scrubID(in), sec.scrubText(in)} {
				if strings.Contains(oracleDigits(out), v[:len(v)-4]) && !strings.Contains(oracleDigits(prefix+suffix), v[:len(v)-4]) {
					t.Fatalf("%q scrubbed to %q still spells %s", in, out, v)
				}
				if !utf8.ValidString(out) && utf8.ValidString(in) {
					t.Fatalf("%q scrubbed to invalid UTF-8 %q", in, out)
				}
			}
		}
	})
}

// FuzzFlexString holds the fast path of flexString (a literal's bytes taken
// as they are) to what encoding/json decodes for the same literal.
func FuzzFlexString(f *testing.F) {
	for _, s := range []string{"plain", `esc\"aped`, `\u00e9`, "ए आधार", "bad \xff utf8", `\n`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, inner string) {
		lit := []byte(`{"s":"` + inner + `"}`)
		if !json.Valid(lit) {
			return
		}
		var want struct{ S string }
		var got struct{ S flexString }
		if err := json.Unmarshal(lit, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(lit, &got); err != nil {
			t.Fatal(err)
		}
		if got.S.s != want.S {
			t.Fatalf("%q: flexString %q, encoding/json %q", inner, got.S.s, want.S)
		}
	})
}

// fuzzSeps are the separators FuzzScrubSeparatorsAndEscapes puts between
// digits: nothing, punctuation, whitespace, invisible code points (one a
// "letter" to Unicode), and Go's escapes as %q writes them.
var fuzzSeps = []string{"", "", " ", "-", ".", "/", "_", ",", "\t", "\u00a0", "\u200b", "\u2060", "\u00ad", "\u3164", "\u034f", "\ufeff",
	`\t`, `\n`, `\u00a0`, `\x01`, `\"`, `\\`, `\u200b`, `\U0001f600`, `\001`, "\x01", `"`, `\`}

// fuzzDigit writes digit d in form f: ASCII, full-width, Devanagari,
// superscript, circled, Arabic-Indic, mathematical bold.
func fuzzDigit(d byte, f byte) string {
	switch f % 7 {
	case 1:
		return string(rune('０' + rune(d)))
	case 2:
		return string(rune('०' + rune(d)))
	case 3:
		return string([]rune("⁰¹²³⁴⁵⁶⁷⁸⁹")[d])
	case 4:
		return string([]rune("⓪①②③④⑤⑥⑦⑧⑨")[d])
	case 5:
		return string(rune('٠' + rune(d)))
	case 6:
		return string(rune('𝟎' + rune(d)))
	}
	return string(rune('0' + d))
}

// fuzzReadDigits is readDigits (spelling_test.go) widened to the forms of
// fuzzDigit: Arabic-Indic and mathematical digits are read as the
// full-width ones (which are no hex digits, so they make no escape).
func fuzzReadDigits(s string) string {
	return readDigits(strings.Map(func(r rune) rune {
		switch {
		case r >= '٠' && r <= '٩':
			return '０' + r - '٠'
		case r >= '𝟎' && r <= '𝟗':
			return '０' + r - '𝟎'
		}
		return r
	}, s))
}

// FuzzScrubSeparatorsAndEscapes spells the Aadhaar number, the OTP and the
// mobile number with a separator chosen per gap (escapes included) and a
// digit form chosen per digit, amid any text, raw and inside a Go-quoted
// string; no spelling may survive scrubText, scrubBelow or scrubIdent. And
// an IP address with a port, and a 32-hex id, built from the same input,
// come out of the scrubbers untouched when the call knows no digits.
func FuzzScrubSeparatorsAndEscapes(f *testing.F) {
	f.Add("UID ", " bad", []byte{2, 2, 2, 8, 2, 2, 2, 8, 2, 2, 2}, []byte{0}, []byte{203, 0, 113, 100, 0, 9})
	f.Add("", "", []byte{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, []byte{3, 3, 3}, []byte{10, 0, 0, 53, 0, 53})
	f.Add("x=", "&y", []byte{16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26}, []byte{1, 2, 4, 5, 6}, []byte{127, 0, 0, 1, 255, 255})
	f.Add("\"", "\"", []byte{13, 0, 13, 0, 13}, []byte{0, 1}, []byte{192, 168, 100, 200, 1, 187})
	sec := &secrets{number: validNumber, otp: testOTP, mobile: testMobile, secret: testSecret}
	bare := &secrets{secret: testSecret}
	f.Fuzz(func(t *testing.T, prefix, suffix string, seps, forms, addr []byte) {
		for _, v := range []string{validNumber, testOTP, testMobile} {
			var b strings.Builder
			for i := 0; i < len(v); i++ {
				if i > 0 && len(seps) > 0 {
					b.WriteString(fuzzSeps[int(seps[(i-1)%len(seps)])%len(fuzzSeps)])
				}
				form := byte(0)
				if len(forms) > 0 {
					form = forms[i%len(forms)]
				}
				b.WriteString(fuzzDigit(v[i]-'0', form))
			}
			spelled := b.String()
			want := v
			if v == validNumber {
				want = v[:8]
			}
			if joinsAround(prefix, suffix, want) {
				continue // the oracle cannot tell the value from the text around it
			}
			for _, in := range []string{prefix + spelled + suffix, prefix + strconv.Quote(spelled) + suffix} {
				for name, out := range map[string]string{
					"scrubText":  sec.scrubText(in),
					"scrubBelow": sec.scrubBelow(in, maxBelowText),
					"scrubIdent": sec.scrubIdent(in, 1<<20),
				} {
					if strings.Contains(fuzzReadDigits(out), want) {
						t.Fatalf("%s(%q) = %q still spells %s", name, in, out, v)
					}
					if utf8.ValidString(in) && !utf8.ValidString(out) {
						t.Fatalf("%s(%q) = %q is not UTF-8", name, in, out)
					}
				}
			}
		}
		// What must stay readable.
		if len(addr) >= 6 {
			ip := fmt.Sprintf("dial tcp %d.%d.%d.%d:%d: connect: connection refused", addr[0], addr[1], addr[2], addr[3], int(addr[4])<<8|int(addr[5]))
			if out := bare.scrubBelow(ip, maxBelowText); out != ip {
				t.Fatalf("an address was scrubbed: %q -> %q", ip, out)
			}
			id := hex.EncodeToString([]byte(prefix + suffix + string(addr) + strings.Repeat("\x00", 16))[:16])
			if out := bare.scrubIdent(id, 128); out != id {
				t.Fatalf("a hex id was scrubbed: %q -> %q", id, out)
			}
		}
	})
}

// joinsAround reports whether the text around a spelling holds digits that
// a masked value's asterisks would join to each other or to the digits it
// keeps (or holds want itself): then the oracle cannot tell.
func joinsAround(prefix, suffix, want string) bool {
	p, s := fuzzReadDigits(prefix), fuzzReadDigits(suffix)
	return strings.ContainsAny(p, "0123456789") && strings.ContainsAny(s, "0123456789") ||
		strings.ContainsAny(p[max(0, len(p)-1):], "0123456789") || strings.ContainsAny(s[:min(1, len(s))], "0123456789") ||
		strings.Contains(p+s, want)
}
