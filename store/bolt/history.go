package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

// The delivery log keeps each attempt once and finds it through indexes
// whose keys end in the attempt's position, 8 bytes of StartedAt then its
// ID, so every index sorts newest last and one cursor serves them all:
//
//	attempts              attempt ID                → JSON, without the body
//	attempt_bodies        attempt ID                → response body
//	attempts_by_tenant    tenant \0 pos             → ref
//	attempts_by_class     tenant \0 class pos       → ref
//	attempts_by_endpoint  endpoint \0 pos           → ref
//	attempts_by_event     tenant \0 event ID \0 pos → ref
//	attempts_by_message   message \0 pos            → ref
//
// A ref is the attempt's class byte then its message, endpoint and event
// IDs, so every filter but the message's current status is decided from the
// index alone.

// attemptRef is what an index entry says about its attempt.
type attemptRef struct {
	class                          store.StatusClass
	messageID, endpointID, eventID string
}

func (r attemptRef) encode() []byte {
	b := make([]byte, 0, 3+len(r.messageID)+len(r.endpointID)+len(r.eventID))
	b = append(b, byte(r.class))
	b = binary.AppendUvarint(b, uint64(len(r.messageID)))
	b = append(b, r.messageID...)
	b = binary.AppendUvarint(b, uint64(len(r.endpointID)))
	b = append(b, r.endpointID...)
	return append(b, r.eventID...)
}

var errCorruptRef = errors.New("bolt: corrupt attempt index entry")

func decodeRef(v []byte) (attemptRef, error) {
	class, ids, ok := splitRef(v)
	if !ok {
		return attemptRef{}, errCorruptRef
	}
	return attemptRef{class: class, messageID: string(ids[0]), endpointID: string(ids[1]), eventID: string(ids[2])}, nil
}

// splitRef reads a ref in place: its class and its message, endpoint and
// event IDs.
func splitRef(v []byte) (class store.StatusClass, ids [3][]byte, ok bool) {
	if len(v) < 1 {
		return 0, ids, false
	}
	class, v = store.StatusClass(v[0]), v[1:]
	for i := range 2 {
		n, w := binary.Uvarint(v)
		if w <= 0 || n > uint64(len(v)-w) {
			return 0, ids, false
		}
		ids[i], v = v[w:w+int(n)], v[w+int(n):]
	}
	ids[2] = v
	return class, ids, true
}

// attemptIndexCodes are the index-log codes of the attempt indexes.
var attemptIndexCodes = [...]byte{ixAttTenant, ixAttClass, ixAttEndpoint, ixAttEvent, ixAttMessage}

// attemptIndexKey is the key, in the index that code names, of the attempt
// at pos whose tenant is tenantID and whose ref splitRef read as class, ids.
func attemptIndexKey(code byte, tenantID []byte, class store.StatusClass, ids [3][]byte, pos []byte) []byte {
	k := make([]byte, 0, len(tenantID)+len(ids[0])+len(ids[1])+len(ids[2])+len(pos)+3)
	switch code {
	case ixAttTenant:
		k = append(append(k, tenantID...), 0)
	case ixAttClass:
		k = append(append(k, tenantID...), 0, byte(class))
	case ixAttEndpoint:
		k = append(append(k, ids[1]...), 0)
	case ixAttEvent:
		k = append(append(append(append(k, tenantID...), 0), ids[2]...), 0)
	case ixAttMessage:
		k = append(append(k, ids[0]...), 0)
	}
	return append(k, pos...)
}

// encodedAttempt is an attempt ready to be written: encoded outside the
// transaction.
type encodedAttempt struct {
	a    *store.Attempt
	meta []byte // encodeAttempt's record
}

// putAttempt stores an attempt and adds its index entries to ix.
func putAttempt(tx *bbolt.Tx, ix *indexEntries, e encodedAttempt) error {
	a := e.a
	if err := filled(tx, bucketAttempts, appendFill).Put([]byte(a.ID), e.meta); err != nil {
		return err
	}
	if len(a.ResponseBody) > 0 {
		if err := filled(tx, bucketBodies, appendFill).Put([]byte(a.ID), a.ResponseBody); err != nil {
			return err
		}
	}
	ref := attemptRef{class: store.ClassOf(a.StatusCode), messageID: a.MessageID, endpointID: a.EndpointID, eventID: a.EventID}
	ix.putAttempt(a.TenantID, timeKey(a.StartedAt, a.ID), ref.encode())
	return nil
}

// deleteAttempts removes every attempt of a message with its index
// entries; it returns how many it removed. The index log must have been
// applied in tx: it finds them through attempts_by_message.
func deleteAttempts(tx *bbolt.Tx, tenantID, messageID string) (int, error) {
	prefix := tenantPrefix(messageID)
	type entry struct{ pos, ref []byte }
	var entries []entry
	c := tx.Bucket(bucketAttMessage).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		entries = append(entries, entry{bytes.Clone(k[len(prefix):]), bytes.Clone(v)})
	}
	for _, e := range entries {
		if len(e.pos) < 8 {
			continue
		}
		id := e.pos[8:]
		if err := tx.Bucket(bucketAttempts).Delete(id); err != nil {
			return 0, err
		}
		if err := tx.Bucket(bucketBodies).Delete(id); err != nil {
			return 0, err
		}
		class, ids, ok := splitRef(e.ref)
		codes := attemptIndexCodes[:]
		if !ok {
			// At least the message index entry goes.
			codes, ids = []byte{ixAttMessage}, [3][]byte{[]byte(messageID)}
		}
		for _, code := range codes {
			if err := tx.Bucket(deferredBuckets[code]).Delete(attemptIndexKey(code, []byte(tenantID), class, ids, e.pos)); err != nil {
				return 0, err
			}
		}
	}
	return len(entries), nil
}

// AttemptGet implements store.Store.
func (s *Store) AttemptGet(ctx context.Context, tenantID, id string) (*store.Attempt, error) {
	var a *store.Attempt
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		if a, err = getOwned(tx.Bucket(bucketAttempts), []byte(id), tenantID, func(a *store.Attempt) string { return a.TenantID }); err != nil {
			return err
		}
		a.ResponseBody = bytes.Clone(tx.Bucket(bucketBodies).Get([]byte(id)))
		return nil
	})
	return a, err
}

// AttemptList implements store.Store. It walks the narrowest index the
// filters allow: message, event, endpoint, class, then the tenant's.
func (s *Store) AttemptList(ctx context.Context, tenantID string, p store.AttemptListParams) (store.AttemptPage, error) {
	cursor, err := openCursor(p.Cursor)
	if err != nil {
		return store.AttemptPage{}, err
	}
	limit := store.PageLimit(p.Limit)
	if err := s.flushIndexes(ctx); err != nil {
		return store.AttemptPage{}, err
	}
	var page store.AttemptPage
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		page = store.AttemptPage{}
		var (
			b      *bbolt.Bucket
			prefix []byte
		)
		var global bool // keyed by a message or endpoint ID, not the tenant
		switch {
		case p.MessageID != "":
			b, prefix, global = tx.Bucket(bucketAttMessage), tenantPrefix(p.MessageID), true
		case p.EventID != "":
			b, prefix = tx.Bucket(bucketAttEvent), append(tenantKey(tenantID, p.EventID), 0)
		case p.EndpointID != "":
			b, prefix, global = tx.Bucket(bucketAttEndpoint), tenantPrefix(p.EndpointID), true
		case p.StatusClass != store.ClassAny:
			b, prefix = tx.Bucket(bucketAttClass), append(tenantPrefix(tenantID), byte(p.StatusClass))
		default:
			b, prefix = tx.Bucket(bucketAttTenant), tenantPrefix(tenantID)
		}
		before := cursor
		if before == "" && !p.Until.IsZero() {
			before = string(timeKey(p.Until, ""))
		}
		attempts, msgs := tx.Bucket(bucketAttempts), tx.Bucket(bucketMessages)
		if global && !ownedBy(b.Cursor(), prefix, attempts, tenantID) {
			return nil // another tenant's ID: not even a cursor
		}
		status := map[string]bool{} // message ID → matches MessageStatus
		scanned := 0
		var last []byte
		err := scanBackward(b.Cursor(), prefix, before, func(k, v []byte) (bool, error) {
			pos := k[len(prefix):]
			if len(pos) < 8 {
				return true, nil
			}
			if !p.Since.IsZero() && keyTime(pos).Before(p.Since) {
				last = nil // nothing older can match
				return false, nil
			}
			last = pos
			scanned++
			ref, err := decodeRef(v)
			if err != nil {
				return false, err
			}
			if !matchRef(ref, tenantID, p) {
				return scanned < store.MaxAttemptScan, nil
			}
			if p.MessageStatus != "" {
				ok, seen := status[ref.messageID]
				if !seen {
					var m *store.Message
					if err := getRecord(msgs, []byte(ref.messageID), &m); err == nil {
						ok = store.MatchesStatus(p.MessageStatus, m.Status, m.Attempts)
					} else if !errors.Is(err, store.ErrNotFound) {
						return false, err
					}
					status[ref.messageID] = ok
				}
				if !ok {
					return scanned < store.MaxAttemptScan, nil
				}
			}
			var a *store.Attempt
			if err := getRecord(attempts, pos[8:], &a); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return scanned < store.MaxAttemptScan, nil
				}
				return false, err
			}
			if a.TenantID != tenantID {
				return scanned < store.MaxAttemptScan, nil
			}
			if p.WithBodies {
				a.ResponseBody = bytes.Clone(tx.Bucket(bucketBodies).Get(pos[8:]))
			}
			page.Attempts = append(page.Attempts, a)
			return len(page.Attempts) < limit && scanned < store.MaxAttemptScan, nil
		})
		if err != nil {
			return err
		}
		if last == nil {
			return nil
		}
		// More may follow the last entry examined unless it was the first
		// under the prefix.
		c := b.Cursor()
		c.Seek(append(bytes.Clone(prefix), last...))
		if k, _ := c.Prev(); k != nil && bytes.HasPrefix(k, prefix) && len(k) >= len(prefix)+8 &&
			(p.Since.IsZero() || !keyTime(k[len(prefix):]).Before(p.Since)) {
			page.Next = sealCursor(last)
		}
		return nil
	})
	if err != nil {
		return store.AttemptPage{}, err
	}
	return page, nil
}

// ownedBy reports whether the attempts under prefix (all of one message or
// one endpoint, so of one tenant) belong to tenantID, by the newest one.
func ownedBy(c *bbolt.Cursor, prefix []byte, attempts *bbolt.Bucket, tenantID string) bool {
	owned := false
	_ = scanBackward(c, prefix, "", func(k, _ []byte) (bool, error) {
		var a *store.Attempt
		owned = len(k) >= len(prefix)+8 && getRecord(attempts, k[len(prefix)+8:], &a) == nil && a.TenantID == tenantID
		return false, nil
	})
	return owned
}

// An attempt cursor is a position followed by its CRC-32, so a cursor the
// store did not make is refused rather than read as a position.
func sealCursor(pos []byte) string {
	return string(binary.BigEndian.AppendUint32(bytes.Clone(pos), crc32.ChecksumIEEE(pos)))
}

func openCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	if len(c) < 8+4 {
		return "", store.ErrInvalidCursor
	}
	pos, sum := c[:len(c)-4], c[len(c)-4:]
	if binary.BigEndian.Uint32([]byte(sum)) != crc32.ChecksumIEEE([]byte(pos)) {
		return "", store.ErrInvalidCursor
	}
	return pos, nil
}

// matchRef applies the filters an index entry can decide.
func matchRef(r attemptRef, tenantID string, p store.AttemptListParams) bool {
	return (p.MessageID == "" || r.messageID == p.MessageID) &&
		(p.EndpointID == "" || r.endpointID == p.EndpointID) &&
		(p.EventID == "" || r.eventID == p.EventID) &&
		(p.StatusClass == store.ClassAny || r.class == p.StatusClass)
}

// Stats rollups: one record per endpoint and hour, and a per-tenant index
// by hour for the purge.
//
//	stats            endpoint \0 hour          → rollup
//	stats_by_tenant  tenant \0 hour endpoint   → nil
//
// An hour is 8 bytes of Unix nanoseconds of its start. A rollup is the
// attempt, success and failure counts as uvarints, then a histogram.

type rollup struct {
	attempts, successes, failures uint64
	latency                       store.Histogram
}

func decodeRollup(v []byte) (rollup, error) {
	var r rollup
	rest, err := rollupCounts(v, []*uint64{&r.attempts, &r.successes, &r.failures})
	if err != nil {
		return rollup{}, err
	}
	return r, r.latency.UnmarshalBinary(rest)
}

// rollupCounts decodes a rollup's counts into dst and returns the
// histogram that follows them.
func rollupCounts(v []byte, dst []*uint64) ([]byte, error) {
	for _, d := range dst {
		n, w := binary.Uvarint(v)
		if w <= 0 {
			return nil, errors.New("bolt: corrupt stats rollup")
		}
		*d, v = n, v[w:]
	}
	return v, nil
}

// addToRollup returns the rollup encoded in v (nil: empty) with one
// attempt added, editing the encoding in place of decoding it.
func addToRollup(v []byte, success bool, d time.Duration) ([]byte, error) {
	var attempts, successes, failures uint64
	hist := v
	if v != nil {
		var err error
		if hist, err = rollupCounts(v, []*uint64{&attempts, &successes, &failures}); err != nil {
			return nil, err
		}
	}
	attempts++
	if success {
		successes++
	} else {
		failures++
	}
	b := make([]byte, 0, len(v)+5*binary.MaxVarintLen64)
	for _, n := range [...]uint64{attempts, successes, failures} {
		b = binary.AppendUvarint(b, n)
	}
	return store.AppendAdd(b, hist, d)
}

// recordStats adds an attempt to its endpoint's rollup for its hour.
func recordStats(q *qtx, a *store.Attempt) error {
	hour := a.StartedAt.UTC().Truncate(time.Hour)
	key := append(tenantPrefix(a.EndpointID), timeKey(hour, "")...)
	stats := q.tx.Bucket(bucketStats)
	v := q.get(stats, key)
	if v == nil {
		if err := q.tx.Bucket(bucketStatsByTenant).Put(append(tenantPrefix(a.TenantID), timeKey(hour, a.EndpointID)...), nil); err != nil {
			return err
		}
	}
	success := a.ErrorClass == store.ErrorNone && store.ClassOf(a.StatusCode) == store.Class2xx
	next, err := addToRollup(v, success, a.Duration)
	if err != nil { // a corrupt hour restarts rather than blocking outcomes
		next, err = addToRollup(nil, success, a.Duration)
	}
	if err != nil {
		return err
	}
	return stats.Put(key, next)
}

// EndpointStats implements store.Store.
func (s *Store) EndpointStats(ctx context.Context, p store.EndpointStatsParams) (store.EndpointStats, error) {
	var out store.EndpointStats
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		out = store.EndpointStats{}
		var ep *store.Endpoint
		if err := getRecord(tx.Bucket(bucketEndpoints), tenantKey(p.TenantID, p.EndpointID), &ep); err != nil {
			return err
		}
		out.Enabled, out.Disabled = ep.Enabled, ep.DisabledReason
		if v := tx.Bucket(bucketEpState).Get([]byte(p.EndpointID)); v != nil {
			if st, err := decodeState(v); err == nil {
				out.Health = st.Health
			}
		}
		out.Since, out.Until = hourRange(p.Since, p.Until)
		prefix := tenantPrefix(p.EndpointID)
		c := tx.Bucket(bucketStats).Cursor()
		k, v := c.Seek(append(bytes.Clone(prefix), timeKey(out.Since, "")...))
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if !out.Until.IsZero() && !keyTime(k[len(prefix):]).Before(out.Until) {
				break
			}
			r, err := decodeRollup(v)
			if err != nil {
				return fmt.Errorf("bolt: stats of %q: %w", p.EndpointID, err)
			}
			out.Attempts += int64(r.attempts)
			out.Successes += int64(r.successes)
			out.Failures += int64(r.failures)
			out.Latency.Merge(&r.latency)
		}
		return nil
	})
	return out, err
}

// hourRange widens [since, until) to whole hours; zero stays unbounded.
func hourRange(since, until time.Time) (time.Time, time.Time) {
	if !since.IsZero() {
		since = since.UTC().Truncate(time.Hour)
	}
	if !until.IsZero() {
		if t := until.UTC().Truncate(time.Hour); t.Before(until) {
			until = t.Add(time.Hour)
		} else {
			until = t
		}
	}
	return since, until.UTC()
}
