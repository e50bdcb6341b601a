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
