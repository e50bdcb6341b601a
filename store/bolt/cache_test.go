package bolt_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
	"github.com/hooksmith/webhook/store/bolt"
)

// described renders a tenant's endpoints as ID → description, enabled.
func described(eps []*store.Endpoint) map[string]string {
	out := map[string]string{}
	for _, e := range eps {
		out[e.ID] = fmt.Sprintf("%s %v", e.Description, e.Enabled)
	}
	return out
}

// The route cache must never serve a tenant's endpoints from before a write
// that has returned, whatever readers do meanwhile. A cache of 4 records
// for 3 tenants of up to 3 endpoints also makes entries evict each other.
func TestRouteCache_reads_see_every_endpoint_write_that_returned(t *testing.T) {
	t.Parallel()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "webhook.db"), &bolt.Options{NoSync: true, RouteCacheSize: 4})
	require.NoError(t, err)
	defer s.Close()

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.EndpointListAll(ctx, fmt.Sprintf("t%d", (i+r)%3))
				require.NoError(t, err)
			}
		})
	}
	var writers sync.WaitGroup
	for w := range 3 {
		tenant := fmt.Sprintf("t%d", w)
		writers.Go(func() {
			want := map[string]string{}
			check := func(step string) {
				got, err := s.EndpointListAll(ctx, tenant)
				require.NoError(t, err)
				require.Equal(t, want, described(got), "%s after %s", tenant, step)
			}
			eps := map[string]*store.Endpoint{}
			for i := range 60 {
				id := fmt.Sprintf("ep_%s_%d", tenant, i%3)
				now := t0.Add(time.Duration(i) * time.Second)
				switch e := eps[id]; {
				case e == nil:
					e = &store.Endpoint{ID: id, TenantID: tenant, URL: "https://e.example/", Method: "POST",
						Enabled: true, Description: fmt.Sprint("v", i), CreatedAt: now, UpdatedAt: now}
					require.NoError(t, s.EndpointCreate(ctx, e))
					eps[id] = e
				case i%5 == 0:
					require.NoError(t, s.EndpointDelete(ctx, tenant, id, now))
					delete(eps, id)
					delete(want, id)
					check("delete " + id)
					continue
				default:
					e.Description, e.Enabled = fmt.Sprint("v", i), i%2 == 0
					require.NoError(t, s.EndpointUpdate(ctx, e, now))
				}
				want[id] = fmt.Sprintf("%s %v", eps[id].Description, eps[id].Enabled)
				check("write " + id)
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
}

func TestRouteCache_EventTypeGet_returns_a_copy_and_sees_puts(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	require.NoError(t, s.EventTypePut(ctx, &store.EventType{Name: "a.b", Description: "one", CreatedAt: t0, UpdatedAt: t0}))
	got, err := s.EventTypeGet(ctx, "a.b")
	require.NoError(t, err)
	got.Description = "changed by the caller"
	again, err := s.EventTypeGet(ctx, "a.b")
	require.NoError(t, err)
	require.Equal(t, "one", again.Description, "a caller's change does not reach the cache")

	require.NoError(t, s.EventTypePut(ctx, &store.EventType{Name: "a.b", Description: "two", Archived: true, CreatedAt: t0, UpdatedAt: t0}))
	again, err = s.EventTypeGet(ctx, "a.b")
	require.NoError(t, err)
	require.Equal(t, "two", again.Description)
	require.True(t, again.Archived)
}

func TestRouteCache_cached_reads_fail_after_Close(t *testing.T) {
	t.Parallel()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "webhook.db"), nil)
	require.NoError(t, err)
	require.NoError(t, s.EndpointCreate(ctx, &store.Endpoint{ID: "ep_1", TenantID: "acme", URL: "https://e.example/", Method: "POST", Enabled: true}))
	require.NoError(t, s.EventTypePut(ctx, &store.EventType{Name: "a.b"}))
	_, err = s.EndpointListAll(ctx, "acme") // fills the cache
	require.NoError(t, err)
	_, err = s.EventTypeGet(ctx, "a.b")
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.EndpointListAll(ctx, "acme")
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = s.EventTypeGet(ctx, "a.b")
	require.ErrorIs(t, err, store.ErrClosed)
}
