package bolt

import (
	"bytes"
	"hash/maphash"
	"sync"

	"github.com/hooksmith/webhook/store"
)

// routeCache keeps what every Publish reads, a tenant's decoded endpoints
// and the event-type catalogue, so a publish does not decode a tenant's
// endpoint records each time. It stays exact because this store is the
// file's only writer: each write of an endpoint or event type bumps a
// generation after it commits, and an entry filled under an older
// generation is never served. A reader that raced the write may store an
// entry from before it; the bump has made that entry stale already, or
// will when it lands.
type routeCache struct {
	mu      sync.Mutex
	seed    maphash.Seed
	gens    [256]uint64 // per tenant hash; bumped by endpoint writes
	tenants map[string]routeEntry
	held    int // weight of the entries: endpoints, at least 1 per tenant
	limit   int

	typesGen uint64
	types    map[string]typeEntry
}

type routeEntry struct {
	gen uint64
	eps []*store.Endpoint
}

type typeEntry struct {
	gen uint64
	t   store.EventType
}

// maxCachedTypes bounds the catalogue entries held.
const maxCachedTypes = 4096

func newRouteCache(limit int) *routeCache {
	return &routeCache{seed: maphash.MakeSeed(), limit: limit,
		tenants: map[string]routeEntry{}, types: map[string]typeEntry{}}
}

func (c *routeCache) slot(tenantID string) *uint64 {
	return &c.gens[maphash.String(c.seed, tenantID)%uint64(len(c.gens))]
}

// endpoints returns the tenant's cached endpoints, or the generation to
// fill the entry under.
func (c *routeCache) endpoints(tenantID string) ([]*store.Endpoint, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	gen := *c.slot(tenantID)
	if e, ok := c.tenants[tenantID]; ok && e.gen == gen {
		return e.eps, gen, true
	}
	return nil, gen, false
}

// putEndpoints stores what was read under gen unless a write came since.
// A tenant with more endpoints than the whole cache holds is not cached.
func (c *routeCache) putEndpoints(tenantID string, gen uint64, eps []*store.Endpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := weight(eps)
	if *c.slot(tenantID) != gen || w > c.limit {
		return
	}
	c.dropTenant(tenantID)
	for id := range c.tenants { // map order: an arbitrary victim
		if c.held+w <= c.limit {
			break
		}
		c.dropTenant(id)
	}
	c.tenants[tenantID] = routeEntry{gen: gen, eps: eps}
	c.held += w
}

// weight counts a tenant without endpoints as one, so that publishing to
// many such tenants cannot grow the cache past its limit.
func weight(eps []*store.Endpoint) int { return max(len(eps), 1) }

func (c *routeCache) dropTenant(tenantID string) {
	if e, ok := c.tenants[tenantID]; ok {
		c.held -= weight(e.eps)
		delete(c.tenants, tenantID)
	}
}

// endpointsChanged is called after every write of one of the tenant's
// endpoints, whether or not it committed.
func (c *routeCache) endpointsChanged(tenantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.slot(tenantID)++
	c.dropTenant(tenantID)
}

// eventType returns a copy of the cached entry, or the generation to fill
// it under.
func (c *routeCache) eventType(name string) (*store.EventType, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.types[name]; ok && e.gen == c.typesGen {
		t := e.t
		return &t, c.typesGen, true
	}
	return nil, c.typesGen, false
}

func (c *routeCache) putEventType(gen uint64, t *store.EventType) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.typesGen {
		return
	}
	if len(c.types) >= maxCachedTypes {
		clear(c.types)
	}
	c.types[t.Name] = typeEntry{gen: gen, t: *t}
}

func (c *routeCache) eventTypesChanged() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.typesGen++
	clear(c.types)
}

// endpointRecords keeps the endpoints claims decode, each with the record
// bytes it was decoded from: a claim that reads the same bytes again
// reuses the decoded endpoint, which claims hand out for reading only.
// Checked against the record read in the claim's own transaction, an
// entry needs no invalidation. Held to limit entries.
type endpointRecords struct {
	mu    sync.Mutex
	limit int
	m     map[string]endpointRecord // endpoint ID → record
}

type endpointRecord struct {
	raw []byte
	ep  *store.Endpoint
}

func newEndpointRecords(limit int) *endpointRecords {
	return &endpointRecords{limit: limit, m: map[string]endpointRecord{}}
}

// get returns the endpoint decoded from raw, if held.
func (c *endpointRecords) get(id string, raw []byte) *store.Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.m[id]; ok && bytes.Equal(r.raw, raw) {
		return r.ep
	}
	return nil
}

// put holds ep, decoded from raw, which it copies (bbolt's memory is the
// transaction's).
func (c *endpointRecords) put(id string, raw []byte, ep *store.Endpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; !ok && len(c.m) >= c.limit {
		for victim := range c.m { // map order: an arbitrary victim
			delete(c.m, victim)
			break
		}
	}
	c.m[id] = endpointRecord{raw: bytes.Clone(raw), ep: ep}
}
