package deepvue

import (
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

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
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
