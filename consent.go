package deepvue

import (
	"context"
	"fmt"
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
