package bolt

import (
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
		case <-s.trimQuit:
			return
		case <-t.C:
			s.trim()
		}
	}
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
