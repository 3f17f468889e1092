package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/deepvue-go/deepvue"
	"github.com/deepvue-go/deepvue/deepvuetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const purpose = "KYC for account opening"

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

// TestMain removes the built binary's directory.
func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// binary builds the command once per test binary, as a user builds it.
func binary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to build the binary")
	}
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "deepvue-fake-test")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "deepvue-fake")
		build.out, build.err = exec.Command(goTool, "build", "-o", build.bin, ".").CombinedOutput()
	})
	require.NoError(t, build.err, "go build: %s", build.out)
	return build.bin
}

// fake is a running deepvue-fake process.
type fake struct {
	cmd    *exec.Cmd
	url    string
	stderr *strings.Builder
	done   chan error
}

// startFake starts the binary with args and reads the base URL from the
// first line of its standard output.
func startFake(t *testing.T, bin string, args ...string) *fake {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	f := &fake{cmd: cmd, stderr: &strings.Builder{}, done: make(chan error, 1)}
	cmd.Stderr = f.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-f.done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		f.done <- cmd.Wait()
	}()
	require.NoError(t, err, "the first line on stdout is the base URL; stderr: %s", f.stderr)
	f.url = strings.TrimSpace(line)
	return f
}

// stop sends sig and returns the exit error (nil for status 0).
func (f *fake) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	require.NoError(t, f.cmd.Process.Signal(sig))
	return <-f.done
}

func TestFakeBinaryServesTheSDKAndStopsOnSignals(t *testing.T) {
	bin := binary(t)
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		t.Run(sig.String(), func(t *testing.T) {
			f := startFake(t, bin, "-addr", "127.0.0.1:0")
			require.True(t, strings.HasPrefix(f.url, "http://127.0.0.1:"), f.url)
			c, err := deepvue.NewClient(deepvuetest.DefaultClientID, deepvuetest.DefaultClientSecret,
				deepvue.WithBaseURL(f.url), deepvue.WithRetryWait(0, 0))
			require.NoError(t, err)
			defer c.Close()
			ctx := context.Background()

			number := deepvuetest.NewNumber()
			res, err := c.GenerateOTP(ctx, number, deepvue.ConsentYes, purpose)
			require.NoError(t, err)
			_, err = c.GenerateOTP(ctx, number, deepvue.ConsentYes, purpose)
			require.ErrorIs(t, err, deepvue.ErrVerificationPending, "the same pending window as NewServer")
			for magic, want := range map[string]error{
				deepvuetest.NumberNotLinked:     deepvue.ErrMobileNotLinked,
				deepvuetest.NumberInvalidUID:    deepvue.ErrInvalidInput,
				deepvuetest.NumberSourceFailure: deepvue.ErrSourceFailure,
				deepvuetest.NumberRateLimited:   deepvue.ErrRateLimited,
				deepvuetest.NumberUnavailable:   deepvue.ErrServiceUnavailable,
			} {
				_, err := c.GenerateOTP(ctx, magic, deepvue.ConsentYes, purpose)
				assert.ErrorIs(t, err, want, magic)
			}
			d, err := c.VerifyOTP(ctx, deepvue.VerifyOTPRequest{ReferenceID: res.ReferenceID, OTP: deepvuetest.OTPValid,
				Consent: deepvue.ConsentYes, Purpose: purpose, MobileNumber: deepvuetest.MobileLinked, GeneratePDF: true})
			require.NoError(t, err)
			assert.Equal(t, "Mohammed Nihar", d.Name)
			assert.NotEmpty(t, d.PDF)

			bad, err := deepvue.NewClient("someone", "else", deepvue.WithBaseURL(f.url))
			require.NoError(t, err)
			_, err = bad.GenerateOTP(ctx, deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
			require.ErrorIs(t, err, deepvue.ErrUnauthorized, "the fake checks the credentials")
			bad.Close()

			require.NoError(t, f.stop(t, sig), "exit status 0 on %v; stderr: %s", sig, f.stderr)
			assert.Contains(t, f.stderr.String(), "deepvue-fake: stopped")
			// A pooled connection the fake closed may not have been seen closed
			// yet (a request on it fails as "may have been sent"): a new one is
			// refused.
			c.CloseIdleConnections()
			_, err = c.GenerateOTP(ctx, deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
			require.ErrorIs(t, err, deepvue.ErrNotSent, "nothing listens any more")
		})
	}
}

func TestFakeBinaryScriptCredentialsAndPlainHTTPToAName(t *testing.T) {
	bin := binary(t)
	script := filepath.Join(t.TempDir(), "script.json")
	require.NoError(t, os.WriteFile(script, []byte(`[
		{"path": "/v2/ekyc/aadhaar/generate-otp", "answer": "RateLimited"},
		{"path": "/v2/ekyc/aadhaar/generate-otp", "status": 503, "body": {"detail": "Source Unavailable"}},
		{"path": "/v2/ekyc/aadhaar/generate-otp", "answer": "SourceFailure", "times": 2},
		{"path": "/v2/ekyc/aadhaar/verify-otp", "reset": true}
	]`), 0o600))
	f := startFake(t, bin, "-addr", "127.0.0.1:0", "-script", script, "-client-id", "compose-id",
		"-client-secret", "compose-secret", "-pending", "0")

	// The SDK reaches the fake by a name that is not loopback, as in
	// docker-compose ("http://fake:8080"): the name resolves, here, to the
	// fake's loopback address.
	hostPort := strings.TrimPrefix(f.url, "http://")
	tr := deepvue.NewTransport()
	defer tr.CloseIdleConnections()
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != "fake:8080" {
			return nil, errors.New("unexpected address " + addr)
		}
		return dial(ctx, network, hostPort)
	}
	opts := []deepvue.Option{deepvue.WithBaseURL("http://fake:8080"), deepvue.WithRetryWait(0, 0),
		deepvue.WithHTTPClient(&http.Client{Transport: tr})}
	_, err := deepvue.NewClient("compose-id", "compose-secret", opts...)
	require.ErrorIs(t, err, deepvue.ErrInvalidInput, "plain http to a name needs WithInsecurePlainHTTP")
	c, err := deepvue.NewClient("compose-id", "compose-secret", append(opts, deepvue.WithInsecurePlainHTTP())...)
	require.NoError(t, err)
	defer c.Close()

	ctx := context.Background()
	_, err = c.GenerateOTP(ctx, deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
	require.ErrorIs(t, err, deepvue.ErrRateLimited)
	_, err = c.GenerateOTP(ctx, deepvuetest.NewNumber(), deepvue.ConsentYes, purpose)
	require.ErrorIs(t, err, deepvue.ErrServiceUnavailable)
	res, err := c.GenerateOTP(ctx, deepvuetest.NumberSuccess, deepvue.ConsentYes, purpose)
	require.NoError(t, err, "two scripted SOURCE_FAILUREs, retried, then the usual answer")
	_, err = c.VerifyOTP(ctx, deepvue.VerifyOTPRequest{ReferenceID: res.ReferenceID, OTP: deepvuetest.OTPValid,
		Consent: deepvue.ConsentYes, Purpose: purpose})
	require.Error(t, err, "the scripted reset")
	assert.NotErrorIs(t, err, deepvue.ErrNotSent, "the request was read before the reset")
	_, err = c.VerifyOTP(ctx, deepvue.VerifyOTPRequest{ReferenceID: res.ReferenceID, OTP: deepvuetest.OTPValid,
		Consent: deepvue.ConsentYes, Purpose: purpose})
	require.NoError(t, err, "the script is used up: the usual answers again")

	// From any HTTP client: curl's view of it.
	req, _ := http.NewRequest(http.MethodGet, f.url+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "ok\n", string(body))

	require.NoError(t, f.stop(t, syscall.SIGTERM))
}

func TestFakeBinaryRefusesABadScript(t *testing.T) {
	bin := binary(t)
	script := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(script, []byte(`[{"path": "/v2/ekyc/aadhaar/generate-otp", "stauts": 429}]`), 0o600))
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-script", script)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, string(out), `unknown field "stauts"`)
}

func TestRunUsage(t *testing.T) {
	var out, errOut strings.Builder
	assert.Equal(t, 2, run([]string{"-nope"}, &out, &errOut))
	assert.Equal(t, 2, run([]string{"extra"}, &out, &errOut))
	assert.Equal(t, 0, run([]string{"-h"}, &out, &errOut))
	assert.Equal(t, 1, run([]string{"-addr", "127.0.0.1:-1"}, &out, &errOut))
	assert.Empty(t, out.String(), "nothing on stdout unless serving")
}
