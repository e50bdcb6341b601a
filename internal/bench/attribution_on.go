//go:build attribution

package main

import bolt "go.etcd.io/bbolt"

// bucketPages returns how many pages each top-level bucket has written at
// commit so far, and bucketOps how many calls each has taken. This build
// links the patched bbolt of attribution/run.sh.
func bucketPages() map[string]int { return bolt.SpillPages() }
func bucketOps() map[string]int   { return bolt.OpCounts() }
