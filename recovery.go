package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hooksmith/webhook/internal/ids"
	"github.com/hooksmith/webhook/store"
)

// ErrMessageInFlight: RetryMessage found the message being delivered; its
// attempt's outcome decides what follows.
var ErrMessageInFlight = errors.New("webhook: message in flight")

// recoveryBatch is how many candidates one step of a recovery job
// examines, in one write.
const recoveryBatch = 200

// RetryMessage makes the message due now, with a full retry schedule
// after it; its next attempt is recorded with TriggerManual. A succeeded or
// exhausted message is reopened (and leaves the exhausted list). It returns
// ErrNotFound for an unknown message or one whose endpoint was deleted,
// ErrEndpointDisabled, or ErrMessageInFlight.
func (t *Tenant) RetryMessage(ctx context.Context, id string) error {
	if err := t.check(); err != nil {
		return err
	}
	out, err := t.d.store.MessageRetry(ctx, store.MessageRetryParams{
		TenantID: t.id, MessageIDs: []string{id}, Trigger: store.TriggerManual, Now: time.Now().UTC(),
	})
	if err != nil {
		return err
	}
	switch out[0] {
	case store.RetryDone:
		t.d.signalWake()
		return nil
	case store.RetryInFlight:
		return fmt.Errorf("%w: %q", ErrMessageInFlight, id)
	case store.RetryEndpointDisabled:
		return fmt.Errorf("%w: the endpoint of message %q", ErrEndpointDisabled, id)
	case store.RetryEndpointDeleted:
		return fmt.Errorf("%w: the endpoint of message %q was deleted", ErrNotFound, id)
	default:
		return fmt.Errorf("%w: message %q", ErrNotFound, id)
	}
}

// ReplayOptions tune ReplayEvent.
type ReplayOptions struct {
	// Rematch sends the event to the tenant's enabled endpoints whose
	// filters match it now, instead of to the endpoints it went to.
	Rematch bool
}

// ReplayResult reports what ReplayEvent did.
type ReplayResult struct {
	EventID string
	// Replayed are the messages made due now: the event's own messages,
	// reopened, and new ones for endpoints it had not gone to.
	Replayed []MessageRef
	// Skipped are endpoints it was not replayed to.
	Skipped []ReplaySkip
}

// ReplaySkip names an endpoint ReplayEvent left out, and why.
type ReplaySkip struct {
	EndpointID string
	MessageID  string
	// Reason is "in_flight", "endpoint_disabled", "endpoint_deleted" or
	// "not_found" (the message was purged meanwhile).
	Reason string
}

// ReplayEvent delivers a published event again, now, with TriggerReplay:
// to each endpoint it went to (or, with Rematch, to each enabled endpoint
// that matches it now). Each endpoint's message is made due with a full
// retry schedule (reopened if it was final), and an endpoint that matches
// with Rematch but had none gets a new one, so the event keeps one message
// per endpoint and receivers see the same webhook-id. The reopening and
// the new messages are two writes: an error may come after the first took
// effect. It returns ErrNotFound for an unknown event.
func (t *Tenant) ReplayEvent(ctx context.Context, eventID string, opts ReplayOptions) (*ReplayResult, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	ev, err := t.d.store.EventGet(ctx, t.id, eventID)
	if err != nil {
		return nil, notFound(err, "event", eventID)
	}
	now := time.Now().UTC()
	res := &ReplayResult{EventID: ev.ID}
	existing := make(map[string]string, len(ev.Messages)) // endpoint → message
	for _, r := range ev.Messages {
		existing[r.EndpointID] = r.MessageID
	}
	var retry []MessageRef
	var fresh []*store.Message
	if opts.Rematch {
		eps, err := t.d.store.EndpointListAll(ctx, t.id)
		if err != nil {
			return nil, err
		}
		for _, ep := range eps {
			if !matchesType(ep.EventTypes, ev.Type) || !matchesLabels(ep.Labels, ev.Labels) {
				continue
			}
			if !ep.Enabled {
				res.Skipped = append(res.Skipped, ReplaySkip{EndpointID: ep.ID, MessageID: existing[ep.ID],
					Reason: string(store.RetryEndpointDisabled)})
				continue
			}
			if id, ok := existing[ep.ID]; ok {
				retry = append(retry, MessageRef{MessageID: id, EndpointID: ep.ID})
				continue
			}
			fresh = append(fresh, &store.Message{
				ID: ids.New("msg"), TenantID: t.id, EndpointID: ep.ID, EventID: ev.ID, EventKey: ev.Key,
				Status: store.StatusPending, Trigger: store.TriggerReplay, NextAttemptAt: now,
				CreatedAt: now, UpdatedAt: now,
			})
		}
	} else {
		for _, r := range ev.Messages {
			retry = append(retry, MessageRef(r))
		}
	}
	if len(retry) > 0 {
		msgIDs := make([]string, len(retry))
		for i, r := range retry {
			msgIDs[i] = r.MessageID
		}
		outcomes, err := t.d.store.MessageRetry(ctx, store.MessageRetryParams{
			TenantID: t.id, MessageIDs: msgIDs, Trigger: store.TriggerReplay, Now: now,
		})
		if err != nil {
			return nil, err
		}
		for i, o := range outcomes {
			ref := retry[i]
			if o == store.RetryDone {
				res.Replayed = append(res.Replayed, ref)
			} else {
				res.Skipped = append(res.Skipped, ReplaySkip{EndpointID: ref.EndpointID, MessageID: ref.MessageID, Reason: string(o)})
			}
		}
	}
	if len(fresh) > 0 {
		written, err := t.d.store.MessageInsert(ctx, store.MessageInsertParams{
			TenantID: t.id, EventKey: ev.Key, Messages: fresh, Now: now,
		})
		if err != nil {
			return nil, notFound(err, "event", eventID) // purged since it was read
		}
		byID := make(map[string]string, len(fresh))
		for _, m := range fresh {
			byID[m.ID] = m.EndpointID
		}
		for _, id := range written {
			res.Replayed = append(res.Replayed, MessageRef{MessageID: id, EndpointID: byID[id]})
		}
	}
	if len(res.Replayed) > 0 {
		t.d.signalWake()
	}
	return res, nil
}

// Recovery is a background job that retries many messages; see
// RecoverEndpoint and ReplayExhausted. Jobs are stored, so one interrupted
// by a stop or a crash resumes when a dispatcher on the store starts.
type Recovery struct {
	ID string
	// EndpointID is the endpoint recovered; empty for ReplayExhausted of
	// the whole tenant.
	EndpointID string
	// Exhausted is set for ReplayExhausted, clear for RecoverEndpoint.
	Exhausted bool
	Since     time.Time
	// Scanned counts the messages examined so far, Retried those made due,
	// Skipped those left (in flight, or their endpoint disabled).
	Scanned, Retried, Skipped int
	Done                      bool
	CreatedAt, UpdatedAt      time.Time
}

func recoveryFromStore(r *store.Recovery) *Recovery {
	return &Recovery{
		ID: r.ID, EndpointID: r.EndpointID, Exhausted: r.Source == store.RecoverExhausted, Since: r.Since,
		Scanned: r.Scanned, Retried: r.Retried, Skipped: r.Skipped, Done: r.Done,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// RecoverEndpoint retries, in the background, every failing or exhausted
// message of the endpoint published at or after since (zero: all that are
// kept), like Svix's recover: for an endpoint that was down. Each retried
// message is due now with TriggerReplay; an exhausted one gets a full retry
// schedule. It returns the job at once; GetRecovery reports its progress.
// It returns ErrNotFound for an unknown endpoint and ErrEndpointDisabled
// for a disabled one.
func (t *Tenant) RecoverEndpoint(ctx context.Context, endpointID string, since time.Time) (*Recovery, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if _, err := t.enabledEndpoint(ctx, endpointID); err != nil {
		return nil, err
	}
	return t.startRecovery(ctx, &store.Recovery{Source: store.RecoverEndpoint, EndpointID: endpointID, Since: since.UTC()})
}

// ReplayExhausted retries, in the background, the tenant's exhausted
// messages (the dead letters; only those of endpointID if it is not empty),
// each with a full retry schedule and TriggerReplay. Messages of disabled
// endpoints are skipped and stay listed. It returns the job at once;
// GetRecovery reports its progress.
func (t *Tenant) ReplayExhausted(ctx context.Context, endpointID string) (*Recovery, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if endpointID != "" {
		if _, err := t.d.store.EndpointGet(ctx, t.id, endpointID); err != nil {
			return nil, notFound(err, "endpoint", endpointID)
		}
	}
	return t.startRecovery(ctx, &store.Recovery{Source: store.RecoverExhausted, EndpointID: endpointID})
}

func (t *Tenant) startRecovery(ctx context.Context, r *store.Recovery) (*Recovery, error) {
	now := time.Now().UTC()
	r.ID, r.TenantID, r.CreatedAt, r.UpdatedAt = ids.New("rcv"), t.id, now, now
	if err := t.d.store.RecoveryCreate(ctx, r); err != nil {
		return nil, err
	}
	select {
	case t.d.recoveries <- struct{}{}:
	default:
	}
	return recoveryFromStore(r), nil
}

// GetRecovery returns a recovery job's progress, or ErrNotFound.
func (t *Tenant) GetRecovery(ctx context.Context, id string) (*Recovery, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	r, err := t.d.store.RecoveryGet(ctx, t.id, id)
	if err != nil {
		return nil, notFound(err, "recovery", id)
	}
	return recoveryFromStore(r), nil
}

// runRecoveries works through the stored unfinished recovery jobs, oldest
// first, one bounded step at a time, until the dispatcher stops.
func (d *Dispatcher) runRecoveries(ctx context.Context) {
	defer d.wg.Done()
	retryDelay := time.Second
	for {
		jobs, err := d.store.RecoveryListUnfinished(ctx)
		failed := err != nil
		if err != nil && ctx.Err() == nil {
			d.log.Error("webhook: listing recovery jobs failed", slog.Any("error", err))
		}
		for _, j := range jobs {
			// One job's failure does not hold up the others.
			if err := d.finishRecovery(ctx, j); err != nil {
				failed = true
				if ctx.Err() != nil {
					return
				}
				d.log.Error("webhook: recovery job failed; retrying", slog.String("tenant_id", j.TenantID),
					slog.String("recovery_id", j.ID), slog.Any("error", err))
			}
		}
		if ctx.Err() != nil {
			return
		}
		wait := time.Duration(1<<63 - 1)
		switch {
		case failed:
			wait = retryDelay
		case len(jobs) == store.MaxPageSize:
			continue // more may wait beyond the first page
		}
		timer := time.NewTimer(wait)
		select {
		case <-d.recoveries:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return
		}
		timer.Stop()
	}
}

func (d *Dispatcher) finishRecovery(ctx context.Context, j *store.Recovery) error {
	for !j.Done {
		next, err := d.store.RecoveryStep(ctx, j.TenantID, j.ID, recoveryBatch, time.Now().UTC())
		if err != nil {
			return err
		}
		if next.Retried > j.Retried {
			d.signalWake()
		}
		j = next
	}
	d.log.Info("webhook: recovery finished", slog.String("tenant_id", j.TenantID),
		slog.String("endpoint_id", j.EndpointID), slog.String("recovery_id", j.ID),
		slog.Int("retried", j.Retried), slog.Int("skipped", j.Skipped))
	return nil
}
