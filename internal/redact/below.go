package redact

import (
	"fmt"
	"strings"
)

// Texts from below the SDK (net/http, a transport, a limiter) quote what a
// server sent; these scrubbers take it out.

// ScrubBelow scrubs a text from below the SDK (net/http, a transport, a
// limiter): every Go-quoted string in it is server bytes, net/http's way of
// quoting what it could not parse ("malformed HTTP status code \"...\""), and
// is replaced by a fixed placeholder, keeping the kind of fault; then the
// rest is scrubbed as free text. The result is at most n bytes.
func (k *Secrets) ScrubBelow(s string, n int) string {
	truncated := false
	if len(s) > n {
		w := k.window(len(s), n)
		s, truncated = s[:w], w < len(s)
	}
	// Scrubbed before the quotes are replaced: a quote may cut a spelling
	// (or the secret) in two, leaving its first part outside.
	s = replaceQuoted(replaceRawTails(k.scrub(s, true, truncated)))
	return Clip(s, n)
}

// rawTails are the texts after which older releases of net/textproto (Go
// 1.23 and 1.24, for one) append a server's line as it came, unquoted.
var rawTails = []string{
	"malformed MIME header line: ", "malformed MIME header initial line: ",
	"short response: ", "invalid response code: ", "unexpected multi-line response: ",
}

// replaceRawTails replaces what follows one of rawTails, to the end of s, by
// serverBytes, unless it is a quoted string (replaceQuoted's case).
func replaceRawTails(s string) string {
	for _, t := range rawTails {
		if i := strings.Index(s, t); i >= 0 {
			if rest := s[i+len(t):]; rest != "" && rest[0] != '"' {
				s = s[:i+len(t)] + serverBytes
			}
		}
	}
	return s
}

// replaceQuoted replaces each Go-quoted string ("..." with backslash escapes,
// as %q writes it) by serverBytes; an unterminated one runs to the end.
func replaceQuoted(s string) string {
	i := strings.IndexByte(s, '"')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		b.WriteString(serverBytes)
		j := i + 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(s) {
			s = ""
			break
		}
		s = s[j+1:]
		i = strings.IndexByte(s, '"')
	}
	b.WriteString(s)
	return b.String()
}

// MaxBelowText bounds the text of an error from below the SDK.
const MaxBelowText = 1000

// Clean reports whether v may be handed out: its text (if it is an error)
// quotes nothing and holds nothing to scrub, and so does its %#v, where a
// quoted field value may not hold an escape (a server's bytes hiding a
// spelling, as an HTTP/2 GOAWAY's debug data does).
func (k *Secrets) Clean(v any) bool {
	if err, ok := v.(error); ok && err != nil {
		text := err.Error()
		if len(text) > MaxBelowText || k.ScrubBelow(text, MaxBelowText) != text {
			return false
		}
	}
	gs := fmt.Sprintf("%#v", v)
	return len(gs) <= 4*MaxBelowText && k.ScrubText(gs) == gs && !quotesEscape(gs)
}

// quotesEscape reports whether a Go-quoted string in s holds an escape.
func quotesEscape(s string) bool {
	in := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			in = !in
		case '\\':
			if in {
				return true
			}
		}
	}
	return false
}
