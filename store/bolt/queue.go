package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

// The delivery queue is kept per endpoint, so that a claim's cost depends on
// how many endpoints have work, never on how deep one endpoint's backlog is:
//
//	intake  seq                   → message ID   published, not yet queued
//	queue   endpoint \0 seq       → message ID   every live message, in publish order
//	due     endpoint \0 time msg  → nil          waiting messages, by due time
//	leases  time msg              → nil          leased messages, by lease end
//	ready   time endpoint         → nil          endpoints that may have work at time
//	epstate endpoint              → epState      leased count, hold, health (state.go)
//
// A message is in exactly one of due (waiting) and leases (delivering) while
// live, and in queue until it is final. An endpoint is in ready at most once,
// at the time its state records.
//
// A publish does not queue its messages: it appends each to the intake,
// keyed by its queue sequence, and the next claim moves the intake into the
// per-endpoint buckets (admit). Publishes to many endpoints would otherwise
// each rewrite a page of queue, due, endpoint_messages and endpoint_state
// per endpoint per commit; appended to one bucket, a commit's messages share
// its last page, and a claim queues everything published since the last
// one together. Until then a message waits in its record and in no
// endpoint's queue: claims and endpoint deletes admit first (the purge
// only deletes final messages, so it need not); a retry of such a message
// only moves its due time; a reopened message goes through the intake too,
// so Seq order holds.

// epState is the store's per-endpoint scheduling state.
type epState struct {
	TenantID string `json:"tenant_id"`
	// FIFO mirrors the endpoint's flag, refreshed on every visit and update.
	FIFO bool `json:"fifo,omitempty"`
	// Leased counts the endpoint's messages under a lease.
	Leased int `json:"leased,omitempty"`
	// Hold is set by Admit: not visited before then.
	Hold time.Time `json:"hold,omitzero"`
	// Blocked: at its cap (or held by Admit) until a leased message ends.
	Blocked bool `json:"blocked,omitempty"`
	// Ready is the endpoint's key time in the ready bucket; zero if absent.
	Ready  time.Time            `json:"ready,omitzero"`
	Health store.EndpointHealth `json:"health"`
}

// qtx wraps a write transaction with the queue buckets and caches the
// endpoint states it touches; flush writes them back, and the index
// entries collected, to the index log.
type qtx struct {
	tx                                             *bbolt.Tx
	msgs, intake, queue, due, leases, ready, state *bbolt.Bucket
	states                                         map[string]*epState // nil value: no state
	dirty                                          map[string]bool
	ix                                             indexEntries // for the index log
	// shared: the committer writes the states and index entries once its
	// transaction's writes are done (committer.qtx), not flush. cuts are
	// the ends of the index log records ix is split into, at the end of a
	// write once a record holds maxIndexRecord bytes.
	shared bool
	cuts   []int
	// cursors: see cursor.
	cursors [maxCursors]bucketCursor
}

// maxIndexRecord is the size past which a shared qtx starts a new index
// log record: a record is dropped whole if it cannot be decoded, and a
// record larger than a page takes pages of its own.
const maxIndexRecord = 1024

func newQtx(tx *bbolt.Tx) *qtx {
	return &qtx{
		tx: tx, msgs: filled(tx, bucketMessages, messageFill), intake: filled(tx, bucketIntake, appendFill), queue: tx.Bucket(bucketQueue),
		due: tx.Bucket(bucketDue), leases: tx.Bucket(bucketLeases),
		ready: tx.Bucket(bucketReady), state: tx.Bucket(bucketEpState),
		states: map[string]*epState{}, dirty: map[string]bool{},
	}
}

// getState returns the endpoint's state, nil if it has none. A state that
// cannot be decoded is rebuilt from the endpoint's oldest live message: it
// only steers scheduling (its leased count restarts at 0, which at worst
// lets the endpoint exceed its cap once).
func (q *qtx) getState(endpointID string) *epState {
	if st, ok := q.states[endpointID]; ok {
		return st
	}
	var st *epState
	if v := q.get(q.state, []byte(endpointID)); v != nil {
		var err error
		if st, err = decodeState(v); err != nil {
			st = &epState{}
			if m, _, err := q.head(endpointID); err == nil && m != nil {
				st.TenantID = m.TenantID
			}
			q.dirty[endpointID] = true
		}
	}
	q.states[endpointID] = st
	return st
}

// stateFor returns the endpoint's state, creating it for a new endpoint.
func (q *qtx) stateFor(tenantID, endpointID string) *epState {
	st := q.getState(endpointID)
	if st == nil {
		st = &epState{TenantID: tenantID}
		var ep *store.Endpoint
		if getRecord(q.tx.Bucket(bucketEndpoints), tenantKey(tenantID, endpointID), &ep) == nil {
			st.FIFO = ep.FIFO
		}
		q.states[endpointID] = st
		q.dirty[endpointID] = true
	}
	return st
}

func (q *qtx) touch(endpointID string) { q.dirty[endpointID] = true }

// dropState removes the endpoint's state and its ready entry.
func (q *qtx) dropState(endpointID string) error {
	if st := q.getState(endpointID); st != nil {
		if err := q.setReady(endpointID, st, time.Time{}); err != nil {
			return err
		}
	}
	q.states[endpointID] = nil
	delete(q.dirty, endpointID)
	return q.state.Delete([]byte(endpointID))
}

// flush ends a write's use of q: it writes the dirty states and the index
// entries, or for a shared q leaves them to the committer.
func (q *qtx) flush() error {
	if q.shared {
		last := 0
		if n := len(q.cuts); n > 0 {
			last = q.cuts[n-1]
		}
		if len(q.ix)-last >= maxIndexRecord {
			q.cuts = append(q.cuts, len(q.ix))
		}
		return nil
	}
	return q.write()
}

// write writes the dirty states and the index entries.
func (q *qtx) write() error {
	for id := range q.dirty {
		st := q.states[id]
		if st == nil {
			continue
		}
		v, err := encodeState(st)
		if err != nil {
			return err
		}
		if err := q.state.Put([]byte(id), v); err != nil {
			return err
		}
	}
	clear(q.dirty)
	return q.writeIndexEntries()
}

// writeIndexEntries appends the index entries to the log.
func (q *qtx) writeIndexEntries() error {
	cuts := q.cuts
	q.cuts = nil
	return q.ix.write(q.tx, cuts)
}

// setReady moves the endpoint in the ready bucket to t (out when t is zero).
func (q *qtx) setReady(endpointID string, st *epState, t time.Time) error {
	if st.Ready.Equal(t) {
		return nil
	}
	q.touch(endpointID)
	if !st.Ready.IsZero() {
		if err := q.del(q.ready, timeKey(st.Ready, endpointID)); err != nil {
			return err
		}
	}
	st.Ready = t
	if t.IsZero() {
		return nil
	}
	return q.ready.Put(timeKey(t, endpointID), nil)
}

// offer makes the endpoint ready by t unless it is blocked or already ready
// sooner; the hold still applies.
func (q *qtx) offer(endpointID string, st *epState, t time.Time) error {
	if st.Blocked {
		return nil
	}
	t = later(t, st.Hold)
	if !st.Ready.IsZero() && !t.Before(st.Ready) {
		return nil
	}
	return q.setReady(endpointID, st, t)
}

// reschedule recomputes when the endpoint may next have work: its next due
// message (for FIFO, its head if that waits), not before its hold nor floor.
// capacity is its cap when known (0: unknown or none).
func (q *qtx) reschedule(endpointID string, st *epState, capacity int, floor time.Time) error {
	if capacity > 0 && st.Leased >= capacity {
		st.Blocked = true
		q.touch(endpointID)
	}
	var t time.Time
	if !st.Blocked {
		var err error
		if t, err = q.nextDue(endpointID, st.FIFO); err != nil {
			return err
		}
		if !t.IsZero() {
			t = later(later(t, st.Hold), floor)
		}
	}
	return q.setReady(endpointID, st, t)
}

// nextDue is when the endpoint's next message is due: its earliest waiting
// message, or for FIFO its head, if the head waits (zero otherwise).
func (q *qtx) nextDue(endpointID string, fifo bool) (time.Time, error) {
	if !fifo {
		prefix := tenantPrefix(endpointID)
		k, _ := q.cursor(q.due).Seek(prefix)
		if k == nil || !bytes.HasPrefix(k, prefix) || len(k) < len(prefix)+8 {
			return time.Time{}, nil
		}
		return keyTime(k[len(prefix):]), nil
	}
	m, _, err := q.head(endpointID)
	if err != nil || m == nil || m.Status == store.StatusDelivering {
		return time.Time{}, err
	}
	return m.NextAttemptAt, nil
}

// head returns a FIFO endpoint's oldest live message and its queue key; a
// head whose record is missing is dropped from the queue, one that cannot be
// decoded is returned as a corruptError.
func (q *qtx) head(endpointID string) (*store.Message, []byte, error) {
	prefix := tenantPrefix(endpointID)
	c := q.queue.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Seek(prefix) {
		var m *store.Message
		err := readRecord(q, q.msgs, v, &m)
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && m.Status.Final()):
			// Dangling: nothing live is queued under this key.
			if err := q.queue.Delete(k); err != nil {
				return nil, nil, err
			}
			continue
		case err != nil:
			return nil, bytes.Clone(k), &corruptError{err}
		}
		return m, bytes.Clone(k), nil
	}
	return nil, nil, nil
}

// index adds the message to the due or leases bucket per its state.
func (q *qtx) index(m *store.Message) error {
	switch {
	case m.Status.Final() || m.NextAttemptAt.IsZero():
		return nil
	case m.Status == store.StatusDelivering:
		// The value names the endpoint, to free its slot even if the
		// message record is lost.
		return q.leases.Put(timeKey(m.NextAttemptAt, m.ID), []byte(m.EndpointID))
	default:
		return q.due.Put(dueKey(m.EndpointID, m.NextAttemptAt, m.ID), nil)
	}
}

// unindex removes the message from the due or leases bucket.
func (q *qtx) unindex(m *store.Message) error {
	switch {
	case m.Status.Final() || m.NextAttemptAt.IsZero():
		return nil
	case m.Status == store.StatusDelivering:
		return q.del(q.leases, timeKey(m.NextAttemptAt, m.ID))
	default:
		return q.del(q.due, dueKey(m.EndpointID, m.NextAttemptAt, m.ID))
	}
}

// move changes a live message's state and due time, keeping the indexes
// in step, and stores it. Final states leave the queue.
func (q *qtx) move(m *store.Message, status store.MessageStatus, next time.Time, now time.Time) error {
	if err := q.unindex(m); err != nil {
		return err
	}
	m.Status, m.NextAttemptAt, m.UpdatedAt = status, next, now
	if status != store.StatusDelivering {
		m.LeaseToken = 0
	}
	if status.Final() {
		m.NextAttemptAt = time.Time{}
		if err := q.del(q.queue, queueKey(m.EndpointID, m.Seq)); err != nil {
			return err
		}
	}
	if err := q.index(m); err != nil {
		return err
	}
	return putRecord(q.msgs, []byte(m.ID), m)
}

// endpointExists reports whether the message's endpoint is still stored.
func (q *qtx) endpointExists(m *store.Message) bool {
	return q.get(q.tx.Bucket(bucketEndpoints), tenantKey(m.TenantID, m.EndpointID)) != nil
}

// endLease frees a leased message's slot at its endpoint: it may be
// offered more again.
func (q *qtx) endLease(m *store.Message, now time.Time) error {
	st := q.getState(m.EndpointID)
	if st == nil {
		return nil
	}
	st.Leased = max(st.Leased-1, 0)
	st.Blocked = false
	q.touch(m.EndpointID)
	return q.reschedule(m.EndpointID, st, 0, time.Time{})
}

// releaseExpired puts the messages whose lease ended by now back in their
// endpoint's queue, due now and their attempt uncounted; messages of a
// deleted endpoint are cancelled.
func (q *qtx) releaseExpired(now time.Time) error {
	var keys, eps [][]byte
	c := q.leases.Cursor()
	for k, v := c.First(); k != nil && len(keys) < maxSweep && keyTime(k).Compare(now) <= 0; k, v = c.Next() {
		keys, eps = append(keys, bytes.Clone(k)), append(eps, bytes.Clone(v))
	}
	for i, k := range keys {
		var m *store.Message
		err := readRecord(q, q.msgs, k[8:], &m)
		if err != nil || m.Status != store.StatusDelivering || !bytes.Equal(k, timeKey(m.NextAttemptAt, m.ID)) {
			// Nothing is leased under this key any more.
			if err := q.leases.Delete(k); err != nil {
				return err
			}
			if err != nil && len(eps[i]) > 0 {
				// The record is lost or unreadable: free its slot.
				if err := q.endLease(&store.Message{EndpointID: string(eps[i])}, now); err != nil {
					return err
				}
			}
			continue
		}
		status, next := m.WaitingStatus(), now
		if !q.endpointExists(m) {
			status, next = store.StatusCancelled, time.Time{}
		}
		if err := q.move(m, status, next, now); err != nil {
			return err
		}
		if err := q.endLease(m, now); err != nil {
			return err
		}
	}
	return nil
}

// maxSweep bounds how many expired leases one claim releases.
const maxSweep = 1024

// admitBatch bounds how many published messages a claim queues: more than
// that wait for the admitter, so that a claim stays short however large
// the intake has grown (after a stop, say). The admitter, and an endpoint
// delete, queue the intake in writes of maxAdmit: larger writes share more
// pages per message, so a large intake is queued sooner.
const (
	admitBatch = 256
	maxAdmit   = 4096
)

// admit queues up to limit messages from the intake, oldest first, starting
// at key from (nil: the first): each goes to the back of its endpoint's
// queue at its Seq, due at its NextAttemptAt, and the endpoint is offered
// for then. The intake entry holds all that takes, so admitting reads no
// message record, except to cancel a message whose endpoint was deleted
// meanwhile. It returns the key after the last entry it took (nil at the
// end).
func (q *qtx) admit(from []byte, limit int, now time.Time) (next []byte, err error) {
	type entry struct{ k, v []byte }
	var entries []entry
	c := q.intake.Cursor()
	k, v := c.First()
	if from != nil {
		k, v = c.Seek(from)
	}
	for ; k != nil && len(entries) < limit; k, v = c.Next() {
		entries = append(entries, entry{bytes.Clone(k), bytes.Clone(v)})
	}
	if k != nil {
		next = bytes.Clone(k)
	}
	for _, e := range entries {
		if err := q.del(q.intake, e.k); err != nil {
			return nil, err
		}
		m, ok := parseIntake(e.k, e.v)
		if !ok {
			continue // not written by this store; nothing to queue
		}
		if err := q.queueAdmitted(m, now); err != nil {
			return nil, err
		}
	}
	return next, nil
}

// queueAdmitted puts a message from the intake in its endpoint's queue; m
// holds only what the intake entry does.
func (q *qtx) queueAdmitted(m *store.Message, now time.Time) error {
	q.putEndpointMessage(m)
	if !q.endpointExists(m) {
		var rec *store.Message
		if err := readRecord(q, q.msgs, []byte(m.ID), &rec); err != nil || rec.Status.Final() || rec.Status == store.StatusDelivering {
			return nil // gone, unreadable (nothing to deliver either way) or not waiting
		}
		return q.move(rec, store.StatusCancelled, time.Time{}, now)
	}
	if err := q.queue.Put(queueKey(m.EndpointID, m.Seq), []byte(m.ID)); err != nil {
		return err
	}
	if err := q.index(m); err != nil {
		return err
	}
	return q.offer(m.EndpointID, q.stateFor(m.TenantID, m.EndpointID), m.NextAttemptAt)
}

// toIntake gives a waiting message the next Seq, stores it and appends it
// to the intake. Every message enters its endpoint's queue this way, so the
// queue's Seq order is the intake's: a reopened message cannot pass one
// published before it and not yet admitted.
func (q *qtx) toIntake(m *store.Message) error {
	seq, err := q.queue.NextSequence()
	if err != nil {
		return err
	}
	m.Seq = seq
	if err := putRecord(q.msgs, []byte(m.ID), m); err != nil {
		return err
	}
	return q.putIntake(m)
}

// putIntake writes the message's intake entry: its due and creation times,
// then its ID, tenant and endpoint, separated by NUL (which none holds).
func (q *qtx) putIntake(m *store.Message) error {
	v := binary.BigEndian.AppendUint64(nil, unixNano(m.NextAttemptAt))
	v = binary.BigEndian.AppendUint64(v, unixNano(m.CreatedAt))
	v = append(append(append(append(append(v, m.ID...), 0), m.TenantID...), 0), m.EndpointID...)
	return q.intake.Put(intakeKey(m.Seq), v)
}

func parseIntake(k, v []byte) (*store.Message, bool) {
	if len(k) != 8 || len(v) < 16 {
		return nil, false
	}
	parts := bytes.Split(v[16:], []byte{0})
	if len(parts) != 3 {
		return nil, false
	}
	return &store.Message{ID: string(parts[0]), TenantID: string(parts[1]), EndpointID: string(parts[2]),
		Seq: binary.BigEndian.Uint64(k), Status: store.StatusPending,
		NextAttemptAt: keyTime(v), CreatedAt: keyTime(v[8:])}, true
}

func intakeKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// inIntake reports whether the message waits in the intake.
func (q *qtx) inIntake(m *store.Message) bool {
	return m.Seq != 0 && q.intake.Get(intakeKey(m.Seq)) != nil
}

// intakeWaiting reports whether published messages wait to be queued.
func (q *qtx) intakeWaiting() bool {
	k, _ := q.intake.Cursor().First()
	return k != nil
}

// admitLoop is the admitter: woken by a claim that left messages in the
// intake, it queues them in writes of maxAdmit until none is left.
func (s *Store) admitLoop() {
	defer close(s.admitDone)
	for {
		select {
		case <-s.closing:
			return
		case <-s.admitWake:
		}
		for {
			select {
			case <-s.closing: // what is left waits in the file for the next claim
				return
			default:
			}
			next, err := s.admitWrite(context.Background(), nil, time.Now().UTC())
			// On an error the next claim admits, and wakes this again.
			if err != nil || next == nil {
				break
			}
		}
	}
}

// wakeAdmitter asks the admitter to drain the intake.
func (s *Store) wakeAdmitter() {
	select {
	case s.admitWake <- struct{}{}:
	default:
	}
}

// admitAll queues every message published before it was called, in
// bounded writes.
func (s *Store) admitAll(ctx context.Context, now time.Time) error {
	var last []byte
	if err := s.view(ctx, func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(bucketIntake).Cursor().Last()
		last = bytes.Clone(k)
		return nil
	}); err != nil || last == nil {
		return err
	}
	var from []byte
	for {
		next, err := s.admitWrite(ctx, from, now)
		if err != nil || next == nil || bytes.Compare(next, last) > 0 {
			return err
		}
		from = next
	}
}

// admitWrite queues up to maxAdmit intake entries from key from (nil: the
// first) in one write, and returns the key to go on from (nil: none left).
func (s *Store) admitWrite(ctx context.Context, from []byte, now time.Time) ([]byte, error) {
	var next []byte
	err := s.c.write(ctx, func(tx *bbolt.Tx) error {
		q := s.c.qtx(tx)
		var err error
		if next, err = q.admit(from, maxAdmit, now); err != nil {
			return err
		}
		return q.flush()
	})
	return next, err
}

// nextWake is the earliest ready time or lease end; zero if neither.
func (q *qtx) nextWake() time.Time {
	var t time.Time
	if k, _ := q.ready.Cursor().First(); k != nil {
		t = keyTime(k)
	}
	if k, _ := q.leases.Cursor().First(); k != nil {
		if lt := keyTime(k); t.IsZero() || lt.Before(t) {
			t = lt
		}
	}
	return t
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// timeKey is 8 bytes of Unix nanoseconds then id: keys sort by time.
func timeKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, unixNano(t))
	return append(k, id...)
}

func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC()
}

func unixNano(t time.Time) uint64 {
	if n := t.UnixNano(); n > 0 {
		return uint64(n)
	}
	return 0
}

func dueKey(endpointID string, t time.Time, msgID string) []byte {
	k := make([]byte, 0, len(endpointID)+9+len(msgID))
	k = append(append(k, endpointID...), 0)
	k = binary.BigEndian.AppendUint64(k, unixNano(t))
	return append(k, msgID...)
}

func queueKey(endpointID string, seq uint64) []byte {
	k := make([]byte, 0, len(endpointID)+9)
	k = append(append(k, endpointID...), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}
