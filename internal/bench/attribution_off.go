//go:build !attribution

package main

// bucketPages is nil: counting pages per bucket takes the patched bbolt
// that attribution/run.sh builds with.
func bucketPages() map[string]int { return nil }
