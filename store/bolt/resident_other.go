//go:build !linux

package bolt

// dropMapped does nothing where the trimmer is not implemented.
func dropMapped(uintptr, int64) {}
