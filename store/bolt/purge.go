package bolt

import (
	"bytes"
	"context"
	"errors"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

// TenantSettingsPut implements store.Store.
func (s *Store) TenantSettingsPut(ctx context.Context, t *store.TenantSettings) error {
	return s.c.write(ctx, func(tx *bbolt.Tx) error {
		return putRecord(tx.Bucket(bucketTenants), []byte(t.TenantID), t)
	})
}

// TenantSettingsGet implements store.Store.
func (s *Store) TenantSettingsGet(ctx context.Context, tenantID string) (*store.TenantSettings, error) {
	var t *store.TenantSettings
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return getRecord(tx.Bucket(bucketTenants), []byte(tenantID), &t)
	})
	return t, err
}

// TenantList implements store.Store. It hops from one tenant's keys to the
// next in the two buckets keyed by tenant, so its cost grows with the
// tenants listed, not with their events.
func (s *Store) TenantList(ctx context.Context, p store.ListParams) ([]string, error) {
	limit := store.PageLimit(p.Limit)
	if err := s.flushIndexes(ctx); err != nil {
		return nil, err
	}
	var out []string
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		out = nil
		events, stats := tx.Bucket(bucketTenantEvents).Cursor(), tx.Bucket(bucketStatsByTenant).Cursor()
		after := p.After
		for len(out) < limit {
			a, b := tenantAfter(events, after), tenantAfter(stats, after)
			next := a
			if next == nil || (b != nil && bytes.Compare(b, a) < 0) {
				next = b
			}
			if next == nil {
				return nil
			}
			after = string(next)
			out = append(out, after)
		}
		return nil
	})
	return out, err
}

// tenantAfter returns the first tenant after the tenant after among keys
// that start with a tenant ID and a NUL; nil when there is none.
func tenantAfter(c *bbolt.Cursor, after string) []byte {
	var k []byte
	if after == "" {
		k, _ = c.First()
	} else {
		k, _ = c.Seek(append([]byte(after), 1)) // past every key of after: tenant IDs hold no control bytes
	}
	for ; k != nil; k, _ = c.Next() {
		if tenant, _, ok := bytes.Cut(k, []byte{0}); ok {
			return tenant
		}
	}
	return nil
}

// Purge positions start with 'e' and an event's position in
// tenant_events while events are examined, then 'r' while stats rollups
// are deleted.
const (
	purgeEvents  = 'e'
	purgeRollups = 'r'
)

// Purge implements store.Store.
func (s *Store) Purge(ctx context.Context, p store.PurgeParams) (store.PurgeResult, error) {
	limit := store.PageLimit(p.Limit)
	phase, after := byte(purgeEvents), ""
	if p.After != "" {
		phase, after = p.After[0], p.After[1:]
		if !(phase == purgeEvents && len(after) >= 8 || phase == purgeRollups && after == "") {
			return store.PurgeResult{}, store.ErrInvalidCursor
		}
	}
	// The purge finds events through tenant_events, whose entries the
	// index log may still hold, and what it deletes must not be indexed
	// again by the log after it. Both only matter when there is something
	// to purge, which for most tenants on most passes there is not.
	if s.times.mayHoldBefore(p.Before) {
		if err := s.flushIndexes(ctx); err != nil {
			return store.PurgeResult{}, err
		}
	}
	var res store.PurgeResult
	err := s.c.write(ctx, func(tx *bbolt.Tx) error {
		res = store.PurgeResult{}
		if !purgeDue(tx, p, phase, after) {
			return nil
		}
		if err := s.indexed(tx); err != nil {
			return err
		}
		if phase == purgeEvents {
			next, err := purgeEventsStep(tx, p, after, limit, &res)
			if err != nil || next != "" {
				res.Next = next
				return err
			}
		}
		more, err := purgeRollupsStep(tx, p, limit)
		if err != nil || more {
			res.Next = string(purgeRollups)
			return err
		}
		if more, err = purgeRecoveries(tx, p, limit); more {
			res.Next = string(purgeRollups)
		}
		return err
	})
	return res, err
}

// purgeDue reports whether the tenant has an event (from position after,
// in phase purgeEvents), a rollup or a recovery job old enough to purge:
// whether the steps below could delete anything.
func purgeDue(tx *bbolt.Tx, p store.PurgeParams, phase byte, after string) bool {
	prefix := tenantPrefix(p.TenantID)
	older := func(bucket []byte, from []byte, before time.Time, skipFrom bool) bool {
		c := tx.Bucket(bucket).Cursor()
		k, _ := c.Seek(from)
		if skipFrom && bytes.Equal(k, from) {
			k, _ = c.Next()
		}
		return k != nil && bytes.HasPrefix(k, prefix) && bytes.Compare(k, append(bytes.Clone(prefix), timeKey(before, "")...)) < 0
	}
	return phase == purgeEvents && older(bucketTenantEvents, append(bytes.Clone(prefix), after...), p.Before, after != "") ||
		older(bucketStatsByTenant, prefix, p.Before.Add(1-time.Hour), false) ||
		older(bucketRecoveriesByTenant, prefix, p.Before, false)
}

// purgeEventsStep examines up to limit of the tenant's events created
// before p.Before after position after; it returns the position to resume
// from, empty when none is left.
func purgeEventsStep(tx *bbolt.Tx, p store.PurgeParams, after string, limit int, res *store.PurgeResult) (string, error) {
	prefix := tenantPrefix(p.TenantID)
	before := append(bytes.Clone(prefix), timeKey(p.Before, "")...)
	from := append(bytes.Clone(prefix), after...)
	c := tx.Bucket(bucketTenantEvents).Cursor()
	k, _ := c.Seek(from)
	if after != "" && bytes.Equal(k, from) {
		k, _ = c.Next()
	}
	var positions [][]byte
	for ; k != nil && bytes.Compare(k, before) < 0 && len(positions) <= limit; k, _ = c.Next() {
		if !bytes.HasPrefix(k, prefix) || len(k) < len(prefix)+8 {
			break
		}
		positions = append(positions, bytes.Clone(k[len(prefix):]))
	}
	more := len(positions) > limit // one peeked past the batch
	positions = positions[:min(len(positions), limit)]
	for _, pos := range positions {
		if err := purgeEvent(tx, p.TenantID, string(pos[8:]), pos, res); err != nil {
			return "", err
		}
	}
	if !more {
		return "", nil
	}
	return string(purgeEvents) + string(positions[len(positions)-1]), nil
}

// purgeEvent deletes one event with its messages and attempts unless one
// of its messages is live.
func purgeEvent(tx *bbolt.Tx, tenantID, key string, pos []byte, res *store.PurgeResult) error {
	ev, held, err := readEvent(tx, []byte(key))
	var refs []store.MessageRef
	switch {
	case err == nil:
		refs = ev.Messages
	case held:
		// Its record alone lists its messages: kept whole for an operator.
		res.Kept++
		return nil
	default:
		refs = oldEventMessages(tx, key)
	}
	msgs := make([]*store.Message, 0, len(refs))
	mb := tx.Bucket(bucketMessages)
	for _, r := range refs {
		var m *store.Message
		err := getRecord(mb, []byte(r.MessageID), &m)
		switch {
		case errors.Is(err, store.ErrNotFound):
			m = &store.Message{ID: r.MessageID, EndpointID: r.EndpointID, TenantID: tenantID}
		case err != nil || !m.Status.Final():
			// Live, or unreadable and left for an operator: kept whole.
			res.Kept++
			return nil
		}
		msgs = append(msgs, m)
	}
	for _, m := range msgs {
		n, err := deleteAttempts(tx, tenantID, m.ID)
		if err != nil {
			return err
		}
		res.Attempts += n
		for _, del := range []struct {
			b   []byte
			key []byte
		}{
			{bucketMessages, []byte(m.ID)},
			{bucketEpMsgs, append(tenantPrefix(m.EndpointID), timeKey(m.CreatedAt, m.ID)...)},
			{bucketDead, tenantKey(tenantID, m.ID)},
			{bucketDeadByEp, tenantKey(m.EndpointID, m.ID)},
		} {
			if err := tx.Bucket(del.b).Delete(del.key); err != nil {
				return err
			}
		}
		if !held {
			if err := tx.Bucket(bucketEventMsgs).Delete(tenantKey(key, m.ID)); err != nil {
				return err
			}
		}
		res.Messages++
	}
	events := tx.Bucket(bucketEvents)
	if ev != nil {
		idem := tx.Bucket(bucketIdem)
		if ik := tenantKey(tenantID, ev.ID); bytes.Equal(idem.Get(ik), []byte(key)) {
			if err := idem.Delete(ik); err != nil {
				return err
			}
		}
	}
	if err := events.Delete([]byte(key)); err != nil {
		return err
	}
	res.Events++
	return tx.Bucket(bucketTenantEvents).Delete(append(tenantPrefix(tenantID), pos...))
}

// purgeRecoveries deletes up to limit of the tenant's finished recovery
// jobs created before p.Before; it reports whether more may remain.
func purgeRecoveries(tx *bbolt.Tx, p store.PurgeParams, limit int) (bool, error) {
	prefix := tenantPrefix(p.TenantID)
	before := append(bytes.Clone(prefix), timeKey(p.Before, "")...)
	byTenant, jobs := tx.Bucket(bucketRecoveriesByTenant), tx.Bucket(bucketRecoveries)
	var done [][]byte
	examined := 0
	c := byTenant.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.Compare(k, before) < 0 && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if examined++; examined > limit {
			break
		}
		var r *store.Recovery
		if len(k) < len(prefix)+8 || getRecord(jobs, k[len(prefix)+8:], &r) != nil || r.Done {
			done = append(done, bytes.Clone(k))
		}
	}
	for _, k := range done {
		if err := byTenant.Delete(k); err != nil {
			return false, err
		}
		if len(k) >= len(prefix)+8 {
			if err := jobs.Delete(k[len(prefix)+8:]); err != nil {
				return false, err
			}
		}
	}
	return examined > limit && len(done) > 0, nil
}

// purgeRollupsStep deletes up to limit of the tenant's hourly rollups for
// hours that end by p.Before; it reports whether more remain.
func purgeRollupsStep(tx *bbolt.Tx, p store.PurgeParams, limit int) (bool, error) {
	prefix := tenantPrefix(p.TenantID)
	// An hour ends by Before when it starts an hour or more before it.
	before := append(bytes.Clone(prefix), timeKey(p.Before.Add(1-time.Hour), "")...)
	var keys [][]byte
	c := tx.Bucket(bucketStatsByTenant).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.Compare(k, before) < 0 && len(keys) <= limit; k, _ = c.Next() {
		if !bytes.HasPrefix(k, prefix) || len(k) < len(prefix)+8 {
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	more := len(keys) > limit
	stats := tx.Bucket(bucketStats)
	for _, k := range keys[:min(len(keys), limit)] {
		hour, endpointID := k[len(prefix):len(prefix)+8], k[len(prefix)+8:]
		if err := stats.Delete(append(tenantPrefix(string(endpointID)), hour...)); err != nil {
			return false, err
		}
		if err := tx.Bucket(bucketStatsByTenant).Delete(k); err != nil {
			return false, err
		}
	}
	return more, nil
}
