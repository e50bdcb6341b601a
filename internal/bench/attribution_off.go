//go:build !attribution

package main

// bucketPages, bucketOps and commitIO are nil: counting takes the patched
// bbolt that attribution/run.sh builds with.
func bucketPages() map[string]int { return nil }
func bucketOps() map[string]int   { return nil }
func commitIO() map[string]int    { return nil }
