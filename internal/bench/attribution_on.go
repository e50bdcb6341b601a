//go:build attribution

package main

import bolt "go.etcd.io/bbolt"

// bucketPages returns how many pages each top-level bucket has written at
// commit so far, bucketOps how many calls each has taken, and commitIO
// what the commits have written and how long it took. This build links the
// patched bbolt of attribution/run.sh.
func bucketPages() map[string]int { return bolt.SpillPages() }
func bucketOps() map[string]int   { return bolt.OpCounts() }
func commitIO() map[string]int    { return bolt.IOCounts() }
