package deepvueaudit_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// pgBin finds the server's programs: $DEEPVUE_PG_BIN, else the newest
// /usr/lib/postgresql/N/bin (Debian's postgresql package), else the folder
// of initdb on $PATH.
func pgBin() (string, error) {
	if dir := os.Getenv("DEEPVUE_PG_BIN"); dir != "" {
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestVersion := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(d))))
		if err == nil && v > bestVersion {
			best, bestVersion = filepath.Dir(d), v
		}
	}
	if best != "" {
		return best, nil
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", errors.New("no PostgreSQL server programs (initdb, postgres) found")
	}
	return filepath.Dir(p), nil
}

// pgServer is a private PostgreSQL cluster the tests start once per package
// (TestMain), on a Unix socket in a temporary folder, run as an
// unprivileged user (the server refuses root), killed with the test process.
type pgServer struct {
	bin  string // the server's programs
	dir  string // holds the socket; data/ holds the cluster
	cred *syscall.Credential

	mu  sync.Mutex
	cmd *exec.Cmd
	out bytes.Buffer
}

var (
	shared    *pgServer
	sharedErr error // why there is no server
)

func TestMain(m *testing.M) {
	flag.Parse() // fsync reads -test.bench
	shared, sharedErr = startPostgres()
	code := m.Run()
	if shared != nil {
		shared.stop(syscall.SIGINT)
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// postgres returns the shared server, or skips the test when PostgreSQL is
// not installed (fails instead when DEEPVUE_REQUIRE_POSTGRES is set, as
// .ci/run does).
func postgres(t testing.TB) *pgServer {
	t.Helper()
	if shared == nil {
		if os.Getenv("DEEPVUE_REQUIRE_POSTGRES") != "" {
			t.Fatalf("PostgreSQL is required (DEEPVUE_REQUIRE_POSTGRES) but did not start: %v", sharedErr)
		}
		t.Skipf("PostgreSQL not available (apt-get install postgresql; .ci/run installs it): %v", sharedErr)
	}
	return shared
}

func startPostgres() (*pgServer, error) {
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	initdb := filepath.Join(bin, "initdb")
	if _, err := os.Stat(initdb); err != nil {
		return nil, err
	}
	s := &pgServer{bin: bin}
	if os.Geteuid() == 0 {
		// The server refuses root: run it as Debian's postgres user (or
		// nobody).
		var u *user.User
		var err error
		for _, name := range []string{"postgres", "nobody"} {
			if u, err = user.Lookup(name); err == nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("running as root and no unprivileged user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// A short folder of its own under /tmp (traversable by everyone): a
	// Unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "pg")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	cmd := exec.Command(initdb, "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8",
		"--no-sync", "--locale=C")
	s.prepare(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := s.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// prepare makes cmd run as the unprivileged user and die with the test
// process (Linux), so a killed test leaves no server behind.
func (s *pgServer) prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	dieWithTest(cmd.SysProcAttr)
}

// start runs the server and waits until it accepts connections. It runs
// PostgreSQL's default shared_buffers (128 MB, and so 4 MB of WAL buffers):
// with 32 MB (1 MB of WAL buffers) a Purge's deletes filled the WAL buffers
// and stalled appends' commits for up to 0.6 s.
func (s *pgServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out.Reset()
	s.cmd = exec.Command(filepath.Join(s.bin, "postgres"), "-D", filepath.Join(s.dir, "data"),
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+s.dir, "-c", "max_connections=200",
		"-c", "shared_buffers=128MB", "-c", "fsync="+fsync())
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	s.prepare(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return err
	}
	db, err := sql.Open("pgx", s.dsn())
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
			return fmt.Errorf("postgres did not start: %v\n%s", err, s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop stops the server: SIGINT is PostgreSQL's fast shutdown, SIGQUIT its
// immediate shutdown (a crash: the next start recovers from the WAL).
func (s *pgServer) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	s.cmd = nil
}

// fsync is the server's fsync: on when benchmarks run (their numbers are
// PostgreSQL's defaults, fsync on) or DEEPVUE_PG_FSYNC=on (the long
// measurements), off for the tests. A test that kills the server
// (SIGQUIT, an immediate shutdown) loses nothing either way that
// reached the operating system: what it checks is what a commit waited for
// (synchronous_commit), which fsync does not change; only a crash of the
// machine would lose more with it off.
func fsync() string {
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		return "on"
	}
	if os.Getenv("DEEPVUE_PG_FSYNC") == "on" { // the long measurements
		return "on"
	}
	return "off"
}

func (s *pgServer) dsn() string {
	return "host=" + s.dir + " user=postgres dbname=postgres sslmode=disable"
}

// db returns a new connection pool, closed when the test ends, as the
// superuser (the tables' owner).
func (s *pgServer) db(t testing.TB) *sql.DB { return s.dbWith(t, "") }

// dbWith returns a connection pool whose DSN has extra added: another user
// ("user=app") or run-time parameters
// ("default_transaction_isolation='repeatable read'").
func (s *pgServer) dbWith(t testing.TB, extra string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", s.dsn()+" "+extra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// table returns a fresh table name for t.
var tableSeq struct {
	sync.Mutex
	n int
}

func freshTable() string {
	tableSeq.Lock()
	defer tableSeq.Unlock()
	tableSeq.n++
	return "audit_t" + strconv.Itoa(tableSeq.n)
}
