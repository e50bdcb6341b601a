package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

// MessageInsert implements store.Store.
func (s *Store) MessageInsert(ctx context.Context, p store.MessageInsertParams) ([]string, error) {
	var written []string
	err := s.c.write(ctx, func(tx *bbolt.Tx) error {
		written = nil
		ev, held, err := readEvent(tx, []byte(p.EventKey))
		if err != nil {
			return rejectNotFound(err)
		}
		if ev.TenantID != p.TenantID {
			return reject(store.ErrNotFound)
		}
		has := map[string]bool{}
		for _, r := range ev.Messages {
			has[r.EndpointID] = true
		}
		q := s.c.qtx(tx)
		for _, m := range p.Messages {
			if has[m.EndpointID] || m.TenantID != p.TenantID || m.EventKey != p.EventKey || !q.endpointExists(m) {
				continue
			}
			has[m.EndpointID] = true
			if err := q.insertMessage(m); err != nil {
				return err
			}
			written = append(written, m.ID)
			ref := store.MessageRef{MessageID: m.ID, EndpointID: m.EndpointID}
			if held {
				ev.Messages = append(ev.Messages, ref)
			} else if err := tx.Bucket(bucketEventMsgs).Put(tenantKey(ev.Key, m.ID), []byte(m.EndpointID)); err != nil {
				return err
			}
		}
		if held && len(written) > 0 {
			sortRefs(ev.Messages)
			v, err := encodeEvent(ev)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketEvents).Put([]byte(ev.Key), v); err != nil {
				return err
			}
		}
		return q.flush()
	})
	return written, err
}

// MessageRetry implements store.Store.
func (s *Store) MessageRetry(ctx context.Context, p store.MessageRetryParams) ([]store.RetryOutcome, error) {
	var out []store.RetryOutcome
	err := s.c.write(ctx, func(tx *bbolt.Tx) error {
		out = make([]store.RetryOutcome, len(p.MessageIDs))
		q := s.c.qtx(tx)
		for i, id := range p.MessageIDs {
			var m *store.Message
			err := readRecord(q, q.msgs, []byte(id), &m)
			switch {
			case errors.Is(err, store.ErrNotFound) || (err == nil && m.TenantID != p.TenantID):
				out[i] = store.RetryNotFound
				continue
			case err != nil:
				return err
			}
			if out[i], err = q.retry(m, p.Trigger, p.Now); err != nil {
				return err
			}
		}
		return q.flush()
	})
	return out, err
}

// retry makes m due now with trigger, reopening it if it is final.
func (q *qtx) retry(m *store.Message, trigger store.Trigger, now time.Time) (store.RetryOutcome, error) {
	var ep *store.Endpoint
	if err := getRecord(q.tx.Bucket(bucketEndpoints), tenantKey(m.TenantID, m.EndpointID), &ep); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.RetryEndpointDeleted, nil
		}
		return "", err
	}
	switch {
	case !ep.Enabled:
		return store.RetryEndpointDisabled, nil
	case m.Status == store.StatusDelivering:
		return store.RetryInFlight, nil
	}
	m.Trigger, m.RetryBase = trigger, m.Attempts
	switch {
	case m.Status.Final():
		if m.Status == store.StatusExhausted {
			if err := q.tx.Bucket(bucketDead).Delete(tenantKey(m.TenantID, m.ID)); err != nil {
				return "", err
			}
			if err := q.tx.Bucket(bucketDeadByEp).Delete(tenantKey(m.EndpointID, m.ID)); err != nil {
				return "", err
			}
		}
		// Reopened through the intake, behind everything published before.
		m.Status, m.NextAttemptAt, m.UpdatedAt = m.WaitingStatus(), now, now
		return store.RetryDone, q.toIntake(m)
	case q.inIntake(m):
		// Not queued yet: admit queues it at its new due time.
		m.NextAttemptAt, m.UpdatedAt = now, now
		if err := putRecord(q.msgs, []byte(m.ID), m); err != nil {
			return "", err
		}
		return store.RetryDone, q.putIntake(m)
	}
	if err := q.move(m, m.WaitingStatus(), now, now); err != nil {
		return "", err
	}
	return store.RetryDone, q.offer(m.EndpointID, q.stateFor(m.TenantID, m.EndpointID), now)
}

// RecoveryCreate implements store.Store.
func (s *Store) RecoveryCreate(ctx context.Context, r *store.Recovery) error {
	key := []byte(r.ID)
	return s.c.write(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRecoveries)
		if b.Get(key) != nil {
			return reject(store.ErrConflict)
		}
		if err := putRecord(b, key, r); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRecoveriesByTenant).Put(append(tenantPrefix(r.TenantID), timeKey(r.CreatedAt, r.ID)...), nil); err != nil {
			return err
		}
		if r.Done {
			return nil
		}
		return tx.Bucket(bucketRecoveriesRun).Put(timeKey(r.CreatedAt, r.ID), []byte(r.TenantID))
	})
}

// RecoveryGet implements store.Store.
func (s *Store) RecoveryGet(ctx context.Context, tenantID, id string) (*store.Recovery, error) {
	var r *store.Recovery
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		r, err = getOwned(tx.Bucket(bucketRecoveries), []byte(id), tenantID, recoveryTenant)
		return err
	})
	return r, err
}

// RecoveryListUnfinished implements store.Store.
func (s *Store) RecoveryListUnfinished(ctx context.Context) ([]*store.Recovery, error) {
	var out []*store.Recovery
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		out = nil
		jobs := tx.Bucket(bucketRecoveries)
		c := tx.Bucket(bucketRecoveriesRun).Cursor()
		for k, _ := c.First(); k != nil && len(out) < store.MaxPageSize; k, _ = c.Next() {
			var r *store.Recovery
			if len(k) < 8 {
				continue
			}
			if err := getRecord(jobs, k[8:], &r); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				return err
			}
			if !r.Done {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// RecoveryStep implements store.Store.
func (s *Store) RecoveryStep(ctx context.Context, tenantID, id string, limit int, now time.Time) (*store.Recovery, error) {
	limit = store.PageLimit(limit)
	key := []byte(id)
	if err := s.flushIndexes(ctx); err != nil {
		return nil, err
	}
	var out *store.Recovery
	err := s.c.write(ctx, func(tx *bbolt.Tx) error {
		r, err := getOwned(tx.Bucket(bucketRecoveries), key, tenantID, recoveryTenant)
		if err != nil {
			return rejectNotFound(err)
		}
		if err := s.indexed(tx); err != nil {
			return err
		}
		out = r
		if r.Done {
			return nil
		}
		// The candidates: positions under prefix, after the cursor.
		var b *bbolt.Bucket
		var prefix, start []byte
		switch {
		case r.Source == store.RecoverEndpoint:
			b, prefix = tx.Bucket(bucketEpMsgs), tenantPrefix(r.EndpointID)
			start = timeKey(r.Since, "")
		case r.EndpointID != "":
			b, prefix = tx.Bucket(bucketDeadByEp), tenantPrefix(r.EndpointID)
		default:
			b, prefix = tx.Bucket(bucketDead), tenantPrefix(tenantID)
		}
		if r.Cursor != "" {
			var err error
			if start, err = base64.RawURLEncoding.DecodeString(r.Cursor); err != nil {
				return fmt.Errorf("bolt: recovery %q: %w", id, store.ErrInvalidCursor)
			}
		}
		from := append(bytes.Clone(prefix), start...)
		c := b.Cursor()
		k, _ := c.Seek(from)
		if r.Cursor != "" && bytes.Equal(k, from) {
			k, _ = c.Next()
		}
		var positions [][]byte
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(positions) < limit; k, _ = c.Next() {
			positions = append(positions, bytes.Clone(k[len(prefix):]))
		}
		q := s.c.qtx(tx)
		for _, pos := range positions {
			r.Cursor = base64.RawURLEncoding.EncodeToString(pos) // JSON keeps only valid UTF-8
			msgID := pos
			if r.Source == store.RecoverEndpoint {
				if len(pos) < 8 {
					continue
				}
				msgID = pos[8:]
			}
			var m *store.Message
			err := readRecord(q, q.msgs, msgID, &m)
			switch {
			case errors.Is(err, store.ErrNotFound):
				continue
			case err != nil:
				// Unreadable: skipped, so one bad record does not stop the job.
				r.Scanned++
				r.Skipped++
				continue
			case m.TenantID != tenantID:
				continue
			}
			if r.Scanned++; !recoverable(m) {
				continue
			}
			outcome, err := q.retry(m, store.TriggerReplay, now)
			if err != nil {
				return err
			}
			if outcome == store.RetryDone {
				r.Retried++
			} else {
				r.Skipped++
			}
		}
		r.Done = len(positions) < limit
		r.UpdatedAt = now
		if r.Done {
			if err := tx.Bucket(bucketRecoveriesRun).Delete(timeKey(r.CreatedAt, r.ID)); err != nil {
				return err
			}
		}
		if err := putRecord(tx.Bucket(bucketRecoveries), key, r); err != nil {
			return err
		}
		return q.flush()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func recoveryTenant(r *store.Recovery) string { return r.TenantID }

// recoverable: a message a recovery retries, failing (waiting or leased
// for a retry) or exhausted.
func recoverable(m *store.Message) bool {
	return m.Status == store.StatusFailing || m.Status == store.StatusExhausted ||
		(m.Status == store.StatusDelivering && m.Attempts > 0)
}
