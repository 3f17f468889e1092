package main

// benchratio callgrind: instructions per call of the SDK and of the
// hand-written call, counted by valgrind's callgrind, client only (the
// benchmark server runs in its own process). Instruction counts do not
// depend on what the neighbours of a shared machine do, which wall-clock
// ratios do.
//
//	CGO_ENABLED=0 go test -c -o deepvue.test .
//	go run ./internal/benchratio callgrind ./deepvue.test
//	CGO_ENABLED=0 go test -c -o deepvueotel.test ./deepvueotel/
//	go run ./internal/benchratio callgrind -otel ./deepvueotel.test
//
// Each benchmark runs twice, N1 and N2 calls; per call is the difference
// divided by N2-N1, so that start-up cancels out. Over a socket the Go
// runtime's idle loop (runtime.sysmon, runtime.findRunnable) runs while the
// client waits for the server and grows with wall time, so on a loaded
// machine the raw count drifts by a few per cent; the "net" column leaves
// those two functions out (callgrind_annotate's inclusive counts) and is the
// one to compare. The parallel32 pairs (32 goroutines on GOMAXPROCS=1) also
// count the connections, and TLS handshakes, a run happens to open: they
// move by 5-25 % between runs, so repeat them and look at the spread. The
// in-memory pair runs with GOGC=off: its figure is the
// client's own work without the collector, whose cost shows in B/op.
//
// valgrind 3.19 cannot run a Go 1.26 binary as it is: the runtime reads the
// clock with RDTSCP (an instruction valgrind rejects) and preempts with
// signals that trip a callgrind assertion, hence
// GODEBUG=cpu.rdtscp=off,asyncpreemptoff=1. A run that still crashes is
// retried.

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

type cgPair struct {
	label     string
	sdk, hand string // -test.bench patterns
	n1, n2    int
	gogcOff   bool
}

var cgPairs = []cgPair{
	{"loopback serial", `BenchmarkGenerateOTP$/^SDK$/^serial$`, `BenchmarkGenerateOTP$/^HandTuned$/^serial$`, 300, 2300, false},
	{"TLS serial (HTTP/1.1)", `BenchmarkGenerateOTPTLS/^SDK$/^serial$`, `BenchmarkGenerateOTPTLS/^HandTunedHTTP1$/^serial$`, 300, 1800, false},
	{"loopback parallel32", `BenchmarkGenerateOTP$/^SDK$/^parallel32$`, `BenchmarkGenerateOTP$/^HandTuned$/^parallel32$`, 300, 2300, false},
	{"TLS parallel32", `BenchmarkGenerateOTPTLS/^SDK$/^parallel32$`, `BenchmarkGenerateOTPTLS/^HandTunedHTTP1$/^parallel32$`, 300, 1800, false},
	{"in-memory (GOGC=off)", `BenchmarkClientOverhead/^SDK$`, `BenchmarkClientOverhead/^Hand$`, 500, 3000, true},
	// A short error answer full of digits (issue 26): the scrubber's cost
	// beside the decoding; its bytes are the figure with a target.
	{"error 1KiB (GOGC=off)", `BenchmarkAnswerSize$/^error$/^1KiB$/^SDK$`, `BenchmarkAnswerSize$/^error$/^1KiB$/^Hand$`, 300, 1300, true},
	// The audit hook (issue 26): a call with a no-op AuditFunc against one
	// without (the "hand" column), in memory.
	{"audit hook (GOGC=off)", `BenchmarkAuditHook$/^noop$`, `BenchmarkAuditHook$/^none$`, 500, 3000, true},
}

// otelPairs are deepvueotel's (-otel, with deepvueotel's test binary): a
// call observed through no-op providers, through the global ones with
// nothing installed, and through the SDK's (every span sampled, a manual
// reader), against the same call with no Observer (the "hand" column), in
// memory and over loopback.
var otelPairs = []cgPair{
	{"otel no-op (GOGC=off)", `BenchmarkObserver$/^noop$`, `BenchmarkObserver$/^none$`, 500, 3000, true},
	{"otel global (GOGC=off)", `BenchmarkObserver$/^global$`, `BenchmarkObserver$/^none$`, 500, 3000, true},
	{"otel SDK (GOGC=off)", `BenchmarkObserver$/^sdk$`, `BenchmarkObserver$/^none$`, 500, 3000, true},
	// The same over loopback HTTP, the server in a process of its own (as
	// the core's loopback pair): the observer's cost against a whole call.
	{"otel no-op loopback", `BenchmarkObserver$/^loopback$/^noop$`, `BenchmarkObserver$/^loopback$/^none$`, 300, 2300, false},
	{"otel global loopback", `BenchmarkObserver$/^loopback$/^global$`, `BenchmarkObserver$/^loopback$/^none$`, 300, 2300, false},
	{"otel SDK loopback", `BenchmarkObserver$/^loopback$/^sdk$`, `BenchmarkObserver$/^loopback$/^none$`, 300, 2300, false},
}

type cgResult struct {
	raw, net      float64 // instructions per call
	bytes, allocs string  // of the N2 run
}

func runCallgrind(args []string) error {
	fs := flag.NewFlagSet("callgrind", flag.ExitOnError)
	only := fs.String("only", "", "run only the pairs whose label contains this (loopback, TLS, serial, parallel32, in-memory, error, audit)")
	otel := fs.Bool("otel", false, "the binary is deepvueotel's test binary: its pairs (the Observer with no-op and with SDK providers, against none)")
	keep := fs.String("dir", "", "keep callgrind's files in this directory (default: a temporary one, removed)")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: benchratio callgrind [-only loopback|TLS|in-memory|audit] [-otel] [-dir DIR] ./deepvue.test (built with CGO_ENABLED=0)")
	}
	bin, err := filepath.Abs(fs.Arg(0))
	if err != nil {
		return err
	}
	dir := *keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "benchratio-cg-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	fmt.Printf("%-24s %-5s %12s %12s %9s %8s\n", "pair", "", "Ir/call net", "Ir/call raw", "B/op", "allocs")
	pairs := cgPairs
	if *otel {
		pairs = otelPairs
	}
	for _, p := range pairs {
		if *only != "" && !strings.Contains(p.label, *only) {
			continue
		}
		var res [2]cgResult
		for i, bench := range []string{p.sdk, p.hand} {
			if res[i], err = callgrindPerCall(bin, dir, bench, p.n1, p.n2, p.gogcOff); err != nil {
				return fmt.Errorf("%s: %w", p.label, err)
			}
		}
		for i, who := range []string{"SDK", "hand"} {
			fmt.Printf("%-24s %-5s %12.0f %12.0f %9s %8s\n", p.label, who, res[i].net, res[i].raw, res[i].bytes, res[i].allocs)
		}
		target := "   (target <= 1.05)"
		switch {
		case strings.HasPrefix(p.label, "error"):
			target = "   (no target: bytes at most 2x)"
		case strings.HasPrefix(p.label, "audit"):
			target = "   (target: at most +6 allocations)"
		case strings.HasPrefix(p.label, "otel SDK"), strings.HasPrefix(p.label, "otel global"):
			target = "   (no target)"
		}
		fmt.Printf("%-24s %-5s %12.3f %12.3f%s\n", p.label, "ratio", res[0].net/res[1].net, res[0].raw/res[1].raw, target)
	}
	return nil
}

// callgrindPerCall runs bench n1 and n2 times under callgrind.
func callgrindPerCall(bin, dir, bench string, n1, n2 int, gogcOff bool) (cgResult, error) {
	var tot, idle [2]float64
	var out []byte
	for i, n := range []int{n1, n2} {
		file := filepath.Join(dir, fmt.Sprintf("cg.%x.%d", len(bench)*131+n, n))
		var err error
		for try := 0; try < 8; try++ {
			out, err = callgrindOnce(bin, file, bench, n, gogcOff)
			if err == nil {
				break
			}
		}
		if err != nil {
			return cgResult{}, err
		}
		if tot[i], idle[i], err = callgrindTotals(file); err != nil {
			return cgResult{}, err
		}
	}
	res := cgResult{raw: (tot[1] - tot[0]) / float64(n2-n1), net: ((tot[1] - idle[1]) - (tot[0] - idle[0])) / float64(n2-n1)}
	if m := regexp.MustCompile(`(\d+) B/op\s+(\d+) allocs/op`).FindSubmatch(out); m != nil {
		res.bytes, res.allocs = string(m[1]), string(m[2])
	}
	return res, nil
}

func callgrindOnce(bin, file, bench string, n int, gogcOff bool) ([]byte, error) {
	// The counts are dumped as the benchmark's result is printed (file.1):
	// a valgrind that then crashes at exit, as it often does under the Go
	// runtime, still leaves them.
	os.Remove(file + ".1")
	cmd := exec.Command("valgrind", "--tool=callgrind", "--callgrind-out-file="+file,
		"--dump-before=testing.BenchmarkResult.String", bin,
		"-test.run", "^$", "-test.bench", bench, "-test.benchtime", strconv.Itoa(n)+"x", "-test.benchmem")
	cmd.Env = append(os.Environ(), "DEEPVUE_BENCH_SERVER=process", "GOMAXPROCS=1",
		"GODEBUG=cpu.rdtscp=off,asyncpreemptoff=1")
	if gogcOff {
		cmd.Env = append(cmd.Env, "GOGC=off")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if st, serr := os.Stat(file + ".1"); serr == nil && st.Size() > 0 && bytes.Contains(out, []byte("allocs/op")) {
		if rerr := os.Rename(file+".1", file); rerr == nil {
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("valgrind %s %dx: %w (%s)", bench, n, err, lastLine(stderr.String()))
	}
	if !bytes.Contains(out, []byte("allocs/op")) {
		return nil, fmt.Errorf("valgrind %s %dx: no benchmark ran (is the pattern anchored on the full name?)", bench, n)
	}
	return out, nil
}

// callgrindTotals returns a profile's total instructions and those of the
// runtime's idle loop (inclusive).
func callgrindTotals(file string) (total, idle float64, err error) {
	out, err := exec.Command("callgrind_annotate", "--inclusive=yes", "--threshold=100", file).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("callgrind_annotate: %w", err)
	}
	row := regexp.MustCompile(`^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$`)
	fnName := regexp.MustCompile(`^\S+:(\S+)`)
	seen := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
		name := m[2]
		if strings.HasPrefix(name, "PROGRAM TOTALS") {
			total = v
			continue
		}
		// "file:function [binary]"; recursive entries end in 'N.
		if f := fnName.FindStringSubmatch(name); f != nil && (f[1] == "runtime.sysmon" || f[1] == "runtime.findRunnable") {
			name = f[1]
			seen[name] = max(seen[name], v)
		}
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("callgrind_annotate %s: no total", file)
	}
	return total, seen["runtime.sysmon"] + seen["runtime.findRunnable"], nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
