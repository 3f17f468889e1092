package deepvue

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// errorTextBefore is (*APIError).Error as it was written before the joined
// text was built by writeHead: the reference for the test below.
func errorTextBefore(e *APIError) string {
	var b strings.Builder
	b.WriteString("deepvue: ")
	if e.Operation != "" {
		b.WriteString(e.Operation)
		b.WriteString(": ")
	}
	b.WriteString("HTTP ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.SubCode != "" {
		b.WriteByte(' ')
		b.WriteString(clip(e.SubCode, 64))
	}
	text := e.Message
	if text == "" {
		text = e.Detail
	}
	if text != "" {
		b.WriteString(": ")
		b.WriteString(clip(text, maxErrorText))
	}
	var none *secrets
	out := none.ScrubText(b.String())
	if e.TransactionID != "" {
		out += " (transaction_id " + none.ScrubIdent(e.TransactionID, 64) + ")"
	}
	return out
}

// joinedShowsBefore is newAPIError's check as it was: Error() (scrubbed
// with no secrets), scrubbed again with the call's.
func joinedShowsBefore(e *APIError, sec *secrets) bool {
	joined := errorTextBefore(e)
	return sec.ScrubText(joined) != joined
}

// TestJoinedTextScrubbedOnceSameResult: newAPIError now builds the joined
// text once and scrubs it once with the call's secrets, and scrubs Error()
// as well only when that text holds something to mask. Over hand-picked
// fields (values the call knows split across sub_code, message and
// transaction id; Aadhaar-like runs it does not know; other scripts and
// escapes) and random ones built from pieces of known values and
// separators, the decision and Error() are exactly what they were, and
// both branches of the new check are taken.
func TestJoinedTextScrubbedOnceSameResult(t *testing.T) {
	// Parallel: it runs beside the long rate tests, which mostly wait.
	t.Parallel()
	secs := []*secrets{
		nil,
		{Number: validNumber, OTP: testOTP, Mobile: testMobile, Secret: testSecret},
		{OTP: testOTP, Mobile: testMobile, Secret: testSecret},
		{Number: otherNumber, Secret: testSecret},
	}
	subCodes := []string{"", "INVALID_INPUT", "AADHAAR_2341_2341", "AADHAAR_2341", "BAD_91234", "WRONG_482", "E_4991",
		"E_9999", "2341", "X_234123412346", "E_२३४१", "A\\x2341"}
	texts := []string{"", "2346 not linked", "2341 2346 not linked", "56780 is not linked", "913 rejected", "8123 4560 x",
		"1057058 x", "UID ²³⁴¹ ²³⁴¹ ²³⁴⁶", "२३४१२३४६ x", "\\x2341 2346", "4105 7058", "ref 1234 5678-9012, id 98765.43210",
		strings.Repeat("8", 300) + "2341"}
	txns := []string{"", "t1", "2341-2341-2346", "12815fb81c084fb7a35eedc0ef1c5a84", "482913"}

	var cases, rare, shownBefore int
	check := func(e *APIError, sec *secrets) {
		cases++
		require.Equal(t, errorTextBefore(e), e.Error(), "%#v", e)
		var b strings.Builder
		e.writeHead(&b)
		if e.TransactionID != "" {
			e.writeTxn(&b)
		}
		if joined := b.String(); sec.ScrubText(joined) != joined {
			rare++
		}
		before := joinedShowsBefore(e, sec)
		if before {
			shownBefore++
		}
		require.Equal(t, before, e.joinedShows(sec), "%q %q %q %q", e.SubCode, e.Message, e.Detail, e.TransactionID)
	}
	for _, sec := range secs {
		for _, sc := range subCodes {
			for _, text := range texts {
				for _, txn := range txns {
					check(&APIError{StatusCode: 400, Operation: opGenerate, SubCode: sc, Message: text, TransactionID: txn}, sec)
					check(&APIError{StatusCode: 422, SubCode: sc, Detail: text, TransactionID: txn}, sec)
				}
			}
		}
	}

	// Random fields: pieces of the values the call knows and of other
	// Aadhaar-like numbers, joined by separators, letters and escapes.
	rng := rand.New(rand.NewPCG(18, 400))
	pieces := []string{validNumber, otherNumber, "999941057058", testOTP, testMobile, "2341", "2346", "482", "913", "98765",
		"01234", "²³⁴¹", "२३४६", "7", "00"}
	seps := []string{"", " ", "-", ".", "_", ": ", "\u00a0", "\t", "\\t", ", ", "x", "/", "\\x23", "(", "ab"}
	field := func() string {
		var b strings.Builder
		for n := rng.IntN(4); n > 0; n-- {
			p := pieces[rng.IntN(len(pieces))]
			i := rng.IntN(len(p) + 1)
			j := i + rng.IntN(len(p)-i+1)
			b.WriteString(p[i:j])
			b.WriteString(seps[rng.IntN(len(seps))])
		}
		return b.String()
	}
	n := 20000
	if testing.Short() || raceEnabled {
		n = 4000
	}
	for i := 0; i < n; i++ {
		sec := secs[rng.IntN(len(secs))]
		e := &APIError{StatusCode: 400 + rng.IntN(200), SubCode: field(), Message: field(), TransactionID: field()}
		if rng.IntN(2) == 0 {
			e.Detail, e.Message = e.Message, ""
		}
		check(e, sec)
		// As newAPIError fills them: each field scrubbed alone first.
		check(&APIError{StatusCode: e.StatusCode, Operation: opVerify, SubCode: sec.ScrubIdent(e.SubCode, 64),
			Message: sec.ScrubTextClip(e.Message, maxFieldText), Detail: sec.ScrubTextClip(e.Detail, maxFieldText),
			TransactionID: sec.ScrubIdent(e.TransactionID, 128)}, sec)
	}
	t.Logf("%d cases: %d scrubbed the joined text a second time (it held something to mask), %d of them show a known value",
		cases, rare, shownBefore)
	assert.Greater(t, shownBefore, 0, "a known value spelled across fields")
	assert.Greater(t, rare-shownBefore, 0, "a joined text with something to mask that Error() already hides")
	assert.Greater(t, cases-rare, rare, "most answers take the single scrub")
}

// BenchmarkNewAPIError is newAPIError alone for an HTTP 400 answer whose
// message is free text full of digit runs (errorPage), its envelope already
// decoded: the scrubbing of the fields and of the joined text.
func BenchmarkNewAPIError(b *testing.B) {
	sec := &secrets{Number: validNumber, Secret: testSecret}
	for _, size := range []struct {
		name string
		n    int
	}{{"100B", 100}, {"1KiB", 1 << 10}, {"10KiB", 10 << 10}, {"500KiB", 500 << 10}} {
		body := errorPage(size.n)
		env, ok := decodeEnvelope(body)
		if !ok {
			b.Fatal("errorPage does not decode")
		}
		b.Run(size.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				a := answer{status: 400, contentType: "application/json", body: body}
				if e := newAPIError(opGenerate, &a, &env, "", sec); e.SubCode == "" {
					b.Fatal("no sub_code")
				}
			}
		})
	}
}
