package main

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"slices"
)

// printBucketPages writes to stderr, largest first, the KiB each bucket
// has written per item since before was taken: nothing unless the bench
// was built by attribution/run.sh.
func printBucketPages(before map[string]int, n int, item string) {
	after := bucketPages()
	if after == nil {
		return
	}
	total := 0
	for b, p := range after {
		after[b] = p - before[b]
		total += after[b]
	}
	names := slices.SortedFunc(maps.Keys(after), func(a, b string) int { return cmp.Compare(after[b], after[a]) })
	for _, b := range names {
		if after[b] == 0 {
			continue
		}
		name := cmp.Or(b, "(root)")
		fmt.Fprintf(os.Stderr, "%-22s %6.2f KiB per %s  %4.1f%%\n", name,
			float64(after[b])*float64(os.Getpagesize())/1024/float64(n), item, 100*float64(after[b])/float64(total))
	}
}
