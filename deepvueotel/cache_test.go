package deepvueotel

import (
	"strconv"
	"sync"
	"testing"
)

// TestCacheBuildsOnceAndStaysBounded: a key's value is built once and
// shared; past maxCached keys, values are built per call and not kept; and
// concurrent readers and writers agree (run with -race).
func TestCacheBuildsOnceAndStaysBounded(t *testing.T) {
	var c cache[string, string]
	builds := 0
	build := func(k string) func() string {
		return func() string { builds++; return "v" + k }
	}
	if a, b := c.get("x", build("x")), c.get("x", build("x")); a != b || *a != "vx" || builds != 1 {
		t.Fatalf("built %d times, %q %q", builds, *a, *b)
	}
	for i := 0; i < 2*maxCached; i++ {
		k := strconv.Itoa(i)
		if v := c.get(k, build(k)); *v != "v"+k {
			t.Fatalf("key %s: %q", k, *v)
		}
	}
	if n := len(*c.m.Load()); n != maxCached {
		t.Fatalf("%d keys kept, want %d", n, maxCached)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				k := strconv.Itoa(i % 50)
				if v := c.get(k, func() string { return "v" + k }); *v != "v"+k {
					t.Errorf("key %s: %q", k, *v)
					return
				}
			}
		}()
	}
	wg.Wait()
}
