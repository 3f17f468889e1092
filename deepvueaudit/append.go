package deepvueaudit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit, as PostgreSQL's own WAL writer does for commits: Record
// puts its row in a queue and waits (a lone writer appends its row
// itself); one goroutine (started when a row arrives and nothing is
// appending, gone once the queue is empty) takes every row waiting,
// appends them in one transaction (the heads of their
// tenants locked in the order of their names, every row in one INSERT,
// every head moved in the same statement, one commit and one flush), and
// only then acknowledges each caller. While one batch commits, the next
// one gathers: the more writers, the larger the batches, the fewer the
// flushes per row.

// maxBatch bounds the rows of one batch (the rest wait for the next).
const maxBatch = 1000

// batchTimeout bounds one batch's transaction (it serves many callers, so
// it runs on its own context; each caller still returns when its own
// context ends).
const batchTimeout = 30 * time.Second

// appendRetries bounds the retries of a serialization failure.
const appendRetries = 8

// A waiter's states.
const (
	queued    int32 = iota
	taken           // in a batch: its caller waits for the commit
	abandoned       // its caller's context ended before a batch took it
)

type waiter struct {
	ctx   context.Context // the caller's
	l     *Log
	row   *Row
	state atomic.Int32
	done  chan error // buffered: the appender never blocks on it
}

// appender is the group committer of one Open's Logs.
type appender struct {
	s         *shared
	mu        sync.Mutex
	queue     []*waiter
	running   bool
	lastBatch int        // the rows of the goroutine's last batch
	idle      *sync.Cond // signalled when running turns false (drain)

	batches, rows atomic.Int64 // appended so far (for the benchmarks)
}

// submit queues row for l's tenant and waits for its batch's commit.
func (a *appender) submit(ctx context.Context, l *Log, row *Row) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("deepvueaudit: recording: %w", err)
	}
	w := &waiter{ctx: ctx, l: l, row: row, done: make(chan error, 1)}
	a.mu.Lock()
	if !a.running && a.lastBatch <= 1 {
		// A lone writer (nothing being appended, and the last batch was of
		// one row): append here, without waking a goroutine (12 % of a lone
		// writer's time); rows that queue meanwhile go to the goroutine.
		// Under concurrency the rows go through the queue: the first caller
		// back after a commit would go alone while the others queued.
		a.running = true
		a.mu.Unlock()
		w.state.Store(taken)
		a.s.appendBatch([]*waiter{w})
		a.batches.Add(1)
		a.rows.Add(1)
		a.mu.Lock()
		if len(a.queue) > 0 {
			go a.run()
		} else {
			a.running = false
			if a.idle != nil {
				a.idle.Broadcast()
			}
		}
		a.mu.Unlock()
		return <-w.done
	}
	a.queue = append(a.queue, w)
	if !a.running {
		a.running = true
		go a.run()
	}
	a.mu.Unlock()
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		if w.state.CompareAndSwap(queued, abandoned) {
			return fmt.Errorf("deepvueaudit: recording: %w (nothing appended)", ctx.Err())
		}
		select {
		case err := <-w.done: // committed (or failed) meanwhile
			return err
		default:
		}
		return fmt.Errorf("deepvueaudit: recording: %w (the row's batch was being committed: it may be in the trail)", ctx.Err())
	}
}

// run appends batches until the queue is empty.
func (a *appender) run() {
	for {
		a.mu.Lock()
		batch := a.queue
		if len(batch) > maxBatch {
			batch = batch[:maxBatch:maxBatch]
			a.queue = append([]*waiter(nil), a.queue[maxBatch:]...)
		} else {
			a.queue = nil
		}
		if len(batch) == 0 {
			a.running = false
			if a.idle != nil {
				a.idle.Broadcast()
			}
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		live := batch[:0]
		for _, w := range batch {
			if w.state.CompareAndSwap(queued, taken) {
				live = append(live, w)
			}
		}
		if len(live) > 0 {
			a.s.appendBatch(live)
			a.batches.Add(1)
			a.rows.Add(int64(len(live)))
		}
		a.mu.Lock()
		a.lastBatch = len(live)
		a.mu.Unlock()
	}
}

// drain waits until no batch is queued or being appended.
func (a *appender) drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		a.mu.Lock()
		if a.idle == nil {
			a.idle = sync.NewCond(&a.mu)
		}
		for a.running {
			a.idle.Wait()
		}
		a.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("deepvueaudit: closing: %w (records were still being appended)", ctx.Err())
	}
}

// appendBatch appends the waiters' rows and tells each the outcome. If the
// batch fails and holds several tenants, each tenant's rows are tried
// alone, so that one tenant's failure (its head missing, say) fails no
// other's records; not when its COMMIT got no answer from the server (a
// connection lost, the batch's deadline): the batch may have committed,
// and trying its rows again could record them twice.
func (s *shared) appendBatch(ws []*waiter) {
	// A batch of one runs on its caller's context, as an append did before
	// group commit; a batch of many, for many callers, on its own.
	ctx := ws[0].ctx
	if len(ws) > 1 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), batchTimeout)
		defer cancel()
	}
	rows := make([]*Row, len(ws))
	for i, w := range ws {
		rows[i] = w.row
	}
	heads, err := s.appendRows(ctx, rows)
	if err != nil && len(tenantsOf(rows)) > 1 && !errors.Is(err, errCommitUnknown) {
		byTenant := map[string][]*waiter{}
		for _, w := range ws {
			byTenant[w.row.Tenant] = append(byTenant[w.row.Tenant], w)
		}
		for _, group := range byTenant {
			rows := make([]*Row, len(group))
			for i, w := range group {
				rows[i] = w.row
			}
			h, err := s.appendRows(ctx, rows)
			s.acknowledge(group, h, err)
		}
		return
	}
	s.acknowledge(ws, heads, err)
}

func (s *shared) acknowledge(ws []*waiter, heads map[string]headAfter, err error) {
	if err == nil {
		for tenant, h := range heads {
			if l := s.tenantLog(tenant); l.ck != nil {
				l.ck.appended(h.size, h.ckSize)
			}
		}
	}
	for _, w := range ws {
		w.done <- err
	}
}

// errCommitUnknown marks an append whose COMMIT got no answer from the
// server: its rows may be in the trail.
var errCommitUnknown = errors.New("the database did not answer the commit: the rows may have been recorded")

// headAfter is a tenant's head after a batch: its size, and its last
// checkpoint's size.
type headAfter struct{ size, ckSize int64 }

// appendRows appends rows (of any tenants, each tenant's in their order)
// in one transaction (READ COMMITTED, synchronous commit on), retrying a
// serialization failure or a deadlock.
func (s *shared) appendRows(ctx context.Context, rows []*Row) (map[string]headAfter, error) {
	for attempt := 0; ; attempt++ {
		heads, err := s.appendOnce(ctx, rows)
		if err == nil {
			return heads, nil
		}
		if !retryable(err) || attempt == appendRetries {
			return nil, fmt.Errorf("deepvueaudit: recording: %w", err)
		}
		// A jittered wait, up to 1 ms << attempt.
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(time.Millisecond)<<attempt))
		t := time.NewTimer(time.Duration(n.Int64()))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("deepvueaudit: recording: %w (after %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// tenantsOf returns the rows' tenants, sorted.
func tenantsOf(rows []*Row) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rows {
		if !seen[r.Tenant] {
			seen[r.Tenant] = true
			out = append(out, r.Tenant)
		}
	}
	sort.Strings(out)
	return out
}

// appendOnce is one attempt: make the heads of new tenants, lock the
// heads, insert the rows with their stored hashes and move the heads in
// one statement, commit.
func (s *shared) appendOnce(ctx context.Context, rows []*Row) (map[string]headAfter, error) {
	tenants := tenantsOf(rows)
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	var fresh []string
	s.mu.Lock()
	for _, t := range tenants {
		if !s.heads[t] {
			fresh = append(fresh, t)
		}
	}
	s.mu.Unlock()
	if len(fresh) > 0 {
		if _, err := tx.ExecContext(ctx, s.q.newHeads, fresh); err != nil {
			return nil, fmt.Errorf("making the heads of new tenants (the role needs Grants' INSERT (tenant) on the head): %w", err)
		}
	}
	heads, now, err := s.lockHeads(ctx, tx, tenants)
	if err != nil {
		return nil, err
	}
	after, err := s.insertRows(ctx, tx, rows, heads, now)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		var st sqlState
		if !errors.As(err, &st) {
			// No answer from the server: the COMMIT may have been applied.
			return nil, fmt.Errorf("%w: %w", errCommitUnknown, err)
		}
		return nil, err // the server refused it: nothing was committed
	}
	if len(fresh) > 0 {
		s.mu.Lock()
		for _, t := range fresh {
			s.heads[t] = true
		}
		s.mu.Unlock()
	}
	return after, nil
}

// lockedHead is a head locked for an append.
type lockedHead struct {
	f      frontier
	ckSize int64
}

// lockHeads locks the heads of tenants (sorted) in tx, with
// synchronous_commit on for it, and returns them and the database's time.
func (s *shared) lockHeads(ctx context.Context, tx *sql.Tx, tenants []string) (map[string]*lockedHead, time.Time, error) {
	var rs *sql.Rows
	var err error
	if len(tenants) == 1 {
		rs, err = tx.QueryContext(ctx, s.q.lock1, tenants[0])
	} else {
		rs, err = tx.QueryContext(ctx, s.q.lock, tenants)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("locking the head: %w", err)
	}
	defer rs.Close()
	heads := make(map[string]*lockedHead, len(tenants))
	var now time.Time
	for rs.Next() {
		var tenant, syncCommit string
		var size, ckSize int64
		var fb []byte
		var at time.Time
		if err := rs.Scan(&tenant, &size, &fb, &ckSize, &at, &syncCommit); err != nil {
			return nil, time.Time{}, fmt.Errorf("locking the head: %w", err)
		}
		f, err := decodeFrontier(size, fb)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("the head's frontier of tenant %q: %w", tenant, err)
		}
		heads[tenant] = &lockedHead{f: f, ckSize: ckSize}
		if at.After(now) {
			now = at
		}
	}
	if err := rs.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("locking the head: %w", err)
	}
	for _, t := range tenants {
		if heads[t] == nil {
			return nil, time.Time{}, fmt.Errorf("tenant %q has no head row", t)
		}
	}
	return heads, now.UTC().Truncate(time.Microsecond), nil
}

// insertRows numbers rows after their tenants' heads, computes their
// stored hashes, and inserts them and moves the heads in one statement.
func (s *shared) insertRows(ctx context.Context, tx *sql.Tx, rows []*Row, heads map[string]*lockedHead, now time.Time) (map[string]headAfter, error) {
	if len(rows) == 1 {
		r, h := rows[0], heads[rows[0].Tenant]
		r.Seq, r.DBTime = h.f.size+1, now
		r.hashes = joinHashes(h.f.append(r.leafHash()))
		root := h.f.root()
		args := append(r.values(), r.Tenant, h.f.size, root[:], h.f.bytes(), now)
		if _, err := tx.ExecContext(ctx, s.q.insert1, args...); err != nil {
			return nil, err
		}
		return map[string]headAfter{r.Tenant: {size: h.f.size, ckSize: h.ckSize}}, nil
	}
	cols := newColumnArrays(len(rows))
	for _, r := range rows {
		h := heads[r.Tenant]
		r.Seq, r.DBTime = h.f.size+1, now
		r.hashes = joinHashes(h.f.append(r.leafHash()))
		cols.add(r)
	}
	after := make(map[string]headAfter, len(heads))
	var ht []string
	var hs []int64
	var hr, hf [][]byte
	for t, h := range heads {
		root := h.f.root()
		ht, hs, hr, hf = append(ht, t), append(hs, h.f.size), append(hr, root[:]), append(hf, h.f.bytes())
		after[t] = headAfter{size: h.f.size, ckSize: h.ckSize}
	}
	args := append(cols.args(), ht, hs, hr, hf, now)
	if _, err := tx.ExecContext(ctx, s.q.insert, args...); err != nil {
		return nil, err
	}
	return after, nil
}

// insertQuery returns the statement that inserts rows given as one array
// per column ($1 to $26, columns' order) and moves the heads given as
// arrays of tenants, sizes, roots and frontiers ($27 to $30) to the time
// $31: one statement whatever the number of rows (no limit of 65,535
// parameters).
func insertQuery(table string) string {
	var b strings.Builder
	b.WriteString(`WITH ins AS (INSERT INTO "` + table + `" (` + columns + `) SELECT * FROM unnest(`)
	for i, t := range columnTypes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+1) + "::" + t + "[]")
	}
	b.WriteString(`) RETURNING 1) UPDATE "` + table + `_head" AS h SET size = v.size, root = v.root, frontier = v.frontier, updated_at = $31
		FROM unnest($27::text[], $28::bigint[], $29::bytea[], $30::bytea[]) AS v(tenant, size, root, frontier) WHERE h.tenant = v.tenant`)
	return b.String()
}

// insert1Query is insertQuery for one row: its columns $1 to $26, then
// the tenant, the size, the root, the frontier and the time (a plainer
// statement for a lone writer).
func insert1Query(table string) string {
	var b strings.Builder
	b.WriteString(`WITH ins AS (INSERT INTO "` + table + `" (` + columns + `) VALUES (`)
	for i := 1; i <= numColumns; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i))
	}
	b.WriteString(`) RETURNING 1) UPDATE "` + table + `_head" SET size = $28, root = $29, frontier = $30, updated_at = $31 WHERE tenant = $27`)
	return b.String()
}

// columnArrays are rows as one array per column.
type columnArrays struct {
	tenant, callID, stage, operation, purpose, consent, masked, ref, txn, outcome, otpState []string
	noticeID, noticeVersion, noticeSHA, language, channel, operator, customerRef, detail    []string
	seq, attempts                                                                           []int64
	recordedAt, dbTime                                                                      []time.Time
	decided                                                                                 []*time.Time
	alternatives                                                                            []bool
	hashes                                                                                  [][]byte
}

func newColumnArrays(n int) *columnArrays {
	return &columnArrays{tenant: make([]string, 0, n), seq: make([]int64, 0, n), hashes: make([][]byte, 0, n)}
}

func (c *columnArrays) add(r *Row) {
	e := &r.Evidence
	c.tenant = append(c.tenant, r.Tenant)
	c.seq = append(c.seq, r.Seq)
	c.callID = append(c.callID, r.CallID)
	c.stage = append(c.stage, r.Stage)
	c.recordedAt = append(c.recordedAt, r.RecordedAt)
	c.dbTime = append(c.dbTime, r.DBTime)
	c.operation = append(c.operation, r.Operation)
	c.purpose = append(c.purpose, r.Purpose)
	c.consent = append(c.consent, r.Consent)
	c.masked = append(c.masked, r.MaskedNumber)
	c.ref = append(c.ref, r.ReferenceID)
	c.txn = append(c.txn, r.TransactionID)
	c.outcome = append(c.outcome, r.Outcome)
	c.otpState = append(c.otpState, r.OTPState)
	c.attempts = append(c.attempts, r.Attempts)
	c.noticeID = append(c.noticeID, e.NoticeID)
	c.noticeVersion = append(c.noticeVersion, e.NoticeVersion)
	c.noticeSHA = append(c.noticeSHA, e.NoticeSHA256)
	c.language = append(c.language, e.Language)
	c.channel = append(c.channel, e.Channel)
	c.alternatives = append(c.alternatives, e.AlternativesOffered)
	if e.DecidedAt.IsZero() {
		c.decided = append(c.decided, nil)
	} else {
		d := e.DecidedAt
		c.decided = append(c.decided, &d)
	}
	c.operator = append(c.operator, e.Operator)
	c.customerRef = append(c.customerRef, e.CustomerRef)
	c.detail = append(c.detail, r.Detail)
	c.hashes = append(c.hashes, r.hashes)
}

// args returns the arrays in columns' order.
func (c *columnArrays) args() []any {
	return []any{c.tenant, c.seq, c.callID, c.stage, c.recordedAt, c.dbTime, c.operation, c.purpose, c.consent, c.masked,
		c.ref, c.txn, c.outcome, c.otpState, c.attempts, c.noticeID, c.noticeVersion, c.noticeSHA, c.language,
		c.channel, c.alternatives, c.decided, c.operator, c.customerRef, c.detail, c.hashes}
}
