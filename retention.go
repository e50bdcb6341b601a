package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hooksmith/webhook/store"
)

// Retention bounds.
const (
	// DefaultRetention is how long history is kept unless Config.Retention
	// or the tenant says otherwise.
	DefaultRetention = 30 * 24 * time.Hour
	// MinRetention and MaxRetention bound every retention setting.
	MinRetention = time.Hour
	MaxRetention = 10 * 365 * 24 * time.Hour
	// DefaultPurgeInterval is how often the background purge runs.
	DefaultPurgeInterval = 10 * time.Minute
	// MinPurgeInterval bounds Config.PurgeInterval from below.
	MinPurgeInterval = time.Minute
)

// purgeBatch is how many events one purge write examines, so a purge
// never holds the store for long and delivery outcomes interleave.
const purgeBatch = 200

func validRetention(field string, d time.Duration) error {
	if d < MinRetention || d > MaxRetention {
		return invalid(field, "must be between %v and %v", MinRetention, MaxRetention)
	}
	return nil
}

// SetRetention sets how long the tenant's events, messages, attempts and
// stats are kept after they are published (the Hook0 guide's "7 days for
// free plans, 30 for premium"); 0 returns the tenant to Config.Retention.
// It returns a *ValidationError outside [MinRetention, MaxRetention].
func (t *Tenant) SetRetention(ctx context.Context, d time.Duration) error {
	if err := t.check(); err != nil {
		return err
	}
	if d != 0 {
		if err := validRetention("retention", d); err != nil {
			return err
		}
	}
	return t.d.store.TenantSettingsPut(ctx, &store.TenantSettings{TenantID: t.id, Retention: d, UpdatedAt: time.Now().UTC()})
}

// Retention returns how long the tenant's history is kept.
func (t *Tenant) Retention(ctx context.Context) (time.Duration, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	return t.d.retention(ctx, t.id)
}

func (d *Dispatcher) retention(ctx context.Context, tenantID string) (time.Duration, error) {
	s, err := d.store.TenantSettingsGet(ctx, tenantID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return d.cfg.Retention, nil
	case err != nil:
		return 0, err
	case s.Retention > 0:
		return s.Retention, nil
	}
	return d.cfg.Retention, nil
}

// PurgeStats counts what a purge looked at and deleted.
type PurgeStats struct {
	// Tenants counts the tenants visited.
	Tenants int
	// Events, Messages and Attempts count what was deleted.
	Events, Messages, Attempts int
	// Kept counts events past their retention kept for a message that is
	// still pending or retrying; they go once it is final.
	Kept int
}

// Purge deletes, for every tenant, the events older than its retention
// whose messages are all final, with their messages, attempts and payloads,
// its stats rollups and finished recovery jobs older than its retention. A
// message still pending or retrying is never deleted, nor an event ID
// within Config.IdempotencyWindow (a retention shorter than the window
// acts as the window). It works in small writes, so delivery goes on
// meanwhile; a tenant whose purge fails is reported in the joined error
// and the others are still purged. The started dispatcher runs it at Start
// and every Config.PurgeInterval; call it yourself when that is negative.
func (d *Dispatcher) Purge(ctx context.Context) (PurgeStats, error) {
	var (
		total PurgeStats
		errs  []error
	)
	now := time.Now().UTC()
	after := ""
	for {
		tenants, err := d.store.TenantList(ctx, store.ListParams{After: after, Limit: store.MaxPageSize})
		if err != nil {
			return total, errors.Join(append(errs, err)...)
		}
		for _, tenant := range tenants {
			keep, err := d.retention(ctx, tenant)
			if err != nil {
				return total, errors.Join(append(errs, err)...)
			}
			// An event ID is remembered for the idempotency window even
			// when the retention is shorter, so a retried publish stays a
			// duplicate.
			keep = max(keep, d.cfg.IdempotencyWindow)
			p := store.PurgeParams{TenantID: tenant, Before: now.Add(-keep), Limit: purgeBatch}
			for {
				res, err := d.store.Purge(ctx, p)
				if err != nil {
					if ctx.Err() != nil {
						return total, err
					}
					// One tenant's failure does not stop the others'.
					errs = append(errs, fmt.Errorf("tenant %q: %w", tenant, err))
					break
				}
				total.Events += res.Events
				total.Messages += res.Messages
				total.Attempts += res.Attempts
				total.Kept += res.Kept
				if p.After = res.Next; p.After == "" {
					break
				}
			}
			total.Tenants++
		}
		if len(tenants) < store.MaxPageSize {
			return total, errors.Join(errs...)
		}
		after = tenants[len(tenants)-1]
	}
}

// runPurge purges at once, then every PurgeInterval, until the dispatcher
// stops.
func (d *Dispatcher) runPurge(ctx context.Context) {
	defer d.wg.Done()
	ticker := time.NewTicker(d.cfg.PurgeInterval)
	defer ticker.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ticker.C:
			case <-ctx.Done():
				return
			}
		}
		st, err := d.Purge(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			d.log.Error("webhook: purge failed", slog.Any("error", err))
		case st.Events > 0:
			d.log.Info("webhook: purged old history", slog.Int("events", st.Events),
				slog.Int("messages", st.Messages), slog.Int("attempts", st.Attempts), slog.Int("kept", st.Kept))
		}
	}
}
