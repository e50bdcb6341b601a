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

	// Delivery scheduling.
	lastSeq uint64                           // the last Message.Seq assigned
	sched   map[string]*epSched              // by endpoint ID
	health  map[string]*store.EndpointHealth // by endpoint ID
}

// epSched is the scheduling state the store keeps per endpoint. The number of
// its leased messages is not kept: it is counted from the messages.
type epSched struct {
	tenant string
	// ready is when the endpoint is next visited by a claim; zero when it
	// is not in the ready set.
	ready time.Time
	// hold is the notBefore of the endpoint's last Admit.
	hold time.Time
	// blocked: at its cap, or refused by Admit while some message is leased;
	// cleared when one of its leased messages completes or is released.
	blocked bool
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
		sched:      map[string]*epSched{},
		health:     map[string]*store.EndpointHealth{},
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
	e.UpdatedAt = store.NextVersion(old.UpdatedAt, now)
	if !old.Enabled && e.Enabled {
		if h, ok := s.health[e.ID]; ok {
			h.FailingSince = time.Time{}
		}
	}
	s.endpoints[e.ID] = cloneEndpoint(e)
	if st, ok := s.sched[e.ID]; ok {
		st.hold, st.blocked = time.Time{}, false
		st.ready = minReady(st.ready, now)
	}
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
	delete(s.sched, id)
	delete(s.health, id)
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
		m = cloneMessage(m)
		s.lastSeq++
		m.Seq = s.lastSeq
		s.messages[m.ID] = m
		if st := s.schedOf(m); !st.blocked {
			st.ready = minReady(st.ready, later(m.NextAttemptAt, st.hold))
		}
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

func waiting(m *store.Message) bool {
	return m.Status == store.StatusPending || m.Status == store.StatusFailing
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// minReady returns the earlier of two ready times, zero meaning none.
func minReady(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// schedOf returns the scheduling state of m's endpoint, creating it if needed.
func (s *memStore) schedOf(m *store.Message) *epSched {
	st, ok := s.sched[m.EndpointID]
	if !ok {
		st = &epSched{tenant: m.TenantID}
		s.sched[m.EndpointID] = st
	}
	return st
}

// leased counts the endpoint's leased messages.
func (s *memStore) leased(endpointID string) int {
	n := 0
	for _, m := range s.messages {
		if m.EndpointID == endpointID && m.Status == store.StatusDelivering {
			n++
		}
	}
	return n
}

// waitingByDue returns the endpoint's waiting messages, earliest due first
// (ties by message ID).
func (s *memStore) waitingByDue(endpointID string) []*store.Message {
	var out []*store.Message
	for _, m := range s.messages {
		if m.EndpointID == endpointID && waiting(m) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *store.Message) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// fifoHead returns the endpoint's oldest live message in publish order.
func (s *memStore) fifoHead(endpointID string) *store.Message {
	var head *store.Message
	for _, m := range s.messages {
		if m.EndpointID == endpointID && live(m) && (head == nil || m.Seq < head.Seq) {
			head = m
		}
	}
	return head
}

// nextDue is when the endpoint's next message could be offered, ignoring
// holds and caps: its earliest waiting message (for a FIFO endpoint its head,
// if the head is waiting); zero when there is none.
func (s *memStore) nextDue(endpointID string, ep *store.Endpoint) time.Time {
	if ep != nil && ep.FIFO {
		if head := s.fifoHead(endpointID); head != nil && waiting(head) {
			return head.NextAttemptAt
		}
		return time.Time{}
	}
	if w := s.waitingByDue(endpointID); len(w) > 0 {
		return w[0].NextAttemptAt
	}
	return time.Time{}
}

// release makes an expired lease wait again at now, or cancels the message
// when its endpoint is gone. Its endpoint then becomes ready as if the message
// had just been published due at now.
func (s *memStore) release(m *store.Message, now time.Time) {
	if _, ok := s.endpoint(m.TenantID, m.EndpointID); !ok {
		cancelMessage(m, now)
		return
	}
	st := s.schedOf(m)
	m.Status = m.WaitingStatus()
	m.LeaseToken = 0
	m.NextAttemptAt = now
	m.UpdatedAt = now
	st.blocked = false
	st.ready = minReady(st.ready, later(now, st.hold))
}

func (s *memStore) MessageClaim(ctx context.Context, p store.MessageClaimParams) (store.MessageClaimResult, error) {
	if err := ctx.Err(); err != nil {
		return store.MessageClaimResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	// Release the leases that ended.
	for _, id := range slices.Sorted(maps.Keys(s.messages)) {
		if m := s.messages[id]; m.Status == store.StatusDelivering && !m.NextAttemptAt.After(p.Now) {
			s.release(m, p.Now)
		}
	}

	// Visit the endpoints ready at p.Now in line, each at most once.
	var res store.MessageClaimResult
	limit := max(p.Limit, 1)
	var line []string
	for id, st := range s.sched {
		if !st.ready.IsZero() && !st.ready.After(p.Now) {
			line = append(line, id)
		}
	}
	slices.SortFunc(line, func(a, b string) int {
		return cmp.Or(s.sched[a].ready.Compare(s.sched[b].ready), cmp.Compare(a, b))
	})
	for _, id := range line {
		if len(res.Claims) == limit {
			break
		}
		res.Claims = s.visit(id, p, limit-len(res.Claims), res.Claims)
	}

	// NextDue: the earliest ready time or lease end.
	for _, st := range s.sched {
		res.NextDue = minReady(res.NextDue, st.ready)
	}
	for _, m := range s.messages {
		if m.Status == store.StatusDelivering {
			res.NextDue = minReady(res.NextDue, m.NextAttemptAt)
		}
	}
	return res, nil
}

// visit offers the endpoint's due messages, up to room of them, and appends
// the claims of those it leases.
func (s *memStore) visit(id string, p store.MessageClaimParams, room int, claims []store.Claim) []store.Claim {
	st := s.sched[id]
	st.ready = time.Time{}
	ep, ok := s.endpoint(st.tenant, id)
	if !ok || !ep.Enabled {
		return claims // a disabled endpoint is made ready again by EndpointUpdate
	}
	leased := s.leased(id)
	limit := ep.Cap(p.DefaultMaxInFlight)
	if limit > 0 && leased >= limit {
		st.blocked = true
		return claims
	}
	if limit > 0 {
		room = min(room, limit-leased)
	}

	var candidates []*store.Message
	if ep.FIFO {
		if head := s.fifoHead(id); head != nil && waiting(head) && !head.NextAttemptAt.After(p.Now) {
			candidates = append(candidates, head)
		}
	} else {
		for _, m := range s.waitingByDue(id) {
			if len(candidates) == room || m.NextAttemptAt.After(p.Now) {
				break
			}
			candidates = append(candidates, m)
		}
	}
	if len(candidates) == 0 {
		st.ready = s.nextDue(id, ep)
		return claims
	}

	n, notBefore := len(candidates), time.Time{}
	if p.Admit != nil {
		n, notBefore = p.Admit(cloneEndpoint(ep), len(candidates))
		n = min(max(n, 0), len(candidates))
	}
	st.hold = notBefore
	if n == 0 && notBefore.IsZero() {
		if leased > 0 {
			st.blocked = true
		} else {
			st.hold = p.Now.Add(time.Second)
		}
	}

	health := s.healthOf(id)
	for _, m := range candidates[:n] {
		s.leaseSeq++
		m.Status = store.StatusDelivering
		m.NextAttemptAt = p.LeaseUntil
		m.LeaseToken = s.leaseSeq
		m.UpdatedAt = p.Now
		leased++
		claims = append(claims, store.Claim{
			Message:  cloneMessage(m),
			Event:    cloneEvent(s.events[m.EventKey]),
			Endpoint: cloneEndpoint(ep),
			Health:   health,
		})
	}

	if st.blocked || (limit > 0 && leased >= limit) {
		st.blocked = true
		return claims
	}
	if t := s.nextDue(id, ep); !t.IsZero() {
		st.ready = later(later(t, st.hold), p.Now)
	}
	return claims
}

func (s *memStore) healthOf(endpointID string) store.EndpointHealth {
	if h, ok := s.health[endpointID]; ok {
		return *h
	}
	return store.EndpointHealth{}
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
	}

	ep, epExists := s.endpoint(m.TenantID, m.EndpointID)
	if p.Attempt != nil {
		s.attempts[p.Attempt.ID] = cloneAttempt(p.Attempt)
		m.Attempts++
		if epExists {
			h, ok := s.health[ep.ID]
			if !ok {
				h = &store.EndpointHealth{}
				s.health[ep.ID] = h
			}
			if p.Status == store.StatusSucceeded {
				h.LastSuccessAt = p.Now
				h.FailingSince = time.Time{}
			} else {
				h.LastFailureAt = p.Now
				if h.FailingSince.IsZero() {
					h.FailingSince = p.Now
				}
			}
		}
	}

	m.LeaseToken = 0
	m.UpdatedAt = p.Now
	switch {
	case !epExists && !p.Status.Final():
		cancelMessage(m, p.Now)
	case p.Status.Final():
		m.Status = p.Status // StatusExhausted puts it on the exhausted list
		m.NextAttemptAt = time.Time{}
	case p.Status == store.StatusPending:
		m.Status = m.WaitingStatus()
		m.NextAttemptAt = p.NextAttemptAt
	default:
		m.Status = p.Status
		m.NextAttemptAt = p.NextAttemptAt
	}

	// The endpoint has a free slot again: it is ready when its next message
	// is due (and Admit's hold is over). A cap lowered meanwhile is checked
	// by the claim that visits it.
	if st, ok := s.sched[m.EndpointID]; ok && epExists {
		st.blocked = false
		st.ready = time.Time{}
		if t := s.nextDue(ep.ID, ep); !t.IsZero() {
			st.ready = later(t, st.hold)
		}
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

func (s *memStore) MessageListExhausted(ctx context.Context, tenantID string, p store.MessageListParams) ([]*store.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*store.Message
	for _, m := range s.messages {
		if m.TenantID != tenantID || m.Status != store.StatusExhausted ||
			(p.EndpointID != "" && m.EndpointID != p.EndpointID) ||
			(p.Before != "" && m.ID >= p.Before) {
			continue
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *store.Message) int { return cmp.Compare(b.ID, a.ID) })
	out = out[:min(len(out), store.PageLimit(p.Limit))]
	for i, m := range out {
		out[i] = cloneMessage(m)
	}
	return out, nil
}
