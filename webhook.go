// Package webhook gives a SaaS application per-customer webhooks, embedded in
// its own process.
//
// Each customer (tenant) registers endpoints, each with its own whsec_ signing
// secret, event-type and label filters. The application publishes events; the
// Dispatcher stores them durably, then signs them per the Standard Webhooks
// specification and delivers and retries them from goroutines of the host
// process. Receivers check deliveries with Verify or any Standard Webhooks
// library.
//
// Delivery is at least once: Publish returns only after the event and its
// messages are durable, and a message is retried until a 2xx response or its
// retry schedule is exhausted. A crash during an attempt may deliver it twice;
// both copies carry the same webhook-id header, for receivers to deduplicate.
//
//	st, _ := bolt.Open("webhooks.db", nil)
//	d, _ := webhook.New(st, nil)
//	d.Start(ctx)
//	defer d.Stop(ctx)
//	d.RegisterEventType(ctx, webhook.EventType{Name: "order.created"})
//	ep, _ := d.Tenant("acme").CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://acme.example/hooks"})
//	d.Tenant("acme").Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{"id":1}`)})
package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/hooksmith/webhook/store"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound: no such record for this tenant. An ID that belongs to
	// another tenant is reported the same way.
	ErrNotFound = errors.New("webhook: not found")
	// ErrInvalid: the input failed validation; errors.As gives a
	// *ValidationError naming the field.
	ErrInvalid = errors.New("webhook: invalid input")
	// ErrPayloadTooLarge: the event payload exceeds Config.MaxPayloadSize.
	// It comes wrapped in a *ValidationError, so ErrInvalid matches too.
	ErrPayloadTooLarge = errors.New("webhook: payload too large")
	// ErrUnknownEventType: the event type is not in the catalogue.
	ErrUnknownEventType = errors.New("webhook: unknown event type")
	// ErrEventTypeArchived: the event type was archived and takes no new events.
	ErrEventTypeArchived = errors.New("webhook: event type archived")
	// ErrBlockedDestination: an endpoint URL names an address the guard
	// refuses (see Config.AllowedDestinations). It comes wrapped in a
	// *ValidationError for the url field.
	ErrBlockedDestination = errors.New("webhook: destination blocked")
	// ErrEndpointDisabled: SendTo targeted a disabled endpoint.
	ErrEndpointDisabled = errors.New("webhook: endpoint disabled")
	// ErrConflict: the endpoint kept changing under concurrent updates.
	ErrConflict = store.ErrConflict
	// ErrClosed: the Dispatcher was stopped or closed.
	ErrClosed = errors.New("webhook: dispatcher closed")
	// ErrAlreadyStarted: Start was called twice.
	ErrAlreadyStarted = errors.New("webhook: dispatcher already started")
)

// ValidationError names the input field that was rejected and why.
type ValidationError struct {
	Field  string
	Reason string
	// Err is a more specific sentinel such as ErrPayloadTooLarge, or nil.
	Err error
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("webhook: invalid %s: %s", e.Field, e.Reason)
}

// Unwrap lets errors.Is match ErrInvalid and the specific sentinel, if any.
func (e *ValidationError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Event is what the host publishes.
type Event struct {
	// ID is the idempotency key and the webhook-id header receivers see.
	// Publishing the same ID again for the same tenant within
	// Config.IdempotencyWindow returns the original result and writes nothing.
	// Up to 128 characters of [A-Za-z0-9._:-]. Defaults to a fresh "evt_" ID.
	ID string
	// Type is a registered, unarchived event type such as "order.created".
	Type string
	// Payload is the request body, sent as is. Required; at most
	// Config.MaxPayloadSize bytes.
	Payload []byte
	// ContentType is sent as the Content-Type header. Defaults to
	// "application/json".
	ContentType string
	// OccurredAt is when the event happened. Defaults to the publish time.
	OccurredAt time.Time
	// Labels route the event: an endpoint receives it only if every label
	// pair of the endpoint's filter is present here with the same value.
	Labels map[string]string
}

// MessageRef names the message created for one endpoint.
type MessageRef struct {
	MessageID  string
	EndpointID string
}

// PublishResult reports what Publish or SendTo stored.
type PublishResult struct {
	EventID string
	// Messages has one entry per endpoint the event was routed to.
	Messages []MessageRef
	// Duplicate is set when the event ID was seen within the idempotency
	// window; nothing was written, and Messages are the stored event's
	// (those of the first publish, plus any a Rematch replay added).
	Duplicate bool
}

// PublishedEvent is a stored event with the message made for each endpoint
// it was routed to.
type PublishedEvent struct {
	Event
	CreatedAt time.Time
	Messages  []MessageRef
	// Deliveries are the event's messages in their current state, one per
	// endpoint, in message ID order; GetEvent fills it.
	Deliveries []*Message
}

func eventFromStore(r *store.Event) *PublishedEvent {
	ev := &PublishedEvent{
		Event: Event{ID: r.ID, Type: r.Type, Payload: r.Payload, ContentType: r.ContentType,
			OccurredAt: r.OccurredAt, Labels: r.Labels},
		CreatedAt: r.CreatedAt,
		Messages:  make([]MessageRef, len(r.Messages)),
	}
	for i, m := range r.Messages {
		ev.Messages[i] = MessageRef(m)
	}
	return ev
}

// MessageStatus is the delivery state of a message.
type MessageStatus = store.MessageStatus

// Message states.
const (
	StatusPending    = store.StatusPending
	StatusDelivering = store.StatusDelivering
	StatusFailing    = store.StatusFailing
	StatusSucceeded  = store.StatusSucceeded
	StatusExhausted  = store.StatusExhausted
	StatusCancelled  = store.StatusCancelled
)

// Message is one event bound for one endpoint.
type Message struct {
	ID         string
	TenantID   string
	EndpointID string
	EventID    string
	Status     MessageStatus
	// Attempts counts the HTTP attempts made so far.
	Attempts int
	// NextAttemptAt is when the next attempt is due; zero once final.
	NextAttemptAt time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func messageFromStore(m *store.Message) *Message {
	return &Message{
		ID: m.ID, TenantID: m.TenantID, EndpointID: m.EndpointID, EventID: m.EventID,
		Status: m.Status, Attempts: m.Attempts, NextAttemptAt: m.NextAttemptAt,
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
	}
}

// Attempt is one HTTP try of a message. Sensitive request and response
// headers are stored redacted.
type Attempt = store.Attempt

// ErrorClass names why an attempt failed.
type ErrorClass = store.ErrorClass

// Attempt error classes.
const (
	ErrorTimeout    = store.ErrorTimeout
	ErrorDNS        = store.ErrorDNS
	ErrorConnection = store.ErrorConnection
	ErrorTLS        = store.ErrorTLS
	ErrorBlocked    = store.ErrorBlocked
	ErrorHTTPStatus = store.ErrorHTTPStatus
	ErrorOther      = store.ErrorOther
)

// EventType is an entry of the event-type catalogue.
type EventType struct {
	// Name is dotted segments of [a-zA-Z0-9_-], e.g. "gitlab.push.created".
	Name        string
	Description string
	Archived    bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ListOptions pages through a list.
type ListOptions struct {
	// Cursor is the Next value of the previous page; empty for the first.
	Cursor string
	// Limit is the page size. Defaults to 100; at most 1000.
	Limit int
}

// storeParams decodes the cursor; a cursor this package did not make is a
// *ValidationError.
func (o ListOptions) storeParams() (store.ListParams, error) {
	limit := o.Limit
	if limit <= 0 {
		limit = 100
	}
	after, err := base64.RawURLEncoding.DecodeString(o.Cursor)
	if err != nil {
		return store.ListParams{}, invalid("cursor", "not a cursor from a previous page")
	}
	return store.ListParams{After: string(after), Limit: store.PageLimit(limit)}, nil
}

// Page is one page of a list. Next is an opaque cursor for the following
// page, empty on the last page. A filtered list bounds the work of each
// call, so its pages may be short, even empty, while Next is set.
type Page[T any] struct {
	Items []T
	Next  string
}

// page builds a Page from a store result, with the cursor taken from the key
// of the last item when the page is full.
func page[S, T any](items []*S, limit int, conv func(*S) T, key func(*S) string) Page[T] {
	p := Page[T]{Items: make([]T, len(items))}
	for i, it := range items {
		p.Items[i] = conv(it)
	}
	if len(items) > 0 && len(items) == limit {
		p.Next = base64.RawURLEncoding.EncodeToString([]byte(key(items[len(items)-1])))
	}
	return p
}
