package bolt

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

func TestRouteCache_stays_within_its_limit_with_tenants_of_no_endpoints(t *testing.T) {
	c := newRouteCache(10)
	for i := range 1000 {
		id := fmt.Sprint("t", i)
		_, gen, _ := c.endpoints(id)
		c.putEndpoints(id, gen, nil)
	}
	require.LessOrEqual(t, len(c.tenants), 10)
	require.Equal(t, len(c.tenants), c.held)

	// A tenant bigger than the cache is not kept, and evicts nobody.
	_, gen, _ := c.endpoints("big")
	c.putEndpoints("big", gen, make([]*store.Endpoint, 11))
	_, _, ok := c.endpoints("big")
	require.False(t, ok)
	require.Len(t, c.tenants, 10)
}

func TestEndpointRecords_serve_an_endpoint_only_for_the_bytes_it_was_decoded_from(t *testing.T) {
	c := newEndpointRecords(2)
	raw := []byte(`{"id":"ep_1","url":"https://a.example/"}`)
	ep := &store.Endpoint{ID: "ep_1", URL: "https://a.example/"}
	c.put("ep_1", raw, ep)
	require.Same(t, ep, c.get("ep_1", []byte(`{"id":"ep_1","url":"https://a.example/"}`)))
	require.Nil(t, c.get("ep_1", []byte(`{"id":"ep_1","url":"https://b.example/"}`)), "rewritten since")
	require.Nil(t, c.get("ep_2", raw), "another endpoint")

	raw[0] = 'x' // bbolt reuses its memory after the transaction
	require.Same(t, ep, c.get("ep_1", []byte(`{"id":"ep_1","url":"https://a.example/"}`)), "put kept a copy")

	for i := range 100 {
		c.put(fmt.Sprint("ep_", i), raw, ep)
	}
	require.Len(t, c.m, 2)
}
