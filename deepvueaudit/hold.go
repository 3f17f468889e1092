package deepvueaudit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Legal holds: a call held (a court order, a pending dispute: the Aadhaar
// Regulations 2021 keep such logs beyond their period) keeps its rows in
// the live trail whatever the retention, until it is released. A hold and
// a release are rows of the trail (stages "hold" and "release", the call's
// id, the reason in Detail), appended like any record and signed by the
// next checkpoint, so the holds' history is evidence too; Purge never
// deletes them.

// The stages of the trail's own rows (a call's are consent, outcome and
// decision).
const (
	stageHold    = "hold"
	stageRelease = "release"
	stageArchive = "archive"
)

// callStages are the stages of a call's rows, in SQL.
const callStages = `('consent', 'outcome', 'decision')`

// ErrNotHeld is returned by Release for a call that is not held.
var ErrNotHeld = errors.New("deepvueaudit: the call is not held")

// LegalHold is a call held now.
type LegalHold struct {
	CallID string
	Reason string    // the latest Hold's
	Since  time.Time // the latest Hold's time
}

// Hold puts a legal hold on call callID of the tenant's trail: Purge keeps
// its rows, whatever the retention, until Release. reason says why (a case
// or ticket reference: 1 to 1,000 bytes of UTF-8, never customer data: a
// number of 10 or more digits in a row, an Aadhaar or mobile number, or an
// e-mail address is refused). The hold is a row of the trail, durable when
// Hold returns. It waits for a Purge of the tenant's batch in progress, so
// a Purge never deletes a call held before its batch began. A call with no
// row in the live trail (never recorded, or already purged) gives
// ErrNoSuchCall; a call already held gets another hold row (the latest
// reason is the one Holds shows).
func (l *Log) Hold(ctx context.Context, callID, reason string) error {
	return l.holdOrRelease(ctx, stageHold, callID, reason)
}

// Release ends the legal hold of call callID (reason as for Hold): its rows
// are purged by the next Purge whose retention they are past. The release
// is a row of the trail. A call not held gives ErrNotHeld.
func (l *Log) Release(ctx context.Context, callID, reason string) error {
	return l.holdOrRelease(ctx, stageRelease, callID, reason)
}

// checkReason returns why reason cannot be a hold's reason, or nil.
func checkReason(reason string) error {
	if reason == "" || len(reason) > maxText || !utf8.ValidString(reason) || strings.IndexByte(reason, 0) >= 0 {
		return errors.New("deepvueaudit: a hold's reason is 1 to 1,000 bytes of UTF-8")
	}
	if strings.Contains(reason, "@") {
		return errors.New("deepvueaudit: a hold's reason must not hold an e-mail address (give a case or ticket reference)")
	}
	run := 0
	for _, c := range reason {
		switch {
		case c >= '0' && c <= '9':
			run++
			if run >= 10 {
				return errors.New("deepvueaudit: a hold's reason must not hold 10 or more digits in a row (an Aadhaar or mobile number?): give a case or ticket reference")
			}
		case c == ' ' || c == '-' || c == '.' || c == '\u00a0':
		default:
			run = 0
		}
	}
	return nil
}

// purgeLock is the advisory lock a Purge batch, a Hold and a Release of one
// tenant take: a hold waits for the batch in progress, and the next batch
// sees it.
func (l *Log) purgeLock(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "deepvueaudit purge "+l.name+"/"+l.tenant)
	return err
}

func (l *Log) holdOrRelease(ctx context.Context, stage, callID, reason string) error {
	what := map[string]string{stageHold: "Hold", stageRelease: "Release"}[stage]
	if !callIDPattern.MatchString(callID) {
		return fmt.Errorf("deepvueaudit: %s: the call id is not 32 hex digits", what)
	}
	if err := checkReason(reason); err != nil {
		return err
	}
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("deepvueaudit: %s: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if err := l.purgeLock(ctx, tx); err != nil {
		return fmt.Errorf("deepvueaudit: %s: %w", what, err)
	}
	rows, err := l.callRows(ctx, tx, callID)
	if err != nil {
		return err
	}
	calls, held := 0, false
	for _, r := range rows {
		switch r.Stage {
		case stageHold:
			held = true
		case stageRelease:
			held = false
		case stageArchive:
		default:
			calls++
		}
	}
	if calls == 0 {
		return fmt.Errorf("deepvueaudit: %s: %w (in the live trail of this tenant)", what, ErrNoSuchCall)
	}
	if stage == stageRelease && !held {
		return ErrNotHeld
	}
	heads, now, err := l.lockHeads(ctx, tx, []string{l.tenant})
	if err != nil {
		return fmt.Errorf("deepvueaudit: %s: %w", what, err)
	}
	row := &Row{Tenant: l.tenant, CallID: callID, Stage: stage, RecordedAt: time.Now().UTC().Truncate(time.Microsecond),
		Operation: "legal-hold", Detail: reason}
	after, err := l.insertRows(ctx, tx, []*Row{row}, heads, now)
	if err != nil {
		return fmt.Errorf("deepvueaudit: %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("deepvueaudit: %s: %w", what, err)
	}
	if l.ck != nil {
		l.ck.appended(after[l.tenant].size, after[l.tenant].ckSize)
	}
	return nil
}

// Holds returns the calls of the tenant's trail held now, by call id.
func (l *Log) Holds(ctx context.Context) ([]LegalHold, error) {
	return l.holds(ctx, l.db)
}

func (l *Log) holds(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]LegalHold, error) {
	rs, err := q.QueryContext(ctx, `SELECT call_id, detail, recorded_at FROM (
		SELECT DISTINCT ON (call_id) call_id, stage, detail, recorded_at FROM "`+l.name+`"
		WHERE tenant = $1 AND stage IN ('hold', 'release') ORDER BY call_id, seq DESC) s
		WHERE stage = 'hold' ORDER BY call_id`, l.tenant)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: reading the holds: %w", err)
	}
	defer rs.Close()
	var out []LegalHold
	for rs.Next() {
		var h LegalHold
		if err := rs.Scan(&h.CallID, &h.Reason, &h.Since); err != nil {
			return nil, fmt.Errorf("deepvueaudit: reading the holds: %w", err)
		}
		h.Since = h.Since.UTC()
		out = append(out, h)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("deepvueaudit: reading the holds: %w", err)
	}
	return out, nil
}
