package deepvue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deepvue-go/deepvue/internal/redact"
	"github.com/deepvue-go/deepvue/internal/uid"
)

// AuditFunc stores one audit record (see WithAuditLog). It must be safe for
// concurrent use and should honour ctx. deepvueaudit.(*Log).Record is one,
// keeping the trail in PostgreSQL.
type AuditFunc func(ctx context.Context, r AuditRecord) error

// AuditStage says which of a call's two records an AuditRecord is.
type AuditStage string

// Audit stages.
const (
	// AuditConsent is written after the input was checked and before
	// anything is sent; the call proceeds only once it is stored.
	AuditConsent AuditStage = "consent"
	// AuditOutcome is written when a call that wrote its consent record
	// ends, whatever its result.
	AuditOutcome AuditStage = "outcome"
	// AuditDecision records a refusal or a withdrawal of consent, apart
	// from any call (DecisionRecord).
	AuditDecision AuditStage = "decision"
)

// AuditRecord is what the audit trail keeps of a call: the consent (the
// purpose, the time, the answer) and what became of the call. It never
// holds an Aadhaar number (only its UIDAI mask), an OTP, a mobile number, the
// client secret or any eKYC data; the ids are scrubbed of the values the
// call knows and dropped when they do not look like ids, so printing or
// storing a record is safe.
type AuditRecord struct {
	// CallID identifies the call: 32 hex digits (16 random bytes), the same
	// in its consent and outcome records.
	CallID string
	// Stage is AuditConsent or AuditOutcome.
	Stage AuditStage
	// Time is when the record was made.
	Time time.Time
	// Operation is "generate-otp" or "verify-otp".
	Operation string
	// Purpose is the purpose the caller gave, with any Aadhaar-like digit
	// run and any value the call knows masked, every digit masked when it
	// could hold a mobile number, and an e-mail address replaced by
	// "[e-mail]".
	Purpose string
	// Consent is the customer's answer: ConsentYes in a call's records (the
	// SDK proceeds only with it), ConsentNo in a decision record.
	Consent Consent
	// MaskedNumber is the UIDAI mask of the Aadhaar number ("XXXX XXXX
	// 2346") for generate-otp; empty for verify-otp.
	MaskedNumber string
	// ReferenceID is the OTP's reference id: the caller's for verify-otp;
	// for generate-otp Deepvue's answer's, at the outcome stage ("" if none).
	ReferenceID string
	// TransactionID is Deepvue's transaction id of the last answer, at the
	// outcome stage ("" if none).
	TransactionID string
	// Outcome is Outcome(err) of the call's result ("ok" for a success), as
	// the Observer sees it; empty at the consent stage.
	Outcome string
	// OTPState is OTPStateOf(err) of a generate-otp call at the outcome
	// stage; meaningless (the zero value) otherwise.
	OTPState OTPState
	// Attempts is the number of HTTP attempts (0 at the consent stage).
	Attempts int
	// Tenant is the Client's WithTenant label ("" without one).
	Tenant string
	// Evidence is the consent evidence the call carried
	// (WithConsentEvidence), the same in both of its records, its texts
	// scrubbed as Purpose is; the zero value if none.
	Evidence ConsentEvidence
}

// auditOutcomeTimeout bounds writing an outcome record, which runs on a
// context that outlives the caller's cancel.
const auditOutcomeTimeout = 5 * time.Second

// auditCall is the audit state of one call.
type auditCall struct {
	rec    AuditRecord  // the consent record, the base of the outcome record
	ref    string       // generate-otp: the reference id of a success
	kyc    *AadhaarData // verify-otp: the data of a success, kept out of the ids
	failed bool         // the outcome record could not be written
	octx   outcomeCtx   // the outcome record's context
}

// outcomeCtx is the context an outcome record is written on: the call's
// values but not its cancel (an outcome is written whatever ended the call,
// its deadline included), and a deadline auditOutcomeTimeout after the
// call's end, which the Client's one timer enforces (deadline.go): no
// context or timer of its own to allocate. It ends when the write returns.
type outcomeCtx struct {
	values context.Context
	dl     deadlineNode
	mu     sync.Mutex
	err    error
	done   chan struct{} // made when first asked for
}

// Deadline is auditOutcomeTimeout after the call's end.
func (o *outcomeCtx) Deadline() (time.Time, bool) { return o.dl.at, true }

// Value is the call's context's.
func (o *outcomeCtx) Value(key any) any { return o.values.Value(key) }

// Done is closed once the write returned or its deadline passed.
func (o *outcomeCtx) Done() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done == nil {
		o.done = make(chan struct{})
		if o.err != nil {
			close(o.done)
		}
	}
	return o.done
}

// Err is context.DeadlineExceeded once the deadline passed, context.Canceled
// once the write returned, and nil before.
func (o *outcomeCtx) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

func (o *outcomeCtx) deadlinePassed() { o.end(context.DeadlineExceeded) }

// begin gives o the values of ctx, the call's, and lists it in dl for its
// deadline, d from now. The values are context.WithoutCancel's: ctx's own
// Value would hand context.Cause, and the contexts the sink derives, the
// call's cancelable context and its cause (an outcome record written after
// the customer left would read as cancelled by them).
func (o *outcomeCtx) begin(dl *deadlines, ctx context.Context, d time.Duration) {
	o.values = context.WithoutCancel(ctx)
	dl.add(deadlineOutcome, &o.dl, o, d)
}

func (o *outcomeCtx) end(err error) {
	o.mu.Lock()
	if o.err == nil {
		o.err = err
		if o.done != nil {
			close(o.done)
		}
	}
	o.mu.Unlock()
}

// auditError is the error of a call whose consent record was not written.
// Its text names the stage, never the cause's text unscrubbed.
type auditError struct {
	text string
	err  error // *safeError of the cause
}

func (e *auditError) Error() string { return e.text }
func (e *auditError) Unwrap() error { return e.err }

// Is matches ErrAuditFailed and ErrNotSent.
func (e *auditError) Is(target error) bool { return target == ErrAuditFailed || target == ErrNotSent }

// GoString keeps %#v to the scrubbed text.
func (e *auditError) GoString() string { return "deepvue.auditError{" + strconv.Quote(e.text) + "}" }

// newCallID returns 16 random bytes in hex.
func newCallID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	var d [32]byte
	hex.Encode(d[:], b[:])
	return string(d[:]), nil // one allocation (EncodeToString made two before Go 1.24)
}

// auditConsent is the story's audit step: it writes the consent record of
// cl, after its input was checked and before anything is sent.
func (c *Client) auditConsent(ctx context.Context, cl *call) error {
	if c.audit == nil {
		return nil
	}
	purpose, ref := cl.in.auditFields()
	fail := func(err error) error {
		cause := newSafeError(err, &cl.sec)
		return &auditError{text: "deepvue: " + cl.op + ": the consent record was not written, nothing was sent: " + cause.Error(), err: cause}
	}
	id, err := newCallID()
	if err != nil {
		return fail(err)
	}
	masked := ""
	if cl.op == opGenerate {
		masked = uid.Mask(cl.sec.Number)
	}
	rec := AuditRecord{
		CallID:       id,
		Stage:        AuditConsent,
		Time:         time.Now(),
		Operation:    cl.op,
		Purpose:      purposeForRecord(purpose, &cl.sec),
		Consent:      ConsentYes,
		MaskedNumber: masked,
		ReferenceID:  auditID(ref, &cl.sec),
		Tenant:       c.tenant,
	}
	if cl.evidence != nil {
		rec.Evidence = cl.evidence.forRecord(&cl.sec)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	wctx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	if err := callAudit(c.audit, wctx, rec); err != nil {
		return fail(err)
	}
	// Stored. A context that ended meanwhile stops the call before it sends
	// anything (ErrNotSent), and the outcome record says so.
	cl.audit = &auditCall{rec: rec}
	return nil
}

// auditOutcome writes the outcome record of a call that wrote its consent
// record. txn is the transaction id of a success.
func (c *Client) auditOutcome(ctx context.Context, cl *call, txn string, err error) {
	a := cl.audit
	if a == nil {
		return
	}
	rec := a.rec
	rec.Stage = AuditOutcome
	rec.Time = time.Now()
	rec.Outcome = Outcome(err)
	rec.Attempts = cl.attempts
	if cl.op == opGenerate {
		rec.OTPState = OTPStateOf(err)
		rec.ReferenceID = auditID(a.ref, &cl.sec)
	}
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae != nil {
			txn = ae.TransactionID
			if cl.op == opGenerate {
				rec.ReferenceID = auditID(ae.ReferenceID, &cl.sec)
			}
		}
	}
	rec.TransactionID = auditID(txn, &cl.sec)
	if a.kyc != nil && holdsKYC(rec.TransactionID, a.kyc) {
		rec.TransactionID = ""
	}
	o := &a.octx
	o.begin(c.deadlines, ctx, auditOutcomeTimeout)
	werr := callAudit(c.audit, o, rec)
	c.deadlines.remove(deadlineOutcome, &o.dl)
	o.end(context.Canceled)
	if werr == nil {
		return
	}
	a.failed = true
	if c.logger != nil {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "deepvue: the outcome audit record was not written",
			slog.String("operation", cl.op), slog.String("call_id", rec.CallID), slog.String("outcome", rec.Outcome),
			slog.String("error", newSafeError(werr, &cl.sec).Error()))
	}
}

// auditID is an id (a reference or transaction id) as an audit record may
// hold it: "" when it holds a value the call knows (the number, the OTP,
// the mobile number, the secret) or is not an id at all. An id in Deepvue's
// own form, 32 hex digits (or a UUID), is kept exact whatever its digits: a
// random one holds a 12-digit run that passes the Aadhaar checks about once
// in 170. Any other id is kept only if it is at most 64 ASCII letters,
// digits and "-._:", with no valid Aadhaar number among its digits
// (separators removed).
func auditID(s string, sec *secrets) string {
	if sec.ScrubID(s) != s {
		return ""
	}
	if isHex(s, 32) || redact.IsUUID(s) {
		return s
	}
	if len(s) > 64 {
		return ""
	}
	var digits []byte
	flush := func() bool {
		for i := 0; i+12 <= len(digits); i++ {
			if _, r := uid.Check(string(digits[i : i+12])); r == uid.OK {
				return false
			}
		}
		digits = digits[:0]
		return true
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= '0' && ch <= '9':
			digits = append(digits, ch)
		case ch == '-' || ch == '.' || ch == '_' || ch == ':':
		case ('a' <= ch && ch <= 'z') || ('A' <= ch && ch <= 'Z'):
			if !flush() {
				return ""
			}
		default:
			return ""
		}
	}
	if !flush() {
		return ""
	}
	return s
}

// holdsKYC reports whether id is part of one of d's personal fields, or
// holds one (of 4 or more bytes): a server that echoed the customer's data
// into its transaction id.
func holdsKYC(id string, d *AadhaarData) bool {
	if id == "" {
		return false
	}
	a := d.Address
	lid := strings.ToLower(id)
	for _, f := range []string{d.Name, d.Gender, d.DateOfBirth, d.MaskedNumber, d.EmailHash, d.PhoneHash,
		a.CareOf, a.House, a.Street, a.Landmark, a.Locality, a.VTC, a.PostOffice, a.SubDistrict, a.District,
		a.State, a.Country, a.Pin} {
		if f == "" {
			continue
		}
		lf := strings.ToLower(f)
		if strings.Contains(lf, lid) || (len(lf) >= 4 && strings.Contains(lid, lf)) {
			return true
		}
		for _, w := range strings.Fields(lf) { // each word of a name or an address
			if len(w) >= 4 && strings.Contains(lid, w) {
				return true
			}
		}
	}
	return false
}
