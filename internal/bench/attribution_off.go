//go:build !attribution

package main

// bucketPages and bucketOps are nil: counting per bucket takes the patched
// bbolt that attribution/run.sh builds with.
func bucketPages() map[string]int { return nil }
func bucketOps() map[string]int   { return nil }
