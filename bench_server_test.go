package deepvue

// The benchmarks' servers: in process (httptest), or, with
// DEEPVUE_BENCH_SERVER=process, this test binary re-executed as a separate
// process, plain or TLS, so that a benchmark (and callgrind) counts the
// client's work only.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// benchHandler answers generate-otp with the documented success body and
// verify-otp with a realistic answer (about 30 KB of photo, 100 KB of PDF).
func benchHandler() http.Handler {
	gen := []byte(successOTP)
	photo := bytes.Repeat([]byte{0xFF, 0xD8, 0x42}, 10<<10) // 30 KiB
	pdf := bytes.Repeat([]byte("%PDF-1.4 sample "), 100<<6) // 100 KiB
	ver := []byte(`{"code":200,"timestamp":1738243999577,"transaction_id":"f6efc218742a405c8dd65cf19c13b878","sub_code":"SUCCESS","message":"Aadhaar eKYC Successful","data":{"address":{"careOf":"S/O H. Nue Mahammed","country":"India","district":"Bangalore","house":"NO. 6","landmark":"","locality":"MTS LAYOUT J X NAGAR 51TH PHASE","pin":"561118","postOffice":"J P Nagar","state":"Karnataka","street":"19TH MAIN","subDistrict":"","vtc":"Bangalore"},"dateOfBirth":"28-06-1999","email":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","gender":"M","generatedAt":"1738304139979","maskedNumber":"xxxx-xxxx-8091","name":"Mohammed Nihar","phone":"60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752","photo":"` +
		base64.StdEncoding.EncodeToString(photo) + `","aadhaar_linked_mobile_match":"Yes","document_pdf":"` +
		base64.StdEncoding.EncodeToString(pdf) + `"}}`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := gen
		if r.URL.Path == "/v2/ekyc/aadhaar/verify-otp" {
			body = ver
		}
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		_, _ = w.Write(body)
	})
}

// benchServeEnv, when set, makes the test binary serve benchHandler on
// loopback instead of running tests (see TestMain).
const benchServeEnv = "DEEPVUE_BENCH_SERVE"

// serveBench runs the benchmark server: it prints its address, serves until
// its standard input closes (the benchmark ended or died), then returns.
func serveBench() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	srv := &http.Server{Handler: benchHandler()}
	if cert, key := os.Getenv(benchCertEnv), os.Getenv(benchKeyEnv); cert != "" {
		pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
		if err != nil {
			os.Exit(1)
		}
		// HTTP/2 and HTTP/1.1 offered, as benchTLSServer does.
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"}}
		go func() { _ = srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { _ = srv.Serve(ln) }()
	}
	_, _ = os.Stdout.WriteString(ln.Addr().String() + "\n")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
}

// benchCertEnv and benchKeyEnv pass the test server certificate and its
// key (PEM) to the out-of-process server: with them it serves TLS.
const (
	benchCertEnv = "DEEPVUE_BENCH_CERT"
	benchKeyEnv  = "DEEPVUE_BENCH_KEY"
)

// benchServer returns the base URL of the loopback server for benchmarks:
// an in-process httptest server, or, with DEEPVUE_BENCH_SERVER=process, this
// test binary re-executed as a separate process (GOMAXPROCS=1), so that
// B/op and allocs/op (and instructions under callgrind) count the client's
// work only.
func benchServer(b *testing.B) string {
	b.Helper()
	if os.Getenv("DEEPVUE_BENCH_SERVER") != "process" {
		srv := httptest.NewServer(benchHandler())
		b.Cleanup(srv.Close)
		return srv.URL
	}
	return "http://" + startBenchProcess(b)
}

// startBenchProcess re-executes this test binary as the benchmark server
// and returns its address; extra is added to its environment.
func startBenchProcess(b *testing.B, extra ...string) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), benchServeEnv+"=1", "GOMAXPROCS=1"), extra...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal("benchmark server did not start:", err)
	}
	return strings.TrimSpace(addr)
}

// benchTLSServer starts a TLS server with the test CA's certificate that
// offers HTTP/2 and HTTP/1.1, as Deepvue's front end may.
// With DEEPVUE_BENCH_SERVER=process it runs in its own process, as
// benchServer's does.
func benchTLSServer(b *testing.B) string {
	b.Helper()
	if os.Getenv("DEEPVUE_BENCH_SERVER") == "process" {
		key, err := x509.MarshalPKCS8PrivateKey(testPKI.leaf.PrivateKey)
		if err != nil {
			b.Fatal(err)
		}
		cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testPKI.leaf.Certificate[0]})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})
		return "https://" + startBenchProcess(b, benchCertEnv+"="+string(cert), benchKeyEnv+"="+string(keyPEM))
	}
	srv := httptest.NewUnstartedServer(benchHandler())
	srv.EnableHTTP2 = true
	srv.TLS = serverTLS()
	srv.StartTLS()
	b.Cleanup(srv.Close)
	return srv.URL
}
