// Package storetest is the conformance suite of the store.Store contract.
//
// Every Store implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Exercise(t, func(t *testing.T) store.Store {
//			s := open(t) // a fresh, empty store
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The harness owns setup and teardown; the suite owns the assertions. Every
// subtest asks for its own store and runs in parallel with the others, so
// newStore must be safe to call from several goroutines and the subtests only
// run after the calling test function returns (the usual t.Parallel rules).
//
// The suite uses fixed times (never the wall clock) truncated to whole
// microseconds, and compares times with time.Time.Equal semantics, so stores
// may drop the monotonic reading and the location of the times they keep.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// testCase is one conformance check. Its name is "Group/sentence".
type testCase struct {
	name string
	fn   func(t *testing.T, f *fixture)
}

// Exercise runs the conformance suite against the stores made by newStore,
// which must return a fresh, empty store for each call and register its
// cleanup with t.Cleanup.
func Exercise(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	require.NotNil(t, newStore, "storetest: newStore is nil")

	var groups []string
	byGroup := map[string][]testCase{}
	for _, list := range [][]testCase{
		eventTypeCases,
		endpointCases,
		eventCases,
		claimCases,
		completeCases,
		policyCases,
		healthCases,
		exhaustedCases,
		attemptCases,
		attemptQueryCases,
		messageInsertCases,
		retryCases,
		recoveryCases,
		statsCases,
		purgeCases,
		tenantCases,
		contextCases,
	} {
		for _, c := range list {
			group, _, ok := strings.Cut(c.name, "/")
			if !ok {
				t.Fatalf("storetest: case %q has no group", c.name)
			}
			if _, seen := byGroup[group]; !seen {
				groups = append(groups, group)
			}
			byGroup[group] = append(byGroup[group], c)
		}
	}

	for _, group := range groups {
		cases := byGroup[group]
		t.Run(group, func(t *testing.T) {
			t.Parallel()
			for _, c := range cases {
				_, name, _ := strings.Cut(c.name, "/")
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					s := newStore(t)
					require.NotNil(t, s, "storetest: newStore returned nil")
					c.fn(t, &fixture{t: t, s: s, ctx: t.Context()})
				})
			}
		})
	}
}

// t0 is the reference time of every case; all test times are derived from it
// with offsets of whole microseconds or more.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// window is the idempotency window used by the fixtures.
const window = time.Hour

// Tenants used by the cases.
const (
	tenantA = "tenant_a"
	tenantB = "tenant_b"
)

// fixture bundles a store with the subtest driving it.
type fixture struct {
	t   *testing.T
	s   store.Store
	ctx context.Context
}

// cancelled returns a context that is already cancelled.
func (f *fixture) cancelled() context.Context {
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	return ctx
}

// ---------------------------------------------------------------------------
// Record builders.

func newEventType(name string) *store.EventType {
	return &store.EventType{
		Name:        name,
		Description: "Sent when " + name + " happens.",
		CreatedAt:   t0,
		UpdatedAt:   t0.Add(1500 * time.Microsecond),
	}
}

// newEndpoint returns an enabled endpoint with every field set.
func newEndpoint(tenant, id string) *store.Endpoint {
	return &store.Endpoint{
		ID:          id,
		TenantID:    tenant,
		URL:         "https://hooks.example.com/" + tenant + "/" + id,
		Method:      "POST",
		Description: "endpoint " + id,
		EventTypes:  []string{"invoice.paid", "invoice.voided"},
		Labels:      map[string]string{"env": "test", "tenant": tenant},
		Headers:     map[string]string{"X-Custom": "1", "X-Other": "two"},
		Metadata:    map[string]string{"owner": "team-a"},
		Enabled:     true,
		// RateLimit and RateBurst are only kept by stores; MaxInFlight and
		// FIFO change claiming and are set by the cases that need them.
		RateLimit: 12.5,
		RateBurst: 20,
		Secrets: []store.Secret{
			{Value: "whsec_Y3VycmVudC1zZWNyZXQ=", CreatedAt: t0.Add(time.Hour)},
			{
				Value:     "whsec_cHJldmlvdXMtc2VjcmV0",
				CreatedAt: t0.Add(-24 * time.Hour),
				ExpiresAt: t0.Add(25*time.Hour + 123456*time.Microsecond),
			},
		},
		CreatedAt: t0.Add(-time.Hour + 250*time.Microsecond),
		UpdatedAt: t0.Add(-time.Minute + 999999*time.Microsecond),
	}
}

// createEndpoint stores newEndpoint(tenant, id) and returns it.
func (f *fixture) createEndpoint(tenant, id string) *store.Endpoint {
	f.t.Helper()
	e := newEndpoint(tenant, id)
	require.NoError(f.t, f.s.EndpointCreate(f.ctx, e), "EndpointCreate(%s, %s)", tenant, id)
	return e
}

// createEndpointWith stores newEndpoint(tenant, id) changed by edit and
// returns it.
func (f *fixture) createEndpointWith(tenant, id string, edit func(e *store.Endpoint)) *store.Endpoint {
	f.t.Helper()
	e := newEndpoint(tenant, id)
	edit(e)
	require.NoError(f.t, f.s.EndpointCreate(f.ctx, e), "EndpointCreate(%s, %s)", tenant, id)
	return e
}

// updateEndpoint reads the stored endpoint, changes it with edit and stores
// it at now; it returns the endpoint as stored.
func (f *fixture) updateEndpoint(tenant, id string, now time.Time, edit func(e *store.Endpoint)) *store.Endpoint {
	f.t.Helper()
	e, err := f.s.EndpointGet(f.ctx, tenant, id)
	require.NoError(f.t, err, "EndpointGet(%s, %s)", tenant, id)
	edit(e)
	require.NoError(f.t, f.s.EndpointUpdate(f.ctx, e, now), "EndpointUpdate(%s, %s)", tenant, id)
	return e
}

// msg describes one message of an event built by newEvent.
type msg struct {
	id       string
	endpoint string
	due      time.Time // zero means the publish time
}

// newEvent builds an event published at now and its pending messages, with
// Event.Messages filled as the root package does before inserting.
func newEvent(tenant, id, key string, now time.Time, msgs ...msg) (*store.Event, []*store.Message) {
	ev := &store.Event{
		Key:         key,
		TenantID:    tenant,
		ID:          id,
		Type:        "invoice.paid",
		ContentType: "application/json",
		Labels:      map[string]string{"region": "eu", "key": key},
		OccurredAt:  now.Add(-time.Minute + 42*time.Microsecond),
		CreatedAt:   now,
		Payload:     fmt.Appendf(nil, `{"id":%q,"key":%q,"amount":4200}`, id, key),
	}
	out := make([]*store.Message, 0, len(msgs))
	for _, m := range msgs {
		due := m.due
		if due.IsZero() {
			due = now
		}
		ev.Messages = append(ev.Messages, store.MessageRef{MessageID: m.id, EndpointID: m.endpoint})
		out = append(out, &store.Message{
			ID:            m.id,
			TenantID:      tenant,
			EndpointID:    m.endpoint,
			EventID:       id,
			EventKey:      key,
			Status:        store.StatusPending,
			NextAttemptAt: due,
			CreatedAt:     now,
			UpdatedAt:     now,
		})
	}
	return ev, out
}

// insert calls EventInsert with the suite's idempotency window.
func (f *fixture) insert(ev *store.Event, msgs []*store.Message, now time.Time) store.EventInsertResult {
	f.t.Helper()
	in := *ev
	in.Messages = nil // the store lists them from msgs
	res, err := f.s.EventInsert(f.ctx, store.EventInsertParams{
		Event:             &in,
		Messages:          msgs,
		IdempotencyWindow: window,
		Now:               now,
	})
	require.NoError(f.t, err, "EventInsert(%s, %s)", ev.TenantID, ev.ID)
	require.NotNil(f.t, res.Event, "EventInsert returned no event")
	return res
}

// publish builds and inserts a new (non-duplicate) event.
func (f *fixture) publish(tenant, id, key string, now time.Time, msgs ...msg) (*store.Event, []*store.Message) {
	f.t.Helper()
	ev, out := newEvent(tenant, id, key, now, msgs...)
	res := f.insert(ev, out, now)
	require.False(f.t, res.Duplicate, "EventInsert(%s, %s) reported a duplicate", tenant, id)
	return ev, out
}

// claim calls MessageClaim without a cap or Admit and fails the test on error.
func (f *fixture) claim(now, leaseUntil time.Time, limit int) store.MessageClaimResult {
	f.t.Helper()
	return f.claimWith(store.MessageClaimParams{Now: now, LeaseUntil: leaseUntil, Limit: limit})
}

// claimWith calls MessageClaim with p and fails the test on error.
func (f *fixture) claimWith(p store.MessageClaimParams) store.MessageClaimResult {
	f.t.Helper()
	res, err := f.s.MessageClaim(f.ctx, p)
	require.NoError(f.t, err, "MessageClaim(now=%s)", p.Now)
	for i, c := range res.Claims {
		require.NotNil(f.t, c.Message, "claim %d has no message", i)
		require.Equal(f.t, store.StatusDelivering, c.Message.Status, "claim %d", i)
	}
	return res
}

// claimsFor returns the IDs of the messages claimed for endpoint, sorted.
func claimsFor(res store.MessageClaimResult, endpoint string) []string {
	var ids []string
	for _, c := range res.Claims {
		if c.Message.EndpointID == endpoint {
			ids = append(ids, c.Message.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// requireNoSpin asserts that res.NextDue does not ask for another claim at
// now or before: nothing claimable is left at now.
func requireNoSpin(t *testing.T, res store.MessageClaimResult, now time.Time, msgAndArgs ...any) {
	t.Helper()
	require.True(t, res.NextDue.IsZero() || res.NextDue.After(now),
		"NextDue %s is not after now %s: a dispatcher would claim again at once (%s)",
		res.NextDue, now, fmt.Sprint(msgAndArgs...))
}

// admitCall is one call of an Admit function.
type admitCall struct {
	ep   *store.Endpoint
	want int
}

// admitLog records the calls of the Admit functions it makes. Stores may call
// Admit from any goroutine, so it locks.
type admitLog struct {
	mu    sync.Mutex
	calls []admitCall
}

// admit returns an Admit function that records its calls and accepts n of
// the offered messages (all of them when n < 0) with notBefore.
func (l *admitLog) admit(n int, notBefore time.Time) func(ep *store.Endpoint, want int) (int, time.Time) {
	return func(ep *store.Endpoint, want int) (int, time.Time) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.calls = append(l.calls, admitCall{ep: ep, want: want})
		if n < 0 {
			return want, notBefore
		}
		return n, notBefore
	}
}

// take returns the calls recorded since the last take.
func (l *admitLog) take() []admitCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	calls := l.calls
	l.calls = nil
	return calls
}

// wants returns the want of each recorded call for endpoint, and clears
// every recorded call.
func (l *admitLog) wants(endpoint string) []int {
	var out []int
	for _, c := range l.take() {
		if c.ep.ID == endpoint {
			out = append(out, c.want)
		}
	}
	return out
}

// claimIDs returns the IDs of claimed messages, sorted.
func claimIDs(res store.MessageClaimResult) []string {
	ids := make([]string, 0, len(res.Claims))
	for _, c := range res.Claims {
		ids = append(ids, c.Message.ID)
	}
	slices.Sort(ids)
	return ids
}

// claimOf returns the claim of message id, failing when it is absent.
func claimOf(t *testing.T, res store.MessageClaimResult, id string) store.Claim {
	t.Helper()
	for _, c := range res.Claims {
		if c.Message.ID == id {
			return c
		}
	}
	require.Failf(t, "message not claimed", "message %s missing from claim %v", id, claimIDs(res))
	return store.Claim{}
}

// getMessage calls MessageGet and fails the test on error.
func (f *fixture) getMessage(tenant, id string) *store.Message {
	f.t.Helper()
	m, err := f.s.MessageGet(f.ctx, tenant, id)
	require.NoError(f.t, err, "MessageGet(%s, %s)", tenant, id)
	require.NotNil(f.t, m)
	return m
}

// complete calls MessageComplete and fails the test on error.
func (f *fixture) complete(p store.MessageCompleteParams) {
	f.t.Helper()
	require.NoError(f.t, f.s.MessageComplete(f.ctx, p), "MessageComplete(%s, %s)", p.MessageID, p.Status)
}

// finish completes claim c with status at now. When attID is not empty it
// records an attempt with that ID (numbered after the message's attempts);
// next is the NextAttemptAt of StatusFailing and StatusPending.
func (f *fixture) finish(c store.Claim, status store.MessageStatus, attID string, now, next time.Time) {
	f.t.Helper()
	p := store.MessageCompleteParams{
		MessageID: c.Message.ID, LeaseToken: c.Message.LeaseToken,
		Status: status, NextAttemptAt: next, Now: now,
	}
	if attID != "" {
		p.Attempt = newAttempt(attID, c, c.Message.Attempts+1, now.Add(-time.Millisecond))
		if status == store.StatusSucceeded {
			p.Attempt.StatusCode, p.Attempt.ErrorClass, p.Attempt.Error = 200, store.ErrorNone, ""
		}
	}
	f.complete(p)
}

// newAttempt returns an attempt of the claimed message with every field set.
func newAttempt(id string, c store.Claim, number int, startedAt time.Time) *store.Attempt {
	m := c.Message
	return &store.Attempt{
		ID:         id,
		TenantID:   m.TenantID,
		MessageID:  m.ID,
		EndpointID: m.EndpointID,
		EventID:    m.EventID,
		Number:     number,
		Trigger:    store.TriggerScheduled,
		StartedAt:  startedAt,
		Duration:   1234567 * time.Microsecond,
		URL:        "https://hooks.example.com/" + m.EndpointID,
		RequestHeaders: map[string][]string{
			"Content-Type":      {"application/json"},
			"Webhook-Id":        {m.EventID},
			"Webhook-Signature": {"[redacted]"},
		},
		StatusCode: 503,
		ResponseHeaders: map[string][]string{
			"Retry-After": {"30"},
			"Set-Cookie":  {"a=1", "b=2"},
		},
		ResponseBody:      []byte("upstream unavailable\x00\xff"),
		ResponseTruncated: true,
		ErrorClass:        store.ErrorHTTPStatus,
		Error:             "status 503",
	}
}

// attemptPage calls AttemptList once and fails the test on error. It checks
// that the page holds no more than its limit, only the tenant's attempts,
// and bodies only when asked for.
func (f *fixture) attemptPage(tenant string, p store.AttemptListParams) store.AttemptPage {
	f.t.Helper()
	page, err := f.s.AttemptList(f.ctx, tenant, p)
	require.NoError(f.t, err, "AttemptList(%s, %+v)", tenant, p)
	require.LessOrEqual(f.t, len(page.Attempts), store.PageLimit(p.Limit), "AttemptList(%s, %+v): page larger than its limit", tenant, p)
	for _, a := range page.Attempts {
		require.NotNil(f.t, a)
		require.Equal(f.t, tenant, a.TenantID, "AttemptList(%s) returned %s of another tenant", tenant, a.ID)
		if !p.WithBodies {
			require.Empty(f.t, a.ResponseBody, "AttemptList(%s) returned the body of %s without WithBodies", tenant, a.ID)
		}
	}
	return page
}

// attemptList follows AttemptList's Next from p.Cursor to the end and returns
// every attempt listed.
func (f *fixture) attemptList(tenant string, p store.AttemptListParams) []*store.Attempt {
	f.t.Helper()
	var out []*store.Attempt
	for calls := 0; ; calls++ {
		require.Less(f.t, calls, 100000, "AttemptList(%s, %+v) did not end", tenant, p)
		page := f.attemptPage(tenant, p)
		out = append(out, page.Attempts...)
		if page.Next == "" {
			return out
		}
		require.NotEqual(f.t, p.Cursor, page.Next, "AttemptList(%s, %+v): Next does not move", tenant, p)
		p.Cursor = page.Next
	}
}

// withoutBody returns a copy of a without its response body, as AttemptList
// returns it unless WithBodies is set.
func withoutBody(a *store.Attempt) *store.Attempt {
	c := *a
	c.ResponseBody = nil
	return &c
}

// ---------------------------------------------------------------------------
// Pagination.

// pages walks a paginated list from the start with the given page size and
// returns the keys of every item in the order visited. page returns the
// items after (or before) the cursor; key names an item.
func pages[T any](t *testing.T, limit, max int, page func(cursor string, limit int) []T, key func(T) string) []string {
	t.Helper()
	var keys []string
	cursor := ""
	for calls := 0; ; calls++ {
		require.LessOrEqual(t, calls, max+1, "pagination did not end after %d pages (limit %d): %v", calls, limit, keys)
		items := page(cursor, limit)
		require.LessOrEqual(t, len(items), limit, "page after %q is larger than the limit", cursor)
		if len(items) == 0 {
			return keys
		}
		for _, it := range items {
			keys = append(keys, key(it))
		}
		cursor = key(items[len(items)-1])
	}
}

// ids returns the IDs formatted by format for i in [from, to).
func ids(format string, from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf(format, i))
	}
	return out
}

// ---------------------------------------------------------------------------
// Comparison. Records are normalised before require.Equal: times are moved to
// UTC (which also drops the monotonic reading, giving Equal semantics) and
// empty maps, slices and byte slices become nil.

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func normMap[M ~map[K]V, K comparable, V any](m M) M {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

func normSlice[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func normHeaders(h map[string][]string) map[string][]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string][]string, len(h))
	for k, v := range h {
		out[k] = normSlice(v)
	}
	return out
}

func normEventType(e *store.EventType) *store.EventType {
	if e == nil {
		return nil
	}
	c := *e
	c.CreatedAt = normTime(c.CreatedAt)
	c.UpdatedAt = normTime(c.UpdatedAt)
	return &c
}

func normEndpoint(e *store.Endpoint) *store.Endpoint {
	if e == nil {
		return nil
	}
	c := *e
	c.EventTypes = normSlice(c.EventTypes)
	c.RetrySchedule = normSlice(c.RetrySchedule)
	c.Labels = normMap(c.Labels)
	c.Headers = normMap(c.Headers)
	c.Metadata = normMap(c.Metadata)
	c.Secrets = normSlice(c.Secrets)
	for i := range c.Secrets {
		c.Secrets[i].CreatedAt = normTime(c.Secrets[i].CreatedAt)
		c.Secrets[i].ExpiresAt = normTime(c.Secrets[i].ExpiresAt)
	}
	c.CreatedAt = normTime(c.CreatedAt)
	c.UpdatedAt = normTime(c.UpdatedAt)
	return &c
}

func normEvent(e *store.Event) *store.Event {
	if e == nil {
		return nil
	}
	c := *e
	c.Labels = normMap(c.Labels)
	c.OccurredAt = normTime(c.OccurredAt)
	c.CreatedAt = normTime(c.CreatedAt)
	c.Messages = normSlice(c.Messages)
	c.Payload = normSlice(c.Payload)
	return &c
}

func normMessage(m *store.Message) *store.Message {
	if m == nil {
		return nil
	}
	c := *m
	c.NextAttemptAt = normTime(c.NextAttemptAt)
	c.CreatedAt = normTime(c.CreatedAt)
	c.UpdatedAt = normTime(c.UpdatedAt)
	return &c
}

func normAttempt(a *store.Attempt) *store.Attempt {
	if a == nil {
		return nil
	}
	c := *a
	c.StartedAt = normTime(c.StartedAt)
	c.RequestHeaders = normHeaders(c.RequestHeaders)
	c.ResponseHeaders = normHeaders(c.ResponseHeaders)
	c.ResponseBody = normSlice(c.ResponseBody)
	return &c
}

func normHealth(h store.EndpointHealth) store.EndpointHealth {
	return store.EndpointHealth{
		LastSuccessAt: normTime(h.LastSuccessAt),
		LastFailureAt: normTime(h.LastFailureAt),
		FailingSince:  normTime(h.FailingSince),
	}
}

func requireHealth(t *testing.T, want, got store.EndpointHealth, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, normHealth(want), normHealth(got), msgAndArgs...)
}

func requireEventType(t *testing.T, want, got *store.EventType, msgAndArgs ...any) {
	t.Helper()
	require.NotNil(t, got, msgAndArgs...)
	require.Equal(t, normEventType(want), normEventType(got), msgAndArgs...)
}

func requireEndpoint(t *testing.T, want, got *store.Endpoint, msgAndArgs ...any) {
	t.Helper()
	require.NotNil(t, got, msgAndArgs...)
	require.Equal(t, normEndpoint(want), normEndpoint(got), msgAndArgs...)
}

func requireEvent(t *testing.T, want, got *store.Event, msgAndArgs ...any) {
	t.Helper()
	require.NotNil(t, got, msgAndArgs...)
	require.Equal(t, normEvent(want), normEvent(got), msgAndArgs...)
}

// requireMessage asserts that got is want. A want without a Seq (built by
// the suite rather than read from the store) matches any Seq: the store
// assigns it, and need not write it back into EventInsert's arguments.
func requireMessage(t *testing.T, want, got *store.Message, msgAndArgs ...any) {
	t.Helper()
	require.NotNil(t, got, msgAndArgs...)
	w := normMessage(want)
	if w.Seq == 0 {
		w.Seq = got.Seq
	}
	require.Equal(t, w, normMessage(got), msgAndArgs...)
}

func requireAttempt(t *testing.T, want, got *store.Attempt, msgAndArgs ...any) {
	t.Helper()
	require.NotNil(t, got, msgAndArgs...)
	require.Equal(t, normAttempt(want), normAttempt(got), msgAndArgs...)
}

// requireTime asserts that got is the same instant as want.
func requireTime(t *testing.T, want, got time.Time, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, normTime(want), normTime(got), msgAndArgs...)
}

// errorIsAny reports whether err matches one of targets.
func errorIsAny(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
