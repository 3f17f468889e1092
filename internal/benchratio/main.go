// Command benchratio reads `go test -bench` output made of several rounds
// (each round runs every benchmark once, back to back) and prints, for the
// comparisons BENCHMARKS.md states targets for, the median of the per-round
// ratios. Pairing within a round cancels most of the drift of a shared
// machine, which a comparison of two independent medians does not.
//
//	for i in $(seq 10); do go test -run '^$' -bench . -benchmem -count 1 .; done > bench.txt
//	go run ./internal/benchratio bench.txt
//
// With "callgrind" it counts instructions per call instead (see
// callgrind.go):
//
//	CGO_ENABLED=0 go test -c -o deepvue.test .
//	go run ./internal/benchratio callgrind ./deepvue.test
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
)

var line = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:.*?\s(\d+) allocs/op)?`)

type result struct{ ns, allocs float64 }

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "callgrind" {
		if err := runCallgrind(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchratio bench.txt | benchratio callgrind ./deepvue.test")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	seen := map[string]int{}
	var rounds []map[string]result
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		allocs, _ := strconv.ParseFloat(m[3], 64)
		r := seen[m[1]]
		seen[m[1]]++
		for len(rounds) <= r {
			rounds = append(rounds, map[string]result{})
		}
		rounds[r][m[1]] = result{ns, allocs}
	}
	const (
		sdkS, sdkP   = "GenerateOTP/SDK/serial", "GenerateOTP/SDK/parallel32"
		tunS, tunP   = "GenerateOTP/HandTuned/serial", "GenerateOTP/HandTuned/parallel32"
		docS, docP   = "GenerateOTP/HandDocStyle/serial", "GenerateOTP/HandDocStyle/parallel32"
		ovSDK, ovHnd = "ClientOverhead/SDK", "ClientOverhead/Hand"
	)
	const tls = "GenerateOTPTLS/"
	for _, c := range []struct {
		a      string
		b      []string // the fastest of these in the round
		label  string
		target string
	}{
		{sdkS, []string{tunS}, "SDK serial cost / hand-tuned serial", "<= 1.05"},
		{sdkP, []string{tunP}, "SDK parallel32 cost / hand-tuned parallel32", "<= 1.05"},
		{docP, []string{sdkP}, "SDK parallel32 throughput / doc-style parallel32", ">= 1.5"},
		{sdkS, []string{docS}, "SDK serial cost / doc-style serial", ""},
		{ovSDK, []string{ovHnd}, "SDK cost / hand, in-memory transport", ""},
		{tls + "SDK/serial", []string{tls + "HandTunedHTTP1/serial", tls + "HandTunedHTTP2/serial"}, "TLS: SDK serial / best hand-tuned serial", "<= 1.05"},
		{tls + "SDK/parallel32", []string{tls + "HandTunedHTTP1/parallel32", tls + "HandTunedHTTP2/parallel32"}, "TLS: SDK parallel32 / best hand-tuned parallel32", "<= 1.05"},
		{tls + "SDKBeforeHTTP2/serial", []string{tls + "HandTunedHTTP1/serial", tls + "HandTunedHTTP2/serial"}, "TLS: SDK 0.1 (HTTP/2) serial / best hand-tuned", "before"},
		{tls + "SDKBeforeHTTP2/parallel32", []string{tls + "HandTunedHTTP1/parallel32", tls + "HandTunedHTTP2/parallel32"}, "TLS: SDK 0.1 (HTTP/2) parallel32 / best hand-tuned", "before"},
		{tls + "HandTunedHTTP2/serial", []string{tls + "HandTunedHTTP1/serial"}, "TLS: hand-tuned HTTP/2 / HTTP/1.1, serial", ""},
		{tls + "HandTunedHTTP2/parallel32", []string{tls + "HandTunedHTTP1/parallel32"}, "TLS: hand-tuned HTTP/2 / HTTP/1.1, parallel32", ""},
		{tls + "HandDocStyle/parallel32", []string{tls + "SDK/parallel32"}, "TLS: SDK parallel32 throughput / doc-style", ""},
	} {
		var rs []float64
		for _, r := range rounds {
			a, okA := r[c.a]
			best := 0.0
			for _, name := range c.b {
				if x, ok := r[name]; ok && x.ns > 0 && (best == 0 || x.ns < best) {
					best = x.ns
				}
			}
			if okA && best > 0 {
				rs = append(rs, a.ns/best)
			}
		}
		if len(rs) == 0 {
			continue
		}
		sort.Float64s(rs)
		fmt.Printf("%-50s median %.3f  (min %.3f, max %.3f, %d rounds)  target %s\n",
			c.label, median(rs), rs[0], rs[len(rs)-1], len(rs), c.target)
	}
	if len(rounds) > 0 {
		r := rounds[0]
		for _, p := range [][2]string{{sdkS, tunS}, {sdkP, tunP}, {tls + "SDK/serial", tls + "HandTunedHTTP1/serial"}, {tls + "SDK/parallel32", tls + "HandTunedHTTP1/parallel32"}} {
			if a, ok := r[p[0]]; ok {
				fmt.Printf("allocs/op %s %.0f vs %s %.0f: %+.0f (target <= +6)\n", p[0], a.allocs, p[1], r[p[1]].allocs, a.allocs-r[p[1]].allocs)
			}
		}
	}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
