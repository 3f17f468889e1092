package deepvue

import (
	"fmt"
	"io"
	"strconv"
)

// Printing helpers of the SDK's values that hold secrets or personal data.

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
