// Package bolt is the default webhook store: one bbolt file on local disk.
//
// Writes from concurrent callers are group-committed: every write queued while
// a commit is in progress shares the next transaction and its fsync, so
// throughput is not capped by the disk's fsync rate. A bbolt file is locked by
// one process at a time; use a shared database store for several replicas.
package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

var _ store.Store = (*Store)(nil)

// Bucket names. Keys joining a tenant ID with another ID use a NUL separator,
// which tenant IDs may not contain.
var (
	bucketEventTypes = []byte("event_types") // name → JSON
	bucketEndpoints  = []byte("endpoints")   // tenant \0 endpoint ID → JSON
	bucketEvents     = []byte("events")      // event key → encoded event
	bucketIdem       = []byte("idempotency") // tenant \0 event ID → event key
	bucketMessages   = []byte("messages")    // message ID → record (message.go)
	bucketQueue      = []byte("queue")       // see queue.go
	bucketIntake     = []byte("intake")
	bucketDue        = []byte("due_by_endpoint")
	bucketLeases     = []byte("leases")
	bucketReady      = []byte("ready")
	bucketEpState    = []byte("endpoint_state")
	bucketDead       = []byte("exhausted")          // tenant \0 message ID → endpoint ID
	bucketDeadByEp   = []byte("exhausted_endpoint") // endpoint ID \0 message ID → nil
	bucketDeleting   = []byte("deleting")           // endpoint ID → nil, while its messages are being cancelled
	bucketMeta       = []byte("meta")               // "format" → formatVersion
	// The history: see history.go for attempts and stats.
	bucketEventMsgs     = []byte("event_messages")    // event key \0 message ID → endpoint ID, before format 10
	bucketTenantEvents  = []byte("tenant_events")     // tenant \0 time event key → nil
	bucketEpMsgs        = []byte("endpoint_messages") // endpoint \0 time message ID → nil
	bucketAttempts      = []byte("attempts")
	bucketBodies        = []byte("attempt_bodies")
	bucketAttTenant     = []byte("attempts_by_tenant")
	bucketAttClass      = []byte("attempts_by_class")
	bucketAttEndpoint   = []byte("attempts_by_endpoint")
	bucketAttEvent      = []byte("attempts_by_event")
	bucketAttMessage    = []byte("attempts_by_message")
	bucketStats         = []byte("stats")
	bucketStatsByTenant = []byte("stats_by_tenant")
	bucketTenants       = []byte("tenants")         // tenant → JSON settings
	bucketRecoveries    = []byte("recoveries")      // job ID → JSON
	bucketRecoveriesRun = []byte("recoveries_open") // time job ID → tenant, until done
	// tenant \0 time job ID → nil, for the purge
	bucketRecoveriesByTenant = []byte("recoveries_by_tenant")
	bucketIndexLog           = []byte("index_log") // see indexlog.go

	allBuckets = [][]byte{bucketEventTypes, bucketEndpoints, bucketEvents, bucketIdem,
		bucketMessages, bucketQueue, bucketIntake, bucketDue, bucketLeases, bucketReady, bucketEpState,
		bucketDead, bucketDeadByEp, bucketDeleting, bucketMeta,
		bucketEventMsgs, bucketTenantEvents, bucketEpMsgs, bucketAttempts, bucketBodies,
		bucketAttTenant, bucketAttClass, bucketAttEndpoint, bucketAttEvent, bucketAttMessage,
		bucketStats, bucketStatsByTenant, bucketTenants, bucketRecoveries, bucketRecoveriesRun, bucketRecoveriesByTenant,
		bucketIndexLog}
)

// formatVersion names the file layout. Earlier versions (1: a global due
// index; 2: attempts without indexes) were never released with a
// migration; Open refuses such a file rather than strand its messages.
// Version 3 lacks the intake, version 4 the binary message records (see
// message.go), version 5 the index log (see indexlog.go), version 6 the
// binary endpoint states (see state.go), version 7 the index log's attempt
// entries (ixAttempt), version 8 the binary event records, version 9
// their message lists (see event.go) and version 10 the binary attempt
// records (see attempt.go), each of which a newer binary reads
// alongside what the older wrote, so Open upgrades them in place; each new
// number keeps an older binary from opening a file it would misread.
const formatVersion = "11"

// ErrFormat is returned by Open for a file written in another layout.
var ErrFormat = errors.New("bolt: unsupported file format")

// cancelBatch bounds how many messages one transaction cancels when an
// endpoint is deleted, so a large backlog does not stall other writers.
const cancelBatch = 500

// initialMmap is how much of the file bbolt maps at Open on 64-bit
// platforms. bbolt otherwise starts small and doubles the mapping as the
// file grows; each remap waits for every read transaction and drops every
// mapped page, which the next reads fault in again. Mapping costs address
// space only; the pages the file does not fill are never touched. 32-bit
// platforms keep bbolt's default.
const initialMmap = strconv.IntSize / 64 << 30 // 0 on 32-bit: bbolt's default

// Options configures Open. A nil *Options means all defaults.
type Options struct {
	// NoSync skips fsync on commit. Data survives a process crash but not a
	// power loss or kernel crash. Defaults to false (fsync on every commit).
	NoSync bool
	// Timeout is how long Open waits for another process to release the file
	// lock. Defaults to 5 seconds.
	Timeout time.Duration
	// MaxBatch caps how many writes share one transaction. Defaults to 512.
	MaxBatch int
	// TrimInterval is how often, on Linux, the store unmaps the file pages
	// bbolt has read, so the process's resident memory reflects what it
	// holds rather than how large the file has grown. The pages stay in the
	// kernel's page cache. Defaults to 250 ms; negative turns it off.
	// Files under 64 MiB are left alone.
	TrimInterval time.Duration
	// RouteCacheSize is how many decoded endpoint records the store keeps
	// for EndpointListAll, which every publish calls (a tenant with more
	// endpoints than this is read from the file each time), and, apart,
	// for claims. Defaults to 10,000; negative turns both caches off.
	RouteCacheSize int
	// IndexInterval is how often the background indexer writes the index
	// entries that publishes and deliveries leave in the index log (see
	// indexlog.go); a read of those indexes writes them first in any case.
	// Longer intervals write fewer pages per entry. Defaults to 100 ms.
	// Negative leaves them to the reads: until one comes, the log grows,
	// and so do the idempotency keys held in memory and the time Open
	// takes to load them.
	IndexInterval time.Duration
}

// Store is a store.Store on a bbolt file. It is safe for concurrent use.
type Store struct {
	db     *bbolt.DB
	c      *committer
	routes *routeCache // nil: off
	// decoded holds the endpoints claims decoded (nil: off).
	decoded *endpointRecords

	closing  chan struct{} // closed when Close begins
	trimDone chan struct{}
	// admitWake starts the admitter: a claim left more in the intake.
	admitWake, admitDone chan struct{}
	indexDone            chan struct{} // closed when the indexer stops
	// flushing holds a token while flushIndexes runs, so flushes take turns
	// rather than apply the same records side by side.
	flushing chan struct{}
	idem     pendingIdem
	times    eventTimes

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the bbolt file at path.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.TrimInterval == 0 {
		o.TrimInterval = 250 * time.Millisecond
	}
	if o.RouteCacheSize == 0 {
		o.RouteCacheSize = 10_000
	}
	if o.IndexInterval == 0 {
		o.IndexInterval = 100 * time.Millisecond
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:         o.Timeout,
		NoSync:          o.NoSync,
		NoFreelistSync:  true,
		FreelistType:    bbolt.FreelistMapType,
		InitialMmapSize: initialMmap,
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	s := &Store{db: db, closing: make(chan struct{}), trimDone: make(chan struct{}),
		admitWake: make(chan struct{}, 1), admitDone: make(chan struct{}), indexDone: make(chan struct{}),
		flushing: make(chan struct{}, 1)}
	err = db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte("pending")) != nil {
			return fmt.Errorf("%w: version 1", ErrFormat)
		}
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get([]byte("format")); v != nil && !slices.Contains([]string{"3", "4", "5", "6", "7", "8", "9", "10", formatVersion}, string(v)) {
			return fmt.Errorf("%w: version %q", ErrFormat, v)
		}
		if err := meta.Put([]byte("format"), []byte(formatVersion)); err != nil {
			return err
		}
		if k, _ := tx.Bucket(bucketIndexLog).Cursor().First(); k != nil {
			s.times.cur.unknown = true
		}
		return s.idem.load(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: init %s: %w", path, err)
	}
	s.c = newCommitter(db, o.MaxBatch)
	go s.admitLoop()
	if o.IndexInterval > 0 {
		go s.indexLoop(o.IndexInterval)
	} else {
		close(s.indexDone)
	}
	if o.RouteCacheSize > 0 {
		s.routes = newRouteCache(o.RouteCacheSize)
		s.decoded = newEndpointRecords(o.RouteCacheSize)
	}
	if o.TrimInterval > 0 && s.trimmable() {
		go s.trimLoop(o.TrimInterval)
	} else {
		close(s.trimDone)
	}
	if err := s.resumeDeletes(); err != nil {
		s.Close()
		return nil, fmt.Errorf("bolt: resume endpoint deletes in %s: %w", path, err)
	}
	return s, nil
}

// resumeDeletes finishes cancelling the messages of endpoints whose delete
// was interrupted by a crash.
func (s *Store) resumeDeletes() error {
	var ids []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketDeleting).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	if err == nil && len(ids) > 0 { // their messages may wait in the intake
		err = s.admitAll(context.Background(), time.Now().UTC())
	}
	for _, id := range ids {
		if err != nil {
			break
		}
		err = s.cancelAll(context.Background(), id, nil, time.Now().UTC())
	}
	return err
}

// Close fails queued writes with store.ErrClosed, waits for the committer
// to stop and closes the file. Later calls return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.trimDone
		<-s.admitDone
		<-s.indexDone
		s.c.close()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Stats counts the store's successful write transactions since Open.
type Stats struct {
	// Writes is the number of write calls committed, the indexer's among
	// them (see Options.IndexInterval).
	Writes uint64
	// Commits is the number of transactions (and fsyncs) they took; the
	// ratio shows how well group commit is working.
	Commits uint64
	// Busy is how long the single writer spent running and committing
	// them, fsyncs included, and the yields that let writers join a
	// transaction. Its growth over a period of wall time is the writer's
	// load: near 1, writes queue behind one another and the writer bounds
	// throughput.
	Busy time.Duration
}

// Stats returns the write counters.
func (s *Store) Stats() Stats {
	return Stats{Writes: s.c.writes.Load(), Commits: s.c.commits.Load(), Busy: time.Duration(s.c.busy.Load())}
}

// DB exposes the underlying database for inspection in tests and tools.
// It first writes what waits in the index log (see indexlog.go), so the
// indexes it shows hold what was written before the call unless that write
// failed; it must not be called inside one of its own transactions, whose
// read lock that write could wait for. Writes through it bypass the
// store's route cache: endpoints or event types written that way may not
// be seen by publishes until the next write of the same tenant's endpoints
// (or of any event type) through the store.
func (s *Store) DB() *bbolt.DB {
	_ = s.flushIndexes(context.Background()) // closed: the file holds what it holds
	return s.db
}

func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.View(fn)
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

// EventTypePut implements store.Store.
func (s *Store) EventTypePut(ctx context.Context, t *store.EventType) error {
	val, err := json.Marshal(t)
	if err != nil {
		return err
	}
	err = s.c.write(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketEventTypes).Put([]byte(t.Name), val)
	})
	if s.routes != nil {
		s.routes.eventTypesChanged()
	}
	return err
}

// EventTypeGet implements store.Store.
func (s *Store) EventTypeGet(ctx context.Context, name string) (*store.EventType, error) {
	var gen uint64
	if s.routes != nil {
		if err := s.usable(ctx); err != nil {
			return nil, err
		}
		var t *store.EventType
		var ok bool
		if t, gen, ok = s.routes.eventType(name); ok {
			return t, nil
		}
	}
	var t *store.EventType
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return getRecord(tx.Bucket(bucketEventTypes), []byte(name), &t)
	})
	if err == nil && s.routes != nil {
		s.routes.putEventType(gen, t)
	}
	return t, err
}

// EventTypeList implements store.Store.
func (s *Store) EventTypeList(ctx context.Context, p store.ListParams) ([]*store.EventType, error) {
	var out []*store.EventType
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return scanJSON(tx.Bucket(bucketEventTypes), nil, p, &out)
	})
	return out, err
}

// EndpointCreate implements store.Store.
func (s *Store) EndpointCreate(ctx context.Context, e *store.Endpoint) error {
	val, err := json.Marshal(e)
	if err != nil {
		return err
	}
	key := tenantKey(e.TenantID, e.ID)
	defer s.endpointsChanged(e.TenantID)
	return s.c.write(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEndpoints)
		if b.Get(key) != nil {
			return reject(store.ErrConflict)
		}
		return b.Put(key, val)
	})
}

// usable is what a read answered from the cache checks first: the
// context, and that the store is open.
func (s *Store) usable(ctx context.Context) error {
	select {
	case <-s.closing:
		return store.ErrClosed
	default:
		return ctx.Err()
	}
}

// endpointsChanged is deferred by every write of an endpoint record, so the
// route cache drops the tenant's entry once the write has ended.
func (s *Store) endpointsChanged(tenantID string) {
	if s.routes != nil {
		s.routes.endpointsChanged(tenantID)
	}
}

// EndpointGet implements store.Store.
func (s *Store) EndpointGet(ctx context.Context, tenantID, id string) (*store.Endpoint, error) {
	var e *store.Endpoint
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return getRecord(tx.Bucket(bucketEndpoints), tenantKey(tenantID, id), &e)
	})
	return e, err
}

// EndpointList implements store.Store.
func (s *Store) EndpointList(ctx context.Context, tenantID string, p store.ListParams) ([]*store.Endpoint, error) {
	var out []*store.Endpoint
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return scanJSON(tx.Bucket(bucketEndpoints), tenantPrefix(tenantID), p, &out)
	})
	return out, err
}

// EndpointScan implements store.Store.
func (s *Store) EndpointScan(ctx context.Context, p store.EndpointScanParams) ([]*store.Endpoint, error) {
	var out []*store.Endpoint
	after := ""
	if p.AfterTenant != "" || p.AfterID != "" {
		after = string(tenantKey(p.AfterTenant, p.AfterID))
	}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return scanJSON(tx.Bucket(bucketEndpoints), nil, store.ListParams{After: after, Limit: p.Limit}, &out)
	})
	return out, err
}

// EndpointListAll implements store.Store.
func (s *Store) EndpointListAll(ctx context.Context, tenantID string) ([]*store.Endpoint, error) {
	var gen uint64
	if s.routes != nil {
		if err := s.usable(ctx); err != nil {
			return nil, err
		}
		eps, g, ok := s.routes.endpoints(tenantID)
		if ok {
			return eps, nil
		}
		gen = g
	}
	var out []*store.Endpoint
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		prefix := tenantPrefix(tenantID)
		c := tx.Bucket(bucketEndpoints).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var e store.Endpoint
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("bolt: decode endpoint %q: %w", k, err)
			}
			out = append(out, &e)
		}
		return nil
	})
	if err == nil && s.routes != nil {
		s.routes.putEndpoints(tenantID, gen, out)
	}
	return out, err
}

// EndpointUpdate implements store.Store.
func (s *Store) EndpointUpdate(ctx context.Context, e *store.Endpoint, now time.Time) error {
	next := *e
	key := tenantKey(e.TenantID, e.ID)
	defer s.endpointsChanged(e.TenantID)
	err := s.c.write(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEndpoints)
		var old *store.Endpoint
		if err := getRecord(b, key, &old); err != nil {
			return rejectNotFound(err)
		}
		if !old.UpdatedAt.Equal(e.UpdatedAt) {
			return reject(store.ErrConflict)
		}
		next.UpdatedAt = store.NextVersion(old.UpdatedAt, now)
		if err := putRecord(b, key, &next); err != nil {
			return err
		}
		q := s.c.qtx(tx)
		st := q.getState(e.ID)
		if st == nil {
			return nil
		}
		st.FIFO = e.FIFO
		if !old.Enabled && e.Enabled {
			st.Health.FailingSince = time.Time{}
		}
		// The policy may have changed: whatever the old one held back is
		// looked at again by the next claim.
		st.Hold, st.Blocked = time.Time{}, false
		q.touch(e.ID)
		if err := q.offer(e.ID, st, now); err != nil {
			return err
		}
		return q.flush()
	})
	if err == nil {
		e.UpdatedAt = next.UpdatedAt
	}
	return err
}

// EndpointDelete implements store.Store. The endpoint goes in one
// transaction with the first batch of cancellations; if more remain, a
// tombstone is written with it and the rest are cancelled in bounded batches,
// so a large backlog does not stall other writers. After a crash, Open
// finishes the job from the tombstone.
func (s *Store) EndpointDelete(ctx context.Context, tenantID, id string, now time.Time) error {
	var (
		scanned int
		after   []byte
	)
	// Messages published before the delete must be queued to be cancelled.
	if err := s.admitAll(ctx, now); err != nil {
		return err
	}
	err := s.c.write(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEndpoints)
		key := tenantKey(tenantID, id)
		if b.Get(key) == nil {
			return reject(store.ErrNotFound)
		}
		if err := b.Delete(key); err != nil {
			return err
		}
		var err error
		if scanned, after, err = cancelPending(s.c.qtx(tx), id, nil, now, cancelBatch); err != nil || scanned < cancelBatch {
			return err
		}
		return tx.Bucket(bucketDeleting).Put([]byte(id), nil)
	})
	s.endpointsChanged(tenantID)
	if err != nil || scanned < cancelBatch {
		return err
	}
	// The endpoint is gone: finish even if the caller stops waiting.
	return s.cancelAll(context.WithoutCancel(ctx), id, after, now)
}

// cancelAll cancels the live messages of a deleted endpoint after key after,
// in batches, then removes its tombstone.
func (s *Store) cancelAll(ctx context.Context, endpointID string, after []byte, now time.Time) error {
	for {
		var (
			scanned int
			next    []byte
		)
		from := after // the write may run twice; its input must not move
		err := s.c.write(ctx, func(tx *bbolt.Tx) error {
			var err error
			if scanned, next, err = cancelPending(s.c.qtx(tx), endpointID, from, now, cancelBatch); err != nil || scanned == cancelBatch {
				return err
			}
			return tx.Bucket(bucketDeleting).Delete([]byte(endpointID))
		})
		if err != nil || scanned < cancelBatch {
			return err
		}
		after = next
	}
}

// cancelPending cancels the live messages among up to limit queue entries
// of an endpoint after the key after. Leased messages are left to their
// holder; they are cancelled when completed or when their lease ends. When
// the scan reaches the end, the endpoint's scheduling state goes too. It
// returns how many entries it scanned and the last key, to resume from.
func cancelPending(q *qtx, endpointID string, after []byte, now time.Time, limit int) (int, []byte, error) {
	prefix := tenantPrefix(endpointID)
	type entry struct{ k, id []byte }
	var entries []entry
	c := q.queue.Cursor()
	k, v := c.Seek(prefix)
	if after != nil {
		if k, v = c.Seek(after); bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(entries) < limit; k, v = c.Next() {
		entries = append(entries, entry{bytes.Clone(k), bytes.Clone(v)})
	}
	for _, e := range entries {
		var m *store.Message
		if err := readRecord(q, q.msgs, e.id, &m); err != nil {
			// Missing or undecodable: drop the queue entry, leave the record.
			if err := q.queue.Delete(e.k); err != nil {
				return 0, nil, err
			}
			continue
		}
		if m.Status == store.StatusDelivering || m.Status.Final() {
			continue
		}
		if err := q.move(m, store.StatusCancelled, time.Time{}, now); err != nil {
			return 0, nil, err
		}
	}
	if len(entries) < limit {
		if err := q.dropState(endpointID); err != nil {
			return 0, nil, err
		}
	}
	if len(entries) == 0 {
		return 0, after, nil
	}
	return len(entries), entries[len(entries)-1].k, nil
}

// EventInsert implements store.Store.
func (s *Store) EventInsert(ctx context.Context, p store.EventInsertParams) (store.EventInsertResult, error) {
	ev := new(store.Event)
	*ev = *p.Event
	ev.Messages = make([]store.MessageRef, len(p.Messages))
	for i, m := range p.Messages {
		ev.Messages[i] = store.MessageRef{MessageID: m.ID, EndpointID: m.EndpointID}
	}
	sortRefs(ev.Messages)
	buf := takeBuffer()
	defer recycle(buf) // after write has returned
	evVal, err := appendEvent(*buf, ev)
	if err != nil {
		return store.EventInsertResult{}, err
	}
	*buf = evVal
	idemKey := tenantKey(ev.TenantID, ev.ID)
	var res store.EventInsertResult
	err = s.c.write(ctx, func(tx *bbolt.Tx) error {
		events := filled(tx, bucketEvents, appendFill)
		q := s.c.qtx(tx)
		k, pending := s.idem.lookup(tx, idemKey)
		if !pending {
			k = q.get(tx.Bucket(bucketIdem), idemKey)
		}
		if k != nil {
			orig, _, err := readEvent(tx, k)
			if err != nil {
				return err
			}
			if orig.CreatedAt.After(p.Now.Add(-p.IdempotencyWindow)) {
				res = store.EventInsertResult{Event: orig, Duplicate: true}
				return nil
			}
		}
		if q.get(events, []byte(ev.Key)) != nil {
			return reject(store.ErrConflict)
		}
		if err := events.Put([]byte(ev.Key), evVal); err != nil {
			return err
		}
		q.ix.put(ixIdem, idemKey, []byte(ev.Key))
		s.idem.stage(tx, idemKey, ev.Key)
		q.ix.put(ixTenantEvents, append(tenantPrefix(ev.TenantID), timeKey(ev.CreatedAt, ev.Key)...), nil)
		for _, m := range p.Messages {
			if err := q.insertMessage(m); err != nil {
				return err
			}
		}
		res = store.EventInsertResult{Event: ev}
		return q.flush()
	})
	if err == nil && !res.Duplicate {
		s.times.note(ev.CreatedAt)
	}
	return res, err
}

// insertMessage stores a copy of a new message (the write may run twice:
// its input must not change) with its place in its endpoint's queue, and
// adds it to the intake, from which the next claim queues it (see admit).
// A message for an endpoint deleted since the publish routed to it is
// stored cancelled, as its delete would have. The caller lists it in its
// event.
func (q *qtx) insertMessage(orig *store.Message) error {
	m := new(store.Message)
	*m = *orig
	if !q.endpointExists(m) {
		m.Status, m.NextAttemptAt = store.StatusCancelled, time.Time{}
		q.putEndpointMessage(m)
		return putRecord(q.msgs, []byte(m.ID), m)
	}
	return q.toIntake(m)
}

func (q *qtx) putEndpointMessage(m *store.Message) {
	q.ix.put(ixEndpointMessages, append(tenantPrefix(m.EndpointID), timeKey(m.CreatedAt, m.ID)...), nil)
}

// oldEventMessages lists, in message ID order, the messages of an event
// whose record does not hold them (see holdsMessages).
func oldEventMessages(tx *bbolt.Tx, eventKey string) []store.MessageRef {
	var refs []store.MessageRef
	prefix := tenantPrefix(eventKey)
	c := tx.Bucket(bucketEventMsgs).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		refs = append(refs, store.MessageRef{MessageID: string(k[len(prefix):]), EndpointID: string(v)})
	}
	return refs
}

// readEvent decodes the event stored under key, with its messages. held
// reports whether the record holds them, as every record written since
// format 10 does; it is set for a corrupt record too.
func readEvent(tx *bbolt.Tx, key []byte) (ev *store.Event, held bool, err error) {
	return eventFrom(tx, tx.Bucket(bucketEvents).Get(key))
}

// eventFrom decodes v, an event record read in tx.
func eventFrom(tx *bbolt.Tx, v []byte) (ev *store.Event, held bool, err error) {
	held = holdsMessages(v)
	if ev, err = decodeEvent(v); err != nil {
		return nil, held, err
	}
	if !held {
		ev.Messages = oldEventMessages(tx, ev.Key)
	}
	return ev, held, nil
}

// EventGet implements store.Store.
func (s *Store) EventGet(ctx context.Context, tenantID, id string) (*store.Event, error) {
	if err := s.flushIndexes(ctx); err != nil {
		return nil, err
	}
	var ev *store.Event
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		k := tx.Bucket(bucketIdem).Get(tenantKey(tenantID, id))
		if k == nil {
			return store.ErrNotFound
		}
		var err error
		ev, _, err = readEvent(tx, k)
		return err
	})
	return ev, err
}

// MessageGetMany implements store.Store.
func (s *Store) MessageGetMany(ctx context.Context, tenantID string, ids []string) ([]*store.Message, error) {
	var out []*store.Message
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		out = nil
		b := tx.Bucket(bucketMessages)
		for _, id := range ids {
			var m *store.Message
			err := getRecord(b, []byte(id), &m)
			switch {
			case errors.Is(err, store.ErrNotFound):
				continue
			case err != nil:
				return err
			case m.TenantID == tenantID:
				out = append(out, m)
			}
		}
		return nil
	})
	return out, err
}

// MessageGet implements store.Store.
func (s *Store) MessageGet(ctx context.Context, tenantID, id string) (*store.Message, error) {
	var m *store.Message
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		m, err = getOwned(tx.Bucket(bucketMessages), []byte(id), tenantID, func(m *store.Message) string { return m.TenantID })
		return err
	})
	return m, err
}

// getOwned decodes the record under key if it belongs to tenantID, as
// tenantOf tells; ErrNotFound otherwise.
func getOwned[T any](b *bbolt.Bucket, key []byte, tenantID string, tenantOf func(*T) string) (*T, error) {
	var x *T
	if err := getRecord(b, key, &x); err != nil {
		return nil, err
	}
	if tenantOf(x) != tenantID {
		return nil, store.ErrNotFound
	}
	return x, nil
}

// MessageComplete implements store.Store.
func (s *Store) MessageComplete(ctx context.Context, p store.MessageCompleteParams) error {
	att := encodedAttempt{a: p.Attempt}
	if p.Attempt != nil {
		buf := takeBuffer()
		defer recycle(buf) // after write has returned
		var err error
		if att.meta, err = appendAttempt(*buf, p.Attempt); err != nil {
			return err
		}
		*buf = att.meta
	}
	return s.c.write(ctx, func(tx *bbolt.Tx) error {
		q := s.c.qtx(tx)
		var m *store.Message
		if err := readRecord(q, q.msgs, []byte(p.MessageID), &m); err != nil {
			return rejectNotFound(err)
		}
		if m.Status != store.StatusDelivering || m.LeaseToken != p.LeaseToken {
			return reject(store.ErrLeaseLost)
		}
		st := q.getState(m.EndpointID)
		if p.Attempt != nil {
			m.Attempts++
			m.Trigger = ""
			if q.get(tx.Bucket(bucketAttempts), []byte(p.Attempt.ID)) != nil {
				return reject(store.ErrConflict)
			}
			if err := putAttempt(tx, &q.ix, att); err != nil {
				return err
			}
			if err := recordStats(q, p.Attempt); err != nil {
				return err
			}
			if st != nil {
				recordHealth(&st.Health, p.Status == store.StatusSucceeded, p.Now)
				q.touch(m.EndpointID)
			}
		}
		status, next := p.Status, p.NextAttemptAt
		if status == store.StatusPending {
			status = m.WaitingStatus()
		}
		if !status.Final() && !q.endpointExists(m) {
			status = store.StatusCancelled
		}
		if status == store.StatusExhausted {
			if err := tx.Bucket(bucketDead).Put(tenantKey(m.TenantID, m.ID), []byte(m.EndpointID)); err != nil {
				return err
			}
			if err := tx.Bucket(bucketDeadByEp).Put(tenantKey(m.EndpointID, m.ID), nil); err != nil {
				return err
			}
		}
		if err := q.move(m, status, next, p.Now); err != nil {
			return err
		}
		if err := q.endLease(m, p.Now); err != nil {
			return err
		}
		return q.flush()
	})
}

// recordHealth folds an attempt's outcome into the endpoint's health.
func recordHealth(h *store.EndpointHealth, ok bool, now time.Time) {
	if ok {
		h.LastSuccessAt, h.FailingSince = now, time.Time{}
		return
	}
	h.LastFailureAt = now
	if h.FailingSince.IsZero() {
		h.FailingSince = now
	}
}

// MessageListExhausted implements store.Store.
func (s *Store) MessageListExhausted(ctx context.Context, tenantID string, p store.MessageListParams) ([]*store.Message, error) {
	limit := store.PageLimit(p.Limit)
	var out []*store.Message
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b, prefix := tx.Bucket(bucketDead), tenantPrefix(tenantID)
		if p.EndpointID != "" {
			b, prefix = tx.Bucket(bucketDeadByEp), tenantPrefix(p.EndpointID)
		}
		msgs := tx.Bucket(bucketMessages)
		return scanBackward(b.Cursor(), prefix, p.Before, func(k, _ []byte) (bool, error) {
			var m *store.Message
			if err := getRecord(msgs, k[len(prefix):], &m); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return true, nil
				}
				return false, err
			}
			if m.TenantID == tenantID && m.Status == store.StatusExhausted {
				out = append(out, m)
			}
			return len(out) < limit, nil
		})
	})
	return out, err
}

// scanBackward visits the keys under prefix in descending order, starting
// below prefix+before (from the last key when before is empty), while fn
// returns true.
func scanBackward(c *bbolt.Cursor, prefix []byte, before string, fn func(k, v []byte) (bool, error)) error {
	from := append(bytes.Clone(prefix), 0xff)
	if before != "" {
		from = append(bytes.Clone(prefix), before...)
	}
	var k, v []byte
	if k, _ = c.Seek(from); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// rejectNotFound marks a lookup miss as a refusal that wrote nothing.
func rejectNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return reject(err)
	}
	return err
}

func tenantPrefix(tenantID string) []byte {
	k := make([]byte, 0, len(tenantID)+1)
	return append(append(k, tenantID...), 0)
}

func tenantKey(tenantID, id string) []byte {
	k := make([]byte, 0, len(tenantID)+1+len(id))
	return append(append(append(k, tenantID...), 0), id...)
}

// getRecord decodes the record under key: JSON, except a message written
// since format 5 and an attempt since format 11, which have the binary
// forms of message.go and attempt.go.
func getRecord[T any](b *bbolt.Bucket, key []byte, dst **T) error {
	return decodeRecord(b.Get(key), key, dst)
}

// decodeRecord is getRecord for v, the value read under key (nil: none).
func decodeRecord[T any](v, key []byte, dst **T) error {
	if v == nil {
		return store.ErrNotFound
	}
	var decoded any // by a record's own decoder, rather than as JSON
	var err error
	switch any(dst).(type) {
	case **store.Message:
		if len(v) > 0 && v[0] != '{' {
			decoded, err = decodeMessage(v)
		}
	case **store.Attempt:
		decoded, err = decodeAttempt(v)
	}
	if err != nil {
		return fmt.Errorf("bolt: decode %q: %w", key, err)
	}
	if decoded != nil {
		*dst = decoded.(*T)
		return nil
	}
	var x T
	if err := json.Unmarshal(v, &x); err != nil {
		return fmt.Errorf("bolt: decode %q: %w", key, err)
	}
	*dst = &x
	return nil
}

// putRecord stores v under key: as JSON, or a message in its binary form.
func putRecord(b *bbolt.Bucket, key []byte, v any) error {
	if m, ok := v.(*store.Message); ok {
		val, err := encodeMessage(m)
		if err != nil {
			return err
		}
		return b.Put(key, val)
	}
	val, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, val)
}

// bbolt splits a full page at FillPercent of its size, by default half. A
// bucket whose keys only grow (time-ordered IDs, sequence numbers) never
// fills the first half again, so its pages stay half empty and a commit
// writes twice the pages its new records need. Such buckets are packed:
// appendFill for records that never change, messageFill for message
// records, which are rewritten a little longer once leased.
const (
	appendFill  = 1.0
	messageFill = 0.9
)

// filled returns the named bucket, packed to fill (see appendFill) when
// this transaction's writes to it are spilled.
func filled(tx *bbolt.Tx, name []byte, fill float64) *bbolt.Bucket {
	b := tx.Bucket(name)
	b.FillPercent = fill
	return b
}

// scanJSON decodes one page of a key-ordered bucket under prefix.
func scanJSON[T any](b *bbolt.Bucket, prefix []byte, p store.ListParams, out *[]*T) error {
	limit := store.PageLimit(p.Limit)
	c := b.Cursor()
	start := append(bytes.Clone(prefix), p.After...)
	k, v := c.Seek(start)
	if p.After != "" && bytes.Equal(k, start) {
		k, v = c.Next()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(*out) < limit; k, v = c.Next() {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("bolt: decode %q: %w", k, err)
		}
		*out = append(*out, &x)
	}
	return nil
}
