// Package store defines the storage contract of the webhook dispatcher and the
// records it persists.
//
// The package imports only the standard library so that store implementations
// (store/bolt, and stores in their own modules) never import the root package.
// Every implementation must pass the conformance suite in store/storetest.
//
// Methods take a context first and one params struct where more than an ID is
// needed; params carry Now so that tests control time. Errors are matched with
// errors.Is against the sentinels below.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by every Store implementation (wrapped or not).
var (
	// ErrNotFound: the record does not exist, or it belongs to another tenant.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a record with the same identity already exists.
	ErrConflict = errors.New("store: conflict")
	// ErrLeaseLost: the message is no longer leased under the given token
	// (its lease expired and another claimer took it, or it was cancelled).
	ErrLeaseLost = errors.New("store: lease lost")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store: closed")
)

// MaxPageSize caps every list call; larger limits are clamped.
const MaxPageSize = 1000

// Store is the persistence contract of the dispatcher.
//
// Implementations must be safe for concurrent use. Writes must be durable when
// a method returns nil. MessageClaim must never hand the same message to two
// callers while its lease is valid, including callers in other processes.
type Store interface {
	// EventTypePut creates or replaces the catalogue entry with t.Name.
	EventTypePut(ctx context.Context, t *EventType) error
	// EventTypeGet returns ErrNotFound when no entry has that name.
	EventTypeGet(ctx context.Context, name string) (*EventType, error)
	// EventTypeList returns entries in name order, starting after p.After.
	EventTypeList(ctx context.Context, p ListParams) ([]*EventType, error)

	// EndpointCreate stores a new endpoint; ErrConflict if its ID exists.
	// IDs are generated unique across tenants.
	EndpointCreate(ctx context.Context, e *Endpoint) error
	// EndpointGet returns ErrNotFound unless the endpoint exists for tenantID.
	EndpointGet(ctx context.Context, tenantID, id string) (*Endpoint, error)
	// EndpointList returns a tenant's endpoints in ID order after p.After.
	EndpointList(ctx context.Context, tenantID string, p ListParams) ([]*Endpoint, error)
	// EndpointScan pages through every tenant's endpoints in (TenantID, ID)
	// order, for maintenance such as re-sealing secrets.
	EndpointScan(ctx context.Context, p EndpointScanParams) ([]*Endpoint, error)
	// EndpointListAll returns every endpoint of a tenant, for routing. The
	// records may be shared with the store's cache: callers must not
	// modify them.
	EndpointListAll(ctx context.Context, tenantID string) ([]*Endpoint, error)
	// EndpointUpdate replaces an existing endpoint (matched on TenantID and
	// ID; ErrNotFound otherwise) if its stored UpdatedAt still equals
	// e.UpdatedAt, that is if nobody changed it since e was read; otherwise
	// ErrConflict and nothing is written. On success it sets e.UpdatedAt to
	// NextVersion(stored UpdatedAt, now), so two updates never share one.
	// The endpoint's waiting messages are looked at again by the next claim
	// (its policy may have changed): an earlier Admit's notBefore and a
	// block at the cap are lifted. When it goes from disabled to enabled,
	// its health's FailingSince is cleared: a new window starts.
	EndpointUpdate(ctx context.Context, e *Endpoint, now time.Time) error
	// EndpointDelete removes the endpoint and cancels its live messages
	// (pending or failing). A message leased at that moment keeps its lease:
	// its holder may still complete it, but it is cancelled instead of being
	// retried, and cancelled if its lease expires.
	EndpointDelete(ctx context.Context, tenantID, id string, now time.Time) error

	// EventInsert writes the event and its messages in one transaction. When
	// the tenant already has an event with the same ID whose CreatedAt is
	// after p.Now-p.IdempotencyWindow, nothing is written and the original
	// event is returned with Duplicate set.
	EventInsert(ctx context.Context, p EventInsertParams) (EventInsertResult, error)
	// EventGet returns the latest event published under that ID by the tenant.
	EventGet(ctx context.Context, tenantID, id string) (*Event, error)

	// MessageGet returns ErrNotFound unless the message exists for tenantID.
	MessageGet(ctx context.Context, tenantID, id string) (*Message, error)
	// MessageClaim leases up to max(p.Limit, 1) messages due at p.Now.
	//
	// It first releases the messages whose lease ended at or before p.Now:
	// they wait again, due at p.Now, their attempt uncounted (cancelled
	// instead if their endpoint was deleted).
	//
	// Then endpoints take turns, so that one endpoint's backlog never
	// delays another's messages. An endpoint is eligible when it is enabled,
	// has a waiting message due at p.Now, has fewer leased messages than
	// its cap (see Endpoint.Cap), and is not held by an earlier Admit.
	// Eligible endpoints are visited in the order they became eligible, each
	// at most once per claim; a visit offers Admit up to min(free slots, what is left of Limit) of the
	// endpoint's due messages, earliest due first (for a FIFO endpoint only
	// its oldest live message in publish order, and only when that message
	// is due and not leased), leases what Admit accepts, and sends the
	// endpoint to the back of the line. The cost of a claim does not depend
	// on how many messages wait behind an endpoint that is not eligible.
	//
	// A claimed message is StatusDelivering with NextAttemptAt =
	// p.LeaseUntil and a fresh LeaseToken; its Claim carries its event, its
	// endpoint and the endpoint's health. Messages of a disabled endpoint
	// stay where they are, unclaimed, until it is enabled. On error the
	// result is empty and nothing was claimed.
	MessageClaim(ctx context.Context, p MessageClaimParams) (MessageClaimResult, error)
	// MessageComplete records the outcome of a claimed message under its
	// lease: the attempt (if any), the message's new state and its
	// endpoint's health, in one write. ErrLeaseLost when p.LeaseToken no
	// longer holds the message (a lease that has ended holds until the next
	// MessageClaim releases it); ErrNotFound for an unknown message. A
	// message whose endpoint was deleted is cancelled instead of retried.
	// StatusExhausted adds the message to its tenant's exhausted list.
	MessageComplete(ctx context.Context, p MessageCompleteParams) error
	// MessageListExhausted returns a tenant's exhausted messages (the dead
	// letters, kept with their attempts for a later replay), newest first.
	MessageListExhausted(ctx context.Context, tenantID string, p MessageListParams) ([]*Message, error)

	// MessageGetMany returns the tenant's messages among ids, in the order
	// of ids; IDs that do not exist for tenantID are left out.
	MessageGetMany(ctx context.Context, tenantID string, ids []string) ([]*Message, error)
	// MessageInsert stores new messages (StatusPending, NextAttemptAt set)
	// for the tenant's stored event with key p.EventKey, for a replay to
	// endpoints it was not sent to. A message for an endpoint that already
	// has one for this event, or that no longer exists, is not written. It
	// returns the IDs of the messages written; ErrNotFound if the event is
	// not stored for p.TenantID.
	MessageInsert(ctx context.Context, p MessageInsertParams) ([]string, error)
	// MessageRetry makes each of the tenant's messages p.MessageIDs due at
	// p.Now, its next attempt triggered by p.Trigger, with RetryBase set to
	// its Attempts so that a full retry schedule follows, in one write. A
	// waiting message (pending or failing) keeps its place in its
	// endpoint's queue. A final one (succeeded, exhausted or cancelled) is
	// reopened: StatusFailing (or StatusPending if it has no attempt), a new
	// Seq at the back of its endpoint's queue, and off the exhausted list. A
	// message that is leased, whose endpoint is disabled or deleted, or that
	// does not exist for the tenant is left alone. The result has one
	// outcome per ID.
	MessageRetry(ctx context.Context, p MessageRetryParams) ([]RetryOutcome, error)

	// AttemptGet returns one attempt with its response body; ErrNotFound
	// unless it exists for tenantID.
	AttemptGet(ctx context.Context, tenantID, id string) (*Attempt, error)
	// AttemptList returns a page of a tenant's attempts that match every
	// filter set in p, newest first: by StartedAt, then by ID, descending.
	// Response bodies are left out unless p.WithBodies. One call examines
	// at most MaxAttemptScan candidate attempts, so a page may hold fewer
	// than p.Limit attempts (even none) and still have a Next; the list is
	// over when Next is empty. Paging with Next visits every attempt stored
	// before the first page exactly once, whatever is written meanwhile.
	// ErrInvalidCursor for a cursor the store did not make.
	AttemptList(ctx context.Context, tenantID string, p AttemptListParams) (AttemptPage, error)

	// EndpointStats sums the endpoint's attempts whose StartedAt falls in
	// the whole hours covering [p.Since, p.Until), from hourly rollups kept
	// by MessageComplete, so its cost grows with the hours asked for, not
	// with the attempts made. ErrNotFound unless the endpoint exists for
	// p.TenantID.
	EndpointStats(ctx context.Context, p EndpointStatsParams) (EndpointStats, error)

	// RecoveryCreate stores a new recovery job; ErrConflict if its ID exists.
	RecoveryCreate(ctx context.Context, r *Recovery) error
	// RecoveryGet returns ErrNotFound unless the job exists for tenantID.
	RecoveryGet(ctx context.Context, tenantID, id string) (*Recovery, error)
	// RecoveryListUnfinished returns up to MaxPageSize jobs of any tenant
	// that are not Done, oldest first.
	RecoveryListUnfinished(ctx context.Context) ([]*Recovery, error)
	// RecoveryStep examines the job's next up to limit candidates after its
	// Cursor, retries those that are failing or exhausted as MessageRetry
	// would with TriggerReplay, and saves the job's progress, all in one
	// write: a job interrupted at any point resumes after its last step and
	// retries no message twice. A step that reaches the end marks the job
	// Done. It returns the updated job; ErrNotFound unless it exists for
	// tenantID.
	RecoveryStep(ctx context.Context, tenantID, id string, limit int, now time.Time) (*Recovery, error)

	// TenantSettingsPut creates or replaces a tenant's settings.
	TenantSettingsPut(ctx context.Context, t *TenantSettings) error
	// TenantSettingsGet returns ErrNotFound for a tenant without settings.
	TenantSettingsGet(ctx context.Context, tenantID string) (*TenantSettings, error)
	// TenantList pages through the IDs of tenants that have stored events
	// or stats rollups, in ID order after p.After.
	TenantList(ctx context.Context, p ListParams) ([]string, error)
	// Purge deletes the tenant's events created before p.Before whose
	// messages are all final, with their payloads, messages and attempts,
	// its endpoints' stats rollups for hours that end by p.Before, and its
	// Done recovery jobs created before p.Before. An event with a live
	// message is kept whole; a message record that cannot be decoded keeps
	// its event too. It examines at most p.Limit
	// events (clamped to [1, MaxPageSize]) after the position p.After, in
	// creation order, in one write; Next is where to resume, empty when no
	// event created before p.Before is left to examine. ErrInvalidCursor
	// for an After the store did not make.
	Purge(ctx context.Context, p PurgeParams) (PurgeResult, error)
}

// ErrInvalidCursor: a list cursor that the store did not make.
var ErrInvalidCursor = errors.New("store: invalid cursor")

// MaxAttemptScan bounds how many candidate attempts one AttemptList call
// examines, so a filter that matches rarely still costs a bounded read.
const MaxAttemptScan = 10000

// ListParams pages through a list ordered by key.
type ListParams struct {
	// After is the key of the last item of the previous page; empty for the first.
	After string
	// Limit is the page size, clamped to [1, MaxPageSize]; 0 means MaxPageSize.
	Limit int
}

// EndpointScanParams pages through Store.EndpointScan: the page starts after
// the endpoint (AfterTenant, AfterID); both empty for the first page.
type EndpointScanParams struct {
	AfterTenant string
	AfterID     string
	Limit       int
}

// NextVersion is the UpdatedAt of a record changed at now whose previous
// UpdatedAt was prev: now, or just after prev when the clock has not moved
// past it, so compare-and-swap on UpdatedAt never mistakes two versions for
// one.
func NextVersion(prev, now time.Time) time.Time {
	if now.After(prev) {
		return now
	}
	return prev.Add(time.Nanosecond)
}

// PageLimit returns l clamped to [1, MaxPageSize], with 0 meaning MaxPageSize.
func PageLimit(l int) int {
	if l <= 0 || l > MaxPageSize {
		return MaxPageSize
	}
	return l
}

// EventType is an entry of the dispatcher's event-type catalogue.
type EventType struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Archived    bool      `json:"archived,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Secret is one signing secret of an endpoint.
type Secret struct {
	// Value is the secret in its wire form (whsec_...).
	Value     string    `json:"value"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is zero for the current secret and set for a previous secret
	// kept valid during a rotation grace period.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Endpoint is a tenant's webhook subscription.
type Endpoint struct {
	ID             string            `json:"id"`
	TenantID       string            `json:"tenant_id"`
	URL            string            `json:"url"`
	Method         string            `json:"method"`
	Description    string            `json:"description,omitempty"`
	EventTypes     []string          `json:"event_types,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	Enabled        bool              `json:"enabled"`
	DisabledReason string            `json:"disabled_reason,omitempty"`
	// RetrySchedule overrides the dispatcher's when not empty.
	RetrySchedule []time.Duration `json:"retry_schedule,omitempty"`
	// NoRetryOnClientError ends a message at the first 4xx that retrying
	// will not fix (all but 408 and 429).
	NoRetryOnClientError bool `json:"no_retry_on_client_error,omitempty"`
	// MaxInFlight caps the endpoint's leased messages; 0 means the claim's
	// DefaultMaxInFlight. See Cap.
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// FIFO delivers one message at a time in publish order; a failing
	// message holds back the ones after it until it succeeds or is final.
	FIFO bool `json:"fifo,omitempty"`
	// RateLimit is the most messages per second the dispatcher sends, with
	// bursts of up to RateBurst; 0 means unlimited. Stores only keep them.
	RateLimit float64   `json:"rate_limit,omitempty"`
	RateBurst int       `json:"rate_burst,omitempty"`
	Secrets   []Secret  `json:"secrets"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Cap is how many of the endpoint's messages may be leased at once: 1 for a
// FIFO endpoint, else MaxInFlight, else def; 0 means no cap.
func (e *Endpoint) Cap(def int) int {
	switch {
	case e.FIFO:
		return 1
	case e.MaxInFlight > 0:
		return e.MaxInFlight
	default:
		return max(def, 0)
	}
}

// EndpointHealth is what the store knows of an endpoint's recent outcomes,
// kept up to date by MessageComplete from the attempts it records.
type EndpointHealth struct {
	LastSuccessAt time.Time `json:"last_success_at,omitzero"`
	LastFailureAt time.Time `json:"last_failure_at,omitzero"`
	// FailingSince is the first failed attempt since the last success (or
	// since the endpoint was last re-enabled); zero after a success.
	FailingSince time.Time `json:"failing_since,omitzero"`
}

// MessageRef names one message an event was fanned out to.
type MessageRef struct {
	MessageID  string `json:"message_id"`
	EndpointID string `json:"endpoint_id"`
}

// Event is a published event with its payload.
type Event struct {
	// Key identifies this publish inside the store. It differs from ID when
	// the host reuses an event ID after the idempotency window.
	Key         string            `json:"key"`
	TenantID    string            `json:"tenant_id"`
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	ContentType string            `json:"content_type"`
	Labels      map[string]string `json:"labels,omitempty"`
	OccurredAt  time.Time         `json:"occurred_at"`
	CreatedAt   time.Time         `json:"created_at"`
	// Messages lists the event's messages, in message ID order, those added
	// by MessageInsert included. Stores fill it on read.
	Messages []MessageRef `json:"-"`
	Payload  []byte       `json:"-"`
}

// MessageStatus is the delivery state of a message.
type MessageStatus string

// Message states. Pending, Delivering and Failing are live; the rest are final.
const (
	StatusPending    MessageStatus = "pending"    // waiting for its first attempt
	StatusDelivering MessageStatus = "delivering" // leased to a worker
	StatusFailing    MessageStatus = "failing"    // an attempt failed; a retry is scheduled
	StatusSucceeded  MessageStatus = "succeeded"
	StatusExhausted  MessageStatus = "exhausted" // every scheduled attempt failed
	StatusCancelled  MessageStatus = "cancelled" // its endpoint was deleted
)

// Final reports whether no further attempt will be made on its own.
func (s MessageStatus) Final() bool {
	return s == StatusSucceeded || s == StatusExhausted || s == StatusCancelled
}

// WaitingStatus is the status of a live message that is not leased:
// StatusPending before its first attempt, StatusFailing after one.
func (m *Message) WaitingStatus() MessageStatus {
	if m.Attempts > 0 {
		return StatusFailing
	}
	return StatusPending
}

// Message is one event bound for one endpoint: the unit of delivery.
type Message struct {
	ID         string        `json:"id"`
	TenantID   string        `json:"tenant_id"`
	EndpointID string        `json:"endpoint_id"`
	EventID    string        `json:"event_id"`
	EventKey   string        `json:"event_key"`
	Status     MessageStatus `json:"status"`
	// Seq orders an endpoint's messages by publish; the store assigns it.
	Seq uint64 `json:"seq,omitempty"`
	// Attempts counts the HTTP attempts made so far.
	Attempts int `json:"attempts"`
	// RetryBase is Attempts when the message was last reopened: the retry
	// schedule counts the attempts after it.
	RetryBase int `json:"retry_base,omitempty"`
	// Trigger is what made the next attempt due: empty for the retry
	// schedule, else a manual retry or a replay. MessageComplete clears it
	// when it records an attempt.
	Trigger Trigger `json:"trigger,omitempty"`
	// NextAttemptAt is when the message is due; while delivering, when its
	// lease expires. Zero for final states.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	LeaseToken    uint64    `json:"lease_token,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// EventInsertParams are the arguments of Store.EventInsert.
type EventInsertParams struct {
	// Event is the event to store; its Messages are ignored, as the store
	// lists Messages below.
	Event *Event
	// Messages are new messages (StatusPending, NextAttemptAt set) for Event.
	Messages          []*Message
	IdempotencyWindow time.Duration
	Now               time.Time
}

// EventInsertResult is the outcome of Store.EventInsert.
type EventInsertResult struct {
	// Event is the stored event, its Messages listed: the new one, or the
	// original on a duplicate.
	Event     *Event
	Duplicate bool
}

// MessageClaimParams are the arguments of Store.MessageClaim.
type MessageClaimParams struct {
	Now        time.Time
	LeaseUntil time.Time
	Limit      int
	// DefaultMaxInFlight caps the leased messages of an endpoint whose
	// MaxInFlight is 0; 0 means no cap.
	DefaultMaxInFlight int
	// Admit, when set, decides how many of the want messages offered for ep
	// may be claimed now (rate limits, circuit breakers). When it accepts
	// fewer than offered, notBefore is the earliest the endpoint may be
	// offered more; when it accepts none and notBefore is zero, the endpoint
	// waits until one of its leased messages completes or is released (one
	// second if none is leased). Admit runs inside the claim and must not
	// block or have side effects: a store may call it more than once for
	// one claim, or for a claim that then fails.
	Admit func(ep *Endpoint, want int) (n int, notBefore time.Time)
}

// Claim is a leased message with what its delivery needs. A store may hand
// the same Endpoint to several claims: callers read it, never modify it.
type Claim struct {
	Message  *Message
	Event    *Event
	Endpoint *Endpoint
	// Health is the endpoint's health when the message was claimed.
	Health EndpointHealth
}

// MessageClaimResult is the outcome of Store.MessageClaim.
type MessageClaimResult struct {
	Claims []Claim
	// NextDue is when a claim may next find work (zero when nothing is
	// scheduled): the earliest time an endpoint becomes eligible or a lease
	// ends. A caller that claims no earlier than that misses nothing.
	NextDue time.Time
	// Corrupt lists due messages whose records (or whose event's or
	// endpoint's) could not be decoded. They are taken out of the due queue
	// so they cannot block the others, and are left for an operator.
	Corrupt []string
	// CorruptEndpoints lists endpoints whose record could not be decoded;
	// their messages wait until the record is repaired.
	CorruptEndpoints []string
}

// MessageCompleteParams are the arguments of Store.MessageComplete.
type MessageCompleteParams struct {
	MessageID  string
	LeaseToken uint64
	// Attempt is the HTTP attempt to record; nil releases the lease without
	// counting an attempt (shutdown before the request was made).
	Attempt *Attempt
	// Status is the message's new state: StatusSucceeded, StatusFailing,
	// StatusExhausted, StatusCancelled, or StatusPending to release (the
	// message then takes its WaitingStatus).
	Status MessageStatus
	// NextAttemptAt is required for StatusFailing and StatusPending.
	NextAttemptAt time.Time
	Now           time.Time
}

// MessageInsertParams are the arguments of Store.MessageInsert.
type MessageInsertParams struct {
	TenantID string
	EventKey string
	Messages []*Message
	Now      time.Time
}

// MessageRetryParams are the arguments of Store.MessageRetry.
type MessageRetryParams struct {
	TenantID   string
	MessageIDs []string
	Trigger    Trigger
	Now        time.Time
}

// RetryOutcome is what MessageRetry did with one message.
type RetryOutcome string

// Retry outcomes.
const (
	RetryDone             RetryOutcome = "retried"
	RetryInFlight         RetryOutcome = "in_flight"
	RetryEndpointDisabled RetryOutcome = "endpoint_disabled"
	RetryEndpointDeleted  RetryOutcome = "endpoint_deleted"
	RetryNotFound         RetryOutcome = "not_found"
)

// MessageListParams pages through Store.MessageListExhausted.
type MessageListParams struct {
	// EndpointID, when set, keeps the messages of that endpoint only.
	EndpointID string
	// Before is the ID of the last message of the previous page.
	Before string
	Limit  int
}

// ErrorClass names why an attempt failed.
type ErrorClass string

// Attempt error classes.
const (
	ErrorNone       ErrorClass = ""
	ErrorTimeout    ErrorClass = "timeout"
	ErrorDNS        ErrorClass = "dns"
	ErrorConnection ErrorClass = "connection"
	ErrorTLS        ErrorClass = "tls"
	ErrorBlocked    ErrorClass = "blocked_address"
	ErrorHTTPStatus ErrorClass = "http_status"
	ErrorOther      ErrorClass = "other"
)

// Trigger names what started an attempt.
type Trigger string

// Attempt triggers.
const (
	TriggerScheduled Trigger = "scheduled"
	TriggerManual    Trigger = "manual_retry"
	TriggerReplay    Trigger = "replay"
)

// Attempt is one HTTP try of a message. Headers are stored redacted.
type Attempt struct {
	ID                string              `json:"id"`
	TenantID          string              `json:"tenant_id"`
	MessageID         string              `json:"message_id"`
	EndpointID        string              `json:"endpoint_id"`
	EventID           string              `json:"event_id"`
	Number            int                 `json:"number"`
	Trigger           Trigger             `json:"trigger"`
	StartedAt         time.Time           `json:"started_at"`
	Duration          time.Duration       `json:"duration"`
	URL               string              `json:"url"`
	RequestHeaders    map[string][]string `json:"request_headers,omitempty"`
	StatusCode        int                 `json:"status_code,omitempty"`
	ResponseHeaders   map[string][]string `json:"response_headers,omitempty"`
	ResponseBody      []byte              `json:"response_body,omitempty"`
	ResponseTruncated bool                `json:"response_truncated,omitempty"`
	ErrorClass        ErrorClass          `json:"error_class,omitempty"`
	Error             string              `json:"error,omitempty"`
}

// StatusClass groups attempts by their response status: the hundreds
// digit of the status code (Class2xx for 200 to 299), or ClassNoResponse.
type StatusClass uint8

// Status classes. ClassAny matches every attempt in a filter.
const (
	ClassAny        StatusClass = 0
	Class1xx        StatusClass = 1
	Class2xx        StatusClass = 2
	Class3xx        StatusClass = 3
	Class4xx        StatusClass = 4
	Class5xx        StatusClass = 5
	ClassNoResponse StatusClass = 10 // no response was received
)

// ClassOf returns the class of a response status code, ClassNoResponse for
// a code of 0 (no response) or one outside 100 to 999.
func ClassOf(code int) StatusClass {
	if code < 100 || code > 999 {
		return ClassNoResponse
	}
	return StatusClass(code / 100)
}

// AttemptListParams filters Store.AttemptList; zero fields filter nothing.
type AttemptListParams struct {
	MessageID  string
	EndpointID string
	EventID    string
	// MessageStatus keeps the attempts whose message is in that state now.
	// StatusFailing also matches a message leased for a retry (delivering
	// with Attempts > 0).
	MessageStatus MessageStatus
	StatusClass   StatusClass
	// Since and Until bound StartedAt: Since <= StartedAt < Until.
	Since, Until time.Time
	// Cursor is the Next of the previous page; empty for the first.
	Cursor     string
	Limit      int
	WithBodies bool
}

// MatchesStatus reports whether a message in status s with attempts made
// matches the MessageStatus filter want.
func MatchesStatus(want, s MessageStatus, attempts int) bool {
	return want == "" || want == s ||
		(want == StatusFailing && s == StatusDelivering && attempts > 0)
}

// AttemptPage is one page of Store.AttemptList.
type AttemptPage struct {
	Attempts []*Attempt
	// Next resumes the list after this page; empty when nothing is left.
	Next string
}

// EndpointStatsParams are the arguments of Store.EndpointStats.
type EndpointStatsParams struct {
	TenantID, EndpointID string
	// Since and Until bound the hours summed; zero means unbounded.
	Since, Until time.Time
}

// EndpointStats is an endpoint's attempts summed over whole hours.
type EndpointStats struct {
	// Since and Until are the hour boundaries actually covered.
	Since, Until time.Time
	Attempts     int64
	Successes    int64 // 2xx responses
	Failures     int64
	// Latency is the distribution of the attempts' durations.
	Latency Histogram
	// Health is the endpoint's health now, whatever the range.
	Health   EndpointHealth
	Enabled  bool
	Disabled string // the endpoint's DisabledReason
}

// RecoverySource names which messages a recovery job retries.
type RecoverySource string

// Recovery sources.
const (
	// RecoverEndpoint retries the failing and exhausted messages of
	// Recovery.EndpointID created at or after Recovery.Since.
	RecoverEndpoint RecoverySource = "endpoint"
	// RecoverExhausted retries the tenant's exhausted messages (those of
	// Recovery.EndpointID only, if set).
	RecoverExhausted RecoverySource = "exhausted"
)

// Recovery is a resumable background job that retries many messages.
type Recovery struct {
	ID         string         `json:"id"`
	TenantID   string         `json:"tenant_id"`
	Source     RecoverySource `json:"source"`
	EndpointID string         `json:"endpoint_id,omitempty"`
	Since      time.Time      `json:"since,omitzero"`
	// Cursor is the store's position in the candidates; opaque.
	Cursor string `json:"cursor,omitempty"`
	// Scanned counts the candidates examined; of the failing and exhausted
	// ones, Retried counts those made due and Skipped those that could not
	// be (leased, or endpoint disabled or deleted).
	Scanned   int       `json:"scanned"`
	Retried   int       `json:"retried"`
	Skipped   int       `json:"skipped"`
	Done      bool      `json:"done,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TenantSettings are what the store keeps per tenant.
type TenantSettings struct {
	TenantID string `json:"tenant_id"`
	// Retention overrides the dispatcher's retention when positive.
	Retention time.Duration `json:"retention,omitempty"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// PurgeParams are the arguments of Store.Purge.
type PurgeParams struct {
	TenantID string
	Before   time.Time
	// After is the Next of the previous call; empty to start.
	After string
	Limit int
}

// PurgeResult counts what one Purge call deleted.
type PurgeResult struct {
	Events, Messages, Attempts int
	// Kept counts the events old enough that were kept for a live message.
	Kept int
	// Next resumes the purge; empty when it is complete.
	Next string
}
