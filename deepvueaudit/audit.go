// Package deepvueaudit keeps the deepvue SDK's audit trail (see
// deepvue.WithAuditLog) in PostgreSQL, through database/sql and any
// PostgreSQL driver (the pgx driver, github.com/jackc/pgx/v5/stdlib, is the
// one it is tested with):
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
//	trail, err := deepvueaudit.New(ctx, db)
//	client, err := deepvue.NewClient(id, secret, deepvue.WithAuditLog(trail.Record))
//
// # What the table holds, and why
//
// One row per deepvue.AuditRecord: for each call that passed the SDK's input
// checks, a "consent" row written before anything is sent (the call does not
// proceed without it, as Deepvue's generate-otp page requires: "You must
// store customer consent documentation before proceeding with
// verification") and an "outcome" row with the same call_id when the call
// ends. A row holds the call id, the stage, the time, the operation, the
// purpose, the consent answer, the UIDAI mask of the Aadhaar number ("XXXX
// XXXX 2346"), Deepvue's reference and transaction ids, the outcome, the OTP
// state and the number of attempts: what the Aadhaar (Authentication and
// Offline Verification) Regulations 2021 and UIDAI's guidelines ask an
// authentication log to keep. It never holds the Aadhaar number, the OTP,
// the mobile number or any eKYC data (name, address, photo...), which those
// rules forbid keeping in logs: the SDK never puts them in a record.
//
// # Tamper evidence
//
// Rows are numbered (seq) and chained: each row's hash is SHA-256 over its
// content and the previous row's hash, and a one-row head table holds the
// last sequence number and hash. Verify walks the chain and names the first
// row that was changed, deleted or reordered (a *ChainError). Appends are
// serialized by a row lock on the head, inside the append's transaction, so
// any number of writers (replicas of a service) can share one table: no
// record is lost and the chain stays whole.
//
// A chain without a secret proves that rows were not changed by mistake or
// by someone who did not recompute every later hash; keep the database's
// write access narrow, and copy Verify's result (or the head's hash)
// somewhere else from time to time to detect a rewrite of the whole chain.
//
// # Retention
//
// Aadhaar (Authentication and Offline Verification) Regulations 2021,
// regulations 18 and 20, and UIDAI's guidelines for requesting entities
// (January 2023): authentication logs are kept for two years, then archived
// for five more years, then deleted. The Digital Personal Data Protection
// Rules 2025 (Rule 6) ask for logs kept at least one year, with access
// control and safeguards. Purge deletes the rows older than a time you
// choose (archive them first: seven years after the call, delete) and
// leaves the rest verifiable: the hash of the last purged row becomes the
// chain's anchor.
package deepvueaudit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/deepvue-go/deepvue"
)

// DefaultTable is the table New uses without WithTable. A second table,
// its name with "_head" added, holds the chain's head and anchor.
const DefaultTable = "deepvue_audit"

// ErrChainBroken is matched by the *ChainError Verify and Purge return when
// the trail was changed.
var ErrChainBroken = errors.New("deepvueaudit: the audit trail does not verify")

// ChainError names the first row of the trail that does not verify.
type ChainError struct {
	// Seq is the row's sequence number (for a deleted row, the number that
	// is missing).
	Seq int64
	// CallID is the row's call id ("" for a deleted row).
	CallID string
	// Reason says what is wrong: "changed", "deleted", "out of order",
	// "rows after the head" or "rows missing at the end".
	Reason string
}

// Error returns e.g. "deepvueaudit: the audit trail does not verify: row 17 (call 3f...) changed".
func (e *ChainError) Error() string {
	s := "deepvueaudit: the audit trail does not verify: row " + strconv.FormatInt(e.Seq, 10)
	if e.CallID != "" {
		s += " (call " + e.CallID + ")"
	}
	return s + " " + e.Reason
}

// Unwrap returns ErrChainBroken.
func (e *ChainError) Unwrap() error { return ErrChainBroken }

// Option configures a Log.
type Option func(*config) error

type config struct {
	table string
}

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,57}$`)

// WithTable sets the table's name (default DefaultTable): a lower-case SQL
// identifier of at most 58 characters (letters, digits, underscores), so
// that the "_head" table's name fits PostgreSQL's 63.
func WithTable(name string) Option {
	return func(c *config) error {
		if !identifier.MatchString(name) {
			return fmt.Errorf("deepvueaudit: table name %q: want a lower-case identifier of at most 58 characters ([a-z_][a-z0-9_]*)", name)
		}
		c.table = name
		return nil
	}
}

// Log is an audit trail in one PostgreSQL table. It is safe for concurrent
// use, and several Logs (in several processes) may share one table.
type Log struct {
	db *sql.DB

	table, head string // quoted
	insert      string
	lockHead    string
	updateHead  string
}

// New returns a Log on db, creating its tables if they are missing.
func New(ctx context.Context, db *sql.DB, opts ...Option) (*Log, error) {
	if db == nil {
		return nil, errors.New("deepvueaudit: nil *sql.DB")
	}
	cfg := config{table: DefaultTable}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	l := &Log{db: db, table: `"` + cfg.table + `"`, head: `"` + cfg.table + `_head"`}
	l.insert = `INSERT INTO ` + l.table + ` (seq, call_id, stage, recorded_at, operation, purpose, consent, masked_number,
		reference_id, transaction_id, outcome, otp_state, attempts, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
	l.lockHead = `SELECT seq, hash FROM ` + l.head + ` WHERE id FOR UPDATE`
	l.updateHead = `UPDATE ` + l.head + ` SET seq = $1, hash = $2 WHERE id`
	if err := l.create(ctx, cfg.table); err != nil {
		return nil, err
	}
	return l, nil
}

// create makes the tables, serialized by an advisory lock: concurrent
// CREATE TABLE IF NOT EXISTS can fail in PostgreSQL.
func (l *Log) create(ctx context.Context, name string) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("deepvueaudit: creating the tables: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	stmts := []string{
		`SELECT pg_advisory_xact_lock(hashtext('deepvueaudit:' || $1))`,
		`CREATE TABLE IF NOT EXISTS ` + l.table + ` (
			seq            bigint PRIMARY KEY,
			call_id        text NOT NULL,
			stage          text NOT NULL,
			recorded_at    timestamptz NOT NULL,
			operation      text NOT NULL,
			purpose        text NOT NULL,
			consent        text NOT NULL,
			masked_number  text NOT NULL,
			reference_id   text NOT NULL,
			transaction_id text NOT NULL,
			outcome        text NOT NULL,
			otp_state      text NOT NULL,
			attempts       integer NOT NULL,
			prev_hash      bytea NOT NULL,
			hash           bytea NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS "` + name + `_call_id" ON ` + l.table + ` (call_id)`,
		`CREATE INDEX IF NOT EXISTS "` + name + `_recorded_at" ON ` + l.table + ` (recorded_at)`,
		`CREATE TABLE IF NOT EXISTS ` + l.head + ` (
			id          boolean PRIMARY KEY DEFAULT true CHECK (id),
			seq         bigint NOT NULL,
			hash        bytea NOT NULL,
			anchor_seq  bigint NOT NULL,
			anchor_hash bytea NOT NULL
		)`,
		`INSERT INTO ` + l.head + ` (id, seq, hash, anchor_seq, anchor_hash) VALUES (true, 0, $1, 0, $1) ON CONFLICT (id) DO NOTHING`,
	}
	args := [][]any{{name}, nil, nil, nil, nil, {genesis[:]}}
	for i, s := range stmts {
		if _, err := tx.ExecContext(ctx, s, args[i]...); err != nil {
			return fmt.Errorf("deepvueaudit: creating the tables: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("deepvueaudit: creating the tables: %w", err)
	}
	return nil
}

// genesis is the previous hash of the first row.
var genesis [sha256.Size]byte

// row is one row of the trail.
type row struct {
	seq                                                         int64
	callID, stage                                               string
	at                                                          time.Time
	operation, purpose, consent, masked, ref, txn, outcome, otp string
	attempts                                                    int64
	prev, hash                                                  []byte
}

// sum is the row's hash: SHA-256 over its fields, each length-prefixed,
// and the previous row's hash.
func (r *row) sum() []byte {
	h := sha256.New()
	var b [8]byte
	num := func(h hash.Hash, n int64) {
		binary.BigEndian.PutUint64(b[:], uint64(n))
		h.Write(b[:])
	}
	str := func(h hash.Hash, s string) {
		num(h, int64(len(s)))
		h.Write([]byte(s))
	}
	h.Write([]byte("deepvueaudit/v1\x00"))
	num(h, r.seq)
	str(h, r.callID)
	str(h, r.stage)
	num(h, r.at.UnixMicro())
	for _, s := range []string{r.operation, r.purpose, r.consent, r.masked, r.ref, r.txn, r.outcome, r.otp} {
		str(h, s)
	}
	num(h, r.attempts)
	str(h, string(r.prev))
	return h.Sum(nil)
}

var (
	callIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)
	maskPattern   = regexp.MustCompile(`^(XXXX XXXX [0-9X]{4})?$`)
)

// Record appends r to the trail; it is a deepvue.AuditFunc. It refuses a
// record the SDK would not make (a call id that is not 32 hex digits, an
// unknown stage, a masked number that is not a mask), so a hand-made record
// cannot put a full Aadhaar number in the masked_number column.
func (l *Log) Record(ctx context.Context, r deepvue.AuditRecord) error {
	if !callIDPattern.MatchString(r.CallID) {
		return errors.New("deepvueaudit: record refused: CallID is not 32 hex digits")
	}
	if r.Stage != deepvue.AuditConsent && r.Stage != deepvue.AuditOutcome {
		return errors.New("deepvueaudit: record refused: unknown Stage")
	}
	if !maskPattern.MatchString(r.MaskedNumber) {
		return errors.New("deepvueaudit: record refused: MaskedNumber is not a UIDAI mask")
	}
	at := r.Time
	if at.IsZero() {
		at = time.Now()
	}
	w := row{
		callID: r.CallID, stage: string(r.Stage), at: at.UTC().Truncate(time.Microsecond),
		operation: r.Operation, purpose: r.Purpose, consent: string(r.Consent), masked: r.MaskedNumber,
		ref: r.ReferenceID, txn: r.TransactionID, outcome: r.Outcome, attempts: int64(r.Attempts),
	}
	if r.Stage == deepvue.AuditOutcome && r.Operation == "generate-otp" {
		w.otp = r.OTPState.String()
	}

	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("deepvueaudit: recording: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	var last int64
	if err := tx.QueryRowContext(ctx, l.lockHead).Scan(&last, &w.prev); err != nil {
		return fmt.Errorf("deepvueaudit: recording: reading the head: %w", err)
	}
	w.seq = last + 1
	w.hash = w.sum()
	if _, err := tx.ExecContext(ctx, l.insert, w.seq, w.callID, w.stage, w.at, w.operation, w.purpose, w.consent,
		w.masked, w.ref, w.txn, w.outcome, w.otp, w.attempts, w.prev, w.hash); err != nil {
		return fmt.Errorf("deepvueaudit: recording: %w", err)
	}
	if _, err := tx.ExecContext(ctx, l.updateHead, w.seq, w.hash); err != nil {
		return fmt.Errorf("deepvueaudit: recording: moving the head: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("deepvueaudit: recording: %w", err)
	}
	return nil
}

// Verify walks the trail from its anchor (the last purged row, or the
// start) to its head, in one consistent snapshot, and returns a *ChainError
// (matching ErrChainBroken) naming the first row that was changed, deleted
// or reordered; nil if the whole trail verifies.
func (l *Log) Verify(ctx context.Context) error {
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("deepvueaudit: verifying: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	_, err = l.walk(ctx, tx, -1)
	return err
}

// walk verifies the chain from the anchor up to the row upTo (-1: to the
// head) and returns the hash of the last row it verified.
func (l *Log) walk(ctx context.Context, tx *sql.Tx, upTo int64) ([]byte, error) {
	var headSeq, anchorSeq int64
	var headHash, anchorHash []byte
	if err := tx.QueryRowContext(ctx, `SELECT seq, hash, anchor_seq, anchor_hash FROM `+l.head+` WHERE id`).
		Scan(&headSeq, &headHash, &anchorSeq, &anchorHash); err != nil {
		return nil, fmt.Errorf("deepvueaudit: verifying: reading the head: %w", err)
	}
	q := `SELECT seq, call_id, stage, recorded_at, operation, purpose, consent, masked_number, reference_id,
		transaction_id, outcome, otp_state, attempts, prev_hash, hash FROM ` + l.table + ` WHERE seq > $1`
	args := []any{anchorSeq}
	if upTo >= 0 {
		q += ` AND seq <= $2`
		args = append(args, upTo)
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: verifying: %w", err)
	}
	defer rows.Close()
	want, prev := anchorSeq+1, anchorHash
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.callID, &r.stage, &r.at, &r.operation, &r.purpose, &r.consent, &r.masked,
			&r.ref, &r.txn, &r.outcome, &r.otp, &r.attempts, &r.prev, &r.hash); err != nil {
			return nil, fmt.Errorf("deepvueaudit: verifying: %w", err)
		}
		switch {
		case r.seq > headSeq:
			return nil, &ChainError{Seq: r.seq, CallID: r.callID, Reason: "rows after the head"}
		case r.seq != want:
			return nil, &ChainError{Seq: want, Reason: "deleted"}
		case string(r.prev) != string(prev):
			// The row does not follow its predecessor: moved here, or the
			// predecessor's hash was rewritten.
			return nil, &ChainError{Seq: r.seq, CallID: r.callID, Reason: "out of order"}
		case string(r.sum()) != string(r.hash):
			return nil, &ChainError{Seq: r.seq, CallID: r.callID, Reason: "changed"}
		}
		want, prev = r.seq+1, r.hash
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deepvueaudit: verifying: %w", err)
	}
	end := headSeq
	if upTo >= 0 {
		end = upTo
	}
	if want <= end {
		return nil, &ChainError{Seq: want, Reason: "deleted"}
	}
	if upTo < 0 && string(prev) != string(headHash) {
		return nil, &ChainError{Seq: headSeq, Reason: "rows missing at the end (the head's hash differs)"}
	}
	return prev, nil
}

// Purge deletes the rows recorded before before and returns how many it
// deleted. It deletes a prefix of the chain only: up to the first row
// recorded at or after before (rows from replicas whose clocks differ may
// wait for the next Purge). It first verifies the rows it deletes (a
// *ChainError, and nothing deleted, if they do not verify), then records the
// last deleted row's hash as the chain's anchor, so the rest still verifies.
// Appends wait while it runs (it holds the head's lock).
func (l *Log) Purge(ctx context.Context, before time.Time) (int64, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	var headSeq, anchorSeq int64
	if err := tx.QueryRowContext(ctx, `SELECT seq, anchor_seq FROM `+l.head+` WHERE id FOR UPDATE`).Scan(&headSeq, &anchorSeq); err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: reading the head: %w", err)
	}
	var firstKept sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT min(seq) FROM `+l.table+` WHERE seq > $1 AND recorded_at >= $2`,
		anchorSeq, before.UTC()).Scan(&firstKept); err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	upTo := headSeq
	if firstKept.Valid {
		upTo = firstKept.Int64 - 1
	}
	if upTo <= anchorSeq {
		return 0, nil
	}
	anchor, err := l.walk(ctx, tx, upTo)
	if err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM `+l.table+` WHERE seq <= $1`, upTo)
	if err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE `+l.head+` SET anchor_seq = $1, anchor_hash = $2 WHERE id`, upTo, anchor); err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: moving the anchor: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("deepvueaudit: purging: %w", err)
	}
	return n, nil
}

// Table returns the table's name, unquoted.
func (l *Log) Table() string { return strings.Trim(l.table, `"`) }
