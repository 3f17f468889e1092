package deepvueaudit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/deepvue-go/deepvue"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A call's evidence bundle: its rows, each with its inclusion proof in the
// tree of a signed checkpoint, and that checkpoint. Anyone holding the
// checkpoints' public key checks it offline (VerifyProof): the auditor, the
// customer, a court. It is canonical JSON: VerifyProof refuses any other
// spelling of the same content, so that changing any byte of a bundle makes
// it fail.

// proofFormat is the bundle's "format".
const proofFormat = "deepvueaudit-proof-v1"

// ErrNoSuchCall is returned by Proof for a call id with no row.
var ErrNoSuchCall = errors.New("deepvueaudit: no row of that call")

type bundle struct {
	Format     string      `json:"format"`
	CallID     string      `json:"call_id"`
	Rows       []bundleRow `json:"rows"`
	Checkpoint string      `json:"checkpoint"`
}

type bundleRow struct {
	Seq                 int64  `json:"seq"`
	Tenant              string `json:"tenant"`
	CallID              string `json:"call_id"`
	Stage               string `json:"stage"`
	RecordedAt          string `json:"recorded_at"`
	DBTime              string `json:"db_time"`
	Operation           string `json:"operation"`
	Purpose             string `json:"purpose"`
	Consent             string `json:"consent"`
	MaskedNumber        string `json:"masked_number"`
	ReferenceID         string `json:"reference_id"`
	TransactionID       string `json:"transaction_id"`
	Outcome             string `json:"outcome"`
	OTPState            string `json:"otp_state"`
	Attempts            int64  `json:"attempts"`
	NoticeID            string `json:"notice_id"`
	NoticeVersion       string `json:"notice_version"`
	NoticeSHA256        string `json:"notice_sha256"`
	Language            string `json:"language"`
	Channel             string `json:"channel"`
	AlternativesOffered bool   `json:"alternatives_offered"`
	DecidedAt           string `json:"decided_at"`
	Operator            string `json:"operator"`
	CustomerRef         string `json:"customer_ref"`
	Detail              string `json:"detail,omitempty"` // a hold's reason, a manifest (absent in a call's row)
	Proof               string `json:"proof"`            // the inclusion proof's hashes, concatenated, in base64
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// parseTime parses a time formatTime wrote, and only that spelling
// (time.Parse would also take "T3:04", a zone offset...).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if formatTime(t) != s || t.Nanosecond()%1000 != 0 { // the trail keeps microseconds
		return time.Time{}, errors.New("a time not in its canonical form")
	}
	return t.UTC(), nil
}

func toBundleRow(r *Row, proof tlog.RecordProof) bundleRow {
	e := &r.Evidence
	return bundleRow{Seq: r.Seq, Tenant: r.Tenant, CallID: r.CallID, Stage: r.Stage, RecordedAt: formatTime(r.RecordedAt),
		DBTime: formatTime(r.DBTime), Operation: r.Operation, Purpose: r.Purpose, Consent: r.Consent,
		MaskedNumber: r.MaskedNumber, ReferenceID: r.ReferenceID, TransactionID: r.TransactionID, Outcome: r.Outcome,
		OTPState: r.OTPState, Attempts: r.Attempts, NoticeID: e.NoticeID, NoticeVersion: e.NoticeVersion,
		NoticeSHA256: e.NoticeSHA256, Language: e.Language, Channel: e.Channel, AlternativesOffered: e.AlternativesOffered,
		DecidedAt: formatTime(e.DecidedAt), Operator: e.Operator, CustomerRef: e.CustomerRef, Detail: r.Detail,
		Proof: base64.StdEncoding.EncodeToString(joinHashes(proof))}
}

func (b *bundleRow) row() (*Row, error) {
	r := &Row{Tenant: b.Tenant, Seq: b.Seq, CallID: b.CallID, Stage: b.Stage, Operation: b.Operation, Purpose: b.Purpose,
		Consent: b.Consent, MaskedNumber: b.MaskedNumber, ReferenceID: b.ReferenceID, TransactionID: b.TransactionID,
		Outcome: b.Outcome, OTPState: b.OTPState, Attempts: b.Attempts, Detail: b.Detail,
		Evidence: deepvue.ConsentEvidence{NoticeID: b.NoticeID, NoticeVersion: b.NoticeVersion, NoticeSHA256: b.NoticeSHA256,
			Language: b.Language, Channel: b.Channel, AlternativesOffered: b.AlternativesOffered, Operator: b.Operator,
			CustomerRef: b.CustomerRef}}
	var err1, err2, err3 error
	r.RecordedAt, err1 = parseTime(b.RecordedAt)
	r.DBTime, err2 = parseTime(b.DBTime)
	r.Evidence.DecidedAt, err3 = parseTime(b.DecidedAt)
	if err := errors.Join(err1, err2, err3); err != nil || r.RecordedAt.IsZero() || r.DBTime.IsZero() {
		return nil, errors.New("a time is malformed")
	}
	return r, nil
}

// encode writes the bundle as canonical JSON: the fields in their order, no
// space, strings escaped only where JSON requires (", \ and control
// characters, these as \n or \u00XX), UTF-8 as is.
func (b *bundle) encode() []byte {
	var w bytes.Buffer
	w.WriteString(`{"format":`)
	writeJSONString(&w, b.Format)
	w.WriteString(`,"call_id":`)
	writeJSONString(&w, b.CallID)
	w.WriteString(`,"rows":[`)
	for i := range b.Rows {
		if i > 0 {
			w.WriteByte(',')
		}
		r := &b.Rows[i]
		w.WriteString(`{"seq":` + strconv.FormatInt(r.Seq, 10))
		for _, f := range []struct{ k, v string }{
			{"tenant", r.Tenant}, {"call_id", r.CallID}, {"stage", r.Stage}, {"recorded_at", r.RecordedAt},
			{"db_time", r.DBTime}, {"operation", r.Operation}, {"purpose", r.Purpose}, {"consent", r.Consent},
			{"masked_number", r.MaskedNumber}, {"reference_id", r.ReferenceID}, {"transaction_id", r.TransactionID},
			{"outcome", r.Outcome}, {"otp_state", r.OTPState},
		} {
			w.WriteString(`,"` + f.k + `":`)
			writeJSONString(&w, f.v)
		}
		w.WriteString(`,"attempts":` + strconv.FormatInt(r.Attempts, 10))
		for _, f := range []struct{ k, v string }{
			{"notice_id", r.NoticeID}, {"notice_version", r.NoticeVersion}, {"notice_sha256", r.NoticeSHA256},
			{"language", r.Language}, {"channel", r.Channel},
		} {
			w.WriteString(`,"` + f.k + `":`)
			writeJSONString(&w, f.v)
		}
		w.WriteString(`,"alternatives_offered":` + strconv.FormatBool(r.AlternativesOffered))
		for _, f := range []struct{ k, v string }{
			{"decided_at", r.DecidedAt}, {"operator", r.Operator}, {"customer_ref", r.CustomerRef}, {"detail", r.Detail},
			{"proof", r.Proof},
		} {
			if f.k == "detail" && f.v == "" {
				continue // a call's row: the bundle of 0.4.0
			}
			w.WriteString(`,"` + f.k + `":`)
			writeJSONString(&w, f.v)
		}
		w.WriteByte('}')
	}
	w.WriteString(`],"checkpoint":`)
	writeJSONString(&w, b.Checkpoint)
	w.WriteByte('}')
	return w.Bytes()
}

func writeJSONString(w *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	w.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			w.WriteByte('\\')
			w.WriteByte(c)
		case c == '\n':
			w.WriteString(`\n`)
		case c < 0x20:
			w.WriteString(`\u00`)
			w.WriteByte(hex[c>>4])
			w.WriteByte(hex[c&15])
		default:
			w.WriteByte(c)
		}
	}
	w.WriteByte('"')
}

// Proof returns the evidence bundle of call callID in the tenant's trail:
// its rows (its consent and outcome rows, and any hold or release of it),
// each with its inclusion proof (tlog.ProveRecord) in the tree of the
// latest signed checkpoint, and that checkpoint's signed note, as
// canonical JSON. If the latest checkpoint does not cover the call's rows
// yet, it writes one first. A held call's rows stay provable after a Purge
// (it keeps the hashes their proofs need). VerifyProof checks it offline.
// It needs WithCheckpoints.
func (l *Log) Proof(ctx context.Context, callID string) ([]byte, error) {
	if l.ck == nil {
		return nil, ErrNoCheckpoints
	}
	if !callIDPattern.MatchString(callID) {
		return nil, errors.New("deepvueaudit: Proof: the call id is not 32 hex digits")
	}
	rows, err := l.callRows(ctx, l.db, callID)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, ErrNoSuchCall
	}
	if len(rows) > maxBundleRows {
		return nil, fmt.Errorf("deepvueaudit: Proof: the call has %d rows (at most %d in a bundle)", len(rows), maxBundleRows)
	}
	cp, err := l.ck.covering(ctx, rows[len(rows)-1].Seq) // the latest, or a new one covering the rows
	if err != nil {
		return nil, err
	}
	tx, err := l.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: Proof: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	if rows, err = l.callRows(ctx, tx, callID); err != nil {
		return nil, err
	}
	h, err := l.readHead(ctx, tx)
	if err != nil {
		return nil, err
	}
	hr := &hashReader{ctx: ctx, l: l, q: tx, h: h}
	b := bundle{Format: proofFormat, CallID: callID, Checkpoint: string(cp.Note)}
	var in []*Row
	for _, r := range rows {
		if r.Seq <= cp.Size {
			in = append(in, r)
		}
	}
	if len(in) == 0 {
		return nil, ErrNoSuchCall // purged meanwhile
	}
	proofs, err := proveAll(cp.Size, in, hr)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: Proof: %w", err)
	}
	for i, r := range in {
		if err := tlog.CheckRecord(proofs[i], cp.Size, cp.Root, r.Seq-1, r.leafHash()); err != nil {
			return nil, &ChainError{Seq: r.Seq, CallID: shownCallID(r.CallID), Kind: Changed, Reason: "it is not the row the checkpoint of size " +
				strconv.FormatInt(cp.Size, 10) + " signed"}
		}
		b.Rows = append(b.Rows, toBundleRow(r, proofs[i]))
	}
	return b.encode(), nil
}

// maxBundleRows bounds the rows of one bundle.
const maxBundleRows = 64

// callRows returns the rows of call callID, by seq.
func (l *Log) callRows(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, callID string) ([]*Row, error) {
	rs, err := q.QueryContext(ctx, l.q.call, l.tenant, callID)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: reading the call's rows: %w", err)
	}
	defer rs.Close()
	var rows []*Row
	for rs.Next() {
		r, err := scanRow(rs)
		if err != nil {
			return nil, fmt.Errorf("deepvueaudit: reading the call's rows: %w", err)
		}
		rows = append(rows, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("deepvueaudit: reading the call's rows: %w", err)
	}
	return rows, nil
}

// ProvedCall is what VerifyProof found in a bundle that verifies.
type ProvedCall struct {
	CallID     string
	Rows       []Row       // the call's rows, as the trail holds them
	Checkpoint *Checkpoint // the signed checkpoint whose tree includes them
}

// maxBundle bounds a bundle VerifyProof reads.
const maxBundle = 1 << 20

// VerifyProof checks a bundle from Proof offline, with the checkpoints'
// public key alone: the checkpoint's signature, each row's inclusion in the
// checkpoint's tree, that every row is of the call, and that an outcome row
// follows a consent row of its call. The bundle must be exactly as Proof
// wrote it (canonical JSON): any other byte fails. The error says what
// failed; the rows are returned only when all of it holds.
func VerifyProof(b []byte, verifier note.Verifier) (*ProvedCall, error) {
	if verifier == nil {
		return nil, errors.New("deepvueaudit: VerifyProof: nil verifier")
	}
	if len(b) > maxBundle || !utf8.Valid(b) {
		return nil, errors.New("deepvueaudit: VerifyProof: not a bundle (too large or not UTF-8)")
	}
	var bd bundle
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&bd); err != nil {
		return nil, notABundle(err)
	}
	if !bytes.Equal(bd.encode(), b) {
		return nil, errors.New("deepvueaudit: VerifyProof: the bundle is not in its canonical form (changed after Proof wrote it?)")
	}
	if bd.Format != proofFormat || !callIDPattern.MatchString(bd.CallID) || len(bd.Rows) == 0 || len(bd.Rows) > maxBundleRows {
		return nil, errors.New("deepvueaudit: VerifyProof: not a bundle of one call")
	}
	cp, err := openCheckpoint([]byte(bd.Checkpoint), verifier)
	if err != nil {
		return nil, fmt.Errorf("deepvueaudit: VerifyProof: %w", err)
	}
	out := &ProvedCall{CallID: bd.CallID, Checkpoint: cp}
	seen := map[string]int64{}
	prev := int64(0)
	for i := range bd.Rows {
		br := &bd.Rows[i]
		r, err := br.row()
		if err != nil {
			return nil, fmt.Errorf("deepvueaudit: VerifyProof: row %d: %w", br.Seq, err)
		}
		if r.CallID != bd.CallID || r.Seq <= prev || r.Seq > cp.Size {
			return nil, fmt.Errorf("deepvueaudit: VerifyProof: row %d is not a row of the call in the checkpoint", r.Seq)
		}
		prev = r.Seq
		raw, err := base64.StdEncoding.Strict().DecodeString(br.Proof)
		if err != nil || len(raw)%tlog.HashSize != 0 || len(raw) > 64*tlog.HashSize {
			return nil, fmt.Errorf("deepvueaudit: VerifyProof: row %d: malformed proof", r.Seq)
		}
		p := make(tlog.RecordProof, len(raw)/tlog.HashSize)
		for j := range p {
			copy(p[j][:], raw[j*tlog.HashSize:])
		}
		if err := tlog.CheckRecord(p, cp.Size, cp.Root, r.Seq-1, r.leafHash()); err != nil {
			return nil, fmt.Errorf("deepvueaudit: VerifyProof: row %d is not in the signed tree (the row or its proof was changed): %w", r.Seq, err)
		}
		if _, dup := seen[r.Stage]; dup && stageBit[r.Stage] != 0 {
			return nil, fmt.Errorf("deepvueaudit: VerifyProof: a second %s row", r.Stage)
		}
		if _, ok := seen["consent"]; r.Stage == "outcome" && !ok {
			return nil, errors.New("deepvueaudit: VerifyProof: an outcome row without an earlier consent row of its call")
		}
		seen[r.Stage] = r.Seq
		out.Rows = append(out.Rows, *r)
	}
	return out, nil
}

// notABundle is VerifyProof's error for bytes that do not decode as a
// bundle.
func notABundle(err error) error {
	return errors.New("deepvueaudit: VerifyProof: not a bundle: " + jsonFault(err))
}

// jsonFault says what kind of fault a decoding error is, never
// encoding/json's text, which quotes an unknown key and a number out of its
// field's range: whatever the maker of the bytes put there (an Aadhaar
// number) would reach the logs of whoever checks them.
func jsonFault(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "malformed JSON at byte " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		return "a value of the wrong type or out of range"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return "a field that is not one of its own"
}
