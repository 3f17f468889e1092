package deepvue

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
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
	f.Add(200, "{\"\u017fub_code\":\"SUCCESS\",\"sub\\u005fcode\":\"x\",\"reference_id\":\"1\"}") // names encoding/json folds or unescapes
	f.Fuzz(func(t *testing.T, status int, body string) {
		if status < 100 || status > 599 {
			return
		}
		var fast envelope
		if decodeEnvelopeFast([]byte(body), &fast) {
			// The fast path decodes as encoding/json does.
			if want, ok := decodeEnvelopeJSON([]byte(body)); !ok || !reflect.DeepEqual(want, fast) {
				t.Fatalf("%q: the fast path decodes %+v, encoding/json %+v (ok %v)", body, fast, want, ok)
			}
		}
		a := &answer{status: status, body: []byte(body), contentType: "application/json"}
		res, err := generateResult(a, &secrets{Number: validNumber, Secret: testSecret})
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
		d, err := verifyResult(a, &secrets{OTP: testOTP, Mobile: testMobile, Secret: testSecret})
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
