package deepvuetest

import "net/http"

// Headers returns a copy of the headers of each request that reached path
// (PathGenerateOTP or PathVerifyOTP; the last 10,000), in order of arrival,
// whatever its answer: to check
// what a client sent (its User-Agent, a trace context, the credential
// headers). They include client-id and x-api-key as sent, that is the test's
// own fake credentials.
func (s *Server) Headers(path string) []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]http.Header, len(s.headers[path]))
	for i, h := range s.headers[path] {
		out[i] = h.Clone()
	}
	return out
}

// recordHeaders keeps a copy of r's headers; s.mu must be held.
func (s *Server) recordHeaders(r *http.Request) {
	if s.headers == nil {
		s.headers = map[string][]http.Header{}
	}
	kept := s.headers[r.URL.Path]
	if len(kept) >= maxKeptHeaders {
		// A long-running fake keeps the most recent ones only.
		kept = append(kept[:0], kept[len(kept)-maxKeptHeaders+1:]...)
	}
	s.headers[r.URL.Path] = append(kept, r.Header.Clone())
}

// maxKeptHeaders is how many requests' headers Headers keeps per endpoint.
const maxKeptHeaders = 10000
