package webhook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hooksmith/webhook/internal/breaker"
	"github.com/hooksmith/webhook/internal/delivery"
	"github.com/hooksmith/webhook/internal/ids"
	"github.com/hooksmith/webhook/internal/netguard"
	"github.com/hooksmith/webhook/internal/ratelimit"
	"github.com/hooksmith/webhook/internal/retry"
	"github.com/hooksmith/webhook/internal/secretbox"
	"github.com/hooksmith/webhook/store"
)

// Config tunes a Dispatcher. A nil *Config means all defaults; a zero field
// means that field's default.
type Config struct {
	// Workers is how many deliveries run at once. Defaults to 64. While
	// all are busy, up to three times as many more messages may be claimed
	// to wait for them (see LeaseDuration).
	Workers int
	// RequestTimeout bounds one delivery attempt, connect to last byte read.
	// Defaults to 15 seconds.
	RequestTimeout time.Duration
	// RetrySchedule is the delay before each attempt, the first entry being
	// the delay before the first attempt; its length is the maximum number
	// of attempts. Each delay after the first is jittered by ±20%. Defaults
	// to 0, 5s, 5m, 30m, 2h, 5h, 10h, 10h. Each delay is at most 30 days.
	RetrySchedule []time.Duration
	// MaxRetryAfter caps how long a 429 or 503 response's Retry-After header
	// (seconds or an HTTP date) may push the next attempt back; the header
	// replaces the schedule's delay for that attempt, unjittered, since the
	// receiver named the time. Defaults to 1 hour.
	MaxRetryAfter time.Duration
	// IdempotencyWindow is how long a published event ID is remembered per
	// tenant. Defaults to 24 hours.
	IdempotencyWindow time.Duration
	// MaxPayloadSize caps an event payload, in bytes. Defaults to 1 MiB.
	MaxPayloadSize int
	// MaxResponseBodySize caps how much of a response body is read and
	// recorded, in bytes. Defaults to 64 KiB.
	MaxResponseBodySize int64
	// LeaseDuration is how long a claimed message belongs to this process;
	// after a crash it becomes deliverable again once the lease ends. Must be
	// at least RequestTimeout + 1 second, to leave time to record the
	// outcome; a lease that ends first makes a duplicate delivery likely (not
	// a loss). Defaults to RequestTimeout + 30 seconds. With at least
	// RequestTimeout + 10 seconds, messages are claimed ahead of free
	// workers, in larger and fewer claims (not those of rate-limited or
	// failing endpoints): as many as the workers, and up to three times as
	// many while recent requests are quick enough that the last would wait
	// at most a quarter of the lease's time beyond RequestTimeout. One that
	// waits until less than half that time is left is handed back and
	// claimed again.
	LeaseDuration time.Duration
	// PollInterval is the longest the scheduler sleeps without a publish to
	// wake it, which bounds how late it notices expired leases or messages
	// written by another process. Defaults to 1 second.
	PollInterval time.Duration
	// AllowInsecureURLs admits http:// endpoint URLs. For development only.
	// Defaults to false: endpoints must use https.
	AllowInsecureURLs bool
	// AllowedDestinations exempts destinations from the address guard,
	// which otherwise refuses, at endpoint creation for literal addresses
	// and at every connection for what a name resolves to: loopback,
	// private, carrier-grade NAT, link-local and cloud metadata, unique-local
	// IPv6, unspecified, multicast, broadcast and reserved addresses, and the
	// IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms of them. Entries are
	// CIDRs ("127.0.0.1/32"), addresses, or host names. Defaults to none.
	AllowedDestinations []string
	// Proxy, an http:// or https:// URL, routes every delivery through an
	// egress proxy. The proxy resolves the endpoints' names, so it must do
	// its own filtering; the library still refuses literal blocked
	// addresses. Defaults to none: deliveries connect directly.
	Proxy string
	// Resolver resolves endpoint host names at connect time. Defaults to
	// net.DefaultResolver.
	Resolver Resolver
	// SecretKeys seal endpoint signing secrets at rest with AES-256-GCM:
	// the first key seals, every key opens what it sealed. To rotate, put a
	// new key first, run ResealSecrets, then drop the old key. Load them
	// from a secret manager or the environment, never from the same disk as
	// the store. Defaults to none: secrets are stored in clear and Start
	// logs a warning.
	SecretKeys []SecretKey
	// Logger receives operational logs; payloads and secrets are never
	// logged. Defaults to slog.Default().
	Logger *slog.Logger

	// MaxInFlightPerEndpoint caps how many messages of one endpoint are
	// delivered at once, unless the endpoint sets its own MaxInFlight, so a
	// slow endpoint holds at most that many workers. Defaults to 8.
	MaxInFlightPerEndpoint int
	// CircuitBreakerThreshold is how many consecutive failed attempts open
	// an endpoint's circuit: its messages then wait, without spending
	// attempts, for CircuitBreakerCooldown, after which one probe goes out;
	// a success closes the circuit, a failure opens it for twice as long (at
	// most 32 times the cool-down). Circuits live in memory and start closed
	// after a restart. Defaults to 10; negative disables the breaker.
	CircuitBreakerThreshold int
	// CircuitBreakerCooldown is the first pause of an open circuit.
	// Defaults to 30 seconds.
	CircuitBreakerCooldown time.Duration
	// AutoDisableAfter disables an endpoint whose attempts have all failed
	// for this long (no success since its first failure), with a reason and
	// the EndpointDisabled hook. Its messages are held; re-enabling it
	// resumes them and starts a new window. Defaults to 5 days; negative
	// never disables.
	AutoDisableAfter time.Duration
	// Hooks observe delivery; see Hooks for the calling contract.
	Hooks *Hooks

	// Retention is how long events, their messages and attempts and the
	// endpoints' stats are kept after publish, unless the tenant sets its
	// own (Tenant.SetRetention). A message still pending or retrying is
	// never deleted. Defaults to DefaultRetention (30 days); between
	// MinRetention and MaxRetention.
	Retention time.Duration
	// PurgeInterval is how often the started dispatcher purges what is
	// past its retention (and it purges once at Start). Defaults to
	// DefaultPurgeInterval, at least MinPurgeInterval; negative never purges
	// (call Dispatcher.Purge yourself).
	PurgeInterval time.Duration

	// dial replaces the guarded dialer; tests use it for in-memory
	// connections under testing/synctest.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

const (
	defaultWorkers        = 64
	defaultRequestTimeout = 15 * time.Second
	defaultIdempotency    = 24 * time.Hour
	defaultMaxPayload     = 1 << 20
	defaultMaxResponse    = 64 << 10
	defaultPollInterval   = time.Second
	defaultMaxInFlight    = 8
	defaultBreakerFails   = 10
	defaultBreakerCool    = 30 * time.Second
	maxBreakerCoolFactor  = 32
	defaultAutoDisable    = 5 * 24 * time.Hour
	// sweepInterval is how often idle rate limiters and circuits are dropped.
	sweepInterval        = time.Minute
	maxClaimBatch        = 256
	maxRetryDelay        = 30 * 24 * time.Hour
	defaultMaxRetryAfter = time.Hour
	leaseMargin          = time.Second
	// claimAheadSlack is how much longer than RequestTimeout a lease must
	// be for the scheduler to claim messages before a worker is free.
	claimAheadSlack = 10 * time.Second
	// maxAheadRounds bounds the messages claimed ahead, in Workers.
	maxAheadRounds = 3
	// recordersPerWorker bounds outcomes waiting to be written per worker;
	// past it, workers wait before their next request.
	recordersPerWorker = 4
	maxModifyAttempts  = 20 // concurrent changes to one endpoint before giving up with ErrConflict
	// storeWriteTimeout bounds writes made after the lifecycle context ended
	// (releasing leases on shutdown).
	storeWriteTimeout = 5 * time.Second
)

// Resolver looks up host addresses; *net.Resolver implements it.
type Resolver = netguard.Resolver

func (c *Config) withDefaults() (Config, error) {
	var cfg Config
	if c != nil {
		cfg = *c
	}
	if cfg.Workers <= 0 {
		cfg.Workers = defaultWorkers
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = defaultRequestTimeout
	}
	if len(cfg.RetrySchedule) == 0 {
		cfg.RetrySchedule = retry.DefaultSchedule
	}
	if err := validateSchedule("Config.RetrySchedule", cfg.RetrySchedule); err != nil {
		return cfg, err
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = defaultMaxRetryAfter
	}
	cfg.RetrySchedule = append([]time.Duration(nil), cfg.RetrySchedule...)
	if cfg.IdempotencyWindow <= 0 {
		cfg.IdempotencyWindow = defaultIdempotency
	}
	if cfg.MaxPayloadSize <= 0 {
		cfg.MaxPayloadSize = defaultMaxPayload
	}
	if cfg.MaxResponseBodySize <= 0 {
		cfg.MaxResponseBodySize = defaultMaxResponse
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = cfg.RequestTimeout + 30*time.Second
	}
	// A lease must outlast the request and the write of its outcome, or a
	// slow attempt would routinely be delivered twice.
	if cfg.LeaseDuration < cfg.RequestTimeout+leaseMargin {
		return cfg, invalid("Config.LeaseDuration", "must be at least RequestTimeout + %v", leaseMargin)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxInFlightPerEndpoint <= 0 {
		cfg.MaxInFlightPerEndpoint = defaultMaxInFlight
	}
	if cfg.CircuitBreakerThreshold == 0 {
		cfg.CircuitBreakerThreshold = defaultBreakerFails
	}
	if cfg.CircuitBreakerCooldown <= 0 {
		cfg.CircuitBreakerCooldown = defaultBreakerCool
	}
	if cfg.AutoDisableAfter == 0 {
		cfg.AutoDisableAfter = defaultAutoDisable
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if err := validRetention("Config.Retention", cfg.Retention); err != nil {
		return cfg, err
	}
	if cfg.PurgeInterval == 0 {
		cfg.PurgeInterval = DefaultPurgeInterval
	}
	if cfg.PurgeInterval > 0 && cfg.PurgeInterval < MinPurgeInterval {
		return cfg, invalid("Config.PurgeInterval", "must be at least %v, or negative to purge only on demand", MinPurgeInterval)
	}
	return cfg, nil
}

// Dispatcher stores published events and delivers them. It is safe for
// concurrent use. Create it with New, then Start it; publishing works before
// Start (messages wait in the store). Stop or Close it before closing the
// store.
type Dispatcher struct {
	store   store.Store
	cfg     Config
	log     *slog.Logger
	client  *http.Client
	guard   *netguard.Policy
	keys    *secretbox.Keyring // nil: secrets stored in clear
	limits  *ratelimit.Registry
	breaker *breaker.Breaker
	signers signerCache

	hooks        chan func(*Hooks) // nil without Config.Hooks
	droppedHooks atomic.Uint64

	wake       chan struct{} // a publish made messages due
	freed      chan struct{} // a worker finished a message
	recoveries chan struct{} // a recovery job was created

	mu      sync.Mutex
	state   int                // stateNew, stateRunning, stateDone
	stopRun context.CancelFunc // ends the scheduler
	abort   context.CancelFunc // ends in-flight requests
	work    chan claimed
	// claimAhead is set when the lease leaves time for claimed messages to
	// wait for a worker (see depth).
	claimAhead bool
	requests   requestTimer   // under mu
	wg         sync.WaitGroup // the scheduler
	workers    sync.WaitGroup
	recorders  sync.WaitGroup // goroutines writing outcomes (see deliver)
	recording  chan struct{}  // one slot per outcome being written
	finished   chan struct{}  // closed once every goroutine has returned; nil if never started
	busy       int            // claims handed to workers and not yet finished, under mu
}

const (
	stateNew = iota
	stateRunning
	stateDone
)

// New returns a Dispatcher on st. It starts no goroutine; see Start.
// It returns a *ValidationError if cfg is inconsistent.
func New(st store.Store, cfg *Config) (*Dispatcher, error) {
	if st == nil {
		return nil, invalid("store", "required")
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	guard, err := netguard.NewPolicy(c.AllowedDestinations)
	if err != nil {
		return nil, &ValidationError{Field: "Config.AllowedDestinations", Reason: err.Error()}
	}
	dialer := &netguard.Dialer{Policy: guard, Resolver: c.Resolver,
		Dialer: net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}}
	var proxy func(*http.Request) (*url.URL, error)
	if c.Proxy != "" {
		u, err := url.Parse(c.Proxy)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			return nil, invalid("Config.Proxy", "must be an http:// or https:// URL")
		}
		dialer.Proxy = net.JoinHostPort(u.Hostname(), cmp.Or(u.Port(), map[string]string{"http": "80", "https": "443"}[u.Scheme]))
		// The proxy resolves names itself, so each request's host gets the
		// literal check here, at request time, whatever it was when stored.
		proxy = func(r *http.Request) (*url.URL, error) {
			if err := guard.CheckHost(r.URL.Hostname()); err != nil {
				return nil, err
			}
			return u, nil
		}
	}
	keys, err := newKeyring(c.SecretKeys)
	if err != nil {
		return nil, err
	}
	dial := dialer.DialContext
	if c.dial != nil {
		dial = c.dial
	}
	d := &Dispatcher{
		store:      st,
		cfg:        c,
		log:        c.Logger,
		client:     delivery.NewClient(dial, proxy),
		guard:      guard,
		keys:       keys,
		limits:     ratelimit.New(),
		breaker:    breaker.New(c.CircuitBreakerThreshold, c.CircuitBreakerCooldown, maxBreakerCoolFactor*c.CircuitBreakerCooldown),
		wake:       make(chan struct{}, 1),
		freed:      make(chan struct{}, 1),
		recoveries: make(chan struct{}, 1),
	}
	if c.Hooks != nil {
		d.hooks = make(chan func(*Hooks), HookQueueSize)
	}
	return d, nil
}

// Start launches the scheduler and the delivery workers and returns at once.
// The goroutines run until Stop or Close; ctx only bounds Start itself.
// It returns ErrAlreadyStarted or ErrClosed when called out of turn.
func (d *Dispatcher) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.state {
	case stateRunning:
		return ErrAlreadyStarted
	case stateDone:
		return ErrClosed
	}
	d.state = stateRunning
	runCtx, stopRun := context.WithCancel(context.Background())
	reqCtx, abort := context.WithCancel(context.Background())
	d.stopRun, d.abort = stopRun, abort
	d.claimAhead = d.cfg.LeaseDuration-d.cfg.RequestTimeout >= claimAheadSlack
	d.work = make(chan claimed, d.cfg.Workers*(1+maxAheadRounds))
	d.recording = make(chan struct{}, recordersPerWorker*d.cfg.Workers)
	d.finished = make(chan struct{})
	d.workers.Add(d.cfg.Workers)
	for range d.cfg.Workers {
		go d.worker(reqCtx)
	}
	if d.hooks != nil {
		go d.runHooks(d.hooks)
	}
	d.wg.Add(2)
	go d.schedule(runCtx)
	go d.runRecoveries(runCtx)
	if d.cfg.PurgeInterval > 0 {
		d.wg.Add(1)
		go d.runPurge(runCtx)
	}
	d.warnUnsealed()
	return nil
}

// Stop stops claiming messages and waits for in-flight deliveries to finish.
// If ctx ends first, the remaining requests are cancelled, their messages are
// released for a later run, and Stop returns ctx.Err() once the workers have
// returned. Messages claimed but not yet started are released at once.
// Afterwards the Dispatcher returns ErrClosed. It does not close the store.
// Concurrent and repeated calls of Stop and Close all wait for the same end.
func (d *Dispatcher) Stop(ctx context.Context) error {
	finished := d.shutdown()
	if finished == nil {
		return nil
	}
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		d.abort()
		<-finished
		return ctx.Err()
	}
}

// Close stops at once: in-flight requests are cancelled and their messages
// released for a later run. It returns when every goroutine has returned.
func (d *Dispatcher) Close() error {
	if finished := d.shutdown(); finished != nil {
		d.abort()
		<-finished
	}
	return nil
}

// shutdown moves the Dispatcher to its final state; the first call ends the
// scheduler and, once workers have released what they did not start, closes
// the channel it returns (nil if the Dispatcher never started).
func (d *Dispatcher) shutdown() <-chan struct{} {
	d.mu.Lock()
	prev := d.state
	d.state = stateDone
	finished := d.finished
	d.mu.Unlock()
	if prev == stateRunning {
		d.stopRun()
		go func() {
			d.wg.Wait()
			close(d.work) // the scheduler, the only sender, has returned
			d.workers.Wait()
			d.recorders.Wait()
			d.abort()
			d.client.CloseIdleConnections()
			if d.hooks != nil {
				close(d.hooks) // workers and recorders, the only senders, have returned
			}
			close(finished)
		}()
	}
	return finished
}

func (d *Dispatcher) closed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state == stateDone
}

func (d *Dispatcher) signalWake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// RegisterEventType adds t to the catalogue, or updates its description and
// un-archives it if it exists. It returns a *ValidationError for a bad name.
func (d *Dispatcher) RegisterEventType(ctx context.Context, t EventType) (*EventType, error) {
	if !validEventTypeName(t.Name) {
		return nil, invalid("name", "%q is not dotted segments of [a-zA-Z0-9_-] up to %d bytes", t.Name, MaxEventTypeLength)
	}
	if len(t.Description) > MaxDescriptionLength || !utf8.ValidString(t.Description) {
		return nil, invalid("description", "must be valid UTF-8 of at most %d bytes", MaxDescriptionLength)
	}
	if d.closed() {
		return nil, ErrClosed
	}
	now := time.Now().UTC()
	rec, err := d.store.EventTypeGet(ctx, t.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		rec = &store.EventType{Name: t.Name, CreatedAt: now}
	case err != nil:
		return nil, err
	}
	rec.Description, rec.Archived, rec.UpdatedAt = t.Description, false, now
	if err := d.store.EventTypePut(ctx, rec); err != nil {
		return nil, err
	}
	return eventTypeFromStore(rec), nil
}

// GetEventType returns the catalogue entry or ErrNotFound.
func (d *Dispatcher) GetEventType(ctx context.Context, name string) (*EventType, error) {
	rec, err := d.store.EventTypeGet(ctx, name)
	if err != nil {
		return nil, notFound(err, "event type", name)
	}
	return eventTypeFromStore(rec), nil
}

// ListEventTypes pages through the catalogue in name order, archived
// entries included.
func (d *Dispatcher) ListEventTypes(ctx context.Context, opts ListOptions) (Page[*EventType], error) {
	p, err := opts.storeParams()
	if err != nil {
		return Page[*EventType]{}, err
	}
	recs, err := d.store.EventTypeList(ctx, p)
	if err != nil {
		return Page[*EventType]{}, err
	}
	return page(recs, p.Limit, eventTypeFromStore, func(r *store.EventType) string { return r.Name }), nil
}

// ArchiveEventType stops the type from taking new events; publishing it
// returns ErrEventTypeArchived. Messages already published still deliver.
func (d *Dispatcher) ArchiveEventType(ctx context.Context, name string) error {
	if d.closed() {
		return ErrClosed
	}
	rec, err := d.store.EventTypeGet(ctx, name)
	if err != nil {
		return notFound(err, "event type", name)
	}
	rec.Archived, rec.UpdatedAt = true, time.Now().UTC()
	return d.store.EventTypePut(ctx, rec)
}

func eventTypeFromStore(r *store.EventType) *EventType {
	return &EventType{Name: r.Name, Description: r.Description, Archived: r.Archived,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// checkEventType returns nil if name may be published now.
func (d *Dispatcher) checkEventType(ctx context.Context, name string) error {
	rec, err := d.store.EventTypeGet(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %q", ErrUnknownEventType, name)
	case err != nil:
		return err
	case rec.Archived:
		return fmt.Errorf("%w: %q", ErrEventTypeArchived, name)
	}
	return nil
}

// notFound turns a store miss into ErrNotFound naming what was missing.
func notFound(err error, what, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s %q", ErrNotFound, what, id)
	}
	return err
}

// Format prints the dispatcher as "webhook.Dispatcher" whatever the verb:
// it holds the sealing keys and parsed signing secrets, which fmt would
// otherwise print from its fields.
func (d *Dispatcher) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "webhook.Dispatcher") }

// Tenant returns the handle through which every operation on one customer's
// data goes. Handles are cheap; an invalid id makes every call on the handle
// return a *ValidationError.
func (d *Dispatcher) Tenant(id string) *Tenant {
	return &Tenant{d: d, id: id}
}

// Tenant scopes operations to one customer: an ID that belongs to another
// tenant is ErrNotFound. It is safe for concurrent use.
type Tenant struct {
	d  *Dispatcher
	id string
}

// ID returns the tenant's ID.
func (t *Tenant) ID() string { return t.id }

// Format prints the tenant as webhook.Tenant(ID) whatever the verb, and
// never its dispatcher's fields (see Dispatcher.Format).
func (t *Tenant) Format(f fmt.State, _ rune) { _, _ = fmt.Fprintf(f, "webhook.Tenant(%s)", t.id) }

func (t *Tenant) check() error {
	if !validTenantID(t.id) {
		return invalid("tenant_id", "must be 1 to %d bytes of printable UTF-8", MaxIDLength)
	}
	if t.d.closed() {
		return ErrClosed
	}
	return nil
}

// CreateEndpoint registers an endpoint with a fresh signing secret. It
// returns a *ValidationError naming the field for bad input.
func (t *Tenant) CreateEndpoint(ctx context.Context, p EndpointParams) (*Endpoint, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if err := p.normalize(t.d.urlPolicy(), t.d.knownType(ctx)); err != nil {
		return nil, err
	}
	secret, err := newSecret(p.Ed25519)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	rec := &store.Endpoint{
		ID: ids.New("ep"), TenantID: t.id,
		Secrets:   []store.Secret{{Value: secret, CreatedAt: now}},
		CreatedAt: now, UpdatedAt: now,
	}
	applyParams(rec, &p)
	stored, err := t.d.sealed(rec)
	if err != nil {
		return nil, err
	}
	if err := t.d.store.EndpointCreate(ctx, stored); err != nil {
		return nil, err
	}
	return endpointFromStore(rec), nil
}

func (d *Dispatcher) urlPolicy() urlPolicy {
	return urlPolicy{allowHTTP: d.cfg.AllowInsecureURLs, guard: d.guard}
}

func (d *Dispatcher) knownType(ctx context.Context) func(string) (bool, error) {
	return func(name string) (bool, error) {
		_, err := d.store.EventTypeGet(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
}

// GetEndpoint returns the endpoint or ErrNotFound.
func (t *Tenant) GetEndpoint(ctx context.Context, id string) (*Endpoint, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	rec, err := t.d.store.EndpointGet(ctx, t.id, id)
	if err != nil {
		return nil, notFound(err, "endpoint", id)
	}
	return t.d.endpoint(rec)
}

// ListEndpoints pages through the tenant's endpoints in creation order.
func (t *Tenant) ListEndpoints(ctx context.Context, opts ListOptions) (Page[*Endpoint], error) {
	if err := t.check(); err != nil {
		return Page[*Endpoint]{}, err
	}
	p, err := opts.storeParams()
	if err != nil {
		return Page[*Endpoint]{}, err
	}
	recs, err := t.d.store.EndpointList(ctx, t.id, p)
	if err != nil {
		return Page[*Endpoint]{}, err
	}
	for i, r := range recs {
		if recs[i], err = t.d.opened(r); err != nil {
			return Page[*Endpoint]{}, err
		}
	}
	return page(recs, p.Limit, endpointFromStore, func(r *store.Endpoint) string { return r.ID }), nil
}

// UpdateEndpoint replaces the endpoint's parameters with p, whole: a field
// left empty takes its default. The secret is kept. Enabling a disabled
// endpoint resumes delivery of its pending messages.
func (t *Tenant) UpdateEndpoint(ctx context.Context, id string, p EndpointParams) (*Endpoint, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if err := p.normalize(t.d.urlPolicy(), t.d.knownType(ctx)); err != nil {
		return nil, err
	}
	var schemeChanged bool
	ep, err := t.modifyEndpoint(ctx, id, func(r *store.Endpoint) bool {
		if schemeChanged = isSigningKey(currentSecret(r.Secrets)) != p.Ed25519; schemeChanged {
			return false
		}
		applyParams(r, &p)
		return true
	})
	if schemeChanged {
		return nil, invalid("ed25519", "the signing scheme is fixed when the endpoint is created")
	}
	return ep, err
}

// EnableEndpoint resumes routing and delivery to the endpoint.
func (t *Tenant) EnableEndpoint(ctx context.Context, id string) error {
	_, err := t.setDisabled(ctx, id, false, "")
	return err
}

// DisableEndpoint stops routing new events to the endpoint and holds its
// pending messages until it is enabled.
func (t *Tenant) DisableEndpoint(ctx context.Context, id string) error {
	_, err := t.setDisabled(ctx, id, true, "disabled by the host")
	return err
}

func (t *Tenant) setDisabled(ctx context.Context, id string, disabled bool, reason string) (*Endpoint, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	return t.modifyEndpoint(ctx, id, func(r *store.Endpoint) bool {
		r.Enabled, r.DisabledReason = !disabled, reason
		return true
	})
}

// modifyEndpoint reads the endpoint, applies change and writes it back,
// unless change returns false. A concurrent change between the read and the
// write makes the store refuse the write; it then starts over, so no change
// (a rotated secret, say) is lost. change may run more than once.
func (t *Tenant) modifyEndpoint(ctx context.Context, id string, change func(*store.Endpoint) bool) (*Endpoint, error) {
	for attempt := 0; ; attempt++ {
		rec, err := t.d.store.EndpointGet(ctx, t.id, id)
		if err != nil {
			return nil, notFound(err, "endpoint", id)
		}
		if rec, err = t.d.opened(rec); err != nil {
			return nil, err
		}
		if !change(rec) {
			return nil, nil
		}
		stored, err := t.d.sealed(rec)
		if err != nil {
			return nil, err
		}
		now := time.Now().UTC()
		err = t.d.store.EndpointUpdate(ctx, stored, now)
		if errors.Is(err, store.ErrConflict) && attempt < maxModifyAttempts {
			continue
		}
		if err != nil {
			return nil, notFound(err, "endpoint", id)
		}
		rec.UpdatedAt = now
		if rec.Enabled {
			t.d.signalWake()
		}
		return endpointFromStore(rec), nil
	}
}

// RotateSecret gives the endpoint a fresh secret. For grace (0 means
// DefaultRotationGrace, at most MaxRotationGrace) every delivery is signed
// with the new secret and each previous one still valid, so the customer can
// switch over without failed verifications; at most MaxPreviousSecrets
// previous secrets are kept, none beyond this grace. RevokeNow drops every
// previous secret at once. The returned endpoint's Secret is the new one.
//
// An Ed25519 endpoint gets a fresh key pair; its PublicKey is the new one.
func (t *Tenant) RotateSecret(ctx context.Context, endpointID string, grace time.Duration) (*Endpoint, error) {
	return t.replaceSecret(ctx, endpointID, "", grace)
}

// SetSecret makes the host's own secret current, with the same grace rules
// as RotateSecret. The secret must be "whsec_" and the base64 of a 24 to 64
// byte key; a bad one is a *ValidationError that never quotes it. Ed25519
// endpoints take no host secret.
func (t *Tenant) SetSecret(ctx context.Context, endpointID, secret string, grace time.Duration) (*Endpoint, error) {
	if !strings.HasPrefix(secret, signaturePrefix) {
		return nil, &ValidationError{Field: "secret", Reason: "must start with whsec_", Err: ErrInvalidSecret}
	}
	if _, err := parseSecret(secret); err != nil {
		return nil, &ValidationError{Field: "secret", Reason: "must be whsec_ and the base64 of a 24 to 64 byte key", Err: ErrInvalidSecret}
	}
	return t.replaceSecret(ctx, endpointID, secret, grace)
}

// replaceSecret rotates to secret, or to a fresh one of the endpoint's
// scheme when secret is empty.
func (t *Tenant) replaceSecret(ctx context.Context, endpointID, secret string, grace time.Duration) (*Endpoint, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	grace, err := validGrace(grace)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	var refused, failed error
	ep, err := t.modifyEndpoint(ctx, endpointID, func(r *store.Endpoint) bool {
		asym := isSigningKey(currentSecret(r.Secrets))
		s := secret
		switch {
		case s != "" && asym:
			refused = &ValidationError{Field: "secret", Reason: "an Ed25519 endpoint takes no host secret; use RotateSecret", Err: ErrInvalidSecret}
			return false
		case s == "":
			if s, failed = newSecret(asym); failed != nil {
				return false
			}
		}
		rotate(r, s, now, grace)
		return true
	})
	return ep, cmp.Or(refused, failed, err)
}

// DeleteEndpoint removes the endpoint; its pending messages are cancelled,
// not delivered. An attempt in flight at that moment may still complete.
func (t *Tenant) DeleteEndpoint(ctx context.Context, id string) error {
	if err := t.check(); err != nil {
		return err
	}
	return notFound(t.d.store.EndpointDelete(ctx, t.id, id, time.Now().UTC()), "endpoint", id)
}

// Publish stores ev and one message for each of the tenant's enabled
// endpoints whose type and label filters match it, in one durable write,
// then wakes delivery. An event that matches no endpoint is still stored.
//
// It returns a *ValidationError for bad input, ErrUnknownEventType or
// ErrEventTypeArchived for a type that cannot be published, and ErrClosed
// after Stop; in each case nothing is written.
func (t *Tenant) Publish(ctx context.Context, ev Event) (*PublishResult, error) {
	rec, err := t.prepare(ctx, &ev)
	if err != nil {
		return nil, err
	}
	eps, err := t.d.store.EndpointListAll(ctx, t.id)
	if err != nil {
		return nil, err
	}
	var targets []*store.Endpoint
	for _, ep := range eps {
		if ep.Enabled && matchesType(ep.EventTypes, ev.Type) && matchesLabels(ep.Labels, ev.Labels) {
			targets = append(targets, ep)
		}
	}
	return t.insert(ctx, rec, targets)
}

// SendTo stores ev for one endpoint, whatever its filters, like Publish
// otherwise. It returns ErrNotFound for an unknown endpoint and
// ErrEndpointDisabled for a disabled one.
func (t *Tenant) SendTo(ctx context.Context, endpointID string, ev Event) (*PublishResult, error) {
	rec, err := t.prepare(ctx, &ev)
	if err != nil {
		return nil, err
	}
	ep, err := t.enabledEndpoint(ctx, endpointID)
	if err != nil {
		return nil, err
	}
	return t.insert(ctx, rec, []*store.Endpoint{ep})
}

// enabledEndpoint returns the stored endpoint, ErrNotFound or
// ErrEndpointDisabled.
func (t *Tenant) enabledEndpoint(ctx context.Context, id string) (*store.Endpoint, error) {
	ep, err := t.d.store.EndpointGet(ctx, t.id, id)
	if err != nil {
		return nil, notFound(err, "endpoint", id)
	}
	if !ep.Enabled {
		return nil, fmt.Errorf("%w: %q", ErrEndpointDisabled, id)
	}
	return ep, nil
}

// prepare validates ev, fills its defaults and returns its store record.
func (t *Tenant) prepare(ctx context.Context, ev *Event) (*store.Event, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if err := t.d.validateEvent(ev); err != nil {
		return nil, err
	}
	if err := t.d.checkEventType(ctx, ev.Type); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	if ev.ID == "" {
		ev.ID = ids.New("evt")
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = now
	}
	return &store.Event{
		Key: ids.New("evk"), TenantID: t.id, ID: ev.ID, Type: ev.Type,
		ContentType: ev.ContentType, Labels: ev.Labels, OccurredAt: ev.OccurredAt.UTC(),
		CreatedAt: now, Payload: ev.Payload,
	}, nil
}

func (d *Dispatcher) validateEvent(ev *Event) error {
	if ev.ID != "" && !validID(ev.ID) {
		return invalid("id", "must be 1 to %d characters of [A-Za-z0-9._:-]", MaxIDLength)
	}
	if !validEventTypeName(ev.Type) {
		return invalid("type", "%q is not dotted segments of [a-zA-Z0-9_-]", ev.Type)
	}
	if len(ev.Payload) == 0 {
		return invalid("payload", "required")
	}
	if len(ev.Payload) > d.cfg.MaxPayloadSize {
		return &ValidationError{Field: "payload",
			Reason: fmt.Sprintf("%d bytes exceeds the limit of %d", len(ev.Payload), d.cfg.MaxPayloadSize),
			Err:    ErrPayloadTooLarge}
	}
	if ev.ContentType == "" {
		ev.ContentType = "application/json"
	} else if mt, _, err := mime.ParseMediaType(ev.ContentType); err != nil || !strings.Contains(mt, "/") ||
		len(ev.ContentType) > 256 || !validHeaderValue(ev.ContentType) {
		return invalid("content_type", "not a media type")
	}
	return validateLabels("labels", ev.Labels)
}

// insert writes the event with one message per target endpoint.
func (t *Tenant) insert(ctx context.Context, ev *store.Event, targets []*store.Endpoint) (*PublishResult, error) {
	due := ev.CreatedAt.Add(t.d.cfg.RetrySchedule[0])
	msgs := make([]*store.Message, len(targets))
	for i, ep := range targets {
		msgs[i] = &store.Message{
			ID: ids.New("msg"), TenantID: t.id, EndpointID: ep.ID, EventID: ev.ID, EventKey: ev.Key,
			Status: store.StatusPending, NextAttemptAt: due, CreatedAt: ev.CreatedAt, UpdatedAt: ev.CreatedAt,
		}
	}
	res, err := t.d.store.EventInsert(ctx, store.EventInsertParams{
		Event: ev, Messages: msgs, IdempotencyWindow: t.d.cfg.IdempotencyWindow, Now: ev.CreatedAt,
	})
	if err != nil {
		return nil, err
	}
	if !res.Duplicate && len(msgs) > 0 {
		t.d.signalWake()
	}
	stored := eventFromStore(res.Event)
	return &PublishResult{EventID: stored.ID, Messages: stored.Messages, Duplicate: res.Duplicate}, nil
}

// ExhaustedQuery filters ListExhaustedMessages.
type ExhaustedQuery struct {
	// EndpointID keeps only that endpoint's messages, if set.
	EndpointID string
	ListOptions
}

// ListExhaustedMessages pages through the tenant's exhausted messages, the
// dead letters whose every scheduled attempt failed, newest first. Their
// attempts stay listed by ListAttempts.
func (t *Tenant) ListExhaustedMessages(ctx context.Context, q ExhaustedQuery) (Page[*Message], error) {
	if err := t.check(); err != nil {
		return Page[*Message]{}, err
	}
	p, err := q.storeParams()
	if err != nil {
		return Page[*Message]{}, err
	}
	recs, err := t.d.store.MessageListExhausted(ctx, t.id, store.MessageListParams{
		EndpointID: q.EndpointID, Before: p.After, Limit: p.Limit,
	})
	if err != nil {
		return Page[*Message]{}, err
	}
	return page(recs, p.Limit, messageFromStore, func(m *store.Message) string { return m.ID }), nil
}
