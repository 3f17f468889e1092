package deepvue

import (
	"context"
	"encoding/base64"
	"encoding/json"
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
// empty: Deepvue does not promise any of them. Printing it with fmt shows the
// sizes of Photo and PDF, never their bytes; its slog form carries no name,
// birth date or address.
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
}

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
	return time.Time{}, false, fmt.Errorf("deepvue: date of birth %q is not DD-MM-YYYY", clip(s, 20))
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

// String describes the data with Photo and PDF as sizes.
func (d AadhaarData) String() string {
	match := "nil"
	if d.MobileMatch != nil {
		match = strconv.FormatBool(*d.MobileMatch)
	}
	return fmt.Sprintf("deepvue.AadhaarData{TransactionID: %q, Name: %q, Gender: %q, DateOfBirth: %q, "+
		"MaskedNumber: %q, Address: %q, Photo: <%d bytes>, PDF: <%d bytes>, EmailHash: %q, PhoneHash: %q, "+
		"MobileMatch: %s, GeneratedAt: %s}",
		d.TransactionID, d.Name, d.Gender, d.DateOfBirth, d.MaskedNumber, d.Address.String(),
		len(d.Photo), len(d.PDF), d.EmailHash, d.PhoneHash, match, d.GeneratedAt.Format(time.RFC3339))
}

// GoString is String, so %#v never dumps the photo either.
func (d AadhaarData) GoString() string { return d.String() }

// Format makes every fmt verb print String.
func (d AadhaarData) Format(f fmt.State, verb rune) { formatWith(f, verb, d.String()) }

// LogValue renders the data for slog: ids, sizes and flags only.
func (d AadhaarData) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("transaction_id", d.TransactionID),
		slog.String("masked_number", d.MaskedNumber),
		slog.Int("photo_bytes", len(d.Photo)),
		slog.Int("pdf_bytes", len(d.PDF)),
	}
	if d.MobileMatch != nil {
		attrs = append(attrs, slog.Bool("mobile_match", *d.MobileMatch))
	}
	return slog.GroupValue(attrs...)
}

// verifyAnswer is a verify-otp answer.
type verifyAnswer struct {
	envelope
	Data *verifyData `json:"data"`
}

type verifyData struct {
	Address *struct {
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
	} `json:"address"`
	DateOfBirth  flexString `json:"dateOfBirth"`
	Email        flexString `json:"email"`
	Gender       flexString `json:"gender"`
	GeneratedAt  flexInt    `json:"generatedAt"`
	MaskedNumber flexString `json:"maskedNumber"`
	Name         flexString `json:"name"`
	Phone        flexString `json:"phone"`
	Photo        flexString `json:"photo"`
	MobileMatch  flexString `json:"aadhaar_linked_mobile_match"`
	DocumentPDF  flexString `json:"document_pdf"`
}

// VerifyOTP verifies the OTP the customer typed and returns their Aadhaar
// KYC data. The request is checked locally first (reference id present, OTP
// of 6 digits, ConsentYes, purpose not blank, mobile number of 10 digits if
// given): otherwise a *ValidationError matching ErrInvalidInput is returned
// and nothing is sent.
//
// A wrong, expired or already-used OTP is not documented by Deepvue: it comes
// back as an *APIError keeping the raw SubCode and Message. Only a 500
// SOURCE_FAILURE is retried.
func (c *Client) VerifyOTP(ctx context.Context, req VerifyOTPRequest) (*AadhaarData, error) {
	otp := strings.TrimSpace(req.OTP)
	mobile := strings.TrimSpace(req.MobileNumber)
	ref := strings.TrimSpace(req.ReferenceID)
	switch {
	case ref == "":
		return nil, invalid("reference_id", "is empty (use OTPResponse.ReferenceID)")
	case !validReferenceID(ref):
		return nil, invalid("reference_id", "must be 1 to 64 printable ASCII characters")
	case !allDigits(otp, 6):
		return nil, invalid("otp", "must be 6 digits")
	case req.MobileNumber != "" && !allDigits(mobile, 10):
		return nil, invalid("mobile_number", "must be 10 digits")
	}
	if err := checkConsentPurpose(req.Consent, req.Purpose); err != nil {
		return nil, err
	}

	q := make([]byte, 0, 96+3*len(req.Purpose))
	q = append(q, "otp="...)
	q = append(q, otp...)
	q = append(q, "&reference_id="...)
	q = appendQueryEscape(q, ref)
	q = append(q, "&consent=Y&purpose="...)
	q = appendQueryEscape(q, req.Purpose)
	if mobile != "" {
		q = append(q, "&mobile_number="...)
		q = append(q, mobile...)
	}
	if req.GeneratePDF {
		q = append(q, "&generate_pdf=true"...)
	}
	pii := []string{otp, mobile}

	a, err := c.do(ctx, opVerify, c.verifyURL, string(q), MaxVerifyResponseBytes, pii)
	if err != nil {
		return nil, err
	}
	defer a.release()
	return c.verifyResult(a, pii)
}

// verifyResult turns a verify-otp answer into AadhaarData or an *APIError.
// It is the whole decoding of that answer (and a fuzz target).
func (c *Client) verifyResult(a *answer, pii []string) (*AadhaarData, error) {
	if a.status/100 != 2 || a.body == nil || !looksLikeObject(a.body) {
		return nil, c.apiError(opVerify, a, nil, "", pii)
	}
	var ans verifyAnswer
	if err := json.Unmarshal(a.body, &ans); err != nil {
		return nil, c.apiError(opVerify, a, nil, "answer does not decode", pii)
	}
	if !equalFoldASCII(ans.SubCode.s, SubCodeSuccess) {
		return nil, c.apiError(opVerify, a, &ans.envelope, "sub_code is not SUCCESS", pii)
	}
	if ans.Data == nil {
		return nil, c.apiError(opVerify, a, &ans.envelope, "answer has no data", pii)
	}
	d, problem := ans.Data.toAadhaarData()
	if problem != "" {
		return nil, c.apiError(opVerify, a, &ans.envelope, problem, pii)
	}
	d.TransactionID = clip(ans.TransactionID.s, 128)
	return d, nil
}

func allDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// toAadhaarData converts the wire form; problem names a field that could not
// be decoded.
func (v *verifyData) toAadhaarData() (*AadhaarData, string) {
	d := &AadhaarData{
		Name:         maskDigitRuns(v.Name.s),
		Gender:       v.Gender.s,
		DateOfBirth:  v.DateOfBirth.s,
		MaskedNumber: maskDigitRuns(v.MaskedNumber.s),
		EmailHash:    v.Email.s,
		PhoneHash:    v.Phone.s,
	}
	if ad := v.Address; ad != nil {
		d.Address = Address{
			CareOf: maskDigitRuns(ad.CareOf.s), House: maskDigitRuns(ad.House.s), Street: maskDigitRuns(ad.Street.s),
			Landmark: maskDigitRuns(ad.Landmark.s), Locality: maskDigitRuns(ad.Locality.s), VTC: maskDigitRuns(ad.VTC.s),
			PostOffice: maskDigitRuns(ad.PostOffice.s), SubDistrict: maskDigitRuns(ad.SubDistrict.s),
			District: maskDigitRuns(ad.District.s), State: maskDigitRuns(ad.State.s), Country: maskDigitRuns(ad.Country.s),
			Pin: maskDigitRuns(ad.Pin.s),
		}
	}
	var ok bool
	if d.Photo, ok = decodeBase64(v.Photo.s); !ok {
		return nil, "data.photo is not valid base64"
	}
	if d.PDF, ok = decodeBase64(v.DocumentPDF.s); !ok {
		return nil, "data.document_pdf is not valid base64"
	}
	switch strings.ToLower(strings.TrimSpace(v.MobileMatch.s)) {
	case "yes", "y", "true":
		t := true
		d.MobileMatch = &t
	case "no", "n", "false":
		f := false
		d.MobileMatch = &f
	}
	if v.GeneratedAt.n > 0 {
		d.GeneratedAt = epochTime(v.GeneratedAt.n)
	}
	return d, ""
}

// decodeBase64 decodes standard base64, padded or not, ignoring line breaks
// and a "data:...;base64," prefix. Empty input gives nil.
func decodeBase64(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, true
	}
	if strings.HasPrefix(s, "data:") {
		i := strings.Index(s, ";base64,")
		if i < 0 {
			return nil, false
		}
		s = s[i+len(";base64,"):]
	}
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", "", "\n", "").Replace(s)
	}
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	out, err := enc.DecodeString(s)
	if err != nil {
		return nil, false
	}
	return out, true
}
