package webhook

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/hooksmith/webhook/internal/breaker"
	"github.com/hooksmith/webhook/internal/delivery"
	"github.com/hooksmith/webhook/internal/ids"
	"github.com/hooksmith/webhook/internal/retry"
	"github.com/hooksmith/webhook/store"
)

// userAgent identifies deliveries to receivers.
const userAgent = "hooksmith-webhook/1"

// schedule claims due messages for the workers. It sleeps until the next
// message is due, a publish wakes it, or PollInterval passes. It claims
// messages ahead of free workers (see room and depth), so workers do not
// wait for each claim's write and claims come in batches; the backlog
// stays in the store.
func (d *Dispatcher) schedule(ctx context.Context) {
	defer d.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	errDelay := 100 * time.Millisecond
	nextSweep := time.Now().Add(sweepInterval)
	for {
		room, idle := d.room()
		if room == 0 {
			select {
			case <-d.freed:
				continue
			case <-ctx.Done():
				return
			}
		}
		now := time.Now().UTC()
		if now.After(nextSweep) {
			d.limits.Sweep(now)
			d.breaker.Sweep(now, sweepInterval)
			nextSweep = now.Add(sweepInterval)
		}
		limit := min(room, maxClaimBatch)
		res, err := d.store.MessageClaim(ctx, store.MessageClaimParams{
			Now: now, LeaseUntil: now.Add(d.cfg.LeaseDuration), Limit: limit,
			DefaultMaxInFlight: d.cfg.MaxInFlightPerEndpoint, Admit: d.admitter(now, idle),
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
			claims := res.Claims[:min(len(res.Claims), limit)]
			probes := d.admitted(claims, now)
			// Claims committed as Stop began still go to the workers, which
			// release them at once instead of leaving them leased.
			d.dispatch(claims, probes, now.Add(d.cfg.LeaseDuration))
			for _, id := range res.Corrupt {
				d.log.Error("webhook: message set aside: its stored records cannot be read", slog.String("message_id", id))
			}
			for _, id := range res.CorruptEndpoints {
				d.log.Error("webhook: endpoint's messages held: its stored record cannot be read", slog.String("endpoint_id", id))
			}
			if ctx.Err() != nil {
				return
			}
			if !res.NextDue.IsZero() {
				wait = min(wait, res.NextDue.Sub(time.Now()))
			}
			if len(claims) == 0 && idle == 0 {
				// What is due waits for an idle worker (see admitter).
				wait = d.cfg.PollInterval
			}
		}
		if wait <= 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-d.wake:
		case <-d.freed:
		case <-ctx.Done():
			return
		}
	}
}

// admitter is the claim's Admit: the endpoint's circuit breaker, then its
// rate limit. Both only look; admitted spends once the claim committed.
//
// Workers take claims in claim order, so the first idle of a claim go out
// at once and the rest wait for a worker. A rate-limited endpoint's
// messages must not wait: their tokens are spent at the claim, and
// messages claimed a second apart would go out together. Nor may those of
// an endpoint that has failed since its last success: its circuit may open
// or start probing meanwhile. Such endpoints get only the idle workers,
// and are looked at again at the next claim.
func (d *Dispatcher) admitter(now time.Time, idle int) func(*store.Endpoint, int) (int, time.Time) {
	return func(ep *store.Endpoint, want int) (int, time.Time) {
		n, notBefore := d.breaker.Admit(ep.ID, want, now)
		if n == 0 {
			return 0, notBefore
		}
		n, notBefore = d.limits.Admit(ep.ID, ep.RateLimit, ep.RateBurst, n, now)
		if n > idle && (ep.RateLimit > 0 || d.breaker.Tracked(ep.ID)) {
			n = idle
			if n == 0 {
				notBefore = now
			}
		}
		idle = max(idle-n, 0)
		return n, notBefore
	}
}

// admitted spends rate-limit tokens and marks circuit probes for what a
// claim leased, and reports which claims are probes. Whether a claim is
// one was settled when it was admitted, not by the circuit as it is once
// the claim has committed: a message admitted while the circuit was
// closed must wait if it opened meanwhile, not go out as a probe.
func (d *Dispatcher) admitted(claims []store.Claim, now time.Time) []bool {
	probes := make([]bool, len(claims))
	for i := 0; i < len(claims); {
		ep := claims[i].Endpoint
		n := 1
		for i+n < len(claims) && claims[i+n].Endpoint.ID == ep.ID {
			n++
		}
		d.limits.Take(ep.ID, ep.RateLimit, ep.RateBurst, n, now)
		probes[i] = d.breaker.Claimed(ep.ID, now)
		i += n
	}
	return probes
}

// room is how many messages the scheduler should claim now, up to depth
// claimed and unfinished ones, and how many workers are idle. While every
// worker has a message, it waits until half the room for messages claimed
// ahead has opened, so claims stay large.
func (d *Dispatcher) room() (room, idle int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	depth := d.depth()
	room, idle = max(depth-d.busy, 0), max(d.cfg.Workers-d.busy, 0)
	if idle == 0 && room < max(depth-d.cfg.Workers, 1)/2 {
		return 0, 0
	}
	return room, idle
}

// depth bounds claimed, unfinished messages, under mu: Workers, plus
// those claimed ahead to wait for a worker when the lease leaves time for
// it. Each round of Workers claimed ahead waits about one request, so as
// many rounds are claimed, up to maxAheadRounds, as recent requests take
// to fill a quarter of the lease's time beyond the request: half of what
// waitedOut allows. Until a request has been timed, and however slow they
// are, one round.
func (d *Dispatcher) depth() int {
	if !d.claimAhead {
		return d.cfg.Workers
	}
	rounds := 1
	if mean, ok := d.requests.mean(); ok {
		budget := (d.cfg.LeaseDuration - d.cfg.RequestTimeout) / 4
		rounds = maxAheadRounds
		if mean > 0 {
			rounds = int(min(max(budget/mean, 1), maxAheadRounds))
		}
	}
	return d.cfg.Workers * (1 + rounds)
}

// requestTimer is a moving average of how long requests take.
type requestTimer struct {
	avg   time.Duration
	timed bool
}

func (r *requestTimer) add(took time.Duration) {
	if !r.timed {
		r.avg, r.timed = took, true
		return
	}
	r.avg += (took - r.avg) / 8
}

func (r *requestTimer) mean() (time.Duration, bool) { return r.avg, r.timed }

// waitedOut reports whether a message claimed ahead waited for a worker
// until less than half the lease's time beyond the request is left: it
// goes back rather than risk its lease ending before its outcome is
// written, which would deliver it twice. Without claiming ahead a claim
// finds a free worker, and a lease may be as short as the request allows.
func (d *Dispatcher) waitedOut(c claimed) bool {
	return d.claimAhead &&
		time.Until(c.leaseUntil) < d.cfg.RequestTimeout+(d.cfg.LeaseDuration-d.cfg.RequestTimeout)/2
}

// claimed is a claim on its way to a worker, with the end of its lease
// and whether it is its endpoint's circuit probe.
type claimed struct {
	store.Claim
	leaseUntil time.Time
	probe      bool
}

func (d *Dispatcher) dispatch(claims []store.Claim, probes []bool, leaseUntil time.Time) {
	d.mu.Lock()
	d.busy += len(claims)
	d.mu.Unlock()
	for i, c := range claims {
		d.work <- claimed{c, leaseUntil, probes[i]} // never blocks: busy <= depth, and the buffer holds the deepest
	}
}

// done frees the worker that ran a claim and, if it was sent, times its
// request.
func (d *Dispatcher) done(sent bool, took time.Duration) {
	d.mu.Lock()
	d.busy--
	if sent {
		d.requests.add(took)
	}
	d.mu.Unlock()
	select {
	case d.freed <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) worker(ctx context.Context) {
	defer d.workers.Done()
	for c := range d.work {
		// A slot for the outcome, taken before the lease is judged, so the
		// worker never waits for one between the request and the write.
		d.recording <- struct{}{}
		// A message whose circuit opened while it waited goes back to wait
		// for the probe like the endpoint's others.
		if d.closed() || d.waitedOut(c) || (!c.probe && d.breaker.Open(c.Endpoint.ID)) {
			<-d.recording
			if c.probe {
				d.breaker.Released(c.Endpoint.ID)
			}
			d.putBack(c.Claim)
			d.done(false, 0)
		} else {
			started := time.Now()
			d.deliver(ctx, c.Claim)
			d.done(true, time.Since(started))
		}
	}
}

// deliver makes one attempt at a claimed message and hands the outcome to
// a recorder, which takes over the worker's recording slot. ctx ends only
// on shutdown; the message is then released, not counted, and the slot
// freed.
func (d *Dispatcher) deliver(ctx context.Context, c store.Claim) {
	msg, ev, ep := c.Message, c.Event, c.Endpoint
	number := msg.Attempts + 1
	reqCtx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	started := time.Now().UTC()
	var (
		sent http.Header
		res  delivery.Result
	)
	if req, err := d.newRequest(reqCtx, ep, ev); err != nil {
		// The stored endpoint cannot make a request (its URL no longer
		// parses, its secret cannot be opened): record it and let the
		// schedule run out.
		res = delivery.Result{Class: store.ErrorOther, Err: err}
	} else {
		sent = req.Header
		res = delivery.Do(d.client, req, d.cfg.MaxResponseBodySize)
		if ctx.Err() != nil {
			<-d.recording
			d.release(c)
			return
		}
	}
	p := d.outcome(c, number, started, sent, res)
	change := d.breaker.Record(ep.ID, res.OK(), p.Now)
	// The worker moves on while the outcome is written: outcomes then
	// share commits in larger groups, and the next request does not wait
	// for the last one's fsync. The message stays leased until then.
	d.recorders.Add(1)
	go func() {
		defer func() {
			<-d.recording
			d.recorders.Done()
		}()
		d.record(c, p, res, change)
	}()
}

// record stores an attempt's outcome, then tells the hooks and disables
// the endpoint if the outcome calls for it.
func (d *Dispatcher) record(c store.Claim, p store.MessageCompleteParams, res delivery.Result, change breaker.Change) {
	ep := c.Endpoint
	if d.complete(c, p) {
		d.report(c, p, res, change)
	}
	switch {
	case res.Err == nil && res.StatusCode == http.StatusGone:
		d.disableEndpoint(ep, "the endpoint answered 410 Gone")
	case !res.OK() && d.cfg.AutoDisableAfter > 0 && !c.Health.FailingSince.IsZero() &&
		p.Now.Sub(c.Health.FailingSince) >= d.cfg.AutoDisableAfter:
		d.disableEndpoint(ep, fmt.Sprintf("no successful delivery since %s (%s)",
			c.Health.FailingSince.Format(time.RFC3339), d.cfg.AutoDisableAfter))
	}
}

// report tells the host's hooks about an attempt and what followed it.
func (d *Dispatcher) report(c store.Claim, p store.MessageCompleteParams, res delivery.Result, change breaker.Change) {
	msg, ep := c.Message, c.Endpoint
	if change.Opened {
		d.log.Warn("webhook: circuit opened: endpoint paused after consecutive failures",
			slog.String("tenant_id", ep.TenantID), slog.String("endpoint_id", ep.ID),
			slog.Int("failures", change.Failures), slog.Time("until", change.Until))
	} else if change.Closed {
		d.log.Info("webhook: circuit closed: endpoint recovered",
			slog.String("tenant_id", ep.TenantID), slog.String("endpoint_id", ep.ID))
	}
	if d.hooks == nil {
		return
	}
	attempt := AttemptInfo{
		TenantID: msg.TenantID, EndpointID: msg.EndpointID, EventID: msg.EventID, MessageID: msg.ID,
		Attempt: p.Attempt.Number, StatusCode: res.StatusCode, Duration: res.Duration,
		ErrorClass: res.Class, Next: p.Status, NextAttemptAt: p.NextAttemptAt,
	}
	circuit := CircuitInfo{TenantID: ep.TenantID, EndpointID: ep.ID, Failures: change.Failures, Until: change.Until}
	// One call per hook, so a panic in one cannot skip another.
	d.emit(func(h *Hooks) {
		if h.AttemptFinished != nil {
			h.AttemptFinished(attempt)
		}
	})
	if p.Status == store.StatusExhausted {
		info := MessageInfo{TenantID: msg.TenantID, EndpointID: msg.EndpointID,
			EventID: msg.EventID, MessageID: msg.ID, Attempts: attempt.Attempt}
		d.emit(func(h *Hooks) {
			if h.MessageExhausted != nil {
				h.MessageExhausted(info)
			}
		})
	}
	switch {
	case change.Opened:
		d.emit(func(h *Hooks) {
			if h.CircuitOpened != nil {
				h.CircuitOpened(circuit)
			}
		})
	case change.Closed:
		d.emit(func(h *Hooks) {
			if h.CircuitClosed != nil {
				h.CircuitClosed(circuit)
			}
		})
	}
}

func (d *Dispatcher) newRequest(ctx context.Context, ep *store.Endpoint, ev *store.Event) (*http.Request, error) {
	ep, err := d.opened(ep)
	if err != nil {
		return nil, err
	}
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
	sig, err := d.signers.signatureHeader(ep.Secrets, ev.ID, ts, ev.Payload, time.Now())
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
		EventID: msg.EventID, Number: number, Trigger: cmp.Or(msg.Trigger, store.TriggerScheduled),
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
	// A reopened message starts its schedule again.
	p.Status, p.NextAttemptAt = d.nextStep(ep, number-msg.RetryBase, res, now)
	if d.log.Enabled(context.Background(), slog.LevelDebug) { // its arguments are allocated even when debug is off
		d.log.Debug("webhook: attempt finished",
			slog.String("tenant_id", msg.TenantID), slog.String("endpoint_id", msg.EndpointID),
			slog.String("event_id", msg.EventID), slog.String("message_id", msg.ID),
			slog.Int("attempt", number), slog.Int("status_code", res.StatusCode),
			slog.Int64("duration_ms", res.Duration.Milliseconds()), slog.String("error_class", string(res.Class)))
	}
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

// disableEndpoint disables an endpoint the dispatcher gave up on (410
// Gone, or failing for AutoDisableAfter). Its pending messages are held,
// not cancelled, in case the customer re-enables it.
func (d *Dispatcher) disableEndpoint(ep *store.Endpoint, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), storeWriteTimeout)
	defer cancel()
	var changed bool
	_, err := d.Tenant(ep.TenantID).modifyEndpoint(ctx, ep.ID, func(r *store.Endpoint) bool {
		if changed = r.Enabled; changed {
			r.Enabled, r.DisabledReason = false, reason
		}
		return changed
	})
	if err != nil {
		d.log.Error("webhook: disabling an endpoint failed", slog.String("tenant_id", ep.TenantID),
			slog.String("endpoint_id", ep.ID), slog.String("reason", reason), slog.Any("error", err))
		return
	}
	if !changed {
		return // disabled already, by the host or another attempt
	}
	d.log.Warn("webhook: endpoint disabled", slog.String("tenant_id", ep.TenantID),
		slog.String("endpoint_id", ep.ID), slog.String("reason", reason))
	info := EndpointInfo{TenantID: ep.TenantID, EndpointID: ep.ID, Reason: reason}
	d.emit(func(h *Hooks) {
		if h.EndpointDisabled != nil {
			h.EndpointDisabled(info)
		}
	})
}

// release gives a claimed message back without counting an attempt, due
// now; if it was the circuit's probe, the circuit may probe again.
func (d *Dispatcher) release(c store.Claim) {
	d.breaker.Released(c.Endpoint.ID)
	d.putBack(c)
}

// putBack gives a claimed message back without counting an attempt, due now.
func (d *Dispatcher) putBack(c store.Claim) {
	now := time.Now().UTC()
	d.complete(c, store.MessageCompleteParams{
		MessageID: c.Message.ID, LeaseToken: c.Message.LeaseToken,
		Status: store.StatusPending, NextAttemptAt: now, Now: now,
	})
}

// complete records an outcome. It runs even during shutdown, bounded by
// storeWriteTimeout; if it fails, the lease expires and the message is
// delivered again, which at-least-once permits. It reports whether the
// outcome was recorded.
func (d *Dispatcher) complete(c store.Claim, p store.MessageCompleteParams) bool {
	ctx, cancel := context.WithTimeout(context.Background(), storeWriteTimeout)
	defer cancel()
	err := d.store.MessageComplete(ctx, p)
	switch {
	case err == nil:
		// The message's slot at its endpoint is free: the endpoint may have
		// been held at its in-flight cap.
		d.signalWake()
	case errors.Is(err, store.ErrLeaseLost):
		d.log.Info("webhook: lease lost before the outcome was recorded", slog.String("tenant_id", c.Message.TenantID),
			slog.String("endpoint_id", c.Message.EndpointID), slog.String("message_id", c.Message.ID))
	default:
		d.log.Error("webhook: recording a delivery outcome failed", slog.String("tenant_id", c.Message.TenantID),
			slog.String("endpoint_id", c.Message.EndpointID), slog.String("message_id", c.Message.ID),
			slog.Any("error", err))
	}
	return err == nil
}
