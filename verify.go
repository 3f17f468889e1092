package deepvue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// VerifyOTPRequest is the second step of the eKYC flow. Printing it (any fmt
// verb), logging it with slog or encoding it to JSON never shows the OTP or
// the mobile number.
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

// String describes the request with the OTP and mobile number redacted.
func (r VerifyOTPRequest) String() string {
	var b strings.Builder
	b.WriteString("deepvue.VerifyOTPRequest{ReferenceID: ")
	b.WriteString(strconv.Quote(clip(r.ReferenceID, 64)))
	b.WriteString(", OTP: ")
	b.WriteString(redactedField(r.OTP))
	b.WriteString(", Consent: ")
	b.WriteString(strconv.Quote(clip(string(r.Consent), 8)))
	b.WriteString(", Purpose: ")
	b.WriteString(strconv.Quote(clip(r.Purpose, 100)))
	b.WriteString(", MobileNumber: ")
	b.WriteString(redactedField(r.MobileNumber))
	b.WriteString(", GeneratePDF: ")
	b.WriteString(strconv.FormatBool(r.GeneratePDF))
	b.WriteByte('}')
	return b.String()
}

// GoString is String, so %#v redacts too.
func (r VerifyOTPRequest) GoString() string { return r.String() }

// Format makes every fmt verb print the redacted String.
func (r VerifyOTPRequest) Format(f fmt.State, verb rune) { formatWith(f, verb, r.String()) }

// LogValue renders the request for slog with the OTP and mobile redacted.
func (r VerifyOTPRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("reference_id", clip(r.ReferenceID, 64)),
		slog.String("otp", redacted(r.OTP)),
		slog.String("mobile_number", redacted(r.MobileNumber)),
		slog.Bool("generate_pdf", r.GeneratePDF),
	)
}

// MarshalJSON encodes the request with the OTP and mobile number redacted:
// the OTP must never be stored, and this keeps it out of JSON logs too.
func (r VerifyOTPRequest) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ReferenceID  string `json:"reference_id"`
		OTP          string `json:"otp"`
		Consent      string `json:"consent"`
		Purpose      string `json:"purpose"`
		MobileNumber string `json:"mobile_number"`
		GeneratePDF  bool   `json:"generate_pdf"`
	}{r.ReferenceID, redacted(r.OTP), string(r.Consent), r.Purpose, redacted(r.MobileNumber), r.GeneratePDF})
}

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

// Address is the address on the Aadhaar record, as Deepvue sends it.
type Address struct {
	CareOf      string // "S/O ...", "D/O ...", "W/O ..."
	House       string
	Street      string
	Landmark    string
	Locality    string
	VTC         string // village, town or city
	PostOffice  string
	SubDistrict string
	District    string
	State       string
	Country     string
	Pin         string // postal code, as a string
}

// String joins the non-empty parts, from house to country and PIN.
func (a Address) String() string {
	parts := []string{a.House, a.Street, a.Landmark, a.Locality, a.VTC, a.PostOffice, a.SubDistrict, a.District, a.State, a.Country}
	var b strings.Builder
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p)
		}
	}
	if a.Pin != "" {
		if b.Len() > 0 {
			b.WriteString(" - ")
		}
		b.WriteString(a.Pin)
	}
	return b.String()
}

// AadhaarData is the KYC data of a successful VerifyOTP. Every field may be
// empty: Deepvue does not promise any of them, and a field the SDK could not
// decode is left empty and named in Problems rather than failing a KYC whose
// OTP Deepvue has already spent.
//
// Printing it with any fmt verb, or logging it with slog, shows only what is
// safe in a log: the transaction id, the masked number, the sizes of Photo
// and PDF, the mobile match, which fields are present, and the problems;
// never the name, birth date, gender, address or hashes. json.Marshal
// encodes every field, since storing the result is what callers do with it.
type AadhaarData struct {
	TransactionID string
	Name          string
	Gender        string // "M", "F" or "T"
	DateOfBirth   string // as sent: "DD-MM-YYYY" (sometimes only "YYYY"); see BirthDate
	MaskedNumber  string // e.g. "xxxx-xxxx-8091"
	Address       Address
	Photo         []byte // JPEG, decoded from base64
	PDF           []byte // PDF, decoded from base64; empty unless GeneratePDF was set
	EmailHash     string // a hash of the email on record, not an address
	PhoneHash     string // a hash of the mobile on record, not a number
	// MobileMatch reports whether VerifyOTPRequest.MobileNumber is the mobile
	// linked to the Aadhaar number; nil when not asked or not answered.
	MobileMatch *bool
	// GeneratedAt is when UIDAI generated the record (zero if not sent).
	GeneratedAt time.Time
	// Problems lists the fields of the answer's data that could not be
	// decoded (their Go fields are empty), e.g. a photo that is not base64.
	Problems []FieldProblem
}

// FieldProblem names a field of a successful answer that could not be
// decoded, and why. The data's other fields are returned as usual.
type FieldProblem struct {
	// Field is the answer's JSON path, e.g. "data.photo".
	Field string
	// Reason says what was wrong, e.g. "is not valid base64". It never
	// quotes the value.
	Reason string
}

// String returns e.g. "data.photo is not valid base64".
func (p FieldProblem) String() string { return p.Field + " " + p.Reason }

// BirthDate parses DateOfBirth ("DD-MM-YYYY", also "DD/MM/YYYY" and
// "YYYY-MM-DD"). A year-only value ("1999") gives 1 January of that year and
// yearOnly true.
func (d *AadhaarData) BirthDate() (date time.Time, yearOnly bool, err error) {
	s := strings.TrimSpace(d.DateOfBirth)
	if len(s) == 4 {
		y, err := strconv.Atoi(s)
		if err == nil && y > 1800 && y < 3000 {
			return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), true, nil
		}
	}
	for _, layout := range []string{"02-01-2006", "02/01/2006", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, false, nil
		}
	}
	return time.Time{}, false, errors.New("deepvue: the date of birth is not DD-MM-YYYY")
}

// AgeOn returns the age in whole years on the given day, from BirthDate.
func (d *AadhaarData) AgeOn(day time.Time) (int, error) {
	b, _, err := d.BirthDate()
	if err != nil {
		return 0, err
	}
	y, m, dd := day.Date()
	age := y - b.Year()
	if m < b.Month() || (m == b.Month() && dd < b.Day()) {
		age--
	}
	return age, nil
}

// present lists which of the personal fields are filled, by name only.
func (d *AadhaarData) present() []string {
	var out []string
	add := func(name string, ok bool) {
		if ok {
			out = append(out, name)
		}
	}
	add("name", d.Name != "")
	add("gender", d.Gender != "")
	add("date_of_birth", d.DateOfBirth != "")
	add("address", d.Address != (Address{}))
	add("email_hash", d.EmailHash != "")
	add("phone_hash", d.PhoneHash != "")
	return out
}

// String describes the data as LogValue does: ids, sizes, flags and which
// fields are present; never the name, birth date, gender, address or hashes.
func (d AadhaarData) String() string {
	var b strings.Builder
	b.WriteString("deepvue.AadhaarData{TransactionID: ")
	b.WriteString(strconv.Quote(d.TransactionID))
	b.WriteString(", MaskedNumber: ")
	b.WriteString(strconv.Quote(d.MaskedNumber))
	fmt.Fprintf(&b, ", Photo: <%d bytes>, PDF: <%d bytes>, MobileMatch: ", len(d.Photo), len(d.PDF))
	if d.MobileMatch == nil {
		b.WriteString("nil")
	} else {
		b.WriteString(strconv.FormatBool(*d.MobileMatch))
	}
	if !d.GeneratedAt.IsZero() {
		b.WriteString(", GeneratedAt: ")
		b.WriteString(d.GeneratedAt.UTC().Format(time.RFC3339))
	}
	b.WriteString(", Present: [")
	b.WriteString(strings.Join(d.present(), " "))
	b.WriteByte(']')
	if len(d.Problems) > 0 {
		b.WriteString(", Problems: [")
		for i, p := range d.Problems {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(p.String())
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.String()
}

// GoString is String, so %#v shows no personal data either.
func (d AadhaarData) GoString() string { return d.String() }

// Format makes every fmt verb print String (%q quotes it).
func (d AadhaarData) Format(f fmt.State, verb rune) { formatWith(f, verb, d.String()) }

// LogValue renders the data for slog: ids, sizes, flags, which fields are
// present and the problems; never personal data.
func (d AadhaarData) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("transaction_id", d.TransactionID),
		slog.String("masked_number", d.MaskedNumber),
		slog.Int("photo_bytes", len(d.Photo)),
		slog.Int("pdf_bytes", len(d.PDF)),
		slog.String("present", strings.Join(d.present(), " ")),
	}
	if d.MobileMatch != nil {
		attrs = append(attrs, slog.Bool("mobile_match", *d.MobileMatch))
	}
	if !d.GeneratedAt.IsZero() {
		attrs = append(attrs, slog.Time("generated_at", d.GeneratedAt))
	}
	if len(d.Problems) > 0 {
		ps := make([]string, len(d.Problems))
		for i, p := range d.Problems {
			ps[i] = p.String()
		}
		attrs = append(attrs, slog.String("problems", strings.Join(ps, "; ")))
	}
	return slog.GroupValue(attrs...)
}

// verifyAnswer is a verify-otp answer. Data is nil unless "data" is a JSON
// object.
type verifyAnswer struct {
	envelope
	Data *verifyData `json:"data"`
}

// verifyData is the wire form of the KYC data: each field lenient.
type verifyData struct {
	Address      addressField `json:"address"`
	DateOfBirth  flexString   `json:"dateOfBirth"`
	Email        flexString   `json:"email"`
	Gender       flexString   `json:"gender"`
	GeneratedAt  flexTime     `json:"generatedAt"`
	MaskedNumber flexString   `json:"maskedNumber"`
	Name         flexString   `json:"name"`
	Phone        flexString   `json:"phone"`
	Photo        base64Field  `json:"photo"`
	MobileMatch  flexString   `json:"aadhaar_linked_mobile_match"`
	DocumentPDF  base64Field  `json:"document_pdf"`
}

// addressField is the address object; anything else leaves it empty with a
// problem.
type addressField struct {
	v struct {
		CareOf      flexString `json:"careOf"`
		Country     flexString `json:"country"`
		District    flexString `json:"district"`
		House       flexString `json:"house"`
		Landmark    flexString `json:"landmark"`
		Locality    flexString `json:"locality"`
		Pin         flexString `json:"pin"`
		PostOffice  flexString `json:"postOffice"`
		State       flexString `json:"state"`
		Street      flexString `json:"street"`
		SubDistrict flexString `json:"subDistrict"`
		VTC         flexString `json:"vtc"`
	}
	problem string
}

// UnmarshalJSON never fails: see addressField.
func (a *addressField) UnmarshalJSON(b []byte) error {
	*a = addressField{}
	switch {
	case len(b) == 0 || string(b) == "null":
	case b[0] == '{':
		if json.Unmarshal(b, &a.v) != nil {
			a.problem = "is not a valid address object"
		}
	default:
		a.problem = "is not a JSON object"
	}
	return nil
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
func (c *Client) VerifyOTP(ctx context.Context, req VerifyOTPRequest) (*AadhaarData, error) {
	if !c.usable() {
		return nil, errNilClient
	}
	cl := &call{op: opVerify, endpoint: c.verifyURL, limit: MaxVerifyResponseBytes, sec: c.secrets(), start: time.Now(), client: c}
	ctx = c.startCall(ctx, cl)
	d, err := c.verifyOTP(ctx, cl, req)
	txn := ""
	if d != nil {
		txn = d.TransactionID
		if cl.audit != nil {
			cl.audit.kyc = d
		}
	}
	err = c.end(ctx, cl, txn, err)
	return d, err
}

func (c *Client) verifyOTP(ctx context.Context, cl *call, req VerifyOTPRequest) (*AadhaarData, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	otp := strings.TrimSpace(req.OTP)
	mobile := strings.TrimSpace(req.MobileNumber)
	ref := strings.TrimSpace(req.ReferenceID)
	switch {
	case ref == "":
		return nil, invalid(FieldReferenceID, "is empty (use OTPResponse.ReferenceID)")
	case !validReferenceID(ref):
		return nil, invalid(FieldReferenceID, "must be 1 to 64 printable ASCII characters")
	case !allDigits(otp, 6):
		return nil, invalid(FieldOTP, "must be 6 digits")
	case req.MobileNumber != "" && !allDigits(mobile, 10):
		return nil, invalid(FieldMobileNumber, "must be 10 digits")
	}
	if err := checkConsentPurpose(req.Consent, req.Purpose); err != nil {
		return nil, err
	}
	cl.sec.otp, cl.sec.mobile = otp, mobile
	if c.life.closed.Load() {
		return nil, ErrClientClosed // before any audit record: nothing proceeds
	}
	if err := c.auditConsent(ctx, cl, req.Purpose, ref); err != nil {
		return nil, err
	}

	var q strings.Builder
	q.Grow(96 + 3*len(ref) + 3*len(req.Purpose))
	q.WriteString("otp=")
	q.WriteString(otp)
	q.WriteString("&reference_id=")
	writeQueryEscape(&q, ref)
	q.WriteString("&consent=Y&purpose=")
	writeQueryEscape(&q, req.Purpose)
	if mobile != "" {
		q.WriteString("&mobile_number=")
		q.WriteString(mobile)
	}
	if req.GeneratePDF {
		q.WriteString("&generate_pdf=true")
	}
	cl.query = q.String()

	a, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	defer a.release()
	return verifyResult(a, &cl.sec)
}

// verifyResult turns a verify-otp answer into AadhaarData or an *APIError.
// It is the whole decoding of that answer (and a fuzz target).
func verifyResult(a *answer, sec *secrets) (*AadhaarData, error) {
	if a.status/100 != 2 || a.tooLarge != "" {
		return nil, newAPIError(opVerify, a, nil, "", sec)
	}
	var ans verifyAnswer
	if !looksLikeObject(a.body) {
		return nil, newAPIError(opVerify, a, nil, "", sec)
	}
	if err := json.Unmarshal(a.body, &ans); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return nil, newAPIError(opVerify, a, nil, "", sec) // not JSON
		}
		// Every other field is lenient: "data" is not an object (encoding/json
		// has set an empty one).
		ans.Data = nil
	}
	if !equalFoldASCII(strings.TrimSpace(ans.SubCode.s), SubCodeSuccess) {
		return nil, newAPIError(opVerify, a, &ans.envelope, "sub_code is not SUCCESS", sec)
	}
	if ans.Data == nil {
		return nil, newAPIError(opVerify, a, &ans.envelope, "answer has no data object", sec)
	}
	d := ans.Data.toAadhaarData(sec)
	d.TransactionID = sec.scrubIdent(ans.TransactionID.s, 128)
	return d, nil
}

// toAadhaarData converts the wire form, scrubbing every string of the
// values the call knows (free text also of Aadhaar-like digit runs) and
// naming each field it could not decode.
func (v *verifyData) toAadhaarData(sec *secrets) *AadhaarData {
	d := &AadhaarData{}
	field := func(name string, f flexString, scrub func(string) string) string {
		if f.bad {
			d.Problems = append(d.Problems, FieldProblem{Field: name, Reason: "is a JSON object or array, not a string"})
		}
		return scrub(f.s)
	}
	text := func(name string, f flexString) string { return field(name, f, sec.scrubText) }
	id := func(name string, f flexString) string { return field(name, f, sec.scrubID) }
	d.Name = text("data.name", v.Name)
	d.Gender = id("data.gender", v.Gender)
	d.DateOfBirth = id("data.dateOfBirth", v.DateOfBirth)
	d.MaskedNumber = text("data.maskedNumber", v.MaskedNumber)
	d.EmailHash = id("data.email", v.Email)
	d.PhoneHash = id("data.phone", v.Phone)
	if v.Address.problem != "" {
		d.Problems = append(d.Problems, FieldProblem{Field: "data.address", Reason: v.Address.problem})
	}
	ad := &v.Address.v
	d.Address = Address{
		CareOf:      text("data.address.careOf", ad.CareOf),
		House:       text("data.address.house", ad.House),
		Street:      text("data.address.street", ad.Street),
		Landmark:    text("data.address.landmark", ad.Landmark),
		Locality:    text("data.address.locality", ad.Locality),
		VTC:         text("data.address.vtc", ad.VTC),
		PostOffice:  text("data.address.postOffice", ad.PostOffice),
		SubDistrict: text("data.address.subDistrict", ad.SubDistrict),
		District:    text("data.address.district", ad.District),
		State:       text("data.address.state", ad.State),
		Country:     text("data.address.country", ad.Country),
		Pin:         id("data.address.pin", ad.Pin),
	}
	d.Photo = v.Photo.data
	if v.Photo.problem != "" {
		d.Problems = append(d.Problems, FieldProblem{Field: "data.photo", Reason: v.Photo.problem})
	}
	d.PDF = v.DocumentPDF.data
	if v.DocumentPDF.problem != "" {
		d.Problems = append(d.Problems, FieldProblem{Field: "data.document_pdf", Reason: v.DocumentPDF.problem})
	}
	switch m := strings.ToLower(strings.TrimSpace(v.MobileMatch.s)); {
	case v.MobileMatch.bad:
		d.Problems = append(d.Problems, FieldProblem{Field: "data.aadhaar_linked_mobile_match", Reason: "is a JSON object or array, not Yes or No"})
	case m == "yes" || m == "y" || m == "true":
		t := true
		d.MobileMatch = &t
	case m == "no" || m == "n" || m == "false":
		f := false
		d.MobileMatch = &f
	case m != "":
		d.Problems = append(d.Problems, FieldProblem{Field: "data.aadhaar_linked_mobile_match", Reason: "is neither Yes nor No"})
	}
	d.GeneratedAt = v.GeneratedAt.t
	if v.GeneratedAt.bad {
		d.Problems = append(d.Problems, FieldProblem{Field: "data.generatedAt", Reason: "is not an epoch time (seconds or milliseconds) or an RFC 3339 time"})
	}
	return d
}
