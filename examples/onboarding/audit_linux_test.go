package main

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startPostgres starts a private PostgreSQL cluster (Debian's postgresql
// package) on a Unix socket in a temporary folder, as the postgres user when
// run as root, and returns its DATABASE_URL and a func that stops it. It
// skips when PostgreSQL is missing, unless DEEPVUE_REQUIRE_POSTGRES is set.
func startPostgres(t *testing.T) (databaseURL string, stop func()) {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if os.Getenv("DEEPVUE_REQUIRE_POSTGRES") != "" {
			t.Fatal("PostgreSQL is not installed, and DEEPVUE_REQUIRE_POSTGRES is set")
		}
		t.Skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run installs it)")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	dir, err := os.MkdirTemp("", "pg") // short: the socket path must fit in 108 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 { // the server refuses root
		u, err := user.Lookup("postgres")
		require.NoError(t, err)
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		require.NoError(t, os.Chown(dir, uid, gid))
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--auth=trust", "--no-sync", "--locale=C")
	initdb.SysProcAttr = attr
	out, err := initdb.CombinedOutput()
	require.NoError(t, err, string(out))
	var logs bytes.Buffer
	srv := exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(dir, "data"),
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+dir)
	srv.SysProcAttr, srv.Stdout, srv.Stderr = attr, &logs, &logs
	require.NoError(t, srv.Start())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = srv.Process.Signal(syscall.SIGINT)
			_ = srv.Wait()
		}
	}
	t.Cleanup(stop)
	databaseURL = "postgres://postgres@/postgres?host=" + dir + "&sslmode=disable"
	db, err := sql.Open("pgx", databaseURL)
	require.NoError(t, err)
	defer db.Close()
	require.Eventually(t, func() bool { return db.Ping() == nil }, 30*time.Second, 20*time.Millisecond, "postgres: %s", &logs)
	return databaseURL, stop
}

// TestOnboardingAuditTrailInPostgres: with DATABASE_URL, the service writes
// a consent and an outcome row per call, the trail verifies, and once the
// database is gone the service refuses to send anything.
func TestOnboardingAuditTrailInPostgres(t *testing.T) {
	databaseURL, stopPostgres := startPostgres(t)
	trail, closeDB, err := auditTrail(context.Background(), databaseURL)
	require.NoError(t, err)
	defer closeDB()

	fake := deepvuetest.NewServer()
	t.Cleanup(fake.Close)
	log := slog.New(slog.NewJSONHandler(&syncBuffer{}, testHandlerOptions))
	kyc, err := deepvue.NewClient(fake.ClientID, fake.ClientSecret, deepvue.WithBaseURL(fake.URL),
		deepvue.WithLogger(log), deepvue.WithAuditLog(trail.Record))
	require.NoError(t, err)
	api := httptest.NewServer(newService(kyc, log).routes())
	t.Cleanup(api.Close)
	e := &env{fake: fake, api: api}

	status, out, raw := e.post(t, "/kyc/otp", otpBody("2341 2341 2346"))
	require.Equal(t, 200, status, raw)
	status, _, raw = e.post(t, "/kyc/verify", `{"reference_id":"`+out["reference_id"].(string)+`","otp":"`+deepvuetest.OTPValid+`"}`)
	require.Equal(t, 200, status, raw)

	db, err := sql.Open("pgx", databaseURL)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT operation, stage, masked_number, outcome FROM deepvue_audit ORDER BY seq`)
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var op, stage, masked, outcome string
		require.NoError(t, rows.Scan(&op, &stage, &masked, &outcome))
		got = append(got, op+" "+stage+" "+masked+" "+outcome)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	assert.Equal(t, []string{
		"generate-otp consent XXXX XXXX 2346 ",
		"generate-otp outcome XXXX XXXX 2346 ok",
		"verify-otp consent  ",
		"verify-otp outcome  ok",
	}, got)
	require.NoError(t, trail.Verify(context.Background()))

	db.Close()
	stopPostgres()
	sent := fake.Requests(deepvuetest.PathGenerateOTP)
	status, _, raw = e.post(t, "/kyc/otp", otpBody("4991 8123 4560"))
	assert.NotEqual(t, 200, status, raw)
	assert.Equal(t, sent, fake.Requests(deepvuetest.PathGenerateOTP), "no consent stored, nothing sent")
}
