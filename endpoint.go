package webhook

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hooksmith/webhook/internal/netguard"
	"github.com/hooksmith/webhook/store"
)

// Input limits. Exceeding one is a *ValidationError naming the field.
const (
	// DefaultRotationGrace is how long a rotated-out secret keeps signing.
	DefaultRotationGrace = 24 * time.Hour
	// MaxRotationGrace caps the grace period of a rotation.
	MaxRotationGrace = 7 * 24 * time.Hour
	// MaxPreviousSecrets caps how many rotated-out secrets stay valid.
	MaxPreviousSecrets = 10
	// RevokeNow, as a rotation's grace, drops every previous secret at once:
	// for a secret that leaked.
	RevokeNow time.Duration = -1

	MaxURLLength         = 2048
	MaxDescriptionLength = 1024
	MaxLabels            = 32
	MaxLabelKeyLength    = 64
	MaxLabelValueLength  = 256
	MaxHeaders           = 20
	MaxHeaderValueLength = 1024
	MaxMetadataSize      = 8 << 10 // keys plus values, in bytes
	MaxEventTypeFilters  = 100
	MaxEventTypeLength   = 128
	MaxIDLength          = 128
	// MaxRetryScheduleLength caps the attempts of a retry schedule.
	MaxRetryScheduleLength = 50
	// MaxInFlightLimit caps EndpointParams.MaxInFlight.
	MaxInFlightLimit = 1000
	// MaxRateLimit caps EndpointParams.RateLimit, in messages per second.
	MaxRateLimit = 100000
	// MaxRateBurst caps EndpointParams.RateBurst.
	MaxRateBurst = 10000
)

// EndpointParams is the part of an endpoint the host sets. CreateEndpoint
// takes it, and UpdateEndpoint replaces it whole, so an update is: get the
// endpoint, change its EndpointParams, send them back.
type EndpointParams struct {
	// URL receives the deliveries. https is required unless
	// Config.AllowInsecureURLs is set.
	URL string
	// Method is POST, PUT or PATCH. Defaults to POST.
	Method string
	// Description is free text for the host's UI, up to 1024 bytes.
	Description string
	// EventTypes filters by type: registered names, or "prefix.*" to match
	// every type under a dotted prefix. Empty means every type.
	EventTypes []string
	// Labels filters by label: the endpoint gets an event only if each pair
	// here is among the event's labels.
	Labels map[string]string
	// Headers are added to every request. Names that carry the signature or
	// framing (webhook-*, content-type, host, ...) are refused.
	Headers map[string]string
	// Metadata is the host's own data; never sent.
	Metadata map[string]string
	// Disabled stops routing new events to the endpoint and holds its
	// pending messages until it is enabled again.
	Disabled bool
	// RetrySchedule overrides Config.RetrySchedule for this endpoint: the
	// delay before each attempt, its length the maximum number of attempts
	// (at most MaxRetryScheduleLength), each delay after the first jittered
	// by ±20% and at most 30 days. Empty means the dispatcher's schedule.
	RetrySchedule []time.Duration
	// NoRetryOnClientError ends a message as exhausted at the first 4xx
	// response that retrying will not fix (all but 408 and 429). By default
	// a 4xx is retried like a 5xx: receivers often answer 4xx while they
	// deploy or misconfigure, and the customer would rather get the event
	// late than never.
	NoRetryOnClientError bool
	// MaxInFlight caps how many of the endpoint's messages are delivered
	// at once, up to MaxInFlightLimit. 0 means Config.MaxInFlightPerEndpoint.
	MaxInFlight int
	// FIFO delivers the endpoint's messages one at a time, in publish
	// order: a failing message holds back the later ones until it succeeds
	// or is exhausted. MaxInFlight must then be 0 or 1.
	FIFO bool
	// RateLimit caps deliveries per second (fractions allowed: 0.5 is one
	// every two seconds), up to MaxRateLimit. 0 means unlimited. Messages
	// over the limit wait in the store, not in a worker.
	RateLimit float64
	// RateBurst is how many deliveries may go back to back before the rate
	// applies, up to MaxRateBurst. 0 means 1. Needs RateLimit.
	RateBurst int
	// Ed25519 signs deliveries with an ed25519 key (Standard Webhooks
	// "v1a") instead of an HMAC secret: the customer verifies with
	// PublicKey and never holds a secret. Fixed when the endpoint is
	// created; UpdateEndpoint must carry the same value.
	Ed25519 bool
}

// Endpoint is a tenant's webhook subscription.
//
// Printing an Endpoint with fmt never shows its secret; Secret returns it.
type Endpoint struct {
	ID       string
	TenantID string
	EndpointParams
	// DisabledReason says why the endpoint was disabled, if it is.
	DisabledReason string
	CreatedAt      time.Time
	UpdatedAt      time.Time

	secrets []store.Secret
}

// Secret returns the current HMAC signing secret (whsec_...), for the host
// to hand to its customer. It is empty for an Ed25519 endpoint.
func (e *Endpoint) Secret() string {
	if s := e.current(); !e.Ed25519 {
		return s
	}
	return ""
}

// PublicKey returns the current public key (whpk_...) of an Ed25519
// endpoint, for the host to hand to its customer; empty otherwise.
func (e *Endpoint) PublicKey() string {
	if !e.Ed25519 {
		return ""
	}
	pub, err := publicKeyOf(e.current())
	if err != nil {
		return ""
	}
	return pub
}

func (e *Endpoint) current() string { return currentSecret(e.secrets) }

// String describes the endpoint without its secret.
func (e Endpoint) String() string {
	return fmt.Sprintf("Endpoint{ID:%s TenantID:%s URL:%s Method:%s Disabled:%t Secret:[redacted]}",
		e.ID, e.TenantID, e.URL, e.Method, e.Disabled)
}

// GoString keeps %#v from printing the secret.
func (e Endpoint) GoString() string { return "webhook." + e.String() }

// Format keeps every other verb (%d, %x, ...) from printing the secret.
func (e Endpoint) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, e.GoString())
		return
	}
	_, _ = io.WriteString(f, e.String())
}

// rotate makes secret the current one of r; every previous secret stays
// valid until now+grace at the latest (a grace of 0 drops them all). Expired
// secrets are dropped and at most MaxPreviousSecrets previous ones are kept,
// newest first.
func rotate(r *store.Endpoint, secret string, now time.Time, grace time.Duration) {
	until := now.Add(grace)
	next := []store.Secret{{Value: secret, CreatedAt: now}}
	for _, s := range r.Secrets { // current first, then previous newest first
		if s.ExpiresAt.IsZero() || s.ExpiresAt.After(until) {
			s.ExpiresAt = until
		}
		if s.ExpiresAt.After(now) && len(next) <= MaxPreviousSecrets {
			next = append(next, s)
		}
	}
	r.Secrets = next
}

func currentSecret(secrets []store.Secret) string {
	for _, s := range secrets {
		if s.ExpiresAt.IsZero() {
			return s.Value
		}
	}
	return ""
}

func validGrace(grace time.Duration) (time.Duration, error) {
	switch {
	case grace == 0:
		return DefaultRotationGrace, nil
	case grace == RevokeNow:
		return 0, nil
	case grace < 0 || grace > MaxRotationGrace:
		return 0, invalid("grace", "must be RevokeNow, 0 (the default, %v) or up to %v", DefaultRotationGrace, MaxRotationGrace)
	}
	return grace, nil
}

func endpointFromStore(r *store.Endpoint) *Endpoint {
	return &Endpoint{
		ID:       r.ID,
		TenantID: r.TenantID,
		EndpointParams: EndpointParams{
			URL: r.URL, Method: r.Method, Description: r.Description,
			EventTypes: r.EventTypes, Labels: r.Labels, Headers: r.Headers, Metadata: r.Metadata,
			Disabled: !r.Enabled, Ed25519: isSigningKey(currentSecret(r.Secrets)),
			RetrySchedule: r.RetrySchedule, NoRetryOnClientError: r.NoRetryOnClientError,
			MaxInFlight: r.MaxInFlight, FIFO: r.FIFO, RateLimit: r.RateLimit, RateBurst: r.RateBurst,
		},
		DisabledReason: r.DisabledReason,
		CreatedAt:      r.CreatedAt,
		UpdatedAt:      r.UpdatedAt,
		secrets:        r.Secrets,
	}
}

// applyParams copies validated params onto a store record.
func applyParams(r *store.Endpoint, p *EndpointParams) {
	r.URL, r.Method, r.Description = p.URL, p.Method, p.Description
	r.EventTypes, r.Labels, r.Headers, r.Metadata = p.EventTypes, p.Labels, p.Headers, p.Metadata
	r.RetrySchedule, r.NoRetryOnClientError = p.RetrySchedule, p.NoRetryOnClientError
	r.MaxInFlight, r.FIFO, r.RateLimit, r.RateBurst = p.MaxInFlight, p.FIFO, p.RateLimit, p.RateBurst
	r.Enabled = !p.Disabled
	if r.Enabled {
		r.DisabledReason = ""
	} else if r.DisabledReason == "" {
		r.DisabledReason = "disabled by the host"
	}
}

// urlPolicy is what an endpoint URL is checked against.
type urlPolicy struct {
	allowHTTP bool
	guard     *netguard.Policy
}

// normalize validates p in place, filling defaults. knownType reports
// whether an exact event-type name in the filter is registered.
func (p *EndpointParams) normalize(up urlPolicy, knownType func(string) (bool, error)) error {
	if err := validateURL(p.URL, up); err != nil {
		return err
	}
	switch p.Method = strings.ToUpper(p.Method); p.Method {
	case "":
		p.Method = http.MethodPost
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return invalid("method", "%q is not POST, PUT or PATCH", p.Method)
	}
	if len(p.Description) > MaxDescriptionLength || !utf8.ValidString(p.Description) {
		return invalid("description", "must be valid UTF-8 of at most %d bytes", MaxDescriptionLength)
	}
	if err := validateTypeFilter(p.EventTypes, knownType); err != nil {
		return err
	}
	if err := validateLabels("labels", p.Labels); err != nil {
		return err
	}
	if err := validateHeaders(p.Headers); err != nil {
		return err
	}
	if err := validateSchedule("retry_schedule", p.RetrySchedule); err != nil {
		return err
	}
	if err := p.validateFlow(); err != nil {
		return err
	}
	return validateMetadata(p.Metadata)
}

func validateURL(raw string, up urlPolicy) error {
	if raw == "" {
		return invalid("url", "required")
	}
	if len(raw) > MaxURLLength {
		return invalid("url", "longer than %d bytes", MaxURLLength)
	}
	if !utf8.ValidString(raw) {
		return invalid("url", "must be valid UTF-8")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("url", "does not parse")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !up.allowHTTP {
			return invalid("url", "must use https (Config.AllowInsecureURLs permits http for development)")
		}
	default:
		return invalid("url", "scheme must be https")
	}
	if u.Hostname() == "" {
		return invalid("url", "has no host")
	}
	if u.User != nil {
		return invalid("url", "must not carry credentials; use a custom header")
	}
	if u.Fragment != "" {
		return invalid("url", "must not have a fragment")
	}
	if err := up.guard.CheckHost(u.Hostname()); err != nil {
		return &ValidationError{Field: "url", Reason: "names a blocked destination (loopback, private, link-local or similar); Config.AllowedDestinations can exempt it", Err: ErrBlockedDestination}
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return invalid("url", "port must be 1 to 65535")
		}
	}
	return nil
}

// validEventTypeName reports whether name is dotted segments of [a-zA-Z0-9_-].
func validEventTypeName(name string) bool {
	if name == "" || len(name) > MaxEventTypeLength {
		return false
	}
	for seg := range strings.SplitSeq(name, ".") {
		if seg == "" {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

func validateTypeFilter(filter []string, knownType func(string) (bool, error)) error {
	if len(filter) > MaxEventTypeFilters {
		return invalid("event_types", "more than %d entries", MaxEventTypeFilters)
	}
	for _, f := range filter {
		if prefix, ok := strings.CutSuffix(f, ".*"); ok {
			if !validEventTypeName(prefix) {
				return invalid("event_types", "%q is not a valid pattern", f)
			}
			continue
		}
		if !validEventTypeName(f) {
			return invalid("event_types", "%q is not a valid event type name", f)
		}
		ok, err := knownType(f)
		if err != nil {
			return err
		}
		if !ok {
			return &ValidationError{Field: "event_types", Reason: fmt.Sprintf("%q is not registered", f), Err: ErrUnknownEventType}
		}
	}
	return nil
}

// matchesType reports whether an endpoint's type filter admits eventType.
func matchesType(filter []string, eventType string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, f := range filter {
		if f == eventType {
			return true
		}
		if prefix, ok := strings.CutSuffix(f, "*"); ok && strings.HasPrefix(eventType, prefix) {
			return true
		}
	}
	return false
}

// matchesLabels reports whether every pair of filter is in labels.
func matchesLabels(filter, labels map[string]string) bool {
	for k, v := range filter {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func validateLabels(field string, labels map[string]string) error {
	if len(labels) > MaxLabels {
		return invalid(field, "more than %d labels", MaxLabels)
	}
	for k, v := range labels {
		switch {
		case k == "" || len(k) > MaxLabelKeyLength:
			return invalid(field, "key must be 1 to %d bytes", MaxLabelKeyLength)
		case v == "" || len(v) > MaxLabelValueLength:
			return invalid(field, "value of %q must be 1 to %d bytes", k, MaxLabelValueLength)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return invalid(field, "keys and values must be valid UTF-8")
		}
	}
	return nil
}

// forbiddenHeaders are set by the library or describe the connection; a
// custom value would break signing, framing or routing.
var forbiddenHeaders = map[string]bool{
	"host": true, "content-length": true, "content-type": true, "connection": true,
	"transfer-encoding": true, "te": true, "trailer": true, "upgrade": true,
	"keep-alive": true, "proxy-connection": true, "expect": true, "user-agent": true,
}

func validateHeaders(h map[string]string) error {
	if len(h) > MaxHeaders {
		return invalid("headers", "more than %d headers", MaxHeaders)
	}
	seen := make(map[string]bool, len(h))
	for name, v := range h {
		lower := strings.ToLower(name)
		switch {
		case !validHeaderName(name):
			return invalid("headers", "%q is not a valid header name", name)
		case forbiddenHeaders[lower] || strings.HasPrefix(lower, "webhook-"):
			return invalid("headers", "%q is set by the library and cannot be overridden", name)
		case seen[lower]:
			return invalid("headers", "%q appears twice, in different cases", name)
		case len(v) > MaxHeaderValueLength || !validHeaderValue(v):
			return invalid("headers", "value of %q must be at most %d bytes of visible text", name, MaxHeaderValueLength)
		}
		seen[lower] = true
	}
	return nil
}

// validHeaderValue reports whether v is sent as stored: valid UTF-8 (the
// store keeps text as JSON, which would rewrite invalid bytes) with no
// control characters other than horizontal tab (net/http refuses them).
func validHeaderValue(v string) bool {
	if !utf8.ValidString(v) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validateMetadata(m map[string]string) error {
	size := 0
	for k, v := range m {
		size += len(k) + len(v)
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return invalid("metadata", "keys must be non-empty and all text valid UTF-8")
		}
	}
	if size > MaxMetadataSize {
		return invalid("metadata", "larger than %d bytes", MaxMetadataSize)
	}
	return nil
}

// validID reports whether id is safe as a key and a header value: 1 to 128
// characters of [A-Za-z0-9._:-].
func validID(id string) bool {
	if id == "" || len(id) > MaxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// validTenantID reports whether id can name a tenant: 1 to 128 bytes of
// valid UTF-8 with no control characters.
func validTenantID(id string) bool {
	if id == "" || len(id) > MaxIDLength || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// validateSchedule checks a retry schedule: at most MaxRetryScheduleLength
// delays, each between 0 and 30 days. Empty means a default applies.
func validateSchedule(field string, schedule []time.Duration) error {
	if len(schedule) > MaxRetryScheduleLength {
		return invalid(field, "more than %d attempts", MaxRetryScheduleLength)
	}
	for _, d := range schedule {
		if d < 0 || d > maxRetryDelay {
			return invalid(field, "delays must be between 0 and %v", maxRetryDelay)
		}
	}
	return nil
}

// validateFlow checks the in-flight cap, FIFO and rate limit together.
func (p *EndpointParams) validateFlow() error {
	switch {
	case p.MaxInFlight < 0 || p.MaxInFlight > MaxInFlightLimit:
		return invalid("max_in_flight", "must be between 0 and %d", MaxInFlightLimit)
	case p.FIFO && p.MaxInFlight > 1:
		return invalid("max_in_flight", "a FIFO endpoint delivers one message at a time; leave it 0 or 1")
	case math.IsNaN(p.RateLimit) || p.RateLimit < 0 || p.RateLimit > MaxRateLimit:
		return invalid("rate_limit", "must be between 0 and %d messages per second", MaxRateLimit)
	case p.RateBurst < 0 || p.RateBurst > MaxRateBurst:
		return invalid("rate_burst", "must be between 0 and %d", MaxRateBurst)
	case p.RateBurst > 0 && p.RateLimit == 0:
		return invalid("rate_burst", "needs a rate_limit")
	}
	return nil
}
