package deepvue

import (
	"fmt"
	"io"
	"strconv"

	"github.com/deepvue-go/deepvue/internal/redact"
)

// Printing helpers of the SDK's values that hold secrets or personal data.

// secrets is what one call must never let out (the Aadhaar number, OTP and
// mobile number it sent, and the client secret), with the scrubbers every
// string that leaves the SDK goes through: internal/redact.
type secrets = redact.Secrets

// clip shortens s to at most n bytes on a rune boundary, marking the cut
// (redact.Clip: a scrubbed text is clipped the same way).
func clip(s string, n int) string { return redact.Clip(s, n) }

// redacted hides a non-empty value.
func redacted(s string) string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

// redactedField is redacted for String: an empty value shows as "".
func redactedField(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}

func formatWith(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = io.WriteString(f, s)
}
