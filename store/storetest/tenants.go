package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// tenantIDs calls TenantList and fails the test on error.
func (f *fixture) tenantIDs(p store.ListParams) []string {
	f.t.Helper()
	list, err := f.s.TenantList(f.ctx, p)
	require.NoError(f.t, err, "TenantList(%+v)", p)
	return list
}

// requireSettings asserts that the stored settings of want.TenantID are want.
func (f *fixture) requireSettings(want *store.TenantSettings, msgAndArgs ...any) {
	f.t.Helper()
	got, err := f.s.TenantSettingsGet(f.ctx, want.TenantID)
	require.NoError(f.t, err, msgAndArgs...)
	require.NotNil(f.t, got, msgAndArgs...)
	w, g := *want, *got
	w.UpdatedAt, g.UpdatedAt = normTime(w.UpdatedAt), normTime(g.UpdatedAt)
	require.Equal(f.t, w, g, msgAndArgs...)
}

var tenantCases = []testCase{
	{"TenantSettings/put_creates_or_replaces_and_get_returns_them", func(t *testing.T, f *fixture) {
		a := &store.TenantSettings{TenantID: tenantA, Retention: 24 * time.Hour, UpdatedAt: t0}
		b := &store.TenantSettings{TenantID: tenantB, UpdatedAt: t0.Add(time.Second)}
		require.NoError(t, f.s.TenantSettingsPut(f.ctx, a))
		require.NoError(t, f.s.TenantSettingsPut(f.ctx, b))
		want := *a
		a.Retention = time.Minute
		f.requireSettings(&want, "the store keeps its own copy")
		f.requireSettings(b, "zero Retention round-trips")

		a2 := &store.TenantSettings{TenantID: tenantA, Retention: 72*time.Hour + time.Microsecond, UpdatedAt: t0.Add(time.Hour)}
		require.NoError(t, f.s.TenantSettingsPut(f.ctx, a2))
		f.requireSettings(a2, "replaced")
		f.requireSettings(b, "another tenant's are unchanged")
	}},
	{"TenantSettings/get_returns_ErrNotFound_for_a_tenant_without_settings", func(t *testing.T, f *fixture) {
		_, err := f.s.TenantSettingsGet(f.ctx, tenantA)
		require.ErrorIs(t, err, store.ErrNotFound, "empty store")
		require.NoError(t, f.s.TenantSettingsPut(f.ctx, &store.TenantSettings{TenantID: tenantA, Retention: time.Hour, UpdatedAt: t0}))
		f.publish(tenantB, "evt_0001", "evk_0001", t0)
		_, err = f.s.TenantSettingsGet(f.ctx, tenantB)
		require.ErrorIs(t, err, store.ErrNotFound, "a tenant with events but no settings")
	}},
	{"TenantList/pages_through_the_tenants_that_have_events_in_ID_order", func(t *testing.T, f *fixture) {
		require.Empty(t, f.tenantIDs(store.ListParams{}), "empty store")
		f.publish("tenant_c", "evt_0001", "evk_0001", t0)
		f.publish("tenant_a", "evt_0001", "evk_0002", t0)
		f.publish("tenant_e", "evt_0001", "evk_0003", t0)
		f.publish("tenant_b", "evt_0001", "evk_0004", t0)
		f.publish("tenant_b", "evt_0002", "evk_0005", t0)
		f.createEndpoint("tenant_d", "ep_0001")
		require.NoError(t, f.s.TenantSettingsPut(f.ctx, &store.TenantSettings{TenantID: "tenant_f", UpdatedAt: t0}))

		want := []string{"tenant_a", "tenant_b", "tenant_c", "tenant_e"}
		require.Equal(t, want, f.tenantIDs(store.ListParams{}), "once each; endpoints or settings alone do not count")
		require.Equal(t, want, f.tenantIDs(store.ListParams{Limit: store.MaxPageSize + 1}))
		require.Equal(t, []string{"tenant_c", "tenant_e"}, f.tenantIDs(store.ListParams{After: "tenant_b"}))
		require.Equal(t, []string{"tenant_c"}, f.tenantIDs(store.ListParams{After: "tenant_bb", Limit: 1}), "After need not be listed")
		for _, limit := range []int{1, 2, 3, len(want)} {
			got := pages(t, limit, len(want), func(after string, limit int) []string {
				return f.tenantIDs(store.ListParams{After: after, Limit: limit})
			}, func(id string) string { return id })
			require.Equal(t, want, got, "limit %d", limit)
		}
	}},
	{"TenantList/leaves_out_a_tenant_whose_events_were_all_purged", func(t *testing.T, f *fixture) {
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Hour))
		f.publish(tenantB, "evt_0001", "evk_0002", t0.Add(-time.Hour))
		f.publish(tenantB, "evt_0002", "evk_0003", t0)
		f.purgeAll(tenantA, t0)
		f.purgeAll(tenantB, t0)
		require.Equal(t, []string{tenantB}, f.tenantIDs(store.ListParams{}))
	}},
	{"TenantList/lists_a_tenant_whose_only_history_left_is_stats_until_they_are_purged", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		// The event is published at t0, its attempt made an hour later.
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		late := t0.Add(time.Hour)
		c := claimOf(t, f.claim(late, late.Add(time.Minute), 10), "msg_0001")
		f.complete(store.MessageCompleteParams{MessageID: c.Message.ID, LeaseToken: c.Message.LeaseToken,
			Attempt: newAttempt("att_0001", c, 1, late), Status: store.StatusExhausted, Now: late.Add(time.Second)})
		f.purgeAll(tenantA, t0.Add(time.Minute)) // the event goes; the rollup of hour 1 stays
		require.Equal(t, []string{tenantA}, f.tenantIDs(store.ListParams{}), "its stats still need purging")
		f.purgeAll(tenantA, t0.Add(2*time.Hour))
		require.Empty(t, f.tenantIDs(store.ListParams{}))
	}},
}
