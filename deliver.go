package webhook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/hooksmith/webhook/internal/delivery"
	"github.com/hooksmith/webhook/internal/ids"
	"github.com/hooksmith/webhook/internal/retry"
	"github.com/hooksmith/webhook/store"
)

// userAgent identifies deliveries to receivers.
const userAgent = "hooksmith-webhook/1"

// schedule claims due messages for idle workers. It sleeps until the next
// message is due, a publish wakes it, or PollInterval passes; it claims no
// more than there are idle workers, so the backlog stays in the store.
func (d *Dispatcher) schedule(ctx context.Context) {
	defer d.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	errDelay := 100 * time.Millisecond
	for {
		idle := d.idle()
		if idle == 0 {
			select {
			case <-d.freed:
				continue
			case <-ctx.Done():
				return
			}
		}
		now := time.Now().UTC()
		limit := min(idle, maxClaimBatch)
		res, err := d.store.MessageClaim(ctx, store.MessageClaimParams{
			Now: now, LeaseUntil: now.Add(d.cfg.LeaseDuration), Limit: limit,
		})
		wait := d.cfg.PollInterval
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			d.log.Error("webhook: claiming messages failed", slog.Any("error", err))
			wait, errDelay = errDelay, min(errDelay*2, d.cfg.PollInterval)
		default:
			errDelay = 100 * time.Millisecond
			// Claims committed as Stop began still go to the workers, which
			// release them at once instead of leaving them leased.
			d.dispatch(res.Claims[:min(len(res.Claims), limit)])
			for _, id := range res.Corrupt {
				d.log.Error("webhook: message set aside: its stored records cannot be read", slog.String("message_id", id))
			}
			if ctx.Err() != nil {
				return
			}
			if !res.NextDue.IsZero() {
				wait = min(wait, res.NextDue.Sub(time.Now()))
			}
		}
		if wait <= 0 {
			continue
		}
		d.mu.Lock()
		d.wakeAt = time.Now().Add(wait)
		d.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-d.wake:
		case <-ctx.Done():
			return
		}
	}
}

// wakeBy wakes the scheduler if it plans to sleep past t, a newly set due
// time (zero for none).
func (d *Dispatcher) wakeBy(t time.Time) {
	if t.IsZero() {
		return
	}
	d.mu.Lock()
	early := t.Before(d.wakeAt)
	d.mu.Unlock()
	if early {
		d.signalWake()
	}
}

func (d *Dispatcher) idle() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg.Workers - d.busy
}

func (d *Dispatcher) dispatch(claims []store.Claim) {
	d.mu.Lock()
	d.busy += len(claims)
	d.mu.Unlock()
	for _, c := range claims {
		d.work <- c // never blocks: the buffer holds Workers and busy <= Workers
	}
}

func (d *Dispatcher) done() {
	d.mu.Lock()
	full := d.busy == d.cfg.Workers
	d.busy--
	d.mu.Unlock()
	if full {
		select {
		case d.freed <- struct{}{}:
		default:
		}
	}
}

func (d *Dispatcher) worker(ctx context.Context) {
	defer d.workers.Done()
	for c := range d.work {
		if d.closed() {
			d.release(c)
		} else {
			d.deliver(ctx, c)
		}
		d.done()
	}
}

// deliver makes one attempt at a claimed message and records the outcome.
// ctx ends only on shutdown; the message is then released, not counted.
func (d *Dispatcher) deliver(ctx context.Context, c store.Claim) {
	msg, ev, ep := c.Message, c.Event, c.Endpoint
	number := msg.Attempts + 1
	reqCtx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	req, err := d.newRequest(reqCtx, ep, ev)
	if err != nil {
		// The stored endpoint cannot make a request (its URL no longer
		// parses): record it and let the schedule run out.
		d.complete(c, d.outcome(c, number, time.Now().UTC(), nil, delivery.Result{Class: store.ErrorOther, Err: err}))
		return
	}
	started := time.Now().UTC()
	res := delivery.Do(d.client, req, d.cfg.MaxResponseBodySize)
	if ctx.Err() != nil {
		d.release(c)
		return
	}
	d.complete(c, d.outcome(c, number, started, req.Header, res))
	if res.Err == nil && res.StatusCode == http.StatusGone {
		d.disableGone(ep)
	}
}

func (d *Dispatcher) newRequest(ctx context.Context, ep *store.Endpoint, ev *store.Event) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, ep.Method, ep.URL, bytes.NewReader(ev.Payload))
	if err != nil {
		return nil, err
	}
	h := req.Header
	for k, v := range ep.Headers {
		h.Set(k, v)
	}
	ts := time.Now().Unix()
	h.Set("Content-Type", ev.ContentType)
	h.Set("User-Agent", userAgent)
	h.Set("Webhook-Id", ev.ID)
	h.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
	secrets, err := d.openSecrets(ep)
	if err != nil {
		return nil, err
	}
	sig, err := signatureHeader(secrets, ev.ID, ts, ev.Payload, time.Now())
	if err != nil {
		return nil, err
	}
	h.Set("Webhook-Signature", sig)
	return req, nil
}

// outcome turns a result into the attempt record and the message's next state.
func (d *Dispatcher) outcome(c store.Claim, number int, started time.Time, sent http.Header, res delivery.Result) store.MessageCompleteParams {
	msg, ep := c.Message, c.Endpoint
	att := &store.Attempt{
		ID: ids.New("att"), TenantID: msg.TenantID, MessageID: msg.ID, EndpointID: msg.EndpointID,
		EventID: msg.EventID, Number: number, Trigger: store.TriggerScheduled,
		StartedAt: started, Duration: res.Duration, URL: ep.URL,
		RequestHeaders: delivery.Redact(sent), StatusCode: res.StatusCode,
		ResponseHeaders: delivery.Redact(res.Header), ResponseBody: res.Body,
		ResponseTruncated: res.Truncated, ErrorClass: res.Class,
	}
	if res.Err != nil {
		att.Error = delivery.ErrorText(res.Err)
	} else if !res.OK() {
		att.Error = "HTTP " + strconv.Itoa(res.StatusCode)
	}
	now := time.Now().UTC()
	p := store.MessageCompleteParams{MessageID: msg.ID, LeaseToken: msg.LeaseToken, Attempt: att, Now: now}
	p.Status, p.NextAttemptAt = d.nextStep(ep, number, res, now)
	d.log.Debug("webhook: attempt finished",
		slog.String("tenant_id", msg.TenantID), slog.String("endpoint_id", msg.EndpointID),
		slog.String("event_id", msg.EventID), slog.String("message_id", msg.ID),
		slog.Int("attempt", number), slog.Int("status_code", res.StatusCode),
		slog.Int64("duration_ms", res.Duration.Milliseconds()), slog.String("error_class", string(res.Class)))
	if p.Status == store.StatusExhausted {
		d.log.Warn("webhook: message exhausted its retries",
			slog.String("tenant_id", msg.TenantID), slog.String("endpoint_id", msg.EndpointID),
			slog.String("event_id", msg.EventID), slog.String("message_id", msg.ID), slog.Int("attempt", number))
	}
	return p
}

// nextStep decides what follows attempt number: success, a retry at a time
// (the endpoint's schedule, or the receiver's Retry-After on 429 and 503,
// capped by Config.MaxRetryAfter), or exhaustion.
func (d *Dispatcher) nextStep(ep *store.Endpoint, number int, res delivery.Result, now time.Time) (store.MessageStatus, time.Time) {
	if res.OK() {
		return store.StatusSucceeded, time.Time{}
	}
	if ep.NoRetryOnClientError && res.Err == nil && retry.ClientError(res.StatusCode) {
		return store.StatusExhausted, time.Time{}
	}
	schedule := d.cfg.RetrySchedule
	if len(ep.RetrySchedule) > 0 {
		schedule = ep.RetrySchedule
	}
	delay, more := retry.Next(schedule, number)
	if !more {
		return store.StatusExhausted, time.Time{}
	}
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
		if after, ok := retry.After(res.Header, now); ok {
			delay = min(after, d.cfg.MaxRetryAfter)
		}
	}
	return store.StatusFailing, now.Add(delay)
}

// disableGone disables an endpoint that answered 410 Gone: the receiver
// says it will never take deliveries again. Its pending messages are held,
// not cancelled, in case the customer re-enables it.
func (d *Dispatcher) disableGone(ep *store.Endpoint) {
	ctx, cancel := context.WithTimeout(context.Background(), storeWriteTimeout)
	defer cancel()
	const reason = "the endpoint answered 410 Gone"
	_, err := d.Tenant(ep.TenantID).modifyEndpoint(ctx, ep.ID, func(r *store.Endpoint) bool {
		if !r.Enabled {
			return false
		}
		r.Enabled, r.DisabledReason = false, reason
		return true
	})
	if err != nil {
		d.log.Error("webhook: disabling an endpoint that answered 410 failed",
			slog.String("tenant_id", ep.TenantID), slog.String("endpoint_id", ep.ID), slog.Any("error", err))
		return
	}
	d.log.Warn("webhook: endpoint disabled", slog.String("tenant_id", ep.TenantID),
		slog.String("endpoint_id", ep.ID), slog.String("reason", reason))
}

// release gives a claimed message back without counting an attempt, due now.
func (d *Dispatcher) release(c store.Claim) {
	now := time.Now().UTC()
	d.complete(c, store.MessageCompleteParams{
		MessageID: c.Message.ID, LeaseToken: c.Message.LeaseToken,
		Status: store.StatusPending, NextAttemptAt: now, Now: now,
	})
}

// complete records an outcome. It runs even during shutdown, bounded by
// storeWriteTimeout; if it fails, the lease expires and the message is
// delivered again, which at-least-once permits.
func (d *Dispatcher) complete(c store.Claim, p store.MessageCompleteParams) {
	ctx, cancel := context.WithTimeout(context.Background(), storeWriteTimeout)
	defer cancel()
	err := d.store.MessageComplete(ctx, p)
	switch {
	case err == nil:
		d.wakeBy(p.NextAttemptAt)
	case errors.Is(err, store.ErrLeaseLost):
		d.log.Info("webhook: lease lost before the outcome was recorded",
			slog.String("message_id", c.Message.ID), slog.String("endpoint_id", c.Message.EndpointID))
	default:
		d.log.Error("webhook: recording a delivery outcome failed",
			slog.String("message_id", c.Message.ID), slog.String("endpoint_id", c.Message.EndpointID),
			slog.Any("error", err))
	}
}
