package bolt

import (
	"os"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// bbolt reads its file through a shared read-only mapping. Every page a
// transaction reads, and with the kernel's fault-around its cached
// neighbours, stays mapped into the process until the mapping is replaced,
// so resident memory grows towards the file's size although the store holds
// none of it. The trimmer drops those mappings now and then: the pages stay
// in the kernel's page cache and the next read maps them again at the cost
// of a minor fault.

// trimFloor is the file size below which trimming is not worth its faults.
const trimFloor = 64 << 20

func (s *Store) trimLoop(every time.Duration) {
	defer close(s.trimDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
			s.trim()
		}
	}
}

// trimmable checks that the file's committed size lies inside it. bbolt
// keeps its mapping at least that large from then on, but does not check a
// file cut short; there the madvise range could run past the mapping and
// zero whatever memory follows it, so such a file is never trimmed.
func (s *Store) trimmable() bool {
	fi, err := os.Stat(s.db.Path())
	if err != nil {
		return false
	}
	var inside bool
	_ = s.db.View(func(tx *bbolt.Tx) error {
		inside = tx.Size() <= fi.Size()
		return nil
	})
	return inside
}

// trim drops the process's mappings of the file's pages. It runs inside a
// read transaction, which holds bbolt's mapping in place: a remap waits
// for every open transaction.
func (s *Store) trim() {
	_ = s.db.View(func(tx *bbolt.Tx) error {
		if n := tx.Size(); n >= trimFloor {
			dropMapped(s.db.Info().Data, n)
		}
		return nil
	})
}
