package bolt

import (
	"bytes"
	"context"
	"sync"

	bbolt "go.etcd.io/bbolt"
)

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

// AsFormat7 rewrites the index log as format 7 wrote it: an attempt's
// attempts_by_message entry in its bucket, its other entries one by one.
func AsFormat7(tx *bbolt.Tx) error {
	log := tx.Bucket(bucketIndexLog)
	recs := map[string]indexEntries{}
	err := log.ForEach(func(k, v []byte) error {
		var old indexEntries
		recs[string(k)] = nil
		return eachIndexEntry(v, allIndexes, func(code byte, key, val []byte) error {
			if code == ixAttMessage {
				return tx.Bucket(bucketAttMessage).Put(bytes.Clone(key), bytes.Clone(val))
			}
			old.put(code, key, val)
			recs[string(k)] = old
			return nil
		})
	})
	if err != nil {
		return err
	}
	for k, rec := range recs {
		if err := log.Put([]byte(k), rec); err != nil {
			return err
		}
	}
	return nil
}

// AsFormat9Event rewrites the event stored under key as format 9 did: its
// record without the messages, which event_messages lists.
func AsFormat9Event(tx *bbolt.Tx, key string) error {
	events := tx.Bucket(bucketEvents)
	ev, err := decodeEvent(events.Get([]byte(key)))
	if err != nil {
		return err
	}
	refs := ev.Messages
	ev.Messages = nil
	v, err := encodeEvent(ev)
	if err != nil {
		return err
	}
	if err := events.Put([]byte(key), asEventV1(v, len(ev.Payload))); err != nil {
		return err
	}
	for _, r := range refs {
		if err := tx.Bucket(bucketEventMsgs).Put(tenantKey(key, r.MessageID), []byte(r.EndpointID)); err != nil {
			return err
		}
	}
	return nil
}

// HoldWriter occupies the writer until release is called, so that the
// writes queued meanwhile share its next commit.
func (s *Store) HoldWriter() (release func()) {
	started, held, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once sync.Once
	go func() {
		defer close(done)
		_ = s.c.write(context.Background(), func(*bbolt.Tx) error {
			once.Do(func() { close(started) })
			<-held
			return nil
		})
	}()
	<-started
	return func() { close(held); <-done }
}

// QueuedWrites is how many writes wait for the writer.
func (s *Store) QueuedWrites() int { return len(s.c.ops) }

// MaxIndexRecord is the size past which grouped writes start a new index
// log record.
const MaxIndexRecord = maxIndexRecord
