package deepvueaudit_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvueaudit"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memStore is a CheckpointStore and ArchiveStore in memory (for tests with
// many tenants: no file, no fsync), its names by folder.
type memStore struct {
	mu sync.Mutex
	m  map[string]map[string][]byte // folder ("a/b/") -> name -> data
}

func newMemStore() *memStore { return &memStore{m: map[string]map[string][]byte{}} }

func splitName(name string) (dir, base string) {
	i := strings.LastIndexByte(name, '/')
	return name[:i+1], name[i+1:]
}

func (s *memStore) Create(_ context.Context, name string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir, base := splitName(name)
	if _, ok := s.m[dir][base]; ok {
		return fmt.Errorf("memStore: %s: %w", name, fs.ErrExist)
	}
	if s.m[dir] == nil {
		s.m[dir] = map[string][]byte{}
	}
	s.m[dir][base] = append([]byte(nil), data...)
	return nil
}

func (s *memStore) Read(_ context.Context, name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir, base := splitName(name)
	b, ok := s.m[dir][base]
	if !ok {
		return nil, fmt.Errorf("memStore: %s: %w", name, fs.ErrNotExist)
	}
	return append([]byte(nil), b...), nil
}

func (s *memStore) List(_ context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.m[prefix] {
		out = append(out, n)
	}
	return out, nil
}

// all returns every name and its data.
func (s *memStore) all() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for dir, names := range s.m {
		for n, b := range names {
			out[dir+n] = string(b)
		}
	}
	return out
}

// inParallel runs fn(i) for i in [0, n) on w goroutines.
func inParallel(n, w int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for k := 0; k < w; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// TestThousandTenantsInOneTable: 1,000 tenants append at once into one
// table (group commit mixes their rows in one transaction); each has its
// own chain, head and checkpoints (each Checkpoint checks its tenant's
// rows before signing), and verifies alone; an edit of one tenant's rows,
// a purge of one tenant, a row moved from one tenant to another, and one
// tenant's checkpoint put in another's folder touch or fool no other
// tenant.
func TestThousandTenantsInOneTable(t *testing.T) {
	pg := postgres(t)
	ctx := context.Background()
	db := pg.db(t)
	table := freshTable()
	createTables(t, db, table)
	store := newMemStore()
	signer, verifier := testKey(t)
	root, err := deepvueaudit.Open(ctx, db, deepvueaudit.WithTable(table), deepvueaudit.WithCheckpoints(store, signer, verifier))
	require.NoError(t, err)
	// Not closed: Close would sign a last checkpoint of each of the
	// 1,000 tenants (4 s under -race) for nothing the test reads.

	const tenants = 1000
	logs := make([]*deepvueaudit.Log, tenants)
	calls := make([][]string, tenants)
	for i := range logs {
		logs[i], err = root.ForTenant(fmt.Sprintf("merchant-%04d", i))
		require.NoError(t, err)
	}
	t0 := time.Now()
	var mu sync.Mutex
	inParallel(tenants, 32, func(k int) {
		i := k % tenants
		id := callAt(t, logs[i], time.Now())
		mu.Lock()
		calls[i] = append(calls[i], id)
		mu.Unlock()
	})
	appended := time.Since(t0)
	// Every tenant's Checkpoint (which checks the tenant's rows against their
	// hashes and its head before signing) and Verify against it: 1 s, 5 s
	// under -race; in the normal suite every 20th tenant and the ones the
	// checks below use.
	sample := []int{3, 4, 5, 7, 9, 10, 11, 12, 0, 999}
	every := 20
	if os.Getenv("DEEPVUE_LONG") != "" {
		every = 1
	}
	for i := every - 1; i < tenants; i += every {
		sample = append(sample, i)
	}
	t0 = time.Now()
	inParallel(len(sample), 8, func(k int) {
		i := sample[k]
		cp, err := logs[i].Checkpoint(ctx)
		if assert.NoError(t, err) {
			assert.Equal(t, int64(2), cp.Size)
			assert.Equal(t, "deepvueaudit/"+table+"/"+logs[i].Tenant(), cp.Origin)
		}
		assert.NoError(t, logs[i].Verify(ctx), "tenant %d", i)
	})
	verified := time.Since(t0)
	names, err := root.Tenants(ctx)
	require.NoError(t, err)
	assert.Len(t, names, tenants+1)
	assert.Equal(t, "", names[0])
	var size int64
	require.NoError(t, db.QueryRow(`SELECT pg_total_relation_size($1) + pg_total_relation_size($2) + pg_total_relation_size($3)`,
		table, table+"_head", table+"_tree").Scan(&size))
	t.Logf("%d tenants, %d rows appended by 32 goroutines in %v; %d checkpointed and verified in %v (8 at a time); one table: %.1f MiB (rows, heads, kept hashes, indexes); %s",
		tenants, 2*tenants, appended.Round(time.Millisecond), len(sample), verified.Round(time.Millisecond), float64(size)/(1<<20), loadAverage())

	// heads returns every tenant's head and row count but those skipped.
	type state struct {
		size, anchor int64
		root         []byte
		rows         int
	}
	heads := func(skip ...string) map[string]state {
		out := map[string]state{}
		rs, err := db.Query(`SELECT h.tenant, h.size, h.anchor, h.root, (SELECT count(*) FROM "` + table + `" r WHERE r.tenant = h.tenant)
			FROM "` + table + `_head" h`)
		require.NoError(t, err)
		defer rs.Close()
		for rs.Next() {
			var tn string
			var s state
			require.NoError(t, rs.Scan(&tn, &s.size, &s.anchor, &s.root, &s.rows))
			out[tn] = s
		}
		require.NoError(t, rs.Err())
		for _, s := range skip {
			delete(out, s)
		}
		return out
	}

	// One tenant's rows edited: only its Verify names it.
	mustExec(t, db, `UPDATE "`+table+`" SET purpose = 'marketing' WHERE tenant = $1 AND seq = 2`, logs[7].Tenant())
	hasProblem(t, problems(t, logs[7]), deepvueaudit.Changed, 2, calls[7][0])
	for _, i := range []int{6, 8, 0, 999} {
		require.Empty(t, problems(t, logs[i]), "tenant %d", i)
	}
	mustExec(t, db, `UPDATE "`+table+`" SET purpose = $2 WHERE tenant = $1 AND seq = 2`, logs[7].Tenant(), purpose)

	// One tenant purged: no other tenant's head, rows or checkpoints move.
	before := heads(logs[3].Tenant())
	others := func() map[string]string {
		out := store.all()
		for n := range out {
			if strings.HasPrefix(n, table+"/t-merchant-0003/") {
				delete(out, n)
			}
		}
		return out
	}
	ckBefore := others()
	archive := newMemStore()
	res, err := logs[3].Purge(ctx, deepvueaudit.Retention{AllowUnderOneYear: true, Archive: archive})
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.Rows)
	assert.Equal(t, before, heads(logs[3].Tenant()), "the other tenants' heads and rows")
	assert.Equal(t, ckBefore, others(), "no other tenant's checkpoint")
	require.NoError(t, logs[3].VerifyFull(ctx))
	_, err = logs[3].VerifyArchive(ctx, archive)
	require.NoError(t, err)
	for _, i := range []int{2, 4} {
		require.NoError(t, logs[i].VerifyFull(ctx))
		rep, err := logs[i].VerifyArchive(ctx, archive)
		require.NoError(t, err)
		assert.Zero(t, rep.Segments)
	}

	// A call is found in its tenant's trail only.
	_, err = logs[4].Proof(ctx, calls[5][0])
	assert.ErrorIs(t, err, deepvueaudit.ErrNoSuchCall)
	b, err := logs[5].Proof(ctx, calls[5][0])
	require.NoError(t, err)
	pc, err := deepvueaudit.VerifyProof(b, verifier)
	require.NoError(t, err)
	assert.Equal(t, "merchant-0005", pc.Rows[0].Tenant)
	assert.ErrorIs(t, logs[4].Hold(ctx, calls[5][0], "dispute 9"), deepvueaudit.ErrNoSuchCall)

	// A row moved from one tenant to another is named in both.
	mustExec(t, db, `UPDATE "`+table+`" SET tenant = $2, seq = 3 WHERE tenant = $1 AND seq = 2`, logs[9].Tenant(), logs[10].Tenant())
	hasProblem(t, problems(t, logs[9]), deepvueaudit.Deleted, 2, "")
	hasProblem(t, problems(t, logs[10]), deepvueaudit.Inserted, 3, "")
	mustExec(t, db, `UPDATE "`+table+`" SET tenant = $2, seq = 2 WHERE tenant = $1 AND seq = 3`, logs[10].Tenant(), logs[9].Tenant())

	// One tenant's checkpoint put in another's folder is named.
	fresh, err := root.ForTenant("merchant-fresh")
	require.NoError(t, err)
	callAt(t, fresh, time.Now())
	note, err := store.Read(ctx, table+"/t-merchant-0011/00000000000000000002-00000000000000000000.note")
	require.NoError(t, err)
	require.NoError(t, store.Create(ctx, table+"/t-merchant-fresh/00000000000000000002-00000000000000000000.note", note))
	hasProblem(t, problems(t, fresh), deepvueaudit.BadCheckpoint, 2, "")
	require.Empty(t, problems(t, logs[11]))
}

// TestTenantIDs: ids deepvue.WithTenant refuses are refused; a tenant's
// Log refuses a record of another tenant; an id with characters a store
// name cannot hold gets a folder of its own.
func TestTenantIDs(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	for _, bad := range []string{"234123412346", "98765-43210", "ops@merchant.in", strings.Repeat("m", 65), "mérchant", "a/b", "a b"} {
		_, err := tr.ForTenant(bad)
		assert.Error(t, err, "%q", bad)
	}
	for _, good := range []string{"merchant-0042", "m:42", "shop.in_7", "x"} {
		l, err := tr.ForTenant(good)
		require.NoError(t, err, "%q", good)
		id := tr.call(t) // the default tenant's
		_ = id
		callAt(t, l, time.Now())
		_, err = l.Checkpoint(context.Background())
		require.NoError(t, err)
		require.NoError(t, l.VerifyFull(context.Background()))
	}
	same, err := tr.ForTenant("m:42")
	require.NoError(t, err)
	again, err := tr.ForTenant("m:42")
	require.NoError(t, err)
	assert.Same(t, same, again)
	require.NoError(t, tr.VerifyFull(context.Background()))
}

// TestClientsOfTenantsShareOneLog: three Clients made WithTenant give
// their records to the one Log Open returned; each tenant's calls land in
// its own trail, which verifies; a tenant's Log refuses another tenant's
// record.
func TestClientsOfTenantsShareOneLog(t *testing.T) {
	pg := postgres(t)
	tr := newTrail(t, pg)
	ctx := context.Background()
	srv := deepvuetest.NewServer(deepvuetest.WithPendingWindow(0))
	defer srv.Close()
	tenants := []string{"merchant-a", "merchant-b", "merchant:c"}
	var wg sync.WaitGroup
	for i, id := range tenants {
		c, err := deepvue.NewClient(srv.ClientID, srv.ClientSecret, deepvue.WithBaseURL(srv.URL), deepvue.WithTenant(id),
			deepvue.WithAuditLog(tr.Record))
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k <= i; k++ {
				_, err := c.GenerateOTP(ctx, deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	for i, id := range tenants {
		l, err := tr.ForTenant(id)
		require.NoError(t, err)
		assert.Equal(t, 2*(i+1), count(t, tr, `tenant = $1`, id), "tenant %s", id)
		_, err = l.Checkpoint(ctx)
		require.NoError(t, err)
		require.NoError(t, l.VerifyFull(ctx))
	}
	assert.Zero(t, count(t, tr, `tenant = ''`), "nothing in the default tenant's trail")
	a, err := tr.ForTenant("merchant-a")
	require.NoError(t, err)
	r := record(t, deepvue.AuditConsent, time.Now())
	r.Tenant = "merchant-b"
	assert.ErrorContains(t, a.Record(ctx, r), "another tenant")
	r.Tenant = "234123412346"
	assert.Error(t, tr.Record(ctx, r), "a tenant id WithTenant refuses")
	r.Tenant = ""
	require.NoError(t, a.Record(ctx, r), "a record without a tenant goes to the Log's")
	assert.Equal(t, 3, count(t, tr, `tenant = 'merchant-a'`))
}
