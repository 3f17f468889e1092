package deepvue

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strconv"
	"strings"
)

// VerifyOTPRequest is the second step of the eKYC flow. Printing it (any fmt
// verb), logging it with slog or encoding it to JSON never shows the OTP or
// the mobile number, and shows the ReferenceID and Purpose scrubbed of them
// (in any spelling) and of anything that could be an Aadhaar number.
type VerifyOTPRequest struct {
	// ReferenceID is OTPResponse.ReferenceID from GenerateOTP.
	ReferenceID string
	// OTP is the 6-digit code the customer received by SMS.
	OTP string
	// Consent must be ConsentYes.
	Consent Consent
	// Purpose is the purpose of the KYC check, required by regulation.
	Purpose string
	// MobileNumber, when set (10 digits), asks Deepvue whether it is the
	// mobile linked to the Aadhaar number; see AadhaarData.MobileMatch.
	MobileNumber string
	// GeneratePDF asks for the e-Aadhaar style PDF in AadhaarData.PDF.
	GeneratePDF bool
}

// printSecrets is what printing the request scrubs: its own OTP and
// mobile number, when they are well formed (the scrubbers match ASCII
// digits), and, as free text, anything that could be an Aadhaar number.
func (r VerifyOTPRequest) printSecrets() *secrets {
	sec := &secrets{}
	if otp := strings.TrimSpace(r.OTP); allDigits(otp, 6) {
		sec.OTP = otp
	}
	if m := strings.TrimSpace(r.MobileNumber); allDigits(m, 10) {
		sec.Mobile = m
	}
	return sec
}

// printed returns the ReferenceID, Consent and Purpose (at most n bytes)
// as the request prints them.
func (r VerifyOTPRequest) printed(n int) (ref, consent, purpose string) {
	sec := r.printSecrets()
	return sec.ScrubIdent(sec.ScrubTextClip(r.ReferenceID, 64), 64), sec.ScrubTextClip(string(r.Consent), 8),
		sec.ScrubTextClip(r.Purpose, n)
}

// String describes the request with the OTP and mobile number redacted,
// and the reference id and purpose scrubbed.
func (r VerifyOTPRequest) String() string {
	ref, consent, purpose := r.printed(100)
	var b strings.Builder
	b.WriteString("deepvue.VerifyOTPRequest{ReferenceID: ")
	b.WriteString(strconv.Quote(ref))
	b.WriteString(", OTP: ")
	b.WriteString(redactedField(r.OTP))
	b.WriteString(", Consent: ")
	b.WriteString(strconv.Quote(consent))
	b.WriteString(", Purpose: ")
	b.WriteString(strconv.Quote(purpose))
	b.WriteString(", MobileNumber: ")
	b.WriteString(redactedField(r.MobileNumber))
	b.WriteString(", GeneratePDF: ")
	b.WriteString(strconv.FormatBool(r.GeneratePDF))
	b.WriteByte('}')
	return b.String()
}

// Format makes every fmt verb, %#v included, print the redacted String.
func (r VerifyOTPRequest) Format(f fmt.State, verb rune) { formatWith(f, verb, r.String()) }

// LogValue renders the request for slog with the OTP and mobile redacted,
// and the reference id scrubbed.
func (r VerifyOTPRequest) LogValue() slog.Value {
	ref, _, _ := r.printed(0)
	return slog.GroupValue(
		slog.String("reference_id", ref),
		slog.String("otp", redacted(r.OTP)),
		slog.String("mobile_number", redacted(r.MobileNumber)),
		slog.Bool("generate_pdf", r.GeneratePDF),
	)
}

// MarshalJSON encodes the request with the OTP and mobile number redacted,
// and the reference id and purpose scrubbed (as String shows them): the OTP
// must never be stored, and this keeps it out of JSON logs too.
func (r VerifyOTPRequest) MarshalJSON() ([]byte, error) {
	ref, consent, purpose := r.printed(maxPurposeBytes)
	return json.Marshal(struct {
		ReferenceID  string `json:"reference_id"`
		OTP          string `json:"otp"`
		Consent      string `json:"consent"`
		Purpose      string `json:"purpose"`
		MobileNumber string `json:"mobile_number"`
		GeneratePDF  bool   `json:"generate_pdf"`
	}{ref, redacted(r.OTP), consent, purpose, redacted(r.MobileNumber), r.GeneratePDF})
}

// VerifyOTP verifies the OTP the customer typed and returns their Aadhaar
// KYC data. The request is checked locally first (reference id present, OTP
// of 6 digits, ConsentYes, purpose not blank, mobile number of 10 digits if
// given): otherwise a *ValidationError matching ErrInvalidInput is returned
// and nothing is sent.
//
// A success answer is an error only when it is not a JSON object, its
// sub_code is not SUCCESS, or it has no data object: a field of the data
// that cannot be decoded is left empty and named in AadhaarData.Problems,
// since Deepvue has already spent the OTP. A wrong, expired or already-used
// OTP is not documented by Deepvue: it comes back as an *APIError keeping
// the raw SubCode and Message. Only a 500 SOURCE_FAILURE is retried.
//
// Concurrent calls with the same request on one Client (a double click)
// send one request and share its result: each gets its own copy of the
// AadhaarData, whose Photo, PDF and Problems are shared (read them only).
func (c *Client) VerifyOTP(ctx context.Context, req VerifyOTPRequest) (*AadhaarData, error) {
	if !c.usable() {
		return nil, errNilClient
	}
	var vc *verifyCall
	if c.observer != nil { // the record and the Observer's state, in one allocation
		o := &observedVerifyCall{}
		vc = &o.verifyCall
		vc.obs = &o.obs
	} else {
		vc = &verifyCall{}
	}
	vc.in = verifyInput{req: req}
	res, err := c.run(ctx, c.initCall(&vc.call, opVerify, &vc.in))
	d, _ := res.(*AadhaarData)
	if d != nil && vc.joined { // the leader's result: a copy of one's own (the byte slices shared)
		cp := *d
		d = &cp
	}
	return d, err
}

// verifyCall is a verify-otp call's record and input, allocated together.
type verifyCall struct {
	call
	in verifyInput
}

// observedVerifyCall is a verifyCall with its Observer state.
type observedVerifyCall struct {
	verifyCall
	obs observed
}

// verifyInput is VerifyOTP's input: the operation of a verify-otp call.
type verifyInput struct {
	req              VerifyOTPRequest
	otp, mobile, ref string // trimmed, once checked
}

// check validates the request: reference id, OTP, mobile number, then
// consent and purpose.
func (v *verifyInput) check(sec *secrets) error {
	req := &v.req
	otp := strings.TrimSpace(req.OTP)
	mobile := strings.TrimSpace(req.MobileNumber)
	ref := strings.TrimSpace(req.ReferenceID)
	switch {
	case ref == "":
		return invalid(FieldReferenceID, "is empty (use OTPResponse.ReferenceID)")
	case !validReferenceID(ref):
		return invalid(FieldReferenceID, "must be 1 to 64 printable ASCII characters")
	case !allDigits(otp, 6):
		return invalid(FieldOTP, "must be 6 digits")
	case req.MobileNumber != "" && !allDigits(mobile, 10):
		return invalid(FieldMobileNumber, "must be 10 digits")
	}
	if err := checkConsentPurpose(req.Consent, req.Purpose); err != nil {
		return err
	}
	v.otp, v.mobile, v.ref = otp, mobile, ref
	sec.OTP, sec.Mobile = otp, mobile
	return nil
}

// query returns "otp=...&reference_id=...&consent=Y&purpose=..." and the
// optional mobile_number and generate_pdf.
func (v *verifyInput) query() string {
	var q strings.Builder
	q.Grow(96 + 3*len(v.ref) + 3*len(v.req.Purpose))
	q.WriteString("otp=")
	q.WriteString(v.otp)
	q.WriteString("&reference_id=")
	writeQueryEscape(&q, v.ref)
	q.WriteString("&consent=Y&purpose=")
	writeQueryEscape(&q, v.req.Purpose)
	if v.mobile != "" {
		q.WriteString("&mobile_number=")
		q.WriteString(v.mobile)
	}
	if v.req.GeneratePDF {
		q.WriteString("&generate_pdf=true")
	}
	return q.String()
}

// flightKey hashes the whole query: reference id, OTP, consent, purpose,
// mobile number and GeneratePDF.
func (v *verifyInput) flightKey(seed maphash.Seed) uint64 {
	var buf [160 + maxPurposeBytes]byte
	b := append(buf[:0], opVerify...)
	for _, f := range [...]string{v.ref, v.otp, string(v.req.Consent), v.req.Purpose, v.mobile} {
		b = append(b, 0)
		b = append(b, f...)
	}
	pdf := byte(0)
	if v.req.GeneratePDF {
		pdf = 1
	}
	return maphash.Bytes(seed, append(b, 0, pdf))
}

// queryShape: verify-otp's query has four forms, with or without
// mobile_number and generate_pdf.
func (v *verifyInput) queryShape() int {
	s := 1
	if v.mobile != "" {
		s++
	}
	if v.req.GeneratePDF {
		s += 2
	}
	return s
}

// sameRequest compares what flightKey hashes.
func (v *verifyInput) sameRequest(other operation) bool {
	o, ok := other.(*verifyInput)
	return ok && v.ref == o.ref && v.otp == o.otp && v.req.Consent == o.req.Consent &&
		v.req.Purpose == o.req.Purpose && v.mobile == o.mobile && v.req.GeneratePDF == o.req.GeneratePDF
}

func (v *verifyInput) auditFields() (purpose, ref string) { return v.req.Purpose, v.ref }

func (v *verifyInput) done(result any, au *auditCall) string {
	d, _ := result.(*AadhaarData)
	if d == nil {
		return ""
	}
	if au != nil {
		au.kyc = d
	}
	return d.TransactionID
}

func (v *verifyInput) settle(_ context.Context, _ *call, result any, err error) (any, error) {
	return result, err
}

func (v *verifyInput) decode(a *answer, sec *secrets) (any, error) {
	d, err := verifyResult(a, sec)
	if err != nil {
		return nil, err
	}
	return d, nil
}
