package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// createInterleaved creates n endpoints ep_0000.. whose IDs interleave
// between tenants A and B (every third one is B's), in a scrambled order,
// and returns each tenant's IDs in ID order.
func (f *fixture) createInterleaved(n int) (a, b []string) {
	f.t.Helper()
	tenant := func(i int) string {
		if i%3 == 1 {
			return tenantB
		}
		return tenantA
	}
	for k := range n {
		i := (k*7 + 2) % n // a permutation when n is not a multiple of 7
		f.createEndpoint(tenant(i), fmt.Sprintf("ep_%04d", i))
	}
	for i := range n {
		id := fmt.Sprintf("ep_%04d", i)
		if tenant(i) == tenantA {
			a = append(a, id)
		} else {
			b = append(b, id)
		}
	}
	return a, b
}

func (f *fixture) endpointIDs(tenant string, p store.ListParams) []string {
	f.t.Helper()
	list, err := f.s.EndpointList(f.ctx, tenant, p)
	require.NoError(f.t, err, "EndpointList(%s, %+v)", tenant, p)
	var out []string
	for _, e := range list {
		require.Equal(f.t, tenant, e.TenantID, "EndpointList(%s) returned %s of another tenant", tenant, e.ID)
		out = append(out, e.ID)
	}
	return out
}

func (f *fixture) requireEndpointMissing(tenant, id string, msgAndArgs ...any) {
	f.t.Helper()
	_, err := f.s.EndpointGet(f.ctx, tenant, id)
	require.ErrorIs(f.t, err, store.ErrNotFound, msgAndArgs...)
}

func (f *fixture) requireEndpointStored(want *store.Endpoint, msgAndArgs ...any) {
	f.t.Helper()
	got, err := f.s.EndpointGet(f.ctx, want.TenantID, want.ID)
	require.NoError(f.t, err, msgAndArgs...)
	requireEndpoint(f.t, want, got, msgAndArgs...)
}

var endpointCases = []testCase{
	{"EndpointGet/returns_every_field_EndpointCreate_stored", func(t *testing.T, f *fixture) {
		full := f.createEndpoint(tenantA, "ep_0001")
		require.True(t, full.Secrets[0].ExpiresAt.IsZero(), "fixture has a current secret")
		require.False(t, full.Secrets[1].ExpiresAt.IsZero(), "fixture has an expiring secret")

		minimal := &store.Endpoint{
			ID:        "ep_0002",
			TenantID:  tenantA,
			URL:       "https://hooks.example.com/minimal",
			Method:    "PUT",
			Enabled:   false,
			Secrets:   []store.Secret{{Value: "whsec_bWluaW1hbA==", CreatedAt: t0}},
			CreatedAt: t0,
			UpdatedAt: t0,
		}
		require.NoError(t, f.s.EndpointCreate(f.ctx, minimal))
		disabled := newEndpoint(tenantA, "ep_0003")
		disabled.Enabled = false
		disabled.DisabledReason = "too many failures"
		require.NoError(t, f.s.EndpointCreate(f.ctx, disabled))

		policy := newEndpoint(tenantA, "ep_0004")
		policy.MaxInFlight = 7
		policy.FIFO = true
		policy.RateLimit = 0.25
		policy.RateBurst = 3
		policy.RetrySchedule = []time.Duration{time.Second, 90 * time.Second, time.Hour}
		policy.NoRetryOnClientError = true
		require.NoError(t, f.s.EndpointCreate(f.ctx, policy))

		f.requireEndpointStored(full, "every field set")
		f.requireEndpointStored(minimal, "optional fields empty")
		f.requireEndpointStored(disabled, "disabled with a reason")
		f.requireEndpointStored(policy, "delivery policy")
	}},
	{"EndpointGet/returns_ErrNotFound_for_a_missing_endpoint", func(t *testing.T, f *fixture) {
		f.requireEndpointMissing(tenantA, "ep_0001", "empty store")
		f.createEndpoint(tenantA, "ep_0001")
		f.requireEndpointMissing(tenantA, "ep_0002", "other ID")
		f.requireEndpointMissing(tenantA, "ep_000", "prefix of an existing ID")
	}},
	{"EndpointGet/returns_ErrNotFound_for_another_tenant", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.requireEndpointMissing(tenantB, "ep_0001")
		f.requireEndpointMissing("", "ep_0001", "empty tenant")
	}},
	{"EndpointCreate/returns_ErrConflict_for_an_existing_ID_and_keeps_the_original", func(t *testing.T, f *fixture) {
		orig := f.createEndpoint(tenantA, "ep_0001")
		dup := newEndpoint(tenantA, "ep_0001")
		dup.URL = "https://evil.example.com/"
		dup.Labels = map[string]string{"replaced": "yes"}
		require.ErrorIs(t, f.s.EndpointCreate(f.ctx, dup), store.ErrConflict)
		f.requireEndpointStored(orig)
		require.Equal(t, []string{"ep_0001"}, f.endpointIDs(tenantA, store.ListParams{}))
	}},
	{"EndpointList/returns_only_the_tenants_endpoints_in_ID_order", func(t *testing.T, f *fixture) {
		require.Empty(t, f.endpointIDs(tenantA, store.ListParams{}), "empty store")
		a, b := f.createInterleaved(18)
		require.Equal(t, a, f.endpointIDs(tenantA, store.ListParams{}))
		require.Equal(t, b, f.endpointIDs(tenantB, store.ListParams{}))
		require.Empty(t, f.endpointIDs("tenant_c", store.ListParams{}), "unknown tenant")

		list, err := f.s.EndpointList(f.ctx, tenantB, store.ListParams{})
		require.NoError(t, err)
		for i, e := range list {
			requireEndpoint(t, newEndpoint(tenantB, b[i]), e, "listed endpoints carry every field")
		}
	}},
	{"EndpointList/pages_visit_every_endpoint_exactly_once", func(t *testing.T, f *fixture) {
		a, b := f.createInterleaved(18)
		for tenant, want := range map[string][]string{tenantA: a, tenantB: b} {
			for _, limit := range []int{1, 4, 5, len(want), len(want) + 1} {
				got := pages(t, limit, len(want), func(after string, limit int) []string {
					return f.endpointIDs(tenant, store.ListParams{After: after, Limit: limit})
				}, func(id string) string { return id })
				require.Equal(t, want, got, "tenant %s, limit %d", tenant, limit)
			}
		}
	}},
	{"EndpointList/resumes_after_a_deleted_endpoint", func(t *testing.T, f *fixture) {
		a, _ := f.createInterleaved(9) // A: ep_0000 ep_0002 ep_0003 ep_0005 ep_0006 ep_0008
		first := f.endpointIDs(tenantA, store.ListParams{Limit: 2})
		require.Equal(t, a[:2], first)
		require.NoError(t, f.s.EndpointDelete(f.ctx, tenantA, first[1], t0))
		require.Equal(t, a[2:4], f.endpointIDs(tenantA, store.ListParams{After: first[1], Limit: 2}))
		// A cursor naming another tenant's endpoint is just a position.
		require.Equal(t, a[2:], f.endpointIDs(tenantA, store.ListParams{After: "ep_0001"}))
	}},
	{"EndpointList/a_cursor_past_the_tenants_range_returns_nothing", func(t *testing.T, f *fixture) {
		// A long tenant ID sorts right before a short one; a cursor beyond
		// the long tenant's endpoints lands on the short tenant's keys.
		long := strings.Repeat("x", 100)
		f.createEndpoint(long, "ep_0001")
		f.createEndpoint("z", "ep_0002")
		require.Empty(t, f.endpointIDs(long, store.ListParams{After: "ep_zzzz"}))
		require.Empty(t, f.endpointIDs(long, store.ListParams{After: "\xff"}))
		require.Equal(t, []string{"ep_0002"}, f.endpointIDs("z", store.ListParams{}))
	}},
	{"EndpointScan/pages_through_every_tenant_in_order_exactly_once", func(t *testing.T, f *fixture) {
		a, b := f.createInterleaved(8)
		long := strings.Repeat("x", 40)
		f.createEndpoint(long, "ep_0100")
		var want []string
		for _, id := range a {
			want = append(want, tenantA+"/"+id)
		}
		for _, id := range b {
			want = append(want, tenantB+"/"+id)
		}
		want = append(want, long+"/ep_0100")
		var got []string
		p := store.EndpointScanParams{Limit: 3}
		for {
			page, err := f.s.EndpointScan(f.ctx, p)
			require.NoError(t, err)
			for _, e := range page {
				got = append(got, e.TenantID+"/"+e.ID)
			}
			if len(page) < p.Limit {
				break
			}
			p.AfterTenant, p.AfterID = page[len(page)-1].TenantID, page[len(page)-1].ID
		}
		require.Equal(t, want, got)
	}},
	{"EndpointListAll/returns_all_of_the_tenants_endpoints_and_none_of_another", func(t *testing.T, f *fixture) {
		all, err := f.s.EndpointListAll(f.ctx, tenantA)
		require.NoError(t, err)
		require.Empty(t, all, "empty store")

		a, b := f.createInterleaved(18)
		for tenant, want := range map[string][]string{tenantA: a, tenantB: b} {
			all, err := f.s.EndpointListAll(f.ctx, tenant)
			require.NoError(t, err)
			var got []string
			for _, e := range all {
				require.Equal(t, tenant, e.TenantID)
				requireEndpoint(t, newEndpoint(tenant, e.ID), e)
				got = append(got, e.ID)
			}
			require.ElementsMatch(t, want, got, "tenant %s", tenant)
		}
		all, err = f.s.EndpointListAll(f.ctx, "tenant_c")
		require.NoError(t, err)
		require.Empty(t, all, "unknown tenant")
	}},
	{"EndpointUpdate/replaces_every_field", func(t *testing.T, f *fixture) {
		orig := f.createEndpoint(tenantA, "ep_0001")
		other := f.createEndpoint(tenantA, "ep_0002")
		upd := &store.Endpoint{
			ID:             orig.ID,
			TenantID:       orig.TenantID,
			URL:            "https://hooks.example.com/v2",
			Method:         "PUT",
			Description:    "",
			EventTypes:     []string{"invoice.created"},
			Labels:         map[string]string{"env": "prod"},
			Headers:        nil,
			Metadata:       map[string]string{"owner": "team-b", "cost-centre": "42"},
			Enabled:        false,
			DisabledReason: "disabled by operator",
			MaxInFlight:    4,
			FIFO:           true,
			RateLimit:      1.5,
			RateBurst:      2,
			Secrets: []store.Secret{
				{Value: "whsec_bmV3ZXN0", CreatedAt: t0.Add(2 * time.Hour)},
				{Value: orig.Secrets[0].Value, CreatedAt: orig.Secrets[0].CreatedAt, ExpiresAt: t0.Add(26 * time.Hour)},
			},
			CreatedAt: orig.CreatedAt,
			UpdatedAt: orig.UpdatedAt,
		}
		require.NoError(t, f.s.EndpointUpdate(f.ctx, upd, t0.Add(2*time.Hour)))
		requireTime(t, t0.Add(2*time.Hour), upd.UpdatedAt, "the update is stamped with now")
		f.requireEndpointStored(upd, "fields are replaced, not merged")
		f.requireEndpointStored(other, "other endpoints are untouched")

		again := newEndpoint(tenantA, "ep_0001")
		again.UpdatedAt = upd.UpdatedAt
		require.NoError(t, f.s.EndpointUpdate(f.ctx, again, t0.Add(3*time.Hour)))
		f.requireEndpointStored(again, "re-enabled with the original fields")
	}},
	{"EndpointUpdate/two_updates_at_the_same_instant_still_conflict", func(t *testing.T, f *fixture) {
		orig := f.createEndpoint(tenantA, "ep_0001")
		first, second := *orig, *orig
		first.Description, second.Description = "first", "second"
		// A clock that did not move (or a coarse one) must not let a stale
		// writer through.
		require.NoError(t, f.s.EndpointUpdate(f.ctx, &first, orig.UpdatedAt))
		require.True(t, first.UpdatedAt.After(orig.UpdatedAt), "the new version %s is not after %s", first.UpdatedAt, orig.UpdatedAt)
		require.ErrorIs(t, f.s.EndpointUpdate(f.ctx, &second, orig.UpdatedAt), store.ErrConflict)
		f.requireEndpointStored(&first, "the stale update wrote nothing")
	}},
	{"EndpointUpdate/returns_ErrConflict_when_the_endpoint_changed_since_it_was_read", func(t *testing.T, f *fixture) {
		orig := f.createEndpoint(tenantA, "ep_0001")
		first, second := *orig, *orig
		first.Description, second.Description = "first", "second"
		require.NoError(t, f.s.EndpointUpdate(f.ctx, &first, t0.Add(time.Hour)))
		require.ErrorIs(t, f.s.EndpointUpdate(f.ctx, &second, t0.Add(2*time.Hour)), store.ErrConflict)
		f.requireEndpointStored(&first, "the stale update wrote nothing")
	}},
	{"EndpointUpdate/returns_ErrNotFound_for_a_missing_endpoint_and_creates_nothing", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		require.ErrorIs(t, f.s.EndpointUpdate(f.ctx, newEndpoint(tenantA, "ep_0002"), t0), store.ErrNotFound)
		f.requireEndpointMissing(tenantA, "ep_0002")
		require.Equal(t, []string{"ep_0001"}, f.endpointIDs(tenantA, store.ListParams{}))
	}},
	{"EndpointUpdate/returns_ErrNotFound_for_another_tenant_and_changes_nothing", func(t *testing.T, f *fixture) {
		orig := f.createEndpoint(tenantA, "ep_0001")
		upd := newEndpoint(tenantB, "ep_0001")
		upd.URL = "https://evil.example.com/"
		upd.Enabled = false
		require.ErrorIs(t, f.s.EndpointUpdate(f.ctx, upd, t0), store.ErrNotFound)
		f.requireEndpointStored(orig)
		f.requireEndpointMissing(tenantB, "ep_0001")
		require.Empty(t, f.endpointIDs(tenantB, store.ListParams{}))
	}},
	{"EndpointDelete/removes_the_endpoint", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		kept := f.createEndpoint(tenantA, "ep_0002")
		require.NoError(t, f.s.EndpointDelete(f.ctx, tenantA, "ep_0001", t0))
		f.requireEndpointMissing(tenantA, "ep_0001")
		f.requireEndpointStored(kept)
		require.Equal(t, []string{"ep_0002"}, f.endpointIDs(tenantA, store.ListParams{}))
		all, err := f.s.EndpointListAll(f.ctx, tenantA)
		require.NoError(t, err)
		require.Len(t, all, 1)
		require.Equal(t, "ep_0002", all[0].ID)
	}},
	{"EndpointDelete/returns_ErrNotFound_for_a_missing_endpoint", func(t *testing.T, f *fixture) {
		require.ErrorIs(t, f.s.EndpointDelete(f.ctx, tenantA, "ep_0001", t0), store.ErrNotFound, "empty store")
		f.createEndpoint(tenantA, "ep_0001")
		require.NoError(t, f.s.EndpointDelete(f.ctx, tenantA, "ep_0001", t0))
		require.ErrorIs(t, f.s.EndpointDelete(f.ctx, tenantA, "ep_0001", t0), store.ErrNotFound, "deleted twice")
	}},
	{"EndpointDelete/returns_ErrNotFound_for_another_tenant_and_keeps_the_endpoint", func(t *testing.T, f *fixture) {
		orig := f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		require.ErrorIs(t, f.s.EndpointDelete(f.ctx, tenantB, "ep_0001", t0), store.ErrNotFound)
		f.requireEndpointStored(orig)
		require.Equal(t, store.StatusPending, f.getMessage(tenantA, "msg_0001").Status, "messages are not cancelled")
		require.Equal(t, []string{"msg_0001"}, claimIDs(f.claim(t0, t0.Add(time.Minute), 10)))
	}},
}
