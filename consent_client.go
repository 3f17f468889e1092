package deepvue

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// RequireConsentEvidence makes every call carry complete consent evidence
// (WithConsentEvidence): a call without it, or whose evidence has no
// NoticeSHA256 or no DecidedAt, or a DecidedAt in the future, fails with a
// *ValidationError (Field FieldConsentEvidence, matching ErrNotSent) and
// nothing is sent and no audit record is written.
func RequireConsentEvidence() Option {
	return func(s *settings) error {
		s.consent.requireEvidence = true
		return nil
	}
}

// WithPurposes declares the purposes the Client's calls may give: a call
// with any other purpose fails with a *ValidationError (Field FieldPurpose,
// matching ErrNotSent) and nothing is sent, so the audit trail holds
// declared purposes only. A purpose is a fixed text ("KYC for loan account
// opening"), never customer data: each must pass the purpose rules (not
// blank, at most 500 bytes of UTF-8 without control characters) and hold no
// number that could be an Aadhaar number or a mobile number, and no
// e-mail address; otherwise, or with no purpose at all, the option fails
// (Field FieldPurposes). Purposes are compared exactly.
func WithPurposes(purposes ...string) Option {
	return func(s *settings) error {
		if len(purposes) == 0 {
			return invalid(FieldPurposes, "needs at least one purpose")
		}
		set := make(map[string]struct{}, len(purposes))
		for i, p := range purposes {
			if err := checkPurpose(p); err != nil {
				return invalid(FieldPurposes, "purpose "+strconv.Itoa(i+1)+": "+err.(*ValidationError).Reason)
			}
			if why := personalNumber(p, true); why != "" || (*secrets)(nil).ScrubText(p) != p {
				return invalid(FieldPurposes, "purpose "+strconv.Itoa(i+1)+" holds a number that could identify a customer: a purpose is a fixed text, never customer data")
			}
			if containsEmail(p) {
				return invalid(FieldPurposes, "purpose "+strconv.Itoa(i+1)+" holds an e-mail address: a purpose is a fixed text, never customer data")
			}
			set[p] = struct{}{}
		}
		s.consent.purposes = set
		return nil
	}
}

// ConsentDecision is a consent decision recorded apart from a call: a
// refusal, or the withdrawal of an earlier consent (DecisionRecord).
type ConsentDecision string

// Consent decisions.
const (
	// ConsentRefused: the customer was shown the notice and refused (no
	// call is made: GenerateOTP refuses ConsentNo and sends nothing).
	ConsentRefused ConsentDecision = "refused"
	// ConsentWithdrawn: the customer withdrew an earlier consent (DPDP Act
	// s.6(4): as easy as giving it).
	ConsentWithdrawn ConsentDecision = "withdrawn"
)

// DecisionRecord returns the audit record of a refusal or a withdrawal, to
// be stored in the same trail as the calls' records (with the Client's
// audit function, or deepvueaudit's (*Log).RecordDecision): Stage
// AuditDecision, a new CallID, Operation "consent", Consent ConsentNo,
// Outcome the decision ("refused" or "withdrawn"), Time now, the purpose
// the decision was about and the evidence of it. The purpose is checked as
// a call's is (and kept as a call's record keeps it: AuditRecord.Purpose), and the evidence as
// RequireConsentEvidence checks it (NoticeSHA256 and DecidedAt required);
// a *ValidationError otherwise.
func DecisionRecord(d ConsentDecision, purpose string, e ConsentEvidence) (AuditRecord, error) {
	if d != ConsentRefused && d != ConsentWithdrawn {
		return AuditRecord{}, invalid(FieldConsent, "must be ConsentRefused or ConsentWithdrawn")
	}
	if err := checkPurpose(purpose); err != nil {
		return AuditRecord{}, err
	}
	now := time.Now()
	if err := checkEvidence(&e, true, now, nil); err != nil {
		return AuditRecord{}, err
	}
	id, err := newCallID()
	if err != nil {
		return AuditRecord{}, errors.New("deepvue: DecisionRecord: no random call id: " + err.Error())
	}
	var none secrets
	return AuditRecord{
		CallID:    id,
		Stage:     AuditDecision,
		Time:      now,
		Operation: "consent",
		Purpose:   purposeForRecord(purpose, &none),
		Consent:   ConsentNo,
		Outcome:   string(d),
		Evidence:  e.forRecord(&none),
	}, nil
}

// RecordDecision writes DecisionRecord(d, purpose, evidence) through the
// Client's audit log (WithAuditLog), the evidence taken from ctx
// (WithConsentEvidence) and the purpose held to WithPurposes. It fails with
// a *ValidationError when the Client has no audit log, the purpose is not
// declared or the evidence is missing or incomplete, and with an error
// matching ErrAuditFailed when the record was not written. Nothing is sent
// to Deepvue.
func (c *Client) RecordDecision(ctx context.Context, d ConsentDecision, purpose string) error {
	if !c.usable() {
		return errNilClient
	}
	if ctx == nil {
		return errNilContext
	}
	if c.audit == nil {
		return invalid(FieldAuditLog, "RecordDecision needs WithAuditLog")
	}
	if c.consent.purposes != nil {
		if _, ok := c.consent.purposes[purpose]; !ok {
			return invalid(FieldPurpose, "is not one of the purposes declared with WithPurposes (a purpose is a fixed text, never customer data)")
		}
	}
	e, ok := evidenceFrom(ctx)
	if !ok {
		return invalid(FieldConsentEvidence, "is missing: attach it with WithConsentEvidence")
	}
	rec, err := DecisionRecord(d, purpose, e)
	if err != nil {
		return err
	}
	rec.Tenant = c.tenant // the tenant's trail, as the Client's calls
	if err := c.audit(ctx, rec); err != nil {
		cause := newSafeError(err, nil)
		return &auditError{text: "deepvue: RecordDecision: the decision record was not written: " + cause.Error(), err: cause}
	}
	return nil
}
