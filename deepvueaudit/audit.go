// Package deepvueaudit keeps the deepvue SDK's audit trail (see
// deepvue.WithAuditLog) in PostgreSQL, through database/sql and any
// PostgreSQL driver (the pgx driver, github.com/jackc/pgx/v5/stdlib, is the
// one it is tested with), as evidence an insider cannot rewrite unseen and an
// auditor can check with a public key:
//
//	// once, as the tables' owner: Schema(table) and Grants(table, role)
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL")) // as the application's role
//	trail, err := deepvueaudit.Open(ctx, db, deepvueaudit.WithCheckpoints(deepvueaudit.DirStore("/mnt/worm"), signer, verifier))
//	defer trail.Close(ctx)
//	client, err := deepvue.NewClient(id, secret, deepvue.WithAuditLog(trail.Record))
//
// # What the table holds, and why
//
// One row per deepvue.AuditRecord: for each call that passed the SDK's input
// checks, a "consent" row written before anything is sent (the call does not
// proceed without it, as Deepvue's generate-otp page requires: "You must
// store customer consent documentation before proceeding with
// verification") and an "outcome" row with the same call_id when the call
// ends; and a "decision" row for each refusal or withdrawal of consent
// (RecordDecision). A row holds the call id, the stage, the SDK's time and
// the database's own time, the operation, the purpose, the consent answer
// and its evidence (deepvue.ConsentEvidence: the notice shown, its SHA-256,
// language and channel, the alternatives offered, when the customer decided,
// who collected it, the customer's pseudonymous reference), the UIDAI mask
// of the Aadhaar number ("XXXX XXXX 2346"), Deepvue's reference and
// transaction ids, the outcome, the OTP state and the number of attempts:
// what the Aadhaar (Authentication and Offline Verification) Regulations
// 2021 and UIDAI's guidelines ask an authentication log to keep, and what
// the DPDP Act s.6(10) asks a lender to prove. It never holds the Aadhaar
// number, the OTP, the mobile number or any eKYC data.
//
// # Tamper evidence
//
// Each row is a leaf of a Merkle tree kept as the Go checksum database
// keeps its log (golang.org/x/mod/sumdb/tlog): its record hash and the
// stored hashes it completes are kept beside it, and the head holds the
// tree's size, hash and right edge. With WithCheckpoints, a checkpoint (the
// tree's size and hash, the time and the purge anchor) is signed with an
// Ed25519 key the database never holds, in the signed-note format
// (golang.org/x/mod/sumdb/note), and written to a CheckpointStore outside
// the database at least every 60 seconds or 1,000 rows. Verify checks the
// rows against the latest checkpoint and its consistency with every earlier
// one, and names each row an insider changed, deleted, inserted, moved or
// back-dated, whether or not they recomputed the hashes: only the rows
// after the latest checkpoint can change unseen, and only whoever holds the
// signing key can sign a rewritten trail. Proof gives one call's rows with
// their inclusion proofs and the signed checkpoint, which VerifyProof checks
// offline with the public key alone.
//
// # Tenants
//
// One table holds the trails of many tenants (deepvue.WithTenant labels a
// Client's records): each has its own tree, head, checkpoints and anchor,
// and ForTenant gives the Log whose Verify, Proof, Purge and Hold work on
// that tenant's trail only.
//
// # Retention
//
// Purge takes a Retention (how long rows stay live, at least a year unless
// overridden), archives each batch to an ArchiveStore as a segment with a
// manifest signed like the checkpoints and appended to the trail, then
// deletes it; it never deletes a held call's rows (Hold, Release).
// VerifySegment and VerifyArchive check the archive, years later, against
// the live trail.
//
// # Least privilege and durability
//
// Open runs no DDL: Schema and Grants ship the SQL, so the application's
// role can insert and read rows and move the head, and PostgreSQL refuses
// it any UPDATE, DELETE or TRUNCATE of rows and any move of the anchor.
// Each append runs READ COMMITTED with synchronous_commit on, whatever the
// server's defaults, and is retried on a serialization failure: a record is
// acknowledged only once it is durable. Records made at the same time are
// appended in one transaction and one flush (group commit).
package deepvueaudit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/deepvue-go/deepvue"
	"golang.org/x/mod/sumdb/note"
)

// DefaultTable is the table without WithTable. A second table, its name with
// "_head" added, holds each tenant's head and purge anchor; a third, with
// "_tree", the hashes a Purge keeps for the proofs of the rows it keeps.
const DefaultTable = "deepvue_audit"

// Defaults of the options.
const (
	// DefaultCheckpointRows and DefaultCheckpointInterval: a checkpoint is
	// written once this many rows are unsigned, or this long after the first
	// unsigned row, whichever comes first (WithCheckpointEvery).
	DefaultCheckpointRows     = 1000
	DefaultCheckpointInterval = 60 * time.Second
	// DefaultMaxSkew is how far Verify lets times run backwards, and a
	// record's time differ from the database's (WithMaxSkew).
	DefaultMaxSkew = 5 * time.Minute
)

// ErrNoCheckpoints is returned by Checkpoint and Proof when the Log was
// opened without WithCheckpoints.
var ErrNoCheckpoints = errors.New("deepvueaudit: no checkpoints: open the Log WithCheckpoints")

// ErrNoSigner is returned by Checkpoint, and by Proof and Purge when they
// need a new checkpoint, when the Log was opened WithCheckpoints with a nil
// signer (to verify only).
var ErrNoSigner = errors.New("deepvueaudit: no signer: this Log only verifies checkpoints")

// Option configures a Log.
type Option func(*config) error

type config struct {
	table               string
	store               CheckpointStore
	signer              note.Signer
	verifier            note.Verifier
	ckRows              int64
	ckInterval, maxSkew time.Duration
	logger              *slog.Logger
}

// WithTable sets the table's name (default DefaultTable): a lower-case SQL
// identifier of at most 58 characters (letters, digits, underscores), so
// that the "_head" table's name fits PostgreSQL's 63.
func WithTable(name string) Option {
	return func(c *config) error {
		if err := checkTable(name); err != nil {
			return err
		}
		c.table = name
		return nil
	}
}

// WithCheckpoints makes the Log sign checkpoints of its tree with signer (an
// Ed25519 key of the signed-note format: note.NewSigner; keep it out of the
// database, e.g. in a KMS or the application's secret store) and write them
// to store (outside the database, on storage nobody can overwrite: see
// DirStore). verifier is signer's public key (note.NewVerifier): the Log
// checks its own checkpoints with it, and Verify the stored ones. Open
// starts a goroutine that writes one at least every 60 seconds or 1,000
// rows (WithCheckpointEvery); Close stops it. With a nil signer the Log
// only reads the checkpoints (an audit job that holds the public key
// alone): Verify and Proof of signed rows work, Checkpoint and Purge fail
// with ErrNoSigner.
func WithCheckpoints(store CheckpointStore, signer note.Signer, verifier note.Verifier) Option {
	return func(c *config) error {
		if store == nil || verifier == nil {
			return errors.New("deepvueaudit: WithCheckpoints needs a store and a verifier")
		}
		if signer == nil { // verify only
			c.store, c.verifier = store, verifier
			return nil
		}
		if signer.Name() != verifier.Name() || signer.KeyHash() != verifier.KeyHash() {
			return errors.New("deepvueaudit: WithCheckpoints: the verifier is not the signer's public key")
		}
		msg := []byte("deepvueaudit key check\n")
		sig, err := signer.Sign(msg)
		if err != nil || !verifier.Verify(msg, sig) {
			return errors.New("deepvueaudit: WithCheckpoints: the verifier does not verify the signer's signature")
		}
		c.store, c.signer, c.verifier = store, signer, verifier
		return nil
	}
}

// WithCheckpointEvery sets when the background checkpoints are written:
// once rows rows are unsigned, or interval after the first unsigned row
// (defaults DefaultCheckpointRows and DefaultCheckpointInterval). Both must
// be positive; rows at most 1,000,000 and interval at most an hour.
func WithCheckpointEvery(rows int, interval time.Duration) Option {
	return func(c *config) error {
		if rows <= 0 || rows > 1000000 || interval <= 0 || interval > time.Hour {
			return errors.New("deepvueaudit: WithCheckpointEvery: want 1 to 1,000,000 rows and an interval up to an hour")
		}
		c.ckRows, c.ckInterval = int64(rows), interval
		return nil
	}
}

// WithMaxSkew sets how far apart clocks may be (default DefaultMaxSkew):
// Verify reports a row whose time runs backwards by more, or differs from
// the database's time by more, and Record refuses a record whose Time is
// further than this from the Log's clock. At least a second, at most a day.
func WithMaxSkew(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second || d > 24*time.Hour {
			return errors.New("deepvueaudit: WithMaxSkew: want a second to a day")
		}
		c.maxSkew = d
		return nil
	}
}

// WithLogger makes the Log report, at Warn, what its background checkpoints
// could not do (the library never logs otherwise). Checkpoint and Close
// return the same errors.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger = l
		return nil
	}
}

// Log is an audit trail in one PostgreSQL table: the trail of one tenant
// (the default tenant "" for the Log Open returns; ForTenant gives the
// others), appending the records of every tenant (Record routes each by its
// tenant). It is safe for concurrent use, and several Logs (in several
// processes) may share one table.
type Log struct {
	*shared
	tenant string
	origin string        // the checkpoints' origin line
	ck     *checkpointer // nil without WithCheckpoints

	vmu      sync.Mutex  // one Verify of this tenant at a time
	verified *Checkpoint // the latest checkpoint Verify found the trail consistent with
	walked   int64       // the rows the last Verify read (for the tests)
}

// shared is what the Logs of one Open (its tenants) share: the database,
// the table, the appender and the background checkpoints.
type shared struct {
	db      *sql.DB
	name    string // the table, unquoted
	cfg     config
	maxSkew time.Duration
	q       queries
	app     appender
	ckr     *ckRunner // nil without WithCheckpoints

	mu      sync.Mutex
	tenants map[string]*Log // by tenant, the default's included
	heads   map[string]bool // tenants known to have a head row
}

// queries are the Log's SQL, built once for its table.
type queries struct {
	lock, lock1, head, rows, rowsFrom, call, hashes, kept, insert, insert1, newHeads string
}

// columns are a row's columns, in the order scanRow reads them.
const columns = `tenant, seq, call_id, stage, recorded_at, db_time, operation, purpose, consent, masked_number,
	reference_id, transaction_id, outcome, otp_state, attempts, notice_id, notice_version, notice_sha256, language,
	channel, alternatives_offered, decided_at, operator, customer_ref, detail, hashes`

// columnTypes are their types, in the same order (for unnest).
var columnTypes = []string{"text", "bigint", "text", "text", "timestamptz", "timestamptz", "text", "text", "text", "text",
	"text", "text", "text", "text", "bigint", "text", "text", "text", "text",
	"text", "boolean", "timestamptz", "text", "text", "text", "bytea"}

const numColumns = 26

// Open returns a Log on db's table (DefaultTable, or WithTable's), for the
// default tenant (""); ForTenant gives another tenant's. It runs no DDL:
// the tables must exist (Schema) and the connection's role needs only the
// grants Grants lists. It checks that the tables are there and, with
// WithCheckpoints, starts the background checkpoints (stop them with
// Close).
func Open(ctx context.Context, db *sql.DB, opts ...Option) (*Log, error) {
	if db == nil {
		return nil, errors.New("deepvueaudit: nil *sql.DB")
	}
	cfg := config{table: DefaultTable, ckRows: DefaultCheckpointRows, ckInterval: DefaultCheckpointInterval, maxSkew: DefaultMaxSkew}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	s := &shared{db: db, name: cfg.table, cfg: cfg, maxSkew: cfg.maxSkew, tenants: map[string]*Log{}, heads: map[string]bool{}}
	s.app.s = s
	t, h := `"`+cfg.table+`"`, `"`+cfg.table+`_head"`
	s.q = queries{
		// The heads of a batch's tenants, locked in the order of their
		// names (replicas lock them in the same order: no deadlock).
		lock: `SELECT h.tenant, h.size, h.frontier, h.checkpoint_size, clock_timestamp(), set_config('synchronous_commit', 'on', true)
			FROM (SELECT tenant, size, frontier, checkpoint_size FROM ` + h + ` WHERE tenant = ANY($1) ORDER BY tenant FOR UPDATE) h`,
		// The same for one tenant (the common case: a plainer plan).
		lock1: `SELECT h.tenant, h.size, h.frontier, h.checkpoint_size, clock_timestamp(), set_config('synchronous_commit', 'on', true)
			FROM (SELECT tenant, size, frontier, checkpoint_size FROM ` + h + ` WHERE tenant = $1 FOR UPDATE) h`,
		newHeads: `INSERT INTO ` + h + ` (tenant) SELECT unnest($1::text[]) ON CONFLICT (tenant) DO NOTHING`,
		head:     `SELECT size, root, frontier, anchor, anchor_frontier FROM ` + h + ` WHERE tenant = $1`,
		rows:     `SELECT ` + columns + ` FROM ` + t + ` WHERE tenant = $1 ORDER BY seq`,
		rowsFrom: `SELECT ` + columns + ` FROM ` + t + ` WHERE tenant = $1 AND seq > $2 AND seq <= $3 ORDER BY seq`,
		call:     `SELECT ` + columns + ` FROM ` + t + ` WHERE tenant = $1 AND call_id = $2 ORDER BY seq`,
		hashes:   `SELECT seq, hashes FROM ` + t + ` WHERE tenant = $1 AND seq = ANY($2)`,
		kept:     `SELECT idx, hash FROM "` + cfg.table + `_tree" WHERE tenant = $1 AND idx = ANY($2)`,
		insert:   insertQuery(cfg.table),
		insert1:  insert1Query(cfg.table),
	}
	var size int64
	if err := db.QueryRowContext(ctx, `SELECT size FROM `+h+` WHERE tenant = $1`, "").Scan(&size); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("deepvueaudit: table %s has no head row: run the SQL of Schema(%q) as its owner", h, cfg.table)
		}
		return nil, fmt.Errorf("deepvueaudit: opening %s (create it with the SQL of Schema(%q), as its owner, "+
			"and grant the application's role Grants(%q, role); a table of deepvueaudit v0.3 or older has another layout): %w",
			t, cfg.table, cfg.table, err)
	}
	if cfg.store != nil {
		s.ckr = newCkRunner(cfg)
	}
	s.heads[""] = true
	return s.tenantLog(""), nil
}

// tenantLog returns the Log of tenant (a valid id), made once.
func (s *shared) tenantLog(tenant string) *Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.tenants[tenant]; l != nil {
		return l
	}
	l := &Log{shared: s, tenant: tenant, origin: originOf(s.name, tenant)}
	if s.ckr != nil {
		l.ck = newCheckpointer(l, s.ckr)
	}
	s.tenants[tenant] = l
	return l
}

// New returns a Log on db, creating its tables if they are missing (it runs
// Schema's SQL, so db's role must be allowed to create them and then owns
// them: it could rewrite the trail).
//
// Deprecated: run Schema and Grants once as the tables' owner and use Open
// with the application's role, which can then neither change nor delete a
// row.
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
	ddl, err := Schema(cfg.table)
	if err != nil {
		return nil, err
	}
	// Serialized by an advisory lock: concurrent CREATE TABLE IF NOT EXISTS
	// can fail in PostgreSQL.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: creating the tables: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('deepvueaudit:' || $1))`, cfg.table); err != nil {
		return nil, fmt.Errorf("deepvueaudit: creating the tables: %w", err)
	}
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return nil, fmt.Errorf("deepvueaudit: creating the tables: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("deepvueaudit: creating the tables: %w", err)
	}
	return Open(ctx, db, opts...)
}

// Table returns the table's name, unquoted.
func (l *Log) Table() string { return l.name }

// Close waits for the records being appended, stops the background
// checkpoints and signs a last checkpoint of every tenant with unsigned
// rows. It closes the Log of every tenant of the same Open (they share the
// background work): call it once, when the application stops. Records
// appended after it are durable as before, but only an explicit
// Checkpoint signs them.
func (l *Log) Close(ctx context.Context) error {
	if err := l.app.drain(ctx); err != nil {
		return err
	}
	if l.ckr == nil {
		return nil
	}
	return l.ckr.close(ctx, l.shared)
}

var (
	callIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)
	maskPattern   = regexp.MustCompile(`^(XXXX XXXX [0-9X]{4})?$`)
)

// maxText bounds each text of a record (the SDK's are shorter).
const maxText = 1000

// Record appends r to the trail of its tenant (r.Tenant, which
// deepvue.WithTenant sets; a record without one goes to l's tenant; the
// Log of a tenant refuses another tenant's record); it is a
// deepvue.AuditFunc. It returns once the row is durable (committed with
// synchronous_commit on). Records
// made at the same time, by any goroutine and of any tenant, are appended
// together in one transaction and one flush to disk (group commit), each
// caller acknowledged only after that commit; a caller whose context ends
// first gets an error (its row appended or not). It refuses a record the
// SDK would not make: a call id that is not 32 hex digits, an unknown
// stage, a masked number that is not a mask (so a hand-made record cannot
// put a full Aadhaar number in that column), a text over 1,000 bytes or not
// UTF-8, or a Time further from the Log's clock than WithMaxSkew (a
// back-dated record).
func (l *Log) Record(ctx context.Context, r deepvue.AuditRecord) error {
	t := l
	if r.Tenant != "" && r.Tenant != l.tenant {
		if l.tenant != "" {
			return errors.New("deepvueaudit: record refused: it is another tenant's (this Log is one tenant's: give the records to the Log Open returned)")
		}
		if err := checkTenant(r.Tenant); err != nil {
			return fmt.Errorf("deepvueaudit: record refused: %w", err)
		}
		t = l.tenantLog(r.Tenant)
	}
	row, err := t.rowOf(r, time.Now())
	if err != nil {
		return err
	}
	return t.app.submit(ctx, t, row)
}

func (l *Log) rowOf(r deepvue.AuditRecord, now time.Time) (*Row, error) {
	if !callIDPattern.MatchString(r.CallID) {
		return nil, errors.New("deepvueaudit: record refused: CallID is not 32 hex digits")
	}
	switch r.Stage {
	case deepvue.AuditConsent, deepvue.AuditOutcome, deepvue.AuditDecision:
	default:
		return nil, errors.New("deepvueaudit: record refused: unknown Stage")
	}
	if !maskPattern.MatchString(r.MaskedNumber) {
		return nil, errors.New("deepvueaudit: record refused: MaskedNumber is not a UIDAI mask")
	}
	at := r.Time
	if at.IsZero() {
		at = now
	}
	if d := at.Sub(now); d > l.maxSkew || d < -l.maxSkew {
		return nil, fmt.Errorf("deepvueaudit: record refused: its Time is %v from the clock (more than %v: a back-dated record?)",
			d.Round(time.Second), l.maxSkew)
	}
	e := r.Evidence
	for _, s := range []string{r.Operation, r.Purpose, string(r.Consent), r.ReferenceID, r.TransactionID, r.Outcome,
		e.NoticeID, e.NoticeVersion, e.NoticeSHA256, e.Language, e.Channel, e.Operator, e.CustomerRef} {
		if len(s) > maxText {
			return nil, fmt.Errorf("deepvueaudit: record refused: a text is longer than %d bytes", maxText)
		}
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return nil, errors.New("deepvueaudit: record refused: a text is not UTF-8 (or holds a NUL byte)")
		}
	}
	row := &Row{
		Tenant: l.tenant, CallID: r.CallID, Stage: string(r.Stage), RecordedAt: at.UTC().Truncate(time.Microsecond),
		Operation: r.Operation, Purpose: r.Purpose, Consent: string(r.Consent), MaskedNumber: r.MaskedNumber,
		ReferenceID: r.ReferenceID, TransactionID: r.TransactionID, Outcome: r.Outcome, Attempts: int64(r.Attempts),
		Evidence: e,
	}
	if r.Stage == deepvue.AuditOutcome && r.Operation == "generate-otp" {
		row.OTPState = r.OTPState.String()
	}
	if !e.DecidedAt.IsZero() {
		row.Evidence.DecidedAt = e.DecidedAt.UTC().Truncate(time.Microsecond)
	}
	return row, nil
}

// RecordDecision records a refusal or a withdrawal of consent in the trail,
// with its evidence (see deepvue.DecisionRecord for the checks), and returns
// the decision row's call id.
func (l *Log) RecordDecision(ctx context.Context, d deepvue.ConsentDecision, purpose string, e deepvue.ConsentEvidence) (string, error) {
	rec, err := deepvue.DecisionRecord(d, purpose, e)
	if err != nil {
		return "", err
	}
	if err := l.Record(ctx, rec); err != nil {
		return "", err
	}
	return rec.CallID, nil
}

// values returns the row's columns, in columns' order.
func (r *Row) values() []any {
	var decided any
	if !r.Evidence.DecidedAt.IsZero() {
		decided = r.Evidence.DecidedAt
	}
	e := &r.Evidence
	return []any{r.Tenant, r.Seq, r.CallID, r.Stage, r.RecordedAt, r.DBTime, r.Operation, r.Purpose, r.Consent,
		r.MaskedNumber, r.ReferenceID, r.TransactionID, r.Outcome, r.OTPState, r.Attempts, e.NoticeID, e.NoticeVersion,
		e.NoticeSHA256, e.Language, e.Channel, e.AlternativesOffered, decided, e.Operator, e.CustomerRef, r.Detail, r.hashes}
}

// scanRow reads a row in columns' order.
func scanRow(s interface{ Scan(...any) error }) (*Row, error) {
	r := &Row{}
	e := &r.Evidence
	var decided sql.NullTime
	if err := s.Scan(&r.Tenant, &r.Seq, &r.CallID, &r.Stage, &r.RecordedAt, &r.DBTime, &r.Operation, &r.Purpose,
		&r.Consent, &r.MaskedNumber, &r.ReferenceID, &r.TransactionID, &r.Outcome, &r.OTPState, &r.Attempts, &e.NoticeID,
		&e.NoticeVersion, &e.NoticeSHA256, &e.Language, &e.Channel, &e.AlternativesOffered, &decided, &e.Operator,
		&e.CustomerRef, &r.Detail, &r.hashes); err != nil {
		return nil, err
	}
	r.RecordedAt, r.DBTime = r.RecordedAt.UTC(), r.DBTime.UTC()
	if decided.Valid {
		e.DecidedAt = decided.Time.UTC()
	}
	return r, nil
}

// sqlState is what PostgreSQL drivers' errors tell of their SQLSTATE
// (pgconn.PgError and lib/pq's Error both have it).
type sqlState interface{ SQLState() string }

// retryable reports a serialization failure (40001) or a deadlock (40P01).
func retryable(err error) bool {
	var s sqlState
	if errors.As(err, &s) {
		switch s.SQLState() {
		case "40001", "40P01":
			return true
		}
	}
	return false
}
