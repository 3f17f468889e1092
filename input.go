package deepvue

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Consent is the customer's answer to the KYC consent question. Deepvue
// requires it on every call; the SDK sends a request only with ConsentYes.
// Record the consent (purpose, time, answer) yourself before calling.
type Consent string

// Consent values.
const (
	ConsentYes Consent = "Y"
	ConsentNo  Consent = "N"
)

// The input rules GenerateOTP and VerifyOTP share. Each failure is a
// *ValidationError naming the field, never its value, and nothing is sent.

// maxPurposeBytes bounds the purpose text, which travels in the URL.
const maxPurposeBytes = 500

// checkConsentPurpose requires ConsentYes and a purpose that is not blank,
// at most 500 bytes of valid UTF-8 without control characters.
func checkConsentPurpose(consent Consent, purpose string) error {
	switch consent {
	case ConsentYes:
	case ConsentNo:
		return invalid(FieldConsent, "the customer did not consent (ConsentNo); no request was sent")
	default:
		return invalid(FieldConsent, "must be ConsentYes")
	}
	if asciiPurposeOK(purpose) {
		return nil
	}
	return checkPurpose(purpose) // non-ASCII, or refused: the full checks name what failed
}

// asciiPurposeOK is checkPurpose's one pass for printable ASCII text (the
// common case): it reports true only for a purpose of printable ASCII
// (space to tilde), not only spaces, within maxPurposeBytes, which
// checkPurpose accepts. Anything else goes to checkPurpose.
func asciiPurposeOK(purpose string) bool {
	blank := true
	for i := 0; i < len(purpose); i++ {
		c := purpose[i]
		if c-' ' > '~'-' ' {
			return false // a control character, DEL or non-ASCII: the full check decides
		}
		blank = blank && c == ' '
	}
	return !blank && len(purpose) <= maxPurposeBytes
}

// checkPurpose requires a purpose that is not blank, at most 500 bytes of
// valid UTF-8 without control characters.
func checkPurpose(purpose string) error {
	if strings.TrimSpace(purpose) == "" {
		return invalid(FieldPurpose, "must not be blank (the purpose of the KYC check is required by regulation)")
	}
	if len(purpose) > maxPurposeBytes {
		return invalid(FieldPurpose, "must be at most "+strconv.Itoa(maxPurposeBytes)+" bytes")
	}
	if !utf8.ValidString(purpose) {
		return invalid(FieldPurpose, "must be valid UTF-8")
	}
	for _, r := range purpose {
		if r < 0x20 || r == 0x7f {
			return invalid(FieldPurpose, "must not contain control characters")
		}
	}
	return nil
}

// validReferenceID accepts 1 to 64 printable ASCII characters without spaces.
func validReferenceID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// allDigits reports whether s is exactly n ASCII digits.
func allDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// checkCredential refuses empty credentials and any whitespace or control
// character (usually a trailing newline from an env file). The error names
// the credential but never prints it.
func checkCredential(name, v string) error {
	if v == "" {
		return invalid(name, "is empty")
	}
	if len(v) > 512 {
		return invalid(name, "is longer than 512 bytes")
	}
	for i := 0; i < len(v); i++ {
		switch b := v[i]; {
		case b == ' ' || b == '\t' || b == '\n' || b == '\r':
			return invalid(name, "contains whitespace at byte "+strconv.Itoa(i)+" (a trailing newline from an env file?)")
		case b < 0x20 || b == 0x7f:
			return invalid(name, "contains a control character at byte "+strconv.Itoa(i))
		case b >= 0x80:
			return invalid(name, "contains a non-ASCII byte at byte "+strconv.Itoa(i))
		}
	}
	return nil
}

// writeQueryEscape writes s escaped as url.QueryEscape does.
func writeQueryEscape(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		// A run of unreserved bytes is written whole.
		j := i
		for j < len(s) && unreserved(s[j]) {
			j++
		}
		if j > i {
			b.WriteString(s[i:j])
			if i = j; i == len(s) {
				return
			}
		}
		c := s[i]
		if c == ' ' {
			b.WriteByte('+')
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

// unreserved reports whether c stands for itself in a query (RFC 3986).
func unreserved(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// The values of ValidationError.Field: the API parameter or the NewClient
// argument or option that was refused.
const (
	FieldAadhaarNumber    = "aadhaar_number"     // GenerateOTP's Aadhaar number
	FieldConsent          = "consent"            // the Consent of either call
	FieldPurpose          = "purpose"            // the purpose of either call
	FieldReferenceID      = "reference_id"       // VerifyOTPRequest.ReferenceID
	FieldOTP              = "otp"                // VerifyOTPRequest.OTP
	FieldMobileNumber     = "mobile_number"      // VerifyOTPRequest.MobileNumber
	FieldClientID         = "client ID"          // NewClient's clientID
	FieldClientSecret     = "client secret"      // NewClient's clientSecret
	FieldBaseURL          = "base URL"           // WithBaseURL
	FieldHTTPClient       = "HTTP client"        // WithHTTPClient
	FieldRetryMax         = "retry max"          // WithRetryMax
	FieldRetryWait        = "retry wait"         // WithRetryWait
	FieldUserAgent        = "user agent"         // WithUserAgent
	FieldTimeout          = "timeout"            // WithTimeout
	FieldMaxBufferedBytes = "max buffered bytes" // WithMaxBufferedBytes
	FieldAuditLog         = "audit log"          // WithAuditLog
	FieldRateLimiter      = "rate limiter"       // WithRateLimiter
	FieldTenant           = "tenant"             // WithTenant
	FieldPendingStore     = "pending store"      // WithPendingStore
)
