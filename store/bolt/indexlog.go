package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// The index log. The indexes keyed by tenant, endpoint or message (the
// tenant's events and idempotency keys, the endpoint's messages, the
// attempt indexes) are written by a background indexer, not by the write
// that makes their entries.
//
// A write into such an index rewrites that tenant's or endpoint's page of
// it, and the writes sharing a commit mostly belong to different tenants,
// so each entry cost a page of its own: measured, these indexes were most
// of what a publish or a delivery wrote. A write instead appends its index
// entries to the index log, which only grows at its end, in the same
// transaction as the data they index; the writes a commit groups append
// theirs together, in records of about maxIndexRecord bytes. Every
// IndexInterval the indexer moves the log into the indexes, in writes that
// hold many entries for each tenant, so one page write serves them all.
//
// Whatever reads these indexes first applies the log written before it
// (flushIndexes); a write that deletes from them applies it in its own
// transaction (indexed), as a purge does before it finds attempts by their
// message. Those reads therefore wait for the writer. The one entry a write
// consults, the idempotency key, is also kept in memory until applied
// (pendingIdem).
//
//	index_log  seq → entries, each: bucket code (or ixAttempt), uvarint
//	                 key length, key, uvarint value length, value

// Bucket codes of the index log: positions in deferredBuckets.
const (
	ixIdem byte = iota
	ixTenantEvents
	ixEndpointMessages
	ixAttTenant
	ixAttClass
	ixAttEndpoint
	ixAttEvent
	ixAttMessage
)

var deferredBuckets = [...][]byte{
	ixIdem:             bucketIdem,
	ixTenantEvents:     bucketTenantEvents,
	ixEndpointMessages: bucketEpMsgs,
	ixAttTenant:        bucketAttTenant,
	ixAttClass:         bucketAttClass,
	ixAttEndpoint:      bucketAttEndpoint,
	ixAttEvent:         bucketAttEvent,
	ixAttMessage:       bucketAttMessage,
}

// timeOrdered marks the indexes whose entries arrive in key order under
// their tenant, endpoint or message (the key ends in a time), so their
// pages are packed like a time-ordered bucket's (messageFill rather than
// appendFill: a page is shared with the next prefix's entries, which a
// split at 100% would leave on pages of two keys). The idempotency keys and
// the attempts by event sort by an ID the host chooses.
var timeOrdered = [len(deferredBuckets)]bool{
	ixTenantEvents: true, ixEndpointMessages: true,
	ixAttTenant: true, ixAttClass: true, ixAttEndpoint: true, ixAttMessage: true,
}

// ixAttempt is not an index: one entry under it stands for an attempt's
// five attempt index entries (attemptIndexKey), so the log holds the
// attempt's ref once rather than five times. Its key is the uvarint length
// of the tenant ID, the tenant ID, then the attempt's position; its value
// is the ref.
const ixAttempt = byte(len(deferredBuckets))

// indexBatch bounds the bytes of log records one pass of flushIndexes
// applies (at least one record).
const indexBatch = 512 << 10

var errCorruptIndexLog = errors.New("bolt: corrupt index log record")

// indexEntries collects one write's index entries, for one log record.
type indexEntries []byte

func (e *indexEntries) put(code byte, key, val []byte) {
	b := append(*e, code)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(val)))
	*e = append(b, val...)
}

// write appends the entries to the log, as one record or split at the
// offsets cuts (ascending, at entry boundaries), and empties e.
func (e *indexEntries) write(tx *bbolt.Tx, cuts []int) error {
	if len(*e) == 0 {
		return nil
	}
	log := filled(tx, bucketIndexLog, appendFill)
	all := *e
	*e = nil // all stays untouched: bbolt holds it until the commit
	start := 0
	for _, end := range append(cuts, len(all)) {
		if end <= start {
			continue
		}
		seq, err := log.NextSequence()
		if err != nil {
			return err
		}
		if err := log.Put(binary.BigEndian.AppendUint64(nil, seq), all[start:end:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// putAttempt adds an attempt's index entries as one ixAttempt entry.
func (e *indexEntries) putAttempt(tenantID string, pos, ref []byte) {
	var n [binary.MaxVarintLen64]byte
	w := binary.PutUvarint(n[:], uint64(len(tenantID)))
	b := append(*e, ixAttempt)
	b = binary.AppendUvarint(b, uint64(w+len(tenantID)+len(pos)))
	b = append(append(append(b, n[:w]...), tenantID...), pos...)
	b = binary.AppendUvarint(b, uint64(len(ref)))
	*e = append(b, ref...)
}

// eachIndexEntry calls fn with each entry of a log record whose code is
// only (allIndexes: every code), an ixAttempt entry standing for the
// entries it holds. It reads the whole record whatever only is, so it
// finds a record corrupt for every only alike.
func eachIndexEntry(rec []byte, only int, fn func(code byte, key, val []byte) error) error {
	wanted := func(code byte) bool { return only == allIndexes || int(code) == only }
	for len(rec) > 0 {
		code := rec[0]
		if code > ixAttempt {
			return errCorruptIndexLog
		}
		rec = rec[1:]
		var kv [2][]byte
		for i := range kv {
			n, w := binary.Uvarint(rec)
			if w <= 0 || n > uint64(len(rec)-w) {
				return errCorruptIndexLog
			}
			kv[i], rec = rec[w:w+int(n)], rec[w+int(n):]
		}
		if code != ixAttempt {
			if wanted(code) {
				if err := fn(code, kv[0], kv[1]); err != nil {
					return err
				}
			}
			continue
		}
		key, ref := kv[0], kv[1]
		n, w := binary.Uvarint(key)
		if w <= 0 || n > uint64(len(key)-w) || len(key)-w-int(n) < 8 {
			return errCorruptIndexLog
		}
		tenantID, pos := key[w:w+int(n)], key[w+int(n):]
		class, ids, ok := splitRef(ref)
		if !ok {
			return errCorruptIndexLog
		}
		for _, code := range attemptIndexCodes {
			if wanted(code) {
				if err := fn(code, attemptIndexKey(code, tenantID, class, ids, pos), ref); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// allIndexes, given to applyEntries, applies the entries of every index.
const allIndexes = -1

// applyEntries writes into their index the entries of the log records up
// to the key last (nil: all) that belong to the index only (allIndexes:
// every one). A record that cannot be decoded is skipped whole, and then
// dropped with the rest: the data its entries index stays stored but is
// no longer found through these indexes, while refusing the record would
// stop every read of them.
func (s *Store) applyEntries(tx *bbolt.Tx, last []byte, only int) error {
	var buckets [len(deferredBuckets)]*bbolt.Bucket
	for i, name := range deferredBuckets {
		buckets[i] = tx.Bucket(name)
		if timeOrdered[i] {
			buckets[i].FillPercent = messageFill
		}
	}
	type entry struct {
		code     byte
		key, val []byte
	}
	var entries []entry
	collect := func(code byte, key, val []byte) error {
		entries = append(entries, entry{code, key, val})
		return nil
	}
	c := tx.Bucket(bucketIndexLog).Cursor()
	for k, v := c.First(); k != nil && (last == nil || bytes.Compare(k, last) <= 0); k, v = c.Next() {
		entries = entries[:0]
		if eachIndexEntry(v, only, collect) != nil {
			continue // decoded whole first, so none of it is applied
		}
		for _, e := range entries {
			if e.code == ixIdem {
				s.idem.applied(tx, e.key, e.val)
			}
			if err := buckets[e.code].Put(e.key, e.val); err != nil {
				return err
			}
		}
	}
	return nil
}

// validIndexRecord decodes a record without using it, so Open skips a
// corrupt one whole rather than load half of it.
func validIndexRecord(rec []byte) error {
	return eachIndexEntry(rec, allIndexes, func(byte, []byte, []byte) error { return nil })
}

// dropRecords deletes the log records up to the key last (nil: all).
func dropRecords(tx *bbolt.Tx, last []byte) error {
	log := tx.Bucket(bucketIndexLog)
	var keys [][]byte
	c := log.Cursor()
	for k, _ := c.First(); k != nil && (last == nil || bytes.Compare(k, last) <= 0); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := log.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// flushIndexes applies every log record written before it was called, so
// a read that follows finds the indexes complete. It goes in passes of up
// to indexBatch bytes of records, and writes each index of a pass in a
// transaction of its own, so that no one commit holds the writer long; the
// pass's records go last. Applying an entry twice writes the same, so a
// crash between these writes loses nothing: the records are applied again.
// Flushes take turns: one that finds another under way waits for it, then
// applies only what that one left.
func (s *Store) flushIndexes(ctx context.Context) (err error) {
	select {
	case s.flushing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.flushing }()
	m := s.times.begin()
	defer func() { s.times.end(m, err == nil) }()
	var bound []byte
	for {
		var last []byte
		if err := s.view(ctx, func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketIndexLog).Cursor()
			if bound == nil {
				k, _ := c.Last()
				bound = bytes.Clone(k)
			}
			n := 0
			for k, v := c.First(); k != nil && bytes.Compare(k, bound) <= 0 && n < indexBatch; k, v = c.Next() {
				last, n = k, n+len(v)
			}
			last = bytes.Clone(last)
			return nil
		}); err != nil || last == nil {
			return err
		}
		for code := range deferredBuckets {
			if err := s.c.write(ctx, func(tx *bbolt.Tx) error { return s.applyEntries(tx, last, code) }); err != nil {
				return err
			}
		}
		if err := s.c.write(ctx, func(tx *bbolt.Tx) error { return dropRecords(tx, last) }); err != nil {
			return err
		}
		if bytes.Equal(last, bound) {
			return nil
		}
	}
}

// indexed applies, in a write's own transaction, the whole log: a write
// that deletes index entries must not have them written back after it.
func (s *Store) indexed(tx *bbolt.Tx) error {
	// What the transaction's earlier writes logged counts too.
	if err := s.c.qtx(tx).writeIndexEntries(); err != nil {
		return err
	}
	if err := s.applyEntries(tx, nil, allIndexes); err != nil {
		return err
	}
	return dropRecords(tx, nil)
}

// indexLoop is the indexer.
func (s *Store) indexLoop(every time.Duration) {
	defer close(s.indexDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.closing
		cancel()
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.closing: // what is left waits in the file, for a read or the indexer after the next Open
			return
		case <-t.C:
		}
		_ = s.flushIndexes(ctx) // on an error the next tick tries again
	}
}

// pendingIdem holds the idempotency keys whose entries wait in the index
// log, so a publish finds a duplicate before the indexer has written it.
// What a write transaction stages or applies counts for that transaction
// at once, and for the others once it commits; a transaction that rolls
// back leaves no trace.
type pendingIdem struct {
	mu   sync.Mutex
	keys map[string]string // tenant \0 event ID → event key
	// tx is the write transaction that staged add (entries it logged) and
	// done (entries it applied to the idempotency bucket).
	tx        *bbolt.Tx
	add, done map[string]string
}

func (p *pendingIdem) begin(tx *bbolt.Tx) {
	if p.tx == tx {
		return
	}
	p.tx, p.add, p.done = tx, map[string]string{}, map[string]string{}
	tx.OnCommit(func() { p.commit(tx) })
}

func (p *pendingIdem) commit(tx *bbolt.Tx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tx != tx {
		return
	}
	for k, v := range p.done {
		if p.keys[k] == v {
			delete(p.keys, k)
		}
	}
	for k, v := range p.add {
		p.keys[k] = v
	}
	p.tx, p.add, p.done = nil, nil, nil
}

// stage records that tx logged the key's entry.
func (p *pendingIdem) stage(tx *bbolt.Tx, key []byte, eventKey string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.begin(tx)
	p.add[string(key)] = eventKey
}

// applied records that tx wrote the key's entry to the idempotency bucket.
func (p *pendingIdem) applied(tx *bbolt.Tx, key, eventKey []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.begin(tx)
	if v, ok := p.add[string(key)]; ok && v == string(eventKey) {
		delete(p.add, string(key)) // logged and applied by tx alike
		return
	}
	p.done[string(key)] = string(eventKey)
}

// lookup returns the event key a pending entry gives the key, as tx sees
// it; false when the idempotency bucket holds the answer.
func (p *pendingIdem) lookup(tx *bbolt.Tx, key []byte) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ours := p.tx == tx
	if v, ok := p.add[string(key)]; ours && ok {
		return []byte(v), true
	}
	v, ok := p.keys[string(key)]
	if !ok || ours && p.done[string(key)] == v {
		return nil, false
	}
	return []byte(v), true
}

// load fills keys from the log, as Open finds it.
func (p *pendingIdem) load(tx *bbolt.Tx) error {
	p.keys = map[string]string{}
	return tx.Bucket(bucketIndexLog).ForEach(func(_, v []byte) error {
		if validIndexRecord(v) != nil {
			return nil // skipped when applied
		}
		return eachIndexEntry(v, int(ixIdem), func(code byte, key, val []byte) error {
			if code == ixIdem {
				p.keys[string(key)] = string(val)
			}
			return nil
		})
	})
}

// eventTimes tracks how old the events are whose tenant_events entries may
// still wait in the index log, so that a purge applies the log first only
// when one of them may be old enough to purge (mayHoldBefore). A purge runs
// for every tenant in turn: applying the log for each, while publishes and
// deliveries kept it filling, wrote every index once per tenant purged, in
// passes of a few entries each.
//
// A flush takes what was noted before it began (begin) and gives it back
// if it fails (end); an event is noted once its publish has committed, so
// one committed after a flush took its bound is noted for the next flush.
type eventTimes struct {
	mu       sync.Mutex
	cur      timeMark
	inflight map[*timeMark]struct{}
}

// timeMark is what eventTimes knows of some entries of the log.
type timeMark struct {
	any     bool      // some entries were noted
	oldest  time.Time // the oldest of them, when any
	unknown bool      // the entries were in the log at Open: their times are not known
}

func (m *timeMark) merge(o timeMark) {
	if o.any && (!m.any || o.oldest.Before(m.oldest)) {
		m.any, m.oldest = true, o.oldest
	}
	m.unknown = m.unknown || o.unknown
}

func (m *timeMark) before(t time.Time) bool {
	return m.unknown || m.any && m.oldest.Before(t)
}

// note records that a committed write logged the entry of an event created at.
func (e *eventTimes) note(at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cur.merge(timeMark{any: true, oldest: at})
}

// begin hands a flush what was noted so far.
func (e *eventTimes) begin() *timeMark {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := new(timeMark)
	*m, e.cur = e.cur, timeMark{}
	if e.inflight == nil {
		e.inflight = map[*timeMark]struct{}{}
	}
	e.inflight[m] = struct{}{}
	return m
}

// end closes a flush: what it took stays noted unless it applied the log.
func (e *eventTimes) end(m *timeMark, applied bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.inflight, m)
	if !applied {
		e.cur.merge(*m)
	}
}

// mayHoldBefore reports whether the log may hold the entry of an event
// created before t.
func (e *eventTimes) mayHoldBefore(t time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur.before(t) {
		return true
	}
	for m := range e.inflight {
		if m.before(t) {
			return true
		}
	}
	return false
}
