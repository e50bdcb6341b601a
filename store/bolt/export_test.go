package bolt

import bbolt "go.etcd.io/bbolt"

// Trim runs one pass of the resident-memory trimmer.
func (s *Store) Trim() { s.trim() }

// RawDB is the file as it is, without applying the index log first.
func (s *Store) RawDB() *bbolt.DB { return s.db }

// ApplyIndexOnly writes one index's entries from the log, as one pass of
// the indexer does before a crash, and leaves the records in the log.
func (s *Store) ApplyIndexOnly(code byte) error {
	return s.db.Update(func(tx *bbolt.Tx) error { return s.applyEntries(tx, nil, int(code)) })
}

const IxIdem = ixIdem
