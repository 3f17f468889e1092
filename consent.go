package deepvue

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deepvue-go/deepvue/internal/redact"
)

// Consent documentation: what the customer was shown and how they answered
// (ConsentEvidence), attached to a call (WithConsentEvidence), checked before
// anything is sent, and kept in both of the call's audit records. Deepvue's
// generate-otp page: "You must store customer consent documentation before
// proceeding with verification"; the DPDP Act 2023 s.6(10) puts the burden
// of proving notice and consent on the Data Fiduciary.

// ConsentEvidence documents one consent decision: which notice the customer
// was shown (NoticeID, NoticeVersion and the SHA-256 of its exact text), in
// which language and through which channel, whether the alternatives to
// Aadhaar were offered (Aadhaar Act s.4(6), s.8(3)), when the customer
// decided, who collected the answer, and the application's pseudonymous
// reference for the customer.
//
// It is checked when a call carries it (see WithConsentEvidence; a
// *ValidationError with Field FieldConsentEvidence names the field at fault,
// never its value): each text at most 200 bytes of valid UTF-8 without
// control characters, holding no value the call sends (the Aadhaar number,
// the OTP, the mobile number, the client secret), no number that could be
// an Aadhaar number (12 digits) or a mobile number, no e-mail address and
// no digit of another script than ASCII, whatever separates the digits and
// also read with percent-encoding and HTML character references decoded:
// evidence describes the notice and its collection, never the customer;
// NoticeSHA256 empty or 64 hex digits; DecidedAt not after the SDK's clock;
// CustomerRef at most 128 printable ASCII characters that do not look like
// an Aadhaar number (also within a longer number), a mobile number or an
// e-mail address, read as the texts are (a pseudonymous reference is none
// of these; a UUID or a hex digest always passes). In audit records each
// text is also scrubbed as the call's purpose is.
//
// Printing it (any fmt verb) or logging it with slog shows a text only when
// it holds no number of six digits or more (an OTP, a mobile or an Aadhaar
// number could hide there), no '@' and no digit of another script than
// ASCII, as written or with its web escapes decoded; anything else prints
// as [REDACTED]. The hash always shows.
type ConsentEvidence struct {
	// NoticeID identifies the consent notice shown (the application's id).
	NoticeID string
	// NoticeVersion is the notice's version.
	NoticeVersion string
	// NoticeSHA256 is the hex SHA-256 of the exact notice text shown, so
	// that the notice can be proved years later from the application's
	// archive of notices.
	NoticeSHA256 string
	// Language is the notice's language (e.g. "en", "hi"; the DPDP Act asks
	// for English or a language of the Eighth Schedule on request).
	Language string
	// Channel is how the notice was shown: "web", "app", "assisted" (an
	// agent with the customer), ...
	Channel string
	// AlternativesOffered says the customer was told of the alternatives to
	// Aadhaar authentication.
	AlternativesOffered bool
	// DecidedAt is when the customer agreed (or refused, or withdrew).
	DecidedAt time.Time
	// Operator is the person or service that collected the answer (a staff
	// id, a service name).
	Operator string
	// CustomerRef is the application's pseudonymous reference for the
	// customer: never an Aadhaar number, a mobile number or an e-mail.
	CustomerRef string
}

// The ValidationError fields of the consent rules.
const (
	// FieldConsentEvidence: the call's ConsentEvidence (WithConsentEvidence)
	// is missing, incomplete or malformed; the Reason names the field.
	FieldConsentEvidence = "consent_evidence"
	// FieldPurposes: WithPurposes was given no purpose, or one it refuses.
	FieldPurposes = "purposes"
)

// Bounds of the evidence's texts.
const (
	maxEvidenceText = 200
	maxCustomerRef  = 128
)

// evidenceKey carries a ConsentEvidence in a context.
type evidenceKey struct{}

// WithConsentEvidence returns a copy of ctx that carries e: the GenerateOTP
// or VerifyOTP call made with it checks e before anything is sent (a
// *ValidationError with Field FieldConsentEvidence, matching ErrNotSent,
// otherwise) and puts it in both of its audit records (AuditRecord.Evidence).
// Without WithAuditLog or RequireConsentEvidence the Client ignores it.
func WithConsentEvidence(ctx context.Context, e ConsentEvidence) context.Context {
	return context.WithValue(ctx, evidenceKey{}, e)
}

// evidenceFrom returns the evidence ctx carries.
func evidenceFrom(ctx context.Context) (ConsentEvidence, bool) {
	e, ok := ctx.Value(evidenceKey{}).(ConsentEvidence)
	return e, ok
}

// consentPolicy is what RequireConsentEvidence and WithPurposes set.
type consentPolicy struct {
	requireEvidence bool
	purposes        map[string]struct{} // nil: any purpose
}

// checkEvidence checks e (see ConsentEvidence). complete requires a
// NoticeSHA256 and a DecidedAt. sec, when set, holds the values the call
// sends: a CustomerRef holding one is refused.
func checkEvidence(e *ConsentEvidence, complete bool, now time.Time, sec *secrets) error {
	bad := func(reason string) error { return invalid(FieldConsentEvidence, reason) }
	for _, f := range []struct{ name, v string }{
		{"NoticeID", e.NoticeID}, {"NoticeVersion", e.NoticeVersion}, {"Language", e.Language},
		{"Channel", e.Channel}, {"Operator", e.Operator},
	} {
		if !evidenceTextOK(f.v) {
			return bad(f.name + " must be at most " + strconv.Itoa(maxEvidenceText) +
				" bytes of valid UTF-8 without control characters")
		}
		if why := evidenceTextProblem(f.v, sec); why != "" {
			return bad(f.name + " " + why + ": evidence describes the notice and its collection, never the customer")
		}
	}
	if e.NoticeSHA256 != "" && !isHex(e.NoticeSHA256, 64) {
		return bad("NoticeSHA256 must be 64 hex digits: the SHA-256 of the exact notice text shown")
	}
	if !e.DecidedAt.IsZero() && e.DecidedAt.After(now) {
		return bad("DecidedAt is in the future (the customer cannot have decided yet)")
	}
	if why := customerRefProblem(e.CustomerRef, sec); why != "" {
		return bad("CustomerRef " + why + ": use the application's pseudonymous reference for the customer")
	}
	if complete {
		switch {
		case e.NoticeSHA256 == "":
			return bad("NoticeSHA256 is missing (RequireConsentEvidence): the SHA-256 of the notice text shown")
		case e.DecidedAt.IsZero():
			return bad("DecidedAt is missing (RequireConsentEvidence): when the customer decided")
		}
	}
	return nil
}

// evidenceTextProblem says why a text of the evidence could carry customer
// data ("" if it cannot): a value the call sends, a number that could be an
// Aadhaar number or a mobile number (see personalNumber), an e-mail address,
// or a digit of another script than ASCII (a number written to slip past
// these checks).
func evidenceTextProblem(s string, sec *secrets) string {
	switch {
	case s == "":
		return ""
	case sec != nil && sec.ScrubID(s) != s:
		return "holds a value the call sends"
	}
	if d := webDecoded(s); d != s {
		if why := textProblem(d); why != "" {
			return why
		}
	}
	return textProblem(s)
}

// textProblem is evidenceTextProblem's reading of one spelling of s.
func textProblem(s string) string {
	switch {
	case containsEmail(s):
		return "holds an e-mail address"
	case !asciiDigitsOnly(s):
		return "holds digits of a script other than ASCII"
	}
	if why := personalNumber(s, false); why != "" {
		return "holds a number that looks like " + why
	}
	return ""
}

// evidenceTextOK accepts at most maxEvidenceText bytes of valid UTF-8
// without control characters.
func evidenceTextOK(s string) bool {
	if len(s) > maxEvidenceText || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return false
		}
	}
	return true
}

// isHex reports whether s is n ASCII hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// customerRefProblem says why ref cannot be a pseudonymous customer
// reference ("" if it can): more than maxCustomerRef bytes or not
// printable ASCII; an '@' (an e-mail address); a value the call sends; or
// a number that could be an Aadhaar number or an Indian mobile number (see
// personalNumber: a hex digest or a UUID is not read as one).
func customerRefProblem(ref string, sec *secrets) string {
	if ref == "" {
		return ""
	}
	if len(ref) > maxCustomerRef {
		return "is longer than " + strconv.Itoa(maxCustomerRef) + " bytes"
	}
	for i := 0; i < len(ref); i++ {
		if ref[i] < 0x20 || ref[i] > 0x7e {
			return "must be printable ASCII"
		}
	}
	d := webDecoded(ref)
	if strings.IndexByte(ref, '@') >= 0 || strings.IndexByte(d, '@') >= 0 {
		return "looks like an e-mail address"
	}
	if sec != nil && sec.ScrubID(ref) != ref {
		return "holds a value the call sends"
	}
	if !asciiDigitsOnly(d) {
		return "holds digits of a script other than ASCII"
	}
	if why := personalNumber(ref, true); why != "" {
		return "looks like " + why
	}
	return ""
}

// personalNumber names the kind of personal number s could hold ("" if
// none): an Aadhaar number or an Indian mobile number, either written as a
// number (ASCII digits with anything but a letter between them, not
// touching a letter: "+91 98765 43210", "9876_543_210", "98765\u00a043210")
// or as a run of digits inside a word ("cust9876543210"), in s as written
// and with its web escapes decoded ("98765%2043210", "&#57;876543210"). A
// word that is an identifier is not read: a UUID, or a hex digest of 16
// characters or more, whose digits are random. strict reads an Aadhaar
// number inside a longer number too (for a customer reference); otherwise a
// number must have exactly 12 digits to be read as one (a text may hold a
// timestamp of 14).
func personalNumber(s string, strict bool) string {
	if d := webDecoded(s); d != s {
		if why := personalNumberIn(d, strict); why != "" {
			return why
		}
	}
	return personalNumberIn(s, strict)
}

// personalNumberIn is personalNumber's reading of one spelling of s.
func personalNumberIn(s string, strict bool) string {
	s = blankUUIDs(s)
	if why := numberProblem(s, strict); why != "" {
		return why
	}
	for _, tok := range strings.Split(s, " ") {
		for _, w := range strings.FieldsFunc(tok, func(r rune) bool { return !(r < utf8.RuneSelf && isAlnum(byte(r))) }) {
			if len(w) >= 16 && isHex(w, len(w)) {
				continue
			}
			for i := 0; i < len(w); {
				j := i
				for j < len(w) && isDigit(w[j]) {
					j++
				}
				if j == i {
					i++
					continue
				}
				run := make([]byte, j-i)
				for k := range run {
					run[k] = w[i+k] - '0'
				}
				if why := numberKind(run, strict); why != "" {
					return why
				}
				i = j
			}
		}
	}
	return ""
}

// blankUUIDs returns s with every UUID in it (8-4-4-4-12 hex digits, not
// touching another letter or digit) replaced by spaces.
func blankUUIDs(s string) string {
	var b []byte
	for i := 0; i+36 <= len(s); i++ {
		if redact.IsUUID(s[i:i+36]) && (i == 0 || !isAlnum(s[i-1])) && (i+36 == len(s) || !isAlnum(s[i+36])) {
			if b == nil {
				b = []byte(s)
			}
			for j := i; j < i+36; j++ {
				b[j] = ' '
			}
			i += 35
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

func isAlnum(c byte) bool { return isDigit(c) || isLetterASCII(c) }

// numberKind names the kind of personal number the digit values v could
// be: an Aadhaar number (12 digits, or with strict a valid one within a
// longer number) or a mobile number (10 digits from 6 to 9, alone or after
// 0, 91 or 091). "" if neither.
func numberKind(v []byte, strict bool) string {
	if strict {
		for i := 0; i+redact.AadhaarDigits <= len(v); i++ {
			if redact.AadhaarLike(v[i : i+redact.AadhaarDigits]) {
				return "an Aadhaar number"
			}
		}
	} else if redact.AadhaarLike(v) {
		return "an Aadhaar number"
	}
	if mobileLike(v) {
		return "a mobile number"
	}
	return ""
}

// numberProblem reads the numbers of s (see personalNumber: every character
// that is not a letter is a separator inside a number) that do not touch a
// letter and names the kind of personal number one of them could be
// (numberKind). "" if none.
func numberProblem(s string, strict bool) string {
	var digits []byte
	afterLetter := false // the current number's first digit follows a letter
	prevLetter := false  // the last character read was a letter
	lastDigitEnd := -1   // where the current number's last digit ends
	check := func(beforeLetter bool) string {
		defer func() { digits, lastDigitEnd = digits[:0], -1 }()
		if len(digits) == 0 || afterLetter || beforeLetter {
			return "" // none, or part of an identifier
		}
		return numberKind(digits, strict)
	}
	for i, r := range s {
		switch {
		case '0' <= r && r <= '9':
			if len(digits) == 0 {
				afterLetter = prevLetter
			}
			digits = append(digits, byte(r-'0'))
			lastDigitEnd = i + 1
			prevLetter = false
		case redact.IsLetterRune(r):
			// A letter ends a number; one right after its last digit makes
			// it part of an identifier.
			if why := check(lastDigitEnd == i); why != "" {
				return why
			}
			prevLetter = true
		default:
			// Anything else (a space, punctuation, an invisible character)
			// is a separator inside a number: the number goes on.
			prevLetter = false
		}
	}
	return check(false)
}

// webDecoded returns s with its web escapes decoded: percent-encoding
// ("%20", "%40", encoded again as "%2520") and HTML character references
// ("&#52;", "&nbsp;", "&amp;#64;"), a few rounds over. A number or an
// e-mail address spelled so reads as one.
func webDecoded(s string) string {
	for round := 0; round < 4 && strings.ContainsAny(s, "%&"); round++ {
		d := html.UnescapeString(percentDecoded(s))
		if d == s {
			break
		}
		s = d
	}
	return s
}

// percentDecoded returns s with each "%XX" (two hex digits) replaced by the
// byte it encodes.
func percentDecoded(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1:i+3], 2) {
			hi, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b = append(b, byte(hi))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// mobileLike reports whether the digit values v are an Indian mobile
// number: 10 digits, the first 6 to 9, alone or after 0, 91, 091 or 0091.
func mobileLike(v []byte) bool {
	var body []byte
	switch len(v) {
	case 10:
		body = v
	case 11:
		if v[0] == 0 {
			body = v[1:]
		}
	case 12:
		if v[0] == 9 && v[1] == 1 {
			body = v[2:]
		}
	case 13:
		if v[0] == 0 && v[1] == 9 && v[2] == 1 {
			body = v[3:]
		}
	case 14:
		if v[0] == 0 && v[1] == 0 && v[2] == 9 && v[3] == 1 {
			body = v[4:]
		}
	}
	return body != nil && body[0] >= 6
}

func isLetterASCII(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// purposeForRecord returns a call's purpose as an audit record keeps it:
// scrubbed of the values the call sends and of Aadhaar-like numbers
// (sec.ScrubText), every digit masked when a mobile number could remain in
// it (see personalNumber), and each word holding an e-mail address, as
// written or with its web escapes decoded, replaced by "[e-mail]". The
// purpose goes to Deepvue as given; the trail holds no customer data.
func purposeForRecord(purpose string, sec *secrets) string {
	p := sec.ScrubText(purpose)
	if plainPurpose(p) {
		return p // nothing below could match: no allocation for the common purpose
	}
	if personalNumber(p, false) != "" {
		p = redact.MaskDigits(p)
	}
	if strings.ContainsAny(p, "@%&") {
		words := strings.Split(p, " ")
		for i, w := range words {
			if d := webDecoded(w); strings.IndexByte(w, '@') >= 0 || strings.IndexByte(d, '@') >= 0 {
				words[i] = "[e-mail]"
			}
		}
		p = strings.Join(words, " ")
	}
	return p
}

// forRecord returns the evidence as an audit record keeps it: every text
// scrubbed of the values the call sends and, unless it reads as an
// identifier, of Aadhaar-like numbers (as the purpose is); the hash in lower
// case. e was checked.
func (e *ConsentEvidence) forRecord(sec *secrets) ConsentEvidence {
	text := func(s string) string {
		if s == "" {
			return s
		}
		if v := sec.ScrubID(s); redact.IdentOK(v) && v == s {
			return s
		}
		return sec.ScrubText(s)
	}
	return ConsentEvidence{
		NoticeID:            text(e.NoticeID),
		NoticeVersion:       text(e.NoticeVersion),
		NoticeSHA256:        sec.ScrubID(strings.ToLower(e.NoticeSHA256)),
		Language:            text(e.Language),
		Channel:             text(e.Channel),
		AlternativesOffered: e.AlternativesOffered,
		DecidedAt:           e.DecidedAt,
		Operator:            text(e.Operator),
		CustomerRef:         sec.ScrubID(e.CustomerRef),
	}
}

// shown is a text of the evidence as its renderings show it: quoted, or
// [REDACTED] when it could hold personal data: a number of six digits or
// more in any spelling (an OTP, a mobile or an Aadhaar number, even inside
// an identifier), an '@', or a digit of another script. A hex SHA-256 is
// shown.
func shown(s string) string {
	if s == "" {
		return `""`
	}
	if isHex(s, 64) { // a NoticeSHA256
		return strconv.Quote(s)
	}
	for _, v := range []string{s, webDecoded(s)} {
		if !evidenceTextOK(v) || strings.IndexByte(v, '@') >= 0 || longestNumber(v) >= redact.MinKnownDigits || !asciiDigitsOnly(v) {
			return "[REDACTED]"
		}
	}
	return strconv.Quote(s)
}

// longestNumber returns the most digits in one number of s: digits of any
// script or form, with up to three characters that are not letters between
// them ("98765 43210", "98765\u00a043210", "482-913"); a letter ends a
// number.
func longestNumber(s string) int {
	longest, n, gap := 0, 0, 0
	for _, r := range s {
		if _, ok := redact.DigitValue(r); ok {
			if gap > 3 {
				n = 0
			}
			n, gap = n+1, 0
			longest = max(longest, n)
			continue
		}
		if redact.IsLetterRune(r) {
			n, gap = 0, 0
			continue
		}
		gap++
	}
	return longest
}

// asciiDigitsOnly reports whether every digit of s (of any script) is an
// ASCII digit: a digit of another script is a number written to slip past
// a check.
func asciiDigitsOnly(s string) bool {
	for _, r := range s {
		if r >= utf8.RuneSelf {
			if _, ok := redact.DigitValue(r); ok {
				return false
			}
		}
	}
	return true
}

// String describes the evidence, each text shown only when it cannot hold
// personal data (see ConsentEvidence).
func (e ConsentEvidence) String() string {
	var b strings.Builder
	b.WriteString("deepvue.ConsentEvidence{NoticeID: ")
	b.WriteString(shown(e.NoticeID))
	b.WriteString(", NoticeVersion: ")
	b.WriteString(shown(e.NoticeVersion))
	b.WriteString(", NoticeSHA256: ")
	b.WriteString(shown(e.NoticeSHA256))
	b.WriteString(", Language: ")
	b.WriteString(shown(e.Language))
	b.WriteString(", Channel: ")
	b.WriteString(shown(e.Channel))
	b.WriteString(", AlternativesOffered: ")
	b.WriteString(strconv.FormatBool(e.AlternativesOffered))
	b.WriteString(", DecidedAt: ")
	b.WriteString(decidedAt(e.DecidedAt))
	b.WriteString(", Operator: ")
	b.WriteString(shown(e.Operator))
	b.WriteString(", CustomerRef: ")
	b.WriteString(shown(e.CustomerRef))
	b.WriteByte('}')
	return b.String()
}

// decidedAt renders a decision time to the second (its nanoseconds, digits
// that mean nothing, could spell anything), "0" if none.
func decidedAt(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return t.UTC().Format(time.RFC3339)
}

// Format makes every fmt verb, %#v included, print String.
func (e ConsentEvidence) Format(f fmt.State, verb rune) { formatWith(f, verb, e.String()) }

// LogValue renders the evidence for slog as String shows it.
func (e ConsentEvidence) LogValue() slog.Value {
	unq := func(s string) string {
		if u, err := strconv.Unquote(shown(s)); err == nil {
			return u
		}
		return "[REDACTED]"
	}
	return slog.GroupValue(
		slog.String("notice_id", unq(e.NoticeID)),
		slog.String("notice_version", unq(e.NoticeVersion)),
		slog.String("notice_sha256", unq(e.NoticeSHA256)),
		slog.String("language", unq(e.Language)),
		slog.String("channel", unq(e.Channel)),
		slog.Bool("alternatives_offered", e.AlternativesOffered),
		slog.String("decided_at", decidedAt(e.DecidedAt)),
		slog.String("operator", unq(e.Operator)),
		slog.String("customer_ref", unq(e.CustomerRef)),
	)
}

// checkConsent is the validate step's consent rules, run after the
// operation's own checks: the declared purposes (WithPurposes) and the
// evidence the call carries (WithConsentEvidence; required with
// RequireConsentEvidence). It keeps the evidence for the audit records.
func (c *Client) checkConsent(ctx context.Context, cl *call, purpose string) error {
	p := &c.consent
	if p.purposes != nil {
		if _, ok := p.purposes[purpose]; !ok {
			return invalid(FieldPurpose, "is not one of the purposes declared with WithPurposes (a purpose is a fixed text, never customer data)")
		}
	}
	if c.audit == nil && !p.requireEvidence {
		return nil
	}
	e, ok := evidenceFrom(ctx)
	if !ok {
		if p.requireEvidence {
			return invalid(FieldConsentEvidence, "is missing (RequireConsentEvidence): attach it with WithConsentEvidence")
		}
		return nil
	}
	if err := checkEvidence(&e, p.requireEvidence, time.Now(), &cl.sec); err != nil {
		return err
	}
	cl.evidence = new(ConsentEvidence) // only a call that carries evidence allocates it
	*cl.evidence = e
	return nil
}

// containsEmail reports whether s holds something like an e-mail address:
// an '@' between two characters that are not spaces, with a dot after it
// before the next space.
// plainPurpose reports whether p holds fewer ASCII digits than the
// shortest personal number (a mobile number's 10), no escape that could
// spell more ('%', '&') and no '@': purposeForRecord keeps it as it is.
// (Only ASCII digits make a personal number here; other scripts' are the
// scrubber's.)
func plainPurpose(p string) bool {
	digits := 0
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case '0' <= c && c <= '9':
			if digits++; digits >= 10 {
				return false
			}
		case c == '%' || c == '&' || c == '@':
			return false
		}
	}
	return true
}

func containsEmail(s string) bool {
	for i := 1; i+1 < len(s); i++ {
		if s[i] != '@' || s[i-1] == ' ' || s[i+1] == ' ' {
			continue
		}
		rest := s[i+1:]
		if sp := strings.IndexByte(rest, ' '); sp >= 0 {
			rest = rest[:sp]
		}
		if dot := strings.IndexByte(rest, '.'); dot > 0 && dot < len(rest)-1 {
			return true
		}
	}
	return false
}
