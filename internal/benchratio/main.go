// Command benchratio reads `go test -bench` output made of several rounds
// (each round runs every benchmark once, back to back) and prints, for the
// comparisons BENCHMARKS.md states targets for, the median of the per-round
// ratios. Pairing within a round cancels most of the drift of a shared
// machine, which a comparison of two independent medians does not.
//
//	for i in $(seq 10); do go test -run '^$' -bench . -benchmem -count 1 .; done > bench.txt
//	go run ./internal/benchratio bench.txt
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
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchratio bench.txt")
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
	for _, c := range []struct{ a, b, label, target string }{
		{sdkS, tunS, "SDK serial cost / hand-tuned serial", "<= 1.10"},
		{sdkP, tunP, "SDK parallel32 cost / hand-tuned parallel32", "<= 1.10"},
		{docP, sdkP, "SDK parallel32 throughput / doc-style parallel32", ">= 1.5"},
		{sdkS, docS, "SDK serial cost / doc-style serial", ""},
		{ovSDK, ovHnd, "SDK cost / hand, in-memory transport", ""},
	} {
		var rs []float64
		for _, r := range rounds {
			a, okA := r[c.a]
			b, okB := r[c.b]
			if okA && okB && b.ns > 0 {
				rs = append(rs, a.ns/b.ns)
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
		for _, p := range [][2]string{{sdkS, tunS}, {sdkP, tunP}} {
			if a, ok := r[p[0]]; ok {
				fmt.Printf("allocs/op %s %.0f vs %s %.0f: %+.0f (target <= +10)\n", p[0], a.allocs, p[1], r[p[1]].allocs, a.allocs-r[p[1]].allocs)
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
