package main

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"slices"
)

// counted is what the attribution build counts per top-level bucket so
// far: the pages it wrote at commit, and its calls ("bucket get", "bucket
// put", ...). Both are nil in other builds.
type counted struct{ pages, ops map[string]int }

func countedNow() counted { return counted{bucketPages(), bucketOps()} }

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
