package deepvue

import (
	"encoding/json"
	"errors"
	"strings"
)

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
	d.TransactionID = sec.ScrubIdent(ans.TransactionID.s, 128)
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
	text := func(name string, f flexString) string { return field(name, f, sec.ScrubText) }
	id := func(name string, f flexString) string { return field(name, f, sec.ScrubID) }
	d.Name = text("data.name", v.Name)
	d.Gender = id("data.gender", v.Gender)
	d.DateOfBirth = id("data.dateOfBirth", v.DateOfBirth)
	d.MaskedNumber = uidaiMask(text("data.maskedNumber", v.MaskedNumber))
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

// uidaiMask writes a masked Aadhaar number as Deepvue sends it
// ("xxxx-xxxx-8091": eight of x, X or *, in groups of four with or without
// spaces or hyphens, then the last four digits) in the one form the SDK
// shows, UIDAI's "XXXX XXXX 8091". Anything else is returned as it is
// (already scrubbed: a full number is "XXXX XXXX 2346" by then).
func uidaiMask(s string) string {
	masks, digits := 0, 0
	var last [4]byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 'x' || c == 'X' || c == '*':
			if digits > 0 {
				return s
			}
			masks++
		case c >= '0' && c <= '9':
			if masks != 8 || digits == 4 {
				return s
			}
			last[digits] = c
			digits++
		case c == ' ' || c == '-':
		default:
			return s
		}
	}
	if masks != 8 || digits != 4 {
		return s
	}
	return "XXXX XXXX " + string(last[:])
}
