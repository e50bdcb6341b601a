package main

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"slices"
)

// counted is what the attribution build counts so far: per top-level
// bucket, the pages it wrote at commit and its calls ("bucket get",
// "bucket put", ...); and what the commits wrote and how long that took
// (see commitIO). All are nil in other builds.
type counted struct{ pages, ops, io map[string]int }

func countedNow() counted { return counted{bucketPages(), bucketOps(), commitIO()} }

// printCounted writes to stderr, largest first, the KiB each bucket has
// written per item since before was taken, then the calls on each per
// item: nothing unless the bench was built by attribution/run.sh.
func printCounted(before counted, n int, item string) {
	after := countedNow()
	if after.pages == nil {
		return
	}
	page := float64(os.Getpagesize()) / 1024
	printDelta(before.pages, after.pages, func(name string, d, total int) {
		fmt.Fprintf(os.Stderr, "%-22s %6.2f KiB per %s  %4.1f%%\n", cmp.Or(name, "(root)"),
			float64(d)*page/float64(n), item, 100*float64(d)/float64(total))
	})
	fmt.Fprintf(os.Stderr, "bbolt calls per %s:\n", item)
	total := printDelta(before.ops, after.ops, func(name string, d, _ int) {
		fmt.Fprintf(os.Stderr, "%-30s %6.2f\n", name, float64(d)/float64(n))
	})
	fmt.Fprintf(os.Stderr, "%-30s %6.2f\n", "all", float64(total)/float64(n))
	printIO(before.io, after.io, n, item)
}

// printIO writes what the commits since before wrote: how many there were
// per item, and per commit the pages, the runs of adjacent pages they
// formed, and the time spent writing them, syncing them, and writing and
// syncing the meta page.
func printIO(before, after map[string]int, n int, item string) {
	d := func(k string) float64 { return float64(after[k] - before[k]) }
	commits := d("commits")
	if commits == 0 {
		return
	}
	us := func(k string) float64 { return d(k) / commits / 1e3 }
	fmt.Fprintf(os.Stderr, "commits: %.0f, %.3f per %s; per commit %.1f pages in %.1f runs; "+
		"writing them %.0f µs, syncing them %.0f µs, the meta page %.0f µs\n",
		commits, commits/float64(n), item, d("pages")/commits, d("runs")/commits,
		us("write ns"), us("sync ns"), us("meta ns"))
}

// printDelta calls line for each key whose count grew since before,
// largest growth first, and returns the total growth.
func printDelta(before, after map[string]int, line func(name string, d, total int)) int {
	total := 0
	for k, v := range after {
		after[k] = v - before[k]
		total += after[k]
	}
	names := slices.SortedFunc(maps.Keys(after), func(a, b string) int {
		return cmp.Or(cmp.Compare(after[b], after[a]), cmp.Compare(a, b))
	})
	for _, k := range names {
		if after[k] != 0 {
			line(k, after[k], total)
		}
	}
	return total
}
