package deepvue

import "strings"

// scrub returns s with every Aadhaar-like run of 12 digits (optionally grouped
// by single spaces or hyphens, as in "2341 2341 2346") masked to its last four
// digits, and every occurrence of a known sensitive value (the OTP, the mobile
// number, the secret, ...) replaced by asterisks. Values shorter than four
// characters are not searched for: they would mask unrelated text.
func scrub(s string, known ...string) string {
	if s == "" {
		return s
	}
	s = maskDigitRuns(s)
	for _, k := range known {
		if len(k) >= 4 && strings.Contains(s, k) {
			s = strings.ReplaceAll(s, k, strings.Repeat("*", len(k)))
		}
	}
	return s
}

// maskDigitRuns masks every run of 12 or more digits, where a single space or
// hyphen may stand between two digits, keeping only its last four digits.
func maskDigitRuns(s string) string {
	if !hasDigitRun(s, 12) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	i := 0
	for i < len(s) {
		if !isDigit(s[i]) || (i > 0 && isDigit(s[i-1])) {
			b.WriteByte(s[i])
			i++
			continue
		}
		end, digits := scanDigitRun(s, i)
		if digits < 12 {
			b.WriteString(s[i:end])
			i = end
			continue
		}
		// Keep the last four digits, mask the rest, keep the separators.
		seen := 0
		for j := i; j < end; j++ {
			c := s[j]
			if isDigit(c) {
				seen++
				if seen <= digits-4 {
					c = 'X'
				}
			}
			b.WriteByte(c)
		}
		i = end
	}
	return b.String()
}

// scanDigitRun returns the end of the run of digits starting at i, where a
// single space or hyphen may stand between two digits, and how many digits it
// holds.
func scanDigitRun(s string, i int) (end, digits int) {
	end = i
	for end < len(s) {
		switch {
		case isDigit(s[end]):
			digits++
			end++
		case (s[end] == ' ' || s[end] == '-') && end+1 < len(s) && isDigit(s[end+1]) && end > i:
			end++
		default:
			return end, digits
		}
	}
	return end, digits
}

func hasDigitRun(s string, n int) bool {
	count := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			count++
			if count >= n {
				return true
			}
		} else if s[i] != ' ' && s[i] != '-' {
			count = 0
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
