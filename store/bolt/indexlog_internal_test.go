package bolt

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

// What a write transaction stages counts for it at once, for the others
// only once it commits, and never if it rolls back.
func TestPendingIdem_follows_the_transaction(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "t.db"), 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	p := &pendingIdem{keys: map[string]string{}}
	key := []byte("acme\x00evt_1")
	found := func(tx *bbolt.Tx) string {
		v, ok := p.lookup(tx, key)
		if !ok {
			return ""
		}
		return string(v)
	}

	rolledBack, err := db.Begin(true)
	require.NoError(t, err)
	p.stage(rolledBack, key, "evk_1")
	require.Equal(t, "evk_1", found(rolledBack))
	require.NoError(t, rolledBack.Rollback())

	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		require.Empty(t, found(tx), "a rolled-back stage is gone")
		p.stage(tx, key, "evk_2")
		return nil
	}))
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		require.Equal(t, "evk_2", found(tx), "a committed stage is pending")
		p.applied(tx, key, []byte("evk_2"))
		require.Empty(t, found(tx), "applied in this transaction: the bucket answers")
		return nil
	}))
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		require.Empty(t, found(tx), "applied and committed")
		// Logged and applied by one transaction: nothing stays pending.
		p.stage(tx, key, "evk_3")
		p.applied(tx, key, []byte("evk_3"))
		return nil
	}))
	require.Empty(t, p.keys)

	// A key pending for an old event while a newer one takes its ID (the
	// old one's window has passed): applying the old entry keeps the new.
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		p.stage(tx, key, "evk_old")
		return nil
	}))
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		p.stage(tx, key, "evk_new")
		return nil
	}))
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		p.applied(tx, key, []byte("evk_old"))
		require.Equal(t, "evk_new", found(tx))
		return nil
	}))
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		require.Equal(t, "evk_new", found(tx))
		p.applied(tx, key, []byte("evk_new"))
		return nil
	}))
	require.Empty(t, p.keys)
}

// An index log record read from the file decodes to what was encoded, or
// is refused whole; it never panics. A record that encodes what a valid
// one decoded to is that record again.
func FuzzIndexLogRecord(f *testing.F) {
	var good indexEntries
	good.put(ixIdem, []byte("acme\x00evt_1"), []byte("evk_1"))
	good.put(ixTenantEvents, []byte("acme\x00\x00\x00\x00\x00\x00\x00\x00\x01evk_1"), nil)
	f.Add([]byte(good))
	good.putAttempt("acme", []byte("\x00\x00\x00\x00\x00\x00\x00\x01att_1"), attemptRef{class: store.Class2xx, messageID: "msg_1", endpointID: "ep_1", eventID: "evt_1"}.encode())
	f.Add([]byte(good))
	f.Add([]byte{})
	f.Add([]byte{ixAttempt})
	f.Add([]byte{ixAttempt + 1})
	f.Add([]byte{ixIdem, 0x80})
	f.Add([]byte{ixIdem, 5, 'a'})
	f.Fuzz(func(t *testing.T, rec []byte) {
		if validIndexRecord(rec) != nil {
			return
		}
		var again indexEntries
		byCode := map[byte][]string{}
		require.NoError(t, eachIndexEntry(rec, allIndexes, func(code byte, key, val []byte) error {
			require.Less(t, int(code), len(deferredBuckets))
			again.put(code, key, val)
			byCode[code] = append(byCode[code], string(key)+"="+string(val))
			return nil
		}))
		// One index at a time yields that index's entries of the whole.
		for code := range deferredBuckets {
			var only []string
			require.NoError(t, eachIndexEntry(rec, code, func(c byte, key, val []byte) error {
				require.Equal(t, byte(code), c)
				only = append(only, string(key)+"="+string(val))
				return nil
			}))
			require.Equal(t, byCode[byte(code)], only)
		}
		// Uvarint lengths can be written long; the shortest form is the same
		// entries, so it must decode alike.
		var twice indexEntries
		require.NoError(t, eachIndexEntry(again, allIndexes, func(code byte, key, val []byte) error {
			twice.put(code, key, val)
			return nil
		}))
		require.Equal(t, []byte(again), []byte(twice))
	})
}

// A flush takes what was noted before it began: what it took counts while
// it runs and, if it fails, after; what is noted meanwhile waits for the
// next flush.
func TestEventTimes_follow_the_flushes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var e eventTimes
	require.False(t, e.mayHoldBefore(t0.Add(time.Hour)), "nothing noted")
	e.note(t0.Add(time.Minute))
	e.note(t0)
	require.True(t, e.mayHoldBefore(t0.Add(time.Nanosecond)))
	require.False(t, e.mayHoldBefore(t0), "the oldest is t0")

	failed := e.begin()
	require.True(t, e.mayHoldBefore(t0.Add(time.Nanosecond)), "taken by a flush still running")
	e.end(failed, false)
	require.True(t, e.mayHoldBefore(t0.Add(time.Nanosecond)), "given back by the failed flush")

	flush := e.begin()
	e.note(t0.Add(time.Hour)) // committed after the flush began
	e.end(flush, true)
	require.False(t, e.mayHoldBefore(t0.Add(time.Hour)))
	require.True(t, e.mayHoldBefore(t0.Add(time.Hour+time.Nanosecond)), "left for the next flush")

	e.end(e.begin(), true)
	e.cur.unknown = true // as Open marks a log it found
	require.True(t, e.mayHoldBefore(time.Time{}))
	e.end(e.begin(), true)
	require.False(t, e.mayHoldBefore(t0.Add(time.Hour*24)))
}
