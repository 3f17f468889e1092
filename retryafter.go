package deepvue

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter caps what the SDK takes from an answer's Retry-After
// header: a server (or a gateway in front of it) asking for a longer wait
// gets this one hour, so that a wrong or hostile header cannot park a
// customer for days.
const MaxRetryAfter = time.Hour

// RetryAfter returns how long until the same call may succeed, when the SDK
// knows it, and false when it does not (then it never guesses):
//
//   - a refusal by the rate limiter, or any other error in err's chain with a
//     method RetryAfter() time.Duration that returns a positive value (the
//     limiter's next slot), found through the SDK's wrapping;
//   - an *APIError for HTTP 429, HTTP 503, SOURCE_FAILURE or 409
//     VERIFICATION_PENDING whose answer carried a Retry-After header (in
//     seconds or as an HTTP date), capped at MaxRetryAfter. For 409 it is
//     when the pending OTP's window ends and a new one may be requested.
//
// Deepvue documents no Retry-After header: for its answers RetryAfter
// reports false unless the server sends one. A Retry-After on any other
// answer, a missing, unreadable, zero or past value all give false.
func RetryAfter(err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		if d := ra.RetryAfter(); d > 0 {
			return d, true
		}
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae == nil || ae.RetryAfter <= 0 {
		return 0, false
	}
	if !ae.Temporary() && ae.Unwrap() != ErrVerificationPending {
		return 0, false
	}
	return min(ae.RetryAfter, MaxRetryAfter), true
}

// parseRetryAfter reads a Retry-After header as RFC 9110 defines it:
// delay-seconds (digits only) or an HTTP date, taken relative to the
// answer's Date header when it has a readable one, else to now. It returns
// 0 for a missing, unreadable, zero or past value, and caps the wait at
// MaxRetryAfter.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if isDigits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > int64(MaxRetryAfter/time.Second) { // only ErrRange: too many digits
			return MaxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	d := at.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
