package deepvuetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// LoadScript reads scripted answers from JSON and queues them as Script
// does, in order: the Script and Answer model as JSON, so that a test in any
// language (through the deepvue-fake command's -script flag) can drive the
// fake's failures. The document is a list of entries:
//
//	[
//	  {"path": "/v2/ekyc/aadhaar/generate-otp", "answer": "RateLimited"},
//	  {"path": "/v2/ekyc/aadhaar/generate-otp", "status": 500, "body": {"code": 500, "sub_code": "SOURCE_FAILURE"}, "times": 2},
//	  {"path": "/v2/ekyc/aadhaar/verify-otp", "delay": "1.5s"},
//	  {"path": "/v2/ekyc/aadhaar/generate-otp", "reset": true}
//	]
//
// Fields: path (required: PathGenerateOTP or PathVerifyOTP); answer, the name
// of a ready-made Answer (RateLimited, Unavailable, Unauthorized,
// NotAuthenticated, InactiveClient, BadRequest, SourceFailure,
// ConnectionReset), or status and body (a JSON value sent as is, or a JSON
// string holding the body's text); delay, a Go duration ("250ms", "2s")
// waited first; reset, to reset the connection instead of answering; times,
// how many times to queue it (default 1). A status of 0 (or none) with a
// delay makes a slow answer of the usual kind. Unknown fields are refused, so
// a misspelled one is not silently ignored. Nothing is queued if the document
// has an error.
func (s *Server) LoadScript(r io.Reader) error {
	var entries []scriptEntry
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return fmt.Errorf("deepvuetest: script: %w", err)
	}
	type queued struct {
		path string
		a    Answer
	}
	var all []queued
	for i, e := range entries {
		a, err := e.answer()
		if err != nil {
			return fmt.Errorf("deepvuetest: script entry %d: %w", i, err)
		}
		times := 1
		if e.Times != nil {
			times = *e.Times
		}
		if times < 1 || times > 1_000_000 {
			return fmt.Errorf("deepvuetest: script entry %d: times must be 1 to 1000000", i)
		}
		for range times {
			all = append(all, queued{e.Path, a})
		}
	}
	for _, q := range all {
		s.Script(q.path, q.a)
	}
	return nil
}

// readyAnswers are the ready-made answers by name, as LoadScript's "answer"
// field names them.
var readyAnswers = map[string]Answer{
	"RateLimited":      RateLimited,
	"Unavailable":      Unavailable,
	"Unauthorized":     Unauthorized,
	"NotAuthenticated": NotAuthenticated,
	"InactiveClient":   InactiveClient,
	"BadRequest":       BadRequest,
	"SourceFailure":    SourceFailure,
	"ConnectionReset":  ConnectionReset,
}

type scriptEntry struct {
	Path   string          `json:"path"`
	Answer string          `json:"answer"`
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
	Delay  string          `json:"delay"`
	Reset  bool            `json:"reset"`
	Times  *int            `json:"times"`
}

func (e scriptEntry) answer() (Answer, error) {
	switch e.Path {
	case PathGenerateOTP, PathVerifyOTP:
	default:
		return Answer{}, fmt.Errorf("path must be %s or %s, not %q", PathGenerateOTP, PathVerifyOTP, e.Path)
	}
	var a Answer
	if e.Answer != "" {
		ready, ok := readyAnswers[e.Answer]
		if !ok {
			return Answer{}, fmt.Errorf("unknown answer %q", e.Answer)
		}
		if e.Status != 0 || len(e.Body) > 0 || e.Reset {
			return Answer{}, errors.New("answer names a ready-made answer: status, body and reset go without it")
		}
		a = ready
	}
	if e.Status != 0 {
		if e.Status < 100 || e.Status > 599 {
			return Answer{}, fmt.Errorf("status %d is not an HTTP status", e.Status)
		}
		a.Status = e.Status
	}
	if len(e.Body) > 0 {
		if e.Status == 0 {
			return Answer{}, errors.New("body needs a status")
		}
		body := bytes.TrimSpace(e.Body)
		if body[0] == '"' {
			var text string
			if err := json.Unmarshal(body, &text); err != nil {
				return Answer{}, fmt.Errorf("body: %w", err)
			}
			a.Body = text
		} else {
			a.Body = string(body)
		}
	}
	if e.Delay != "" {
		d, err := time.ParseDuration(e.Delay)
		if err != nil || d < 0 {
			return Answer{}, fmt.Errorf("delay %s is not a duration such as \"1.5s\"", strconv.Quote(e.Delay))
		}
		a.Delay = d
	}
	if e.Reset {
		a.Reset = true
	}
	if a.Status == 0 && a.Delay == 0 && !a.Reset {
		return Answer{}, errors.New("needs answer, status, delay or reset")
	}
	return a, nil
}
