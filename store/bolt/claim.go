package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hooksmith/webhook/store"

	bbolt "go.etcd.io/bbolt"
)

// maxVisits bounds how many ready endpoints one claim visits.
const maxVisits = 1024

// MessageClaim implements store.Store.
func (s *Store) MessageClaim(ctx context.Context, p store.MessageClaimParams) (store.MessageClaimResult, error) {
	// Most polls of an idle or throttled dispatcher find nothing to do: a
	// read transaction tells, without a write and its fsync.
	var next time.Time
	var published bool
	if err := s.view(ctx, func(tx *bbolt.Tx) error {
		q := newQtx(tx)
		next, published = q.nextWake(), q.intakeWaiting()
		return nil
	}); err != nil {
		return store.MessageClaimResult{}, err
	}
	if !published && (next.IsZero() || next.After(p.Now)) {
		return store.MessageClaimResult{NextDue: next}, nil
	}
	var res store.MessageClaimResult
	var more []byte
	err := s.c.write(ctx, func(tx *bbolt.Tx) error {
		res = store.MessageClaimResult{}
		cl := &claimer{qtx: s.c.qtx(tx), p: p, budget: max(p.Limit, 1),
			endpoints: map[string]*store.Endpoint{}, events: map[string]*store.Event{}, decoded: s.decoded}
		var err error
		more, err = cl.admit(nil, admitBatch, p.Now)
		if err != nil {
			return err
		}
		if err := cl.releaseExpired(p.Now); err != nil {
			return err
		}
		// One pass: a visit takes all the endpoint may have now, so a second
		// visit in the same claim would find nothing more (and would ask
		// Admit again before the first admission was spent).
		var eps [][]byte
		c := cl.ready.Cursor()
		for k, _ := c.First(); k != nil && len(eps) < maxVisits && keyTime(k).Compare(p.Now) <= 0; k, _ = c.Next() {
			eps = append(eps, bytes.Clone(k))
		}
		for _, k := range eps {
			if cl.budget == 0 {
				break
			}
			if err := cl.visit(k); err != nil {
				return err
			}
		}
		if err := cl.flush(); err != nil {
			return err
		}
		res.Claims, res.Corrupt, res.CorruptEndpoints = cl.claims, cl.corrupt, cl.corruptEndpoints
		res.NextDue = cl.nextWake()
		if more != nil && (res.NextDue.IsZero() || res.NextDue.After(p.Now)) {
			res.NextDue = p.Now // more to queue: claim again at once
		}
		return nil
	})
	if err != nil {
		return store.MessageClaimResult{}, err
	}
	if more != nil {
		s.wakeAdmitter()
	}
	return res, nil
}

// corruptError marks a record that cannot be decoded.
type corruptError struct{ err error }

func (e *corruptError) Error() string { return e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

// claimer holds one claim transaction's state and per-claim caches.
type claimer struct {
	*qtx
	p       store.MessageClaimParams
	budget  int
	claims  []store.Claim
	corrupt []string
	// corruptEndpoints have a record that cannot be decoded.
	corruptEndpoints []string
	endpoints        map[string]*store.Endpoint // nil value: deleted
	events           map[string]*store.Event
	decoded          *endpointRecords // nil: off
}

// visit takes the endpoint's turn: it leases what the endpoint's cap, its
// due messages and Admit allow, then puts it back in line. rk is its key in
// the ready bucket.
func (cl *claimer) visit(rk []byte) error {
	endpointID := string(rk[8:])
	// Out of line first, whatever the state says, so a state that
	// disagrees with the ready bucket cannot make claims spin.
	if err := cl.del(cl.ready, rk); err != nil {
		return err
	}
	st := cl.getState(endpointID)
	if st == nil {
		return nil // orphan entry
	}
	if st.Ready.Equal(keyTime(rk)) {
		st.Ready = time.Time{}
		cl.touch(endpointID)
	}
	if err := cl.setReady(endpointID, st, time.Time{}); err != nil {
		return err
	}
	ep, err := cl.endpoint(st.TenantID, endpointID)
	if err != nil {
		// Left out of line until the record is rewritten.
		cl.corruptEndpoints = append(cl.corruptEndpoints, endpointID)
		return nil
	}
	if ep == nil || !ep.Enabled {
		return nil // deleted (its messages are being cancelled) or disabled
	}
	if st.FIFO != ep.FIFO {
		st.FIFO = ep.FIFO
		cl.touch(endpointID)
	}
	capacity := ep.Cap(cl.p.DefaultMaxInFlight)
	room := cl.budget
	if capacity > 0 {
		room = min(room, capacity-st.Leased)
	}
	if room <= 0 {
		return cl.reschedule(endpointID, st, capacity, cl.p.Now)
	}
	cands, err := cl.candidates(endpointID, ep.FIFO, room)
	if err != nil {
		return err
	}
	if len(cands) > 0 {
		n, notBefore := len(cands), time.Time{}
		if cl.p.Admit != nil {
			n, notBefore = cl.p.Admit(ep, len(cands))
			n = min(max(n, 0), len(cands))
		}
		st.Hold = notBefore
		if n == 0 && notBefore.IsZero() {
			if st.Leased > 0 {
				st.Blocked = true
			} else {
				st.Hold = cl.p.Now.Add(time.Second)
			}
		}
		cl.touch(endpointID)
		for _, c := range cands[:n] {
			if err := cl.lease(ep, st, c); err != nil {
				return err
			}
		}
	}
	return cl.reschedule(endpointID, st, capacity, cl.p.Now)
}

// candidate is a message offered for a claim and the index key (in due, or
// for FIFO in queue) it was found by.
type candidate struct {
	id     string
	key    []byte
	bucket *bbolt.Bucket
}

// candidates lists up to limit of the endpoint's messages due now, earliest
// due first; for FIFO only its head, if it waits and is due.
func (cl *claimer) candidates(endpointID string, fifo bool, limit int) ([]candidate, error) {
	if fifo {
		m, qk, err := cl.head(endpointID)
		var corrupt *corruptError
		if errors.As(err, &corrupt) {
			// Set aside so it does not hold back the rest.
			cl.corrupt = append(cl.corrupt, string(cl.queue.Get(qk)))
			return nil, cl.queue.Delete(qk)
		}
		if err != nil || m == nil || m.Status == store.StatusDelivering || m.NextAttemptAt.After(cl.p.Now) {
			return nil, err
		}
		return []candidate{{id: m.ID, key: qk, bucket: cl.queue}}, nil
	}
	var out []candidate
	prefix := tenantPrefix(endpointID)
	c := cl.cursor(cl.due)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
		rest := k[len(prefix):]
		if len(rest) < 8 || keyTime(rest).After(cl.p.Now) {
			break
		}
		out = append(out, candidate{id: string(rest[8:]), key: bytes.Clone(k), bucket: cl.due})
	}
	return out, nil
}

// lease claims one message for a worker. A message or event that cannot be
// decoded is taken out of the queue and reported, its record left alone.
func (cl *claimer) lease(ep *store.Endpoint, st *epState, c candidate) error {
	var m *store.Message
	err := readRecord(cl.qtx, cl.msgs, []byte(c.id), &m)
	if errors.Is(err, store.ErrNotFound) {
		return c.bucket.Delete(c.key) // dangling
	}
	var ev *store.Event
	if err == nil {
		ev, err = cl.event(m.EventKey)
	}
	if err != nil {
		cl.corrupt = append(cl.corrupt, c.id)
		if m != nil {
			if err := cl.unindex(m); err != nil {
				return err
			}
			return cl.queue.Delete(queueKey(m.EndpointID, m.Seq))
		}
		return c.bucket.Delete(c.key)
	}
	token, err := cl.msgs.NextSequence()
	if err != nil {
		return err
	}
	m.LeaseToken = token
	if err := cl.move(m, store.StatusDelivering, cl.p.LeaseUntil, cl.p.Now); err != nil {
		return err
	}
	st.Leased++
	cl.budget--
	cl.claims = append(cl.claims, store.Claim{Message: m, Event: ev, Endpoint: ep, Health: st.Health})
	return nil
}

func (cl *claimer) endpoint(tenantID, id string) (*store.Endpoint, error) {
	if ep, ok := cl.endpoints[id]; ok {
		return ep, nil
	}
	key := tenantKey(tenantID, id)
	raw := cl.get(cl.tx.Bucket(bucketEndpoints), key)
	var ep *store.Endpoint
	if raw != nil && cl.decoded != nil {
		ep = cl.decoded.get(id, raw)
	}
	if raw != nil && ep == nil {
		ep = new(store.Endpoint)
		if err := json.Unmarshal(raw, ep); err != nil {
			return nil, fmt.Errorf("bolt: decode %q: %w", key, err)
		}
		if cl.decoded != nil {
			cl.decoded.put(id, raw, ep)
		}
	}
	cl.endpoints[id] = ep
	return ep, nil
}

func (cl *claimer) event(key string) (*store.Event, error) {
	if ev, ok := cl.events[key]; ok {
		return ev, nil
	}
	ev, _, err := eventFrom(cl.tx, cl.get(cl.tx.Bucket(bucketEvents), []byte(key)))
	if err != nil {
		return nil, fmt.Errorf("bolt: event %q: %w", key, err)
	}
	cl.events[key] = ev
	return ev, nil
}
