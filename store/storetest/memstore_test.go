package storetest

import (
	"cmp"
	"context"
	"encoding/base64"
	"maps"
	"slices"
	"strings"
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
	events     map[string]*store.Event    // by Key, without Messages
	latest     map[[2]string]string       // (tenant, event ID) -> Key
	created    map[string]time.Time       // Key -> insert time (p.Now)
	eventMsgs  map[string][]string        // Key -> IDs of the event's messages
	messages   map[string]*store.Message  // by ID
	attempts   map[string]*store.Attempt  // by ID
	leaseSeq   uint64

	rollups    map[rollupKey]*rollup
	recoveries map[string]*store.Recovery       // by ID
	settings   map[string]*store.TenantSettings // by tenant ID

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
		eventMsgs:  map[string][]string{},
		messages:   map[string]*store.Message{},
		attempts:   map[string]*store.Attempt{},
		sched:      map[string]*epSched{},
		health:     map[string]*store.EndpointHealth{},
		rollups:    map[rollupKey]*rollup{},
		recoveries: map[string]*store.Recovery{},
		settings:   map[string]*store.TenantSettings{},
	}
}

// rollupKey names the hourly rollup of an endpoint's attempts; hour is the
// Unix time of the start of the hour.
type rollupKey struct {
	tenant, endpoint string
	hour             int64
}

// rollup sums the attempts of one endpoint in one hour.
type rollup struct {
	attempts, successes, failures int64
	latency                       store.Histogram
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
		return store.EventInsertResult{Event: s.eventOf(key), Duplicate: true}, nil
	}
	if _, ok := s.events[ev.Key]; ok {
		return store.EventInsertResult{}, store.ErrConflict
	}
	for _, m := range p.Messages {
		if _, ok := s.messages[m.ID]; ok {
			return store.EventInsertResult{}, store.ErrConflict
		}
	}
	stored := cloneEvent(ev)
	stored.Messages = nil // filled on read from the messages
	s.events[ev.Key] = stored
	s.created[ev.Key] = p.Now
	s.latest[[2]string{ev.TenantID, ev.ID}] = ev.Key
	for _, m := range p.Messages {
		s.addMessage(cloneMessage(m))
	}
	return store.EventInsertResult{Event: s.eventOf(ev.Key)}, nil
}

// addMessage stores a new waiting message at the back of its endpoint's
// queue.
func (s *memStore) addMessage(m *store.Message) {
	s.lastSeq++
	m.Seq = s.lastSeq
	s.messages[m.ID] = m
	s.eventMsgs[m.EventKey] = append(s.eventMsgs[m.EventKey], m.ID)
	if st := s.schedOf(m); !st.blocked {
		st.ready = minReady(st.ready, later(m.NextAttemptAt, st.hold))
	}
}

// eventOf returns a copy of the stored event with key, its Messages filled in
// message ID order.
func (s *memStore) eventOf(key string) *store.Event {
	ev := cloneEvent(s.events[key])
	ev.Messages = nil
	for _, id := range slices.Sorted(slices.Values(s.eventMsgs[key])) {
		ev.Messages = append(ev.Messages, store.MessageRef{MessageID: id, EndpointID: s.messages[id].EndpointID})
	}
	return ev
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
	return s.eventOf(key), nil
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
			Event:    s.eventOf(m.EventKey),
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
		m.Trigger = ""
		s.addToRollup(m, p.Attempt)
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

func (s *memStore) MessageGetMany(ctx context.Context, tenantID string, ids []string) ([]*store.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*store.Message
	for _, id := range ids {
		if m, ok := s.messages[id]; ok && m.TenantID == tenantID {
			out = append(out, cloneMessage(m))
		}
	}
	return out, nil
}

func (s *memStore) MessageInsert(ctx context.Context, p store.MessageInsertParams) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, ok := s.events[p.EventKey]
	if !ok || ev.TenantID != p.TenantID {
		return nil, store.ErrNotFound
	}
	for _, m := range p.Messages {
		if _, ok := s.messages[m.ID]; ok {
			return nil, store.ErrConflict
		}
	}
	has := map[string]bool{}
	for _, id := range s.eventMsgs[p.EventKey] {
		has[s.messages[id].EndpointID] = true
	}
	var out []string
	for _, m := range p.Messages {
		if _, ok := s.endpoint(p.TenantID, m.EndpointID); !ok || has[m.EndpointID] {
			continue
		}
		has[m.EndpointID] = true
		s.addMessage(cloneMessage(m))
		out = append(out, m.ID)
	}
	return out, nil
}

func (s *memStore) MessageRetry(ctx context.Context, p store.MessageRetryParams) ([]store.RetryOutcome, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.RetryOutcome, 0, len(p.MessageIDs))
	for _, id := range p.MessageIDs {
		m, ok := s.messages[id]
		if !ok || m.TenantID != p.TenantID {
			out = append(out, store.RetryNotFound)
			continue
		}
		out = append(out, s.retry(m, p.Trigger, p.Now))
	}
	return out, nil
}

// retry makes m due at now as MessageRetry documents, and says what it did.
func (s *memStore) retry(m *store.Message, trigger store.Trigger, now time.Time) store.RetryOutcome {
	if m.Status == store.StatusDelivering {
		return store.RetryInFlight
	}
	ep, ok := s.endpoint(m.TenantID, m.EndpointID)
	if !ok {
		return store.RetryEndpointDeleted
	}
	if !ep.Enabled {
		return store.RetryEndpointDisabled
	}
	m.RetryBase = m.Attempts
	if m.Status.Final() {
		m.Status = m.WaitingStatus()
		m.LeaseToken = 0
		s.lastSeq++
		m.Seq = s.lastSeq
	}
	m.NextAttemptAt = now
	m.Trigger = trigger
	m.UpdatedAt = now
	if st := s.schedOf(m); !st.blocked {
		st.ready = minReady(st.ready, later(now, st.hold))
	}
	return store.RetryDone
}

func (s *memStore) AttemptGet(ctx context.Context, tenantID, id string) (*store.Attempt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.attempts[id]
	if !ok || a.TenantID != tenantID {
		return nil, store.ErrNotFound
	}
	return cloneAttempt(a), nil
}

func (s *memStore) AttemptList(ctx context.Context, tenantID string, p store.AttemptListParams) (store.AttemptPage, error) {
	if err := ctx.Err(); err != nil {
		return store.AttemptPage{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur position
	if p.Cursor != "" {
		var err error
		if cur, err = decodePosition(p.Cursor); err != nil {
			return store.AttemptPage{}, err
		}
	}

	// The candidates: the tenant's attempts after the cursor, newest first.
	var cands []*store.Attempt
	for _, a := range s.attempts {
		if a.TenantID == tenantID && (p.Cursor == "" || cur.compare(a.StartedAt, a.ID) < 0) {
			cands = append(cands, a)
		}
	}
	slices.SortFunc(cands, func(a, b *store.Attempt) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID))
	})

	var page store.AttemptPage
	limit, examined := store.PageLimit(p.Limit), 0
	for examined < len(cands) && examined < store.MaxAttemptScan && len(page.Attempts) < limit {
		a := cands[examined]
		examined++
		if !s.attemptMatches(a, p) {
			continue
		}
		a = cloneAttempt(a)
		if !p.WithBodies {
			a.ResponseBody = nil
		}
		page.Attempts = append(page.Attempts, a)
	}
	if examined < len(cands) {
		last := cands[examined-1]
		page.Next = position{at: last.StartedAt, id: last.ID}.encode()
	}
	return page, nil
}

// attemptMatches reports whether a matches every filter set in p.
func (s *memStore) attemptMatches(a *store.Attempt, p store.AttemptListParams) bool {
	if (p.MessageID != "" && a.MessageID != p.MessageID) ||
		(p.EndpointID != "" && a.EndpointID != p.EndpointID) ||
		(p.EventID != "" && a.EventID != p.EventID) ||
		(p.StatusClass != store.ClassAny && store.ClassOf(a.StatusCode) != p.StatusClass) ||
		(!p.Since.IsZero() && a.StartedAt.Before(p.Since)) ||
		(!p.Until.IsZero() && !a.StartedAt.Before(p.Until)) {
		return false
	}
	if p.MessageStatus == "" {
		return true
	}
	m, ok := s.messages[a.MessageID]
	return ok && store.MatchesStatus(p.MessageStatus, m.Status, m.Attempts)
}

// addToRollup counts attempt a of message m in its endpoint's hourly rollup.
func (s *memStore) addToRollup(m *store.Message, a *store.Attempt) {
	k := rollupKey{tenant: m.TenantID, endpoint: m.EndpointID, hour: a.StartedAt.Truncate(time.Hour).Unix()}
	r, ok := s.rollups[k]
	if !ok {
		r = &rollup{}
		s.rollups[k] = r
	}
	r.attempts++
	if a.ErrorClass == store.ErrorNone && store.ClassOf(a.StatusCode) == store.Class2xx {
		r.successes++
	} else {
		r.failures++
	}
	r.latency.Add(a.Duration)
}

func (s *memStore) EndpointStats(ctx context.Context, p store.EndpointStatsParams) (store.EndpointStats, error) {
	if err := ctx.Err(); err != nil {
		return store.EndpointStats{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, ok := s.endpoint(p.TenantID, p.EndpointID)
	if !ok {
		return store.EndpointStats{}, store.ErrNotFound
	}
	out := store.EndpointStats{
		Health:   s.healthOf(ep.ID),
		Enabled:  ep.Enabled,
		Disabled: ep.DisabledReason,
	}
	if !p.Since.IsZero() {
		out.Since = p.Since.Truncate(time.Hour)
	}
	if !p.Until.IsZero() {
		out.Until = p.Until.Truncate(time.Hour)
		if out.Until.Before(p.Until) {
			out.Until = out.Until.Add(time.Hour)
		}
	}
	for k, r := range s.rollups {
		hour := time.Unix(k.hour, 0)
		if k.tenant != p.TenantID || k.endpoint != p.EndpointID ||
			(!out.Since.IsZero() && hour.Before(out.Since)) ||
			(!out.Until.IsZero() && !hour.Before(out.Until)) {
			continue
		}
		out.Attempts += r.attempts
		out.Successes += r.successes
		out.Failures += r.failures
		out.Latency.Merge(&r.latency)
	}
	return out, nil
}

func cloneRecovery(r *store.Recovery) *store.Recovery { c := *r; return &c }

func (s *memStore) RecoveryCreate(ctx context.Context, r *store.Recovery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.recoveries[r.ID]; ok {
		return store.ErrConflict
	}
	s.recoveries[r.ID] = cloneRecovery(r)
	return nil
}

func (s *memStore) RecoveryGet(ctx context.Context, tenantID, id string) (*store.Recovery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recoveries[id]
	if !ok || r.TenantID != tenantID {
		return nil, store.ErrNotFound
	}
	return cloneRecovery(r), nil
}

func (s *memStore) RecoveryListUnfinished(ctx context.Context) ([]*store.Recovery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*store.Recovery
	for _, r := range s.recoveries {
		if !r.Done {
			out = append(out, cloneRecovery(r))
		}
	}
	slices.SortFunc(out, func(a, b *store.Recovery) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out[:min(len(out), store.MaxPageSize)], nil
}

func (s *memStore) RecoveryStep(ctx context.Context, tenantID, id string, limit int, now time.Time) (*store.Recovery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recoveries[id]
	if !ok || r.TenantID != tenantID {
		return nil, store.ErrNotFound
	}
	if r.Done {
		return cloneRecovery(r), nil
	}
	cands, err := s.recoveryCandidates(r)
	if err != nil {
		return nil, err
	}
	n := min(store.PageLimit(limit), len(cands))
	for _, m := range cands[:n] {
		r.Scanned++
		if m.Status != store.StatusExhausted && !store.MatchesStatus(store.StatusFailing, m.Status, m.Attempts) {
			continue
		}
		if s.retry(m, store.TriggerReplay, now) == store.RetryDone {
			r.Retried++
		} else {
			r.Skipped++
		}
	}
	if n > 0 {
		last := cands[n-1]
		pos := position{id: last.ID}
		if r.Source == store.RecoverEndpoint {
			pos.at = last.CreatedAt
		}
		r.Cursor = pos.encode()
	}
	r.Done = n == len(cands)
	r.UpdatedAt = now
	return cloneRecovery(r), nil
}

// recoveryCandidates returns the job's candidates after its Cursor, in order:
// for RecoverEndpoint the endpoint's messages created since r.Since by
// (CreatedAt, ID), for RecoverExhausted the exhausted messages by ID.
func (s *memStore) recoveryCandidates(r *store.Recovery) ([]*store.Message, error) {
	var cur position
	if r.Cursor != "" {
		var err error
		if cur, err = decodePosition(r.Cursor); err != nil {
			return nil, err
		}
	}
	var out []*store.Message
	for _, m := range s.messages {
		if m.TenantID != r.TenantID {
			continue
		}
		switch r.Source {
		case store.RecoverEndpoint:
			if m.EndpointID != r.EndpointID || m.CreatedAt.Before(r.Since) ||
				(r.Cursor != "" && cur.compare(m.CreatedAt, m.ID) <= 0) {
				continue
			}
		case store.RecoverExhausted:
			if m.Status != store.StatusExhausted || (r.EndpointID != "" && m.EndpointID != r.EndpointID) ||
				(r.Cursor != "" && m.ID <= cur.id) {
				continue
			}
		default:
			continue
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *store.Message) int {
		if r.Source == store.RecoverEndpoint {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (s *memStore) TenantSettingsPut(ctx context.Context, t *store.TenantSettings) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *t
	s.settings[t.TenantID] = &c
	return nil
}

func (s *memStore) TenantSettingsGet(ctx context.Context, tenantID string) (*store.TenantSettings, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.settings[tenantID]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *t
	return &c, nil
}

func (s *memStore) TenantList(ctx context.Context, p store.ListParams) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, ev := range s.events {
		seen[ev.TenantID] = true
	}
	for k := range s.rollups {
		seen[k.tenant] = true
	}
	all := slices.Sorted(maps.Keys(seen))
	return slices.Clone(page(all, func(id string) string { return id }, p.After, p.Limit)), nil
}

func (s *memStore) Purge(ctx context.Context, p store.PurgeParams) (store.PurgeResult, error) {
	if err := ctx.Err(); err != nil {
		return store.PurgeResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur position
	if p.After != "" {
		var err error
		if cur, err = decodePosition(p.After); err != nil {
			return store.PurgeResult{}, err
		}
	}

	// The candidates: the tenant's events created before p.Before, after
	// the position p.After, in (CreatedAt, Key) order.
	var cands []*store.Event
	for _, ev := range s.events {
		if ev.TenantID == p.TenantID && ev.CreatedAt.Before(p.Before) &&
			(p.After == "" || cur.compare(ev.CreatedAt, ev.Key) > 0) {
			cands = append(cands, ev)
		}
	}
	slices.SortFunc(cands, func(a, b *store.Event) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Key, b.Key))
	})

	var res store.PurgeResult
	n := min(store.PageLimit(p.Limit), len(cands))
	for _, ev := range cands[:n] {
		if s.eventLive(ev.Key) {
			res.Kept++
			continue
		}
		res.Events++
		for _, id := range s.eventMsgs[ev.Key] {
			res.Messages++
			for aid, a := range s.attempts {
				if a.MessageID == id {
					delete(s.attempts, aid)
					res.Attempts++
				}
			}
			delete(s.messages, id)
		}
		s.deleteEvent(ev)
	}
	if n < len(cands) {
		last := cands[n-1]
		res.Next = position{at: last.CreatedAt, id: last.Key}.encode()
	}
	for k := range s.rollups {
		if k.tenant == p.TenantID && !time.Unix(k.hour, 0).Add(time.Hour).After(p.Before) {
			delete(s.rollups, k)
		}
	}
	for id, r := range s.recoveries {
		if r.TenantID == p.TenantID && r.Done && r.CreatedAt.Before(p.Before) {
			delete(s.recoveries, id)
		}
	}
	return res, nil
}

// eventLive reports whether one of the event's messages is live.
func (s *memStore) eventLive(key string) bool {
	return slices.ContainsFunc(s.eventMsgs[key], func(id string) bool { return live(s.messages[id]) })
}

// deleteEvent removes ev; EventGet for its ID then finds the latest other
// publish of that ID, if any is left.
func (s *memStore) deleteEvent(ev *store.Event) {
	delete(s.events, ev.Key)
	delete(s.created, ev.Key)
	delete(s.eventMsgs, ev.Key)
	id := [2]string{ev.TenantID, ev.ID}
	if s.latest[id] != ev.Key {
		return
	}
	delete(s.latest, id)
	for key, other := range s.events {
		if other.TenantID == ev.TenantID && other.ID == ev.ID &&
			(s.latest[id] == "" || s.created[key].After(s.created[s.latest[id]])) {
			s.latest[id] = key
		}
	}
}

// position is a place in a list ordered by (at, id): the store's cursors.
type position struct {
	at time.Time
	id string
}

const positionPrefix = "mem1|"

func (p position) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(positionPrefix + p.at.UTC().Format(time.RFC3339Nano) + "|" + p.id))
}

// decodePosition returns store.ErrInvalidCursor for a cursor encode did not
// make.
func decodePosition(c string) (position, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return position{}, store.ErrInvalidCursor
	}
	rest, ok := strings.CutPrefix(string(b), positionPrefix)
	if !ok {
		return position{}, store.ErrInvalidCursor
	}
	at, id, ok := strings.Cut(rest, "|")
	if !ok {
		return position{}, store.ErrInvalidCursor
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return position{}, store.ErrInvalidCursor
	}
	return position{at: t, id: id}, nil
}

// compare orders (at, id) against p: negative when it comes first.
func (p position) compare(at time.Time, id string) int {
	return cmp.Or(at.Compare(p.at), cmp.Compare(id, p.id))
}
