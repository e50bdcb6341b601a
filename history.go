package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"time"

	"github.com/hooksmith/webhook/store"
)

// StatusClass groups attempts by response status, for ListAttempts.
type StatusClass = store.StatusClass

// Status classes; StatusNoResponse is an attempt that got no HTTP response
// (timeout, refused connection, blocked address...).
const (
	Status1xx        = store.Class1xx
	Status2xx        = store.Class2xx
	Status3xx        = store.Class3xx
	Status4xx        = store.Class4xx
	Status5xx        = store.Class5xx
	StatusNoResponse = store.ClassNoResponse
)

// Trigger names what started an attempt.
type Trigger = store.Trigger

// Attempt triggers.
const (
	TriggerScheduled = store.TriggerScheduled
	TriggerManual    = store.TriggerManual
	TriggerReplay    = store.TriggerReplay
)

// AttemptQuery filters ListAttempts. Zero fields filter nothing; set
// fields all apply.
type AttemptQuery struct {
	MessageID  string
	EndpointID string
	EventID    string
	// MessageStatus keeps the attempts of messages now in that state:
	// StatusSucceeded, StatusFailing (retries pending) or StatusExhausted,
	// or any other MessageStatus.
	MessageStatus MessageStatus
	// StatusClass keeps the attempts with a response in that class, or
	// with none (StatusNoResponse).
	StatusClass StatusClass
	// Since and Until bound when the attempts started: Since <= StartedAt
	// < Until. Either may be zero.
	Since, Until time.Time
	// WithBodies includes response bodies in the page; GetAttempt always
	// returns the body.
	WithBodies bool
	ListOptions
}

func (q *AttemptQuery) validate() error {
	switch q.MessageStatus {
	case "", StatusPending, StatusDelivering, StatusFailing, StatusSucceeded, StatusExhausted, StatusCancelled:
	default:
		return invalid("message_status", "%q is not a message status", q.MessageStatus)
	}
	switch q.StatusClass {
	case 0, Status1xx, Status2xx, Status3xx, Status4xx, Status5xx, StatusNoResponse:
	default:
		return invalid("status_class", "%d is not a status class", q.StatusClass)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return invalid("until", "must be after since")
	}
	return nil
}

// ListAttempts pages through the tenant's delivery attempts, newest first.
// Request and response headers are stored redacted. Each call reads a
// bounded number of attempts (store.MaxAttemptScan), so with filters that
// match rarely a page may be short, even empty, and still have a Next.
func (t *Tenant) ListAttempts(ctx context.Context, q AttemptQuery) (Page[*Attempt], error) {
	if err := t.check(); err != nil {
		return Page[*Attempt]{}, err
	}
	if err := q.validate(); err != nil {
		return Page[*Attempt]{}, err
	}
	p, err := q.storeParams()
	if err != nil {
		return Page[*Attempt]{}, err
	}
	res, err := t.d.store.AttemptList(ctx, t.id, store.AttemptListParams{
		MessageID: q.MessageID, EndpointID: q.EndpointID, EventID: q.EventID,
		MessageStatus: q.MessageStatus, StatusClass: q.StatusClass,
		Since: q.Since, Until: q.Until, Cursor: p.After, Limit: p.Limit, WithBodies: q.WithBodies,
	})
	if errors.Is(err, store.ErrInvalidCursor) {
		return Page[*Attempt]{}, invalid("cursor", "not a cursor from a previous page")
	}
	if err != nil {
		return Page[*Attempt]{}, err
	}
	out := Page[*Attempt]{Items: res.Attempts}
	if res.Next != "" {
		out.Next = base64.RawURLEncoding.EncodeToString([]byte(res.Next))
	}
	return out, nil
}

// GetAttempt returns one attempt with its response body, or ErrNotFound.
func (t *Tenant) GetAttempt(ctx context.Context, id string) (*Attempt, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	a, err := t.d.store.AttemptGet(ctx, t.id, id)
	if err != nil {
		return nil, notFound(err, "attempt", id)
	}
	return a, nil
}

// GetMessage returns the message or ErrNotFound.
func (t *Tenant) GetMessage(ctx context.Context, id string) (*Message, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	m, err := t.d.store.MessageGet(ctx, t.id, id)
	if err != nil {
		return nil, notFound(err, "message", id)
	}
	return messageFromStore(m), nil
}

// MessageDetail is a message with its attempts.
type MessageDetail struct {
	Message *Message
	// Attempts are the newest first, without response bodies, at most
	// store.MaxPageSize of them.
	Attempts []*Attempt
}

// GetMessageDetail returns the message with its attempts, or ErrNotFound.
func (t *Tenant) GetMessageDetail(ctx context.Context, id string) (*MessageDetail, error) {
	m, err := t.GetMessage(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := t.d.store.AttemptList(ctx, t.id, store.AttemptListParams{MessageID: id, Limit: store.MaxPageSize})
	if err != nil {
		return nil, err
	}
	return &MessageDetail{Message: m, Attempts: res.Attempts}, nil
}

// GetEvent returns the latest event the tenant published under id, with
// its payload and its messages (one per endpoint it went to, in their
// current state, in Deliveries), or ErrNotFound.
func (t *Tenant) GetEvent(ctx context.Context, id string) (*PublishedEvent, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	ev, err := t.d.store.EventGet(ctx, t.id, id)
	if err != nil {
		return nil, notFound(err, "event", id)
	}
	ids := make([]string, len(ev.Messages))
	for i, r := range ev.Messages {
		ids[i] = r.MessageID
	}
	msgs, err := t.d.store.MessageGetMany(ctx, t.id, ids)
	if err != nil {
		return nil, err
	}
	out := eventFromStore(ev)
	out.Deliveries = make([]*Message, len(msgs))
	for i, m := range msgs {
		out.Deliveries[i] = messageFromStore(m)
	}
	return out, nil
}

// Health is an endpoint's state in EndpointStats.
type Health string

// Endpoint health states.
const (
	// HealthHealthy: its last attempt succeeded, or it has had none.
	HealthHealthy Health = "healthy"
	// HealthFailing: every attempt since its last success failed.
	HealthFailing Health = "failing"
	// HealthPaused: its circuit breaker is open; deliveries wait.
	HealthPaused Health = "paused"
	// HealthDisabled: disabled by the host or the dispatcher.
	HealthDisabled Health = "disabled"
)

// EndpointStats summarises an endpoint's attempts over a time range.
type EndpointStats struct {
	EndpointID string
	// Since and Until are the range covered, widened to whole hours.
	Since, Until                  time.Time
	Attempts, Successes, Failures int64
	// SuccessRate is Successes / Attempts; 0 without attempts.
	SuccessRate float64
	// Latency percentiles of the attempts' durations, within about 3%.
	P50, P95, P99 time.Duration
	// LastSuccessAt and LastFailureAt are the endpoint's latest outcomes,
	// whatever the range.
	LastSuccessAt, LastFailureAt time.Time
	Health                       Health
	// FailingSince is the first failure since the last success.
	FailingSince   time.Time
	DisabledReason string
}

// DefaultStatsRange is the range of EndpointStats when since is zero.
const DefaultStatsRange = 24 * time.Hour

// EndpointStats summarises the endpoint's attempts that started in
// [since, until), widened to whole hours; a zero until means now and a zero
// since means DefaultStatsRange before until. It reads one hourly rollup
// per hour of the range, however many attempts were made.
func (t *Tenant) EndpointStats(ctx context.Context, endpointID string, since, until time.Time) (*EndpointStats, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if until.IsZero() {
		until = time.Now().UTC()
	}
	if since.IsZero() {
		since = until.Add(-DefaultStatsRange)
	}
	if !until.After(since) {
		return nil, invalid("until", "must be after since")
	}
	st, err := t.d.store.EndpointStats(ctx, store.EndpointStatsParams{
		TenantID: t.id, EndpointID: endpointID, Since: since, Until: until,
	})
	if err != nil {
		return nil, notFound(err, "endpoint", endpointID)
	}
	out := &EndpointStats{
		EndpointID: endpointID, Since: st.Since, Until: st.Until,
		Attempts: st.Attempts, Successes: st.Successes, Failures: st.Failures,
		P50: st.Latency.Quantile(0.5), P95: st.Latency.Quantile(0.95), P99: st.Latency.Quantile(0.99),
		LastSuccessAt: st.Health.LastSuccessAt, LastFailureAt: st.Health.LastFailureAt,
		FailingSince: st.Health.FailingSince, DisabledReason: st.Disabled,
	}
	if st.Attempts > 0 {
		out.SuccessRate = float64(st.Successes) / float64(st.Attempts)
	}
	switch {
	case !st.Enabled:
		out.Health = HealthDisabled
	case t.d.breaker.Open(endpointID):
		out.Health = HealthPaused
	case !st.Health.FailingSince.IsZero():
		out.Health = HealthFailing
	default:
		out.Health = HealthHealthy
	}
	return out, nil
}
