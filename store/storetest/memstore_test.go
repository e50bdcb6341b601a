package storetest

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hooksmith/webhook/store"
)

// memStore is a minimal in-memory reference implementation of store.Store.
// It exists only to validate the conformance suite itself.
type memStore struct {
	mu         sync.Mutex
	eventTypes map[string]*store.EventType
	endpoints  map[string]*store.Endpoint // by ID
	events     map[string]*store.Event    // by Key
	latest     map[[2]string]string       // (tenant, event ID) -> Key
	created    map[string]time.Time       // Key -> insert time (p.Now)
	messages   map[string]*store.Message  // by ID
	attempts   map[string]*store.Attempt  // by ID
	leaseSeq   uint64
}

var _ store.Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{
		eventTypes: map[string]*store.EventType{},
		endpoints:  map[string]*store.Endpoint{},
		events:     map[string]*store.Event{},
		latest:     map[[2]string]string{},
		created:    map[string]time.Time{},
		messages:   map[string]*store.Message{},
		attempts:   map[string]*store.Attempt{},
	}
}

func cloneEventType(e *store.EventType) *store.EventType { c := *e; return &c }

func cloneEndpoint(e *store.Endpoint) *store.Endpoint {
	c := *e
	c.EventTypes = slices.Clone(e.EventTypes)
	c.Labels = maps.Clone(e.Labels)
	c.Headers = maps.Clone(e.Headers)
	c.Metadata = maps.Clone(e.Metadata)
	c.Secrets = slices.Clone(e.Secrets)
	return &c
}

func cloneEvent(e *store.Event) *store.Event {
	c := *e
	c.Labels = maps.Clone(e.Labels)
	c.Messages = slices.Clone(e.Messages)
	c.Payload = slices.Clone(e.Payload)
	return &c
}

func cloneMessage(m *store.Message) *store.Message { c := *m; return &c }

func cloneHeaders(h map[string][]string) map[string][]string {
	if h == nil {
		return nil
	}
	out := make(map[string][]string, len(h))
	for k, v := range h {
		out[k] = slices.Clone(v)
	}
	return out
}

func cloneAttempt(a *store.Attempt) *store.Attempt {
	c := *a
	c.RequestHeaders = cloneHeaders(a.RequestHeaders)
	c.ResponseHeaders = cloneHeaders(a.ResponseHeaders)
	c.ResponseBody = slices.Clone(a.ResponseBody)
	return &c
}

// page returns up to PageLimit(limit) items of sorted after the key after.
func page[T any](sorted []T, key func(T) string, after string, limit int) []T {
	i, _ := slices.BinarySearchFunc(sorted, after, func(it T, k string) int { return cmp.Compare(key(it), k) })
	for i < len(sorted) && key(sorted[i]) <= after {
		i++
	}
	sorted = sorted[i:]
	return sorted[:min(len(sorted), store.PageLimit(limit))]
}

func (s *memStore) EventTypePut(ctx context.Context, t *store.EventType) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eventTypes[t.Name] = cloneEventType(t)
	return nil
}

func (s *memStore) EventTypeGet(ctx context.Context, name string) (*store.EventType, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.eventTypes[name]
	if !ok {
		return nil, store.ErrNotFound
	}
	return cloneEventType(t), nil
}

func (s *memStore) EventTypeList(ctx context.Context, p store.ListParams) ([]*store.EventType, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all := slices.SortedFunc(maps.Values(s.eventTypes), func(a, b *store.EventType) int { return cmp.Compare(a.Name, b.Name) })
	var out []*store.EventType
	for _, t := range page(all, func(t *store.EventType) string { return t.Name }, p.After, p.Limit) {
		out = append(out, cloneEventType(t))
	}
	return out, nil
}

func (s *memStore) EndpointCreate(ctx context.Context, e *store.Endpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.endpoints[e.ID]; ok {
		return store.ErrConflict
	}
	s.endpoints[e.ID] = cloneEndpoint(e)
	return nil
}

func (s *memStore) endpoint(tenantID, id string) (*store.Endpoint, bool) {
	e, ok := s.endpoints[id]
	if !ok || e.TenantID != tenantID {
		return nil, false
	}
	return e, true
}

func (s *memStore) EndpointGet(ctx context.Context, tenantID, id string) (*store.Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.endpoint(tenantID, id)
	if !ok {
		return nil, store.ErrNotFound
	}
	return cloneEndpoint(e), nil
}

func (s *memStore) tenantEndpoints(tenantID string) []*store.Endpoint {
	var all []*store.Endpoint
	for _, e := range s.endpoints {
		if e.TenantID == tenantID {
			all = append(all, e)
		}
	}
	slices.SortFunc(all, func(a, b *store.Endpoint) int { return cmp.Compare(a.ID, b.ID) })
	return all
}

func (s *memStore) EndpointList(ctx context.Context, tenantID string, p store.ListParams) ([]*store.Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*store.Endpoint
	for _, e := range page(s.tenantEndpoints(tenantID), func(e *store.Endpoint) string { return e.ID }, p.After, p.Limit) {
		out = append(out, cloneEndpoint(e))
	}
	return out, nil
}

func (s *memStore) EndpointScan(ctx context.Context, p store.EndpointScanParams) ([]*store.Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*store.Endpoint
	for _, e := range s.endpoints {
		if cmp.Or(cmp.Compare(e.TenantID, p.AfterTenant), cmp.Compare(e.ID, p.AfterID)) > 0 {
			all = append(all, cloneEndpoint(e))
		}
	}
	slices.SortFunc(all, func(a, b *store.Endpoint) int {
		return cmp.Or(cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.ID, b.ID))
	})
	return all[:min(len(all), store.PageLimit(p.Limit))], nil
}

func (s *memStore) EndpointListAll(ctx context.Context, tenantID string) ([]*store.Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*store.Endpoint
	for _, e := range s.tenantEndpoints(tenantID) {
		out = append(out, cloneEndpoint(e))
	}
	return out, nil
}

func (s *memStore) EndpointUpdate(ctx context.Context, e *store.Endpoint, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.endpoint(e.TenantID, e.ID)
	if !ok {
		return store.ErrNotFound
	}
	if !old.UpdatedAt.Equal(e.UpdatedAt) {
		return store.ErrConflict
	}
	e.UpdatedAt = now
	if !old.Enabled && e.Enabled {
		for _, m := range s.messages {
			if m.EndpointID == e.ID && (m.Status == store.StatusPending || m.Status == store.StatusFailing) && m.NextAttemptAt.Before(now) {
				m.NextAttemptAt = now
			}
		}
	}
	s.endpoints[e.ID] = cloneEndpoint(e)
	return nil
}

func (s *memStore) EndpointDelete(ctx context.Context, tenantID, id string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.endpoint(tenantID, id); !ok {
		return store.ErrNotFound
	}
	delete(s.endpoints, id)
	for _, m := range s.messages {
		if m.EndpointID == id && (m.Status == store.StatusPending || m.Status == store.StatusFailing) {
			cancelMessage(m, now)
		}
	}
	return nil
}

func cancelMessage(m *store.Message, now time.Time) {
	m.Status = store.StatusCancelled
	m.NextAttemptAt = time.Time{}
	m.LeaseToken = 0
	m.UpdatedAt = now
}

func (s *memStore) EventInsert(ctx context.Context, p store.EventInsertParams) (store.EventInsertResult, error) {
	if err := ctx.Err(); err != nil {
		return store.EventInsertResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := p.Event
	if key, ok := s.latest[[2]string{ev.TenantID, ev.ID}]; ok && s.created[key].After(p.Now.Add(-p.IdempotencyWindow)) {
		return store.EventInsertResult{Event: cloneEvent(s.events[key]), Duplicate: true}, nil
	}
	if _, ok := s.events[ev.Key]; ok {
		return store.EventInsertResult{}, store.ErrConflict
	}
	for _, m := range p.Messages {
		if _, ok := s.messages[m.ID]; ok {
			return store.EventInsertResult{}, store.ErrConflict
		}
	}
	s.events[ev.Key] = cloneEvent(ev)
	s.created[ev.Key] = p.Now
	s.latest[[2]string{ev.TenantID, ev.ID}] = ev.Key
	for _, m := range p.Messages {
		s.messages[m.ID] = cloneMessage(m)
	}
	return store.EventInsertResult{Event: cloneEvent(ev)}, nil
}

func (s *memStore) EventGet(ctx context.Context, tenantID, id string) (*store.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.latest[[2]string{tenantID, id}]
	if !ok {
		return nil, store.ErrNotFound
	}
	return cloneEvent(s.events[key]), nil
}

func (s *memStore) MessageGet(ctx context.Context, tenantID, id string) (*store.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[id]
	if !ok || m.TenantID != tenantID {
		return nil, store.ErrNotFound
	}
	return cloneMessage(m), nil
}

func live(m *store.Message) bool {
	return m.Status == store.StatusPending || m.Status == store.StatusFailing || m.Status == store.StatusDelivering
}

func (s *memStore) MessageClaim(ctx context.Context, p store.MessageClaimParams) (store.MessageClaimResult, error) {
	if err := ctx.Err(); err != nil {
		return store.MessageClaimResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []*store.Message
	for _, m := range s.messages {
		if live(m) && !m.NextAttemptAt.After(p.Now) {
			due = append(due, m)
		}
	}
	slices.SortFunc(due, func(a, b *store.Message) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	var res store.MessageClaimResult
	for _, m := range due {
		if len(res.Claims) == max(p.Limit, 1) {
			break
		}
		ep, ok := s.endpoints[m.EndpointID]
		if !ok {
			cancelMessage(m, p.Now)
			continue
		}
		if !ep.Enabled {
			continue // parked until the endpoint is enabled
		}
		s.leaseSeq++
		m.Status = store.StatusDelivering
		m.NextAttemptAt = p.LeaseUntil
		m.LeaseToken = s.leaseSeq
		m.UpdatedAt = p.Now
		res.Claims = append(res.Claims, store.Claim{
			Message:  cloneMessage(m),
			Event:    cloneEvent(s.events[m.EventKey]),
			Endpoint: cloneEndpoint(ep),
		})
	}
	for _, m := range s.messages {
		if ep, ok := s.endpoints[m.EndpointID]; !ok || !ep.Enabled || !live(m) {
			continue
		}
		if res.NextDue.IsZero() || m.NextAttemptAt.Before(res.NextDue) {
			res.NextDue = m.NextAttemptAt
		}
	}
	return res, nil
}

func (s *memStore) MessageComplete(ctx context.Context, p store.MessageCompleteParams) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[p.MessageID]
	if !ok {
		return store.ErrNotFound
	}
	if m.Status != store.StatusDelivering || p.LeaseToken == 0 || m.LeaseToken != p.LeaseToken {
		return store.ErrLeaseLost
	}
	if p.Attempt != nil {
		if _, ok := s.attempts[p.Attempt.ID]; ok {
			return store.ErrConflict
		}
		s.attempts[p.Attempt.ID] = cloneAttempt(p.Attempt)
		m.Attempts++
	}
	m.Status = p.Status
	m.LeaseToken = 0
	m.UpdatedAt = p.Now
	m.NextAttemptAt = time.Time{}
	if p.Status == store.StatusFailing || p.Status == store.StatusPending {
		m.NextAttemptAt = p.NextAttemptAt
	}
	return nil
}

func (s *memStore) AttemptList(ctx context.Context, tenantID string, p store.AttemptListParams) ([]*store.Attempt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*store.Attempt
	for _, a := range s.attempts {
		if a.TenantID != tenantID ||
			(p.MessageID != "" && a.MessageID != p.MessageID) ||
			(p.EndpointID != "" && a.EndpointID != p.EndpointID) ||
			(p.Before != "" && a.ID >= p.Before) {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *store.Attempt) int { return cmp.Compare(b.ID, a.ID) })
	out = out[:min(len(out), store.PageLimit(p.Limit))]
	for i, a := range out {
		out[i] = cloneAttempt(a)
	}
	return out, nil
}
