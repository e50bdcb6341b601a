package bolt

import "syscall"

// dropMapped unmaps n bytes of the shared file mapping at addr from the
// process's page tables (MADV_DONTNEED); the file and page cache keep the
// data. Errors only mean the pages stay resident.
func dropMapped(addr uintptr, n int64) {
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(n), syscall.MADV_DONTNEED)
}
