package deepvue

import (
	"context"
	"hash/maphash"
	"strings"
	"time"

	"github.com/deepvue-go/deepvue/internal/uid"
)

// OTPValidity is how long an OTP stays valid after Deepvue sends it (10
// minutes, as Deepvue documents): OTPResponse.ExpiresAt, and how long the
// SDK remembers a pending OTP (PendingStore).
const OTPValidity = 10 * time.Minute

// ResendWait is how long to wait before offering the customer "send
// again", after an OTP was sent or may have been, when RetryAfter gives no
// better time. Deepvue documents no window for its 409 VERIFICATION_PENDING
// answer (other providers document 45 to 60 seconds), so a minute. A send
// within OTPValidity of the last may still meet a 409, whose pending
// reference PendingReference gives; one that goes through costs the
// customer an SMS of UIDAI's few per half hour.
const ResendWait = time.Minute

// ValidateAadhaar reports whether number is a valid Aadhaar number, exactly as
// python-stdnum's aadhaar.validate decides: spaces and hyphens are removed and
// surrounding whitespace is trimmed; then it must be 12 ASCII digits, must not
// start with 0 or 1, must not be a palindrome, and must end in the right
// Verhoeff check digit. The error is a *ValidationError matching
// ErrInvalidInput; it never contains the number. It does not allocate for
// valid input.
func ValidateAadhaar(number string) error {
	if _, r := uid.Check(number); r != uid.OK {
		return invalid(FieldAadhaarNumber, r.String())
	}
	return nil
}

// MaskAadhaar returns the display form the Aadhaar regulations allow,
// "XXXX XXXX 0124": only the last four digits. Input that does not compact to
// 12 digits gives "XXXX XXXX XXXX", so no digit of a malformed number is ever
// shown.
func MaskAadhaar(number string) string { return uid.Mask(number) }

// OTPResponse is a successful generate-otp answer: Deepvue sent an OTP to the
// mobile linked to the Aadhaar number.
type OTPResponse struct {
	// ReferenceID identifies this OTP; VerifyOTP needs it.
	ReferenceID string
	// TransactionID is Deepvue's id for the call; log it for support.
	TransactionID string
	// Message is Deepvue's message, e.g. "OTP sent to your Registered Mobile
	// number. Check your mobile."
	Message string
	// Timestamp is when Deepvue answered (the SDK's clock if the answer
	// carried no timestamp it could read).
	Timestamp time.Time
	// ExpiresAt is Timestamp + OTPValidity (10 minutes).
	ExpiresAt time.Time
}

// GenerateOTP asks Deepvue to send an OTP by SMS to the mobile linked to
// aadhaarNumber. The number is checked locally first (see ValidateAadhaar),
// consent must be ConsentYes and purpose must not be blank: otherwise a
// *ValidationError matching ErrInvalidInput is returned and nothing is sent.
//
// Each call may send an SMS, and UIDAI caps OTPs per Aadhaar number: the SDK
// sends the request at most once, retrying only a 500 SOURCE_FAILURE (no SMS
// was sent). An error that matches ErrNotSent left nothing at Deepvue and
// can be retried at once; any other error may have sent the SMS, so do not
// call again at once.
//
// Concurrent calls for the same number, consent and purpose on one Client
// (a double click) send one request and share its result (see the Client
// doc, "Double submits").
//
// In an HTTP handler, call it with a context that outlives the browser's
// request but keeps a deadline, so that a customer who closes the page does
// not cancel a call whose SMS may already be on its way:
//
//	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 20*time.Second)
//	defer cancel()
func (c *Client) GenerateOTP(ctx context.Context, aadhaarNumber string, consent Consent, purpose string) (*OTPResponse, error) {
	if !c.usable() {
		return nil, errNilClient
	}
	var gc *generateCall
	if c.observer != nil { // the record and the Observer's state, in one allocation
		o := &observedGenerateCall{}
		gc = &o.generateCall
		gc.obs = &o.obs
	} else {
		gc = &generateCall{}
	}
	gc.in = generateInput{number: aadhaarNumber, consent: consent, purpose: purpose}
	res, err := c.run(ctx, c.initCall(&gc.call, opGenerate, &gc.in))
	r, _ := res.(*OTPResponse)
	if r != nil && gc.joined { // the leader's result: a copy of one's own
		cp := *r
		r = &cp
	}
	return r, err
}

// generateCall is a generate-otp call's record and input, allocated together.
type generateCall struct {
	call
	in generateInput
}

// observedGenerateCall is a generateCall with its Observer state.
type observedGenerateCall struct {
	generateCall
	obs observed
}

// generateInput is GenerateOTP's input: the operation of a generate-otp call.
type generateInput struct {
	number  string
	consent Consent
	purpose string
	n       uid.Number // the number's digits, once checked
}

// check validates the input: the Aadhaar number, then consent and purpose.
func (g *generateInput) check(sec *secrets) error {
	n, r := uid.Check(g.number)
	if r != uid.OK {
		return invalid(FieldAadhaarNumber, r.String())
	}
	if err := checkConsentPurpose(g.consent, g.purpose); err != nil {
		return err
	}
	g.n = n
	if len(g.number) == len(n) {
		sec.Number = g.number // already compact: its 12 digits, no copy needed
	} else {
		sec.Number = string(n[:])
	}
	return nil
}

// query returns "aadhaar_number=...&consent=Y&purpose=...".
func (g *generateInput) query() string {
	var q strings.Builder
	q.Grow(len("aadhaar_number=") + 12 + len("&consent=Y&purpose=") + 3*len(g.purpose))
	q.WriteString("aadhaar_number=")
	q.Write(g.n[:])
	q.WriteString("&consent=Y&purpose=")
	writeQueryEscape(&q, g.purpose)
	return q.String()
}

// flightKey hashes the number, consent and purpose.
func (g *generateInput) flightKey(seed maphash.Seed) uint64 {
	var buf [64 + maxPurposeBytes]byte
	b := append(buf[:0], opGenerate...)
	b = append(b, 0)
	b = append(b, g.n[:]...)
	b = append(b, 0)
	b = append(b, g.consent...)
	b = append(b, 0)
	return maphash.Bytes(seed, append(b, g.purpose...))
}

// queryShape: generate-otp's query has one form.
func (g *generateInput) queryShape() int { return 0 }

// sameRequest compares what flightKey hashes.
func (g *generateInput) sameRequest(other operation) bool {
	o, ok := other.(*generateInput)
	return ok && g.n == o.n && g.consent == o.consent && g.purpose == o.purpose
}

func (g *generateInput) auditFields() (purpose, ref string) { return g.purpose, "" }

func (g *generateInput) done(result any, au *auditCall) string {
	r, _ := result.(*OTPResponse)
	if r == nil {
		return ""
	}
	if au != nil {
		au.ref = r.ReferenceID
	}
	return r.TransactionID
}

func (g *generateInput) decode(a *answer, sec *secrets) (any, error) {
	r, err := generateResult(a, sec)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// settle remembers the OTP a success sent, and gives a 409
// VERIFICATION_PENDING the pending OTP the store remembers (pending.go).
func (g *generateInput) settle(ctx context.Context, cl *call, result any, err error) (any, error) {
	if r, ok := result.(*OTPResponse); ok && err == nil {
		cl.client.rememberPending(ctx, cl, g.n[:], PendingOTP{ReferenceID: r.ReferenceID, SentAt: r.Timestamp, ExpiresAt: r.ExpiresAt})
		return result, nil
	}
	return result, cl.client.recallPending(ctx, cl, g.n[:], err)
}

// generateResult turns a generate-otp answer into an OTPResponse or an
// *APIError. It is the whole decoding of that answer (and a fuzz target).
func generateResult(a *answer, sec *secrets) (*OTPResponse, error) {
	if a.status/100 != 2 || a.tooLarge != "" {
		return nil, newAPIError(opGenerate, a, nil, "", sec)
	}
	env, ok := decodeEnvelope(a.body)
	if !ok {
		return nil, newAPIError(opGenerate, a, nil, "", sec)
	}
	if !equalFoldASCII(strings.TrimSpace(env.SubCode.s), SubCodeSuccess) {
		return nil, newAPIError(opGenerate, a, &env, "sub_code is not SUCCESS", sec)
	}
	ref := strings.TrimSpace(env.ReferenceID.s)
	if !validReferenceID(ref) {
		return nil, newAPIError(opGenerate, a, &env, "answer has no usable reference_id", sec)
	}
	if sec.ScrubID(ref) != ref {
		// The server echoed the number, OTP or mobile as the reference id: it
		// would be printed and logged with the result. Not a usable answer.
		return nil, newAPIError(opGenerate, a, &env, "answer's reference_id holds a value the call sent", sec)
	}
	ts := env.Timestamp.t
	if ts.IsZero() {
		ts = time.Now()
	}
	return &OTPResponse{
		ReferenceID:   ref,
		TransactionID: sec.ScrubIdent(env.TransactionID.s, 128),
		Message:       sec.ScrubTextClip(env.Message.s, maxFieldText),
		Timestamp:     ts,
		ExpiresAt:     ts.Add(OTPValidity),
	}, nil
}
