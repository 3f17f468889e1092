package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/deepvue-go/deepvue"
)

// service is the onboarding backend: two JSON endpoints over the SDK.
type service struct {
	kyc     *deepvue.Client
	log     *slog.Logger
	timeout time.Duration // per-request deadline for the Deepvue call
	now     func() time.Time

	mu       sync.Mutex
	consents map[string]consentRecord // reference id -> the consent behind it
}

// consentRecord is what the regulation asks the requesting entity to keep:
// the purpose, the time and the answer. It never holds the Aadhaar number.
// (This example keeps it in memory until the OTP expires; a real service
// writes it to its consent log.)
type consentRecord struct {
	Purpose     string
	ConsentedAt time.Time
	Masked      string
	ExpiresAt   time.Time
}

func newService(kyc *deepvue.Client, log *slog.Logger) *service {
	return &service{kyc: kyc, log: log, timeout: 20 * time.Second, now: time.Now, consents: map[string]consentRecord{}}
}

func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/kyc/otp", s.post(s.handleOTP))
	mux.HandleFunc("/kyc/verify", s.post(s.handleVerify))
	return mux
}

// post allows only POST with a small JSON body.
func (s *service) post(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		h(w, r)
	}
}

type otpRequest struct {
	AadhaarNumber string `json:"aadhaar_number"`
	Consent       bool   `json:"consent"`
	Purpose       string `json:"purpose"`
}

type otpResponse struct {
	ReferenceID   string    `json:"reference_id"`
	MaskedAadhaar string    `json:"masked_aadhaar"`
	ExpiresAt     time.Time `json:"expires_at"`
}

func (s *service) handleOTP(w http.ResponseWriter, r *http.Request) {
	var in otpRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "bad_json", "the body must be JSON: {\"aadhaar_number\", \"consent\", \"purpose\"}")
		return
	}
	masked := deepvue.MaskAadhaar(in.AadhaarNumber)
	consent := deepvue.ConsentNo
	if in.Consent {
		consent = deepvue.ConsentYes
	}
	consentedAt := s.now()

	// The call outlives the browser's request (WithoutCancel) but keeps a
	// deadline: a customer who closes the page must not cancel a call whose
	// SMS may already be on its way, or their retry meets a 409.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.timeout)
	defer cancel()
	res, err := s.kyc.GenerateOTP(ctx, in.AadhaarNumber, consent, in.Purpose)
	if err != nil {
		s.fail(w, r, "generate-otp", masked, err)
		return
	}
	s.mu.Lock()
	for ref, rec := range s.consents { // forget OTP requests nobody verified in time
		if consentedAt.After(rec.ExpiresAt) {
			delete(s.consents, ref)
		}
	}
	s.consents[res.ReferenceID] = consentRecord{Purpose: in.Purpose, ConsentedAt: consentedAt, Masked: masked, ExpiresAt: res.ExpiresAt}
	s.mu.Unlock()
	s.log.Info("otp sent", "aadhaar", masked, "reference_id", res.ReferenceID, "transaction_id", res.TransactionID)
	writeJSON(w, http.StatusOK, otpResponse{ReferenceID: res.ReferenceID, MaskedAadhaar: masked, ExpiresAt: res.ExpiresAt})
}

type verifyRequest struct {
	ReferenceID  string `json:"reference_id"`
	OTP          string `json:"otp"`
	MobileNumber string `json:"mobile_number,omitempty"`
}

type verifyResponse struct {
	Name         string `json:"name"`
	Gender       string `json:"gender"`
	DateOfBirth  string `json:"date_of_birth"`
	Age          *int   `json:"age,omitempty"`
	MaskedNumber string `json:"masked_number"`
	Address      string `json:"address"`
	PhotoBytes   int    `json:"photo_bytes"`
	MobileMatch  *bool  `json:"mobile_match,omitempty"`
}

func (s *service) handleVerify(w http.ResponseWriter, r *http.Request) {
	var in verifyRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "bad_json", "the body must be JSON: {\"reference_id\", \"otp\"}")
		return
	}
	s.mu.Lock()
	rec, ok := s.consents[in.ReferenceID]
	s.mu.Unlock()
	if !ok || s.now().After(rec.ExpiresAt) {
		writeError(w, http.StatusNotFound, "unknown_reference", "this OTP request is unknown or has expired; ask for a new OTP")
		return
	}

	// Likewise: Deepvue spends the OTP when it verifies it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.timeout)
	defer cancel()
	data, err := s.kyc.VerifyOTP(ctx, deepvue.VerifyOTPRequest{
		ReferenceID:  in.ReferenceID,
		OTP:          in.OTP,
		Consent:      deepvue.ConsentYes, // recorded in rec when the OTP was requested
		Purpose:      rec.Purpose,
		MobileNumber: in.MobileNumber,
	})
	if err != nil {
		s.fail(w, r, "verify-otp", rec.Masked, err)
		return
	}
	s.mu.Lock()
	delete(s.consents, in.ReferenceID)
	s.mu.Unlock()
	s.log.Info("ekyc verified", "aadhaar", rec.Masked, "kyc", data) // data logs ids and sizes only
	out := verifyResponse{
		Name: data.Name, Gender: data.Gender, DateOfBirth: data.DateOfBirth, MaskedNumber: data.MaskedNumber,
		Address: data.Address.String(), PhotoBytes: len(data.Photo), MobileMatch: data.MobileMatch,
	}
	if age, err := data.AgeOn(s.now()); err == nil {
		out.Age = &age
	}
	writeJSON(w, http.StatusOK, out)
}

// fail answers a failed call (see answers.go) and logs it with the masked
// number only.
func (s *service) fail(w http.ResponseWriter, r *http.Request, op, masked string, err error) {
	status, body := failure(err)
	attrs := []any{"op", op, "aadhaar", masked, "status", status, "error", err.Error(), "outcome", deepvue.Outcome(err),
		"next_step", body.Error}
	if op == "generate-otp" {
		body.State = deepvue.OTPStateOf(err).String()
		attrs = append(attrs, "otp_state", body.State)
	}
	var apiErr *deepvue.APIError
	if errors.As(err, &apiErr) {
		attrs = append(attrs, "transaction_id", apiErr.TransactionID, "sub_code", apiErr.SubCode)
	}
	s.log.WarnContext(r.Context(), "kyc call failed", attrs...)
	switch {
	case body.RetryAfterSeconds > 0:
		w.Header().Set("Retry-After", strconv.Itoa(body.RetryAfterSeconds))
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "60")
	}
	writeJSON(w, status, body)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
