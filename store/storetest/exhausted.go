package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// seedExhausted publishes tenant A's msg_0001..msg_0008 (odd ones for
// ep_0001, even ones for ep_0002) and tenant B's msg_0009 and msg_0010
// (ep_0003), and ends them out of ID order: A's msg_0001, 0002, 0005, 0007
// and 0008 and B's msg_0009 are exhausted; msg_0003 and msg_0010 succeeded,
// msg_0004 is failing and msg_0006 was cancelled.
func (f *fixture) seedExhausted() {
	f.t.Helper()
	f.createEndpoint(tenantA, "ep_0001")
	f.createEndpoint(tenantA, "ep_0002")
	f.createEndpoint(tenantB, "ep_0003")
	var specs []msg
	for i := 1; i <= 8; i++ {
		endpoint := "ep_0001"
		if i%2 == 0 {
			endpoint = "ep_0002"
		}
		specs = append(specs, msg{id: fmt.Sprintf("msg_%04d", i), endpoint: endpoint})
	}
	f.publish(tenantA, "evt_0001", "evk_0001", t0, specs...)
	f.publish(tenantB, "evt_0001", "evk_0002", t0, msg{id: "msg_0009", endpoint: "ep_0003"}, msg{id: "msg_0010", endpoint: "ep_0003"})
	res := f.claim(t0, t0.Add(time.Minute), 100)
	require.Len(f.t, res.Claims, 10)

	outcomes := []struct {
		id     string
		status store.MessageStatus
	}{
		{"msg_0005", store.StatusExhausted},
		{"msg_0003", store.StatusSucceeded},
		{"msg_0009", store.StatusExhausted},
		{"msg_0002", store.StatusExhausted},
		{"msg_0004", store.StatusFailing},
		{"msg_0008", store.StatusExhausted},
		{"msg_0006", store.StatusCancelled},
		{"msg_0001", store.StatusExhausted},
		{"msg_0010", store.StatusSucceeded},
		{"msg_0007", store.StatusExhausted},
	}
	for i, o := range outcomes {
		now := t0.Add(time.Duration(i+1) * time.Second)
		att, next := fmt.Sprintf("att_%04d", i+1), time.Time{}
		switch o.status {
		case store.StatusCancelled:
			att = ""
		case store.StatusFailing:
			next = t0.Add(time.Hour)
		}
		f.finish(claimOf(f.t, res, o.id), o.status, att, now, next)
	}
}

// exhaustedIDs calls MessageListExhausted and returns the IDs it lists,
// checking that each listed message is the tenant's and is what MessageGet
// returns.
func (f *fixture) exhaustedIDs(tenant string, p store.MessageListParams) []string {
	f.t.Helper()
	list, err := f.s.MessageListExhausted(f.ctx, tenant, p)
	require.NoError(f.t, err, "MessageListExhausted(%s, %+v)", tenant, p)
	out := []string{}
	for _, m := range list {
		require.NotNil(f.t, m)
		require.Equal(f.t, tenant, m.TenantID, "MessageListExhausted(%s) listed %s of another tenant", tenant, m.ID)
		require.Equal(f.t, store.StatusExhausted, m.Status, "%s", m.ID)
		requireMessage(f.t, f.getMessage(tenant, m.ID), m, "%s is listed as stored", m.ID)
		out = append(out, m.ID)
	}
	return out
}

var exhaustedCases = []testCase{
	{"MessageListExhausted/returns_the_tenants_exhausted_messages_newest_first", func(t *testing.T, f *fixture) {
		require.Empty(t, f.exhaustedIDs(tenantA, store.MessageListParams{}), "empty store")
		f.seedExhausted()
		want := []string{"msg_0008", "msg_0007", "msg_0005", "msg_0002", "msg_0001"}
		require.Equal(t, want, f.exhaustedIDs(tenantA, store.MessageListParams{}),
			"succeeded, failing and cancelled messages are not listed")
		require.Equal(t, want, f.exhaustedIDs(tenantA, store.MessageListParams{Limit: store.MaxPageSize + 1}))
		m := f.getMessage(tenantA, "msg_0005")
		require.Equal(t, 1, m.Attempts)
		require.True(t, m.NextAttemptAt.IsZero(), "got %s", m.NextAttemptAt)
	}},
	{"MessageListExhausted/filters_by_EndpointID", func(t *testing.T, f *fixture) {
		f.seedExhausted()
		require.Equal(t, []string{"msg_0007", "msg_0005", "msg_0001"}, f.exhaustedIDs(tenantA, store.MessageListParams{EndpointID: "ep_0001"}))
		require.Equal(t, []string{"msg_0008", "msg_0002"}, f.exhaustedIDs(tenantA, store.MessageListParams{EndpointID: "ep_0002"}))
		require.Empty(t, f.exhaustedIDs(tenantA, store.MessageListParams{EndpointID: "ep_0003"}), "another tenant's endpoint")
		require.Empty(t, f.exhaustedIDs(tenantA, store.MessageListParams{EndpointID: "ep_0009"}), "unknown endpoint")
	}},
	{"MessageListExhausted/pages_with_Before_visit_every_message_exactly_once", func(t *testing.T, f *fixture) {
		f.seedExhausted()
		for name, filter := range map[string]store.MessageListParams{"no filter": {}, "by endpoint": {EndpointID: "ep_0001"}} {
			want := f.exhaustedIDs(tenantA, filter)
			require.NotEmpty(t, want)
			for _, limit := range []int{1, 2, 3, len(want), len(want) + 1} {
				got := pages(t, limit, len(want), func(before string, limit int) []string {
					p := filter
					p.Before, p.Limit = before, limit
					return f.exhaustedIDs(tenantA, p)
				}, func(id string) string { return id })
				require.Equal(t, want, got, "%s, limit %d", name, limit)
			}
		}
	}},
	{"MessageListExhausted/returns_nothing_for_another_tenant", func(t *testing.T, f *fixture) {
		f.seedExhausted()
		require.Empty(t, f.exhaustedIDs("tenant_c", store.MessageListParams{}), "unknown tenant")
		require.Empty(t, f.exhaustedIDs(tenantB, store.MessageListParams{EndpointID: "ep_0001"}), "another tenant's endpoint")
		require.Equal(t, []string{"msg_0009"}, f.exhaustedIDs(tenantB, store.MessageListParams{}))
	}},
}
