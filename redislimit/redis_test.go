package redislimit_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a real redis-server (Debian's package in CI) that a test
// starts on a Unix socket in a temporary folder, can kill and restart, and
// stops in t.Cleanup.
type redisServer struct {
	t    testing.TB
	dir  string
	sock string

	mu  sync.Mutex
	cmd *exec.Cmd
	out bytes.Buffer
}

// startRedis starts a redis-server, or skips the test when there is none
// (unless DEEPVUE_REQUIRE_REDIS is set, as .ci/run does: then it fails).
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("DEEPVUE_REQUIRE_REDIS") != "" {
			t.Fatal("redis-server is not installed, and DEEPVUE_REQUIRE_REDIS is set")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
	}
	// A short folder of its own: a Unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "rl")
	if err != nil {
		t.Fatal(err)
	}
	s := &redisServer{t: t, dir: dir, sock: filepath.Join(dir, "redis.sock")}
	s.start()
	t.Cleanup(func() { s.kill(); os.RemoveAll(dir) })
	return s
}

func (s *redisServer) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = os.Remove(s.sock)
	s.out.Reset()
	s.cmd = exec.Command("redis-server", "--port", "0", "--unixsocket", s.sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no", "--loglevel", "warning")
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	dieWithTest(s.cmd)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.sock, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server did not start: %v\n%s", err, s.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill stops the server at once (SIGKILL), as a crash would.
func (s *redisServer) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// client returns a new Redis client for the server, closed in t.Cleanup.
func (s *redisServer) client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.sock})
	t.Cleanup(func() { c.Close() })
	return c
}
