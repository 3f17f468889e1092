package deepvue

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

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
	MaskedNumber  string // "XXXX XXXX 8091": Deepvue's "xxxx-xxxx-8091" in UIDAI's display form, as MaskAadhaar writes it
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

// Format makes every fmt verb, %#v included, print String (%q quotes it).
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
