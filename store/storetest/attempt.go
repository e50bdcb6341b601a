package storetest

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// attemptSeed is the history written by seedAttempts.
type attemptSeed struct {
	byID map[string]*store.Attempt
	// order lists each tenant's attempt IDs in creation (= ID) order.
	order map[string][]string
}

// newestFirst returns the IDs of the tenant's attempts that keep, newest first.
func (s attemptSeed) newestFirst(tenant string, keep func(*store.Attempt) bool) []string {
	var out []string
	for _, id := range slices.Backward(s.order[tenant]) {
		if keep == nil || keep(s.byID[id]) {
			out = append(out, id)
		}
	}
	return out
}

// seedAttempts records three rounds of failed attempts on four messages:
// tenant A's msg_0001 (ep_0001), msg_0002 (ep_0002) and msg_0003 (ep_0001),
// and tenant B's msg_0004 (ep_0003). Attempt IDs att_0001.. increase in
// creation order and interleave the tenants.
func (f *fixture) seedAttempts() attemptSeed {
	f.t.Helper()
	f.createEndpoint(tenantA, "ep_0001")
	f.createEndpoint(tenantA, "ep_0002")
	f.createEndpoint(tenantB, "ep_0003")
	f.publish(tenantA, "evt_0001", "evk_0001", t0,
		msg{id: "msg_0001", endpoint: "ep_0001"},
		msg{id: "msg_0002", endpoint: "ep_0002"},
		msg{id: "msg_0003", endpoint: "ep_0001"})
	f.publish(tenantB, "evt_0001", "evk_0002", t0, msg{id: "msg_0004", endpoint: "ep_0003"})

	seed := attemptSeed{byID: map[string]*store.Attempt{}, order: map[string][]string{}}
	n := 0
	for round := range 3 {
		now := t0.Add(time.Duration(round) * time.Minute)
		res := f.claim(now, now.Add(30*time.Second), 10)
		require.Len(f.t, res.Claims, 4, "round %d", round)
		sort.Slice(res.Claims, func(i, j int) bool { return res.Claims[i].Message.ID < res.Claims[j].Message.ID })
		for _, c := range res.Claims {
			n++
			att := newAttempt(fmt.Sprintf("att_%04d", n), c, round+1, now.Add(time.Duration(n)*time.Microsecond))
			f.complete(store.MessageCompleteParams{
				MessageID: c.Message.ID, LeaseToken: c.Message.LeaseToken, Attempt: att,
				Status: store.StatusFailing, NextAttemptAt: now.Add(time.Minute), Now: now.Add(time.Second),
			})
			seed.byID[att.ID] = att
			seed.order[att.TenantID] = append(seed.order[att.TenantID], att.ID)
		}
	}
	return seed
}

func attemptIDs(list []*store.Attempt) []string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, a.ID)
	}
	return out
}

// attemptWalk lists the tenant's attempts matching p with pages of limit,
// following Next from the first page, and returns their IDs in the order
// listed; it fails when an attempt is listed twice.
func (f *fixture) attemptWalk(tenant string, p store.AttemptListParams, limit int) []string {
	f.t.Helper()
	p.Cursor, p.Limit = "", limit
	got := attemptIDs(f.attemptList(tenant, p))
	seen := map[string]bool{}
	for _, id := range got {
		require.False(f.t, seen[id], "AttemptList(%s, %+v) listed %s twice: %v", tenant, p, id, got)
		seen[id] = true
	}
	return got
}

var attemptCases = []testCase{
	{"AttemptList/returns_attempts_newest_first", func(t *testing.T, f *fixture) {
		page := f.attemptPage(tenantA, store.AttemptListParams{})
		require.Empty(t, page.Attempts, "empty store")
		require.Empty(t, page.Next, "empty store: nothing is left")
		seed := f.seedAttempts()
		page = f.attemptPage(tenantA, store.AttemptListParams{})
		require.Equal(t, seed.newestFirst(tenantA, nil), attemptIDs(page.Attempts))
		require.Empty(t, page.Next, "every attempt fits in one page")
		for _, a := range page.Attempts {
			requireAttempt(t, withoutBody(seed.byID[a.ID]), a)
		}
		require.Equal(t, seed.newestFirst(tenantB, nil), attemptIDs(f.attemptList(tenantB, store.AttemptListParams{Limit: store.MaxPageSize + 1})))
	}},
	{"AttemptList/filters_by_MessageID", func(t *testing.T, f *fixture) {
		seed := f.seedAttempts()
		for _, id := range []string{"msg_0001", "msg_0002", "msg_0003"} {
			want := seed.newestFirst(tenantA, func(a *store.Attempt) bool { return a.MessageID == id })
			require.Len(t, want, 3)
			require.Equal(t, want, attemptIDs(f.attemptList(tenantA, store.AttemptListParams{MessageID: id})), id)
		}
		require.Empty(t, f.attemptList(tenantA, store.AttemptListParams{MessageID: "msg_0009"}), "unknown message")
	}},
	{"AttemptList/filters_by_EndpointID", func(t *testing.T, f *fixture) {
		seed := f.seedAttempts()
		want := seed.newestFirst(tenantA, func(a *store.Attempt) bool { return a.EndpointID == "ep_0001" })
		require.Len(t, want, 6)
		require.Equal(t, want, attemptIDs(f.attemptList(tenantA, store.AttemptListParams{EndpointID: "ep_0001"})))

		both := seed.newestFirst(tenantA, func(a *store.Attempt) bool { return a.MessageID == "msg_0003" })
		require.Equal(t, both, attemptIDs(f.attemptList(tenantA, store.AttemptListParams{MessageID: "msg_0003", EndpointID: "ep_0001"})),
			"both filters apply")
		require.Empty(t, f.attemptList(tenantA, store.AttemptListParams{MessageID: "msg_0003", EndpointID: "ep_0002"}),
			"both filters apply")
	}},
	{"AttemptList/pages_with_Next_visit_every_attempt_exactly_once", func(t *testing.T, f *fixture) {
		seed := f.seedAttempts()
		filters := map[string]store.AttemptListParams{
			"no filter":   {},
			"by endpoint": {EndpointID: "ep_0001"},
			"by message":  {MessageID: "msg_0002"},
		}
		for name, filter := range filters {
			want := seed.newestFirst(tenantA, func(a *store.Attempt) bool {
				return (filter.MessageID == "" || a.MessageID == filter.MessageID) &&
					(filter.EndpointID == "" || a.EndpointID == filter.EndpointID)
			})
			for _, limit := range []int{1, 2, 4, len(want), len(want) + 1} {
				require.Equal(t, want, f.attemptWalk(tenantA, filter, limit), "%s, limit %d", name, limit)
			}
			if len(want) > 1 {
				p := filter
				p.Limit = 1
				page := f.attemptPage(tenantA, p)
				require.Len(t, page.Attempts, 1, "%s: a first page of one", name)
				require.NotEmpty(t, page.Next, "%s: more attempts are left after a page of one", name)
			}
		}
	}},
	{"AttemptList/returns_nothing_for_another_tenant", func(t *testing.T, f *fixture) {
		seed := f.seedAttempts()
		require.Empty(t, f.attemptList("tenant_c", store.AttemptListParams{}), "unknown tenant")
		require.Empty(t, f.attemptList(tenantB, store.AttemptListParams{MessageID: "msg_0001"}), "another tenant's message")
		require.Empty(t, f.attemptList(tenantB, store.AttemptListParams{EndpointID: "ep_0001"}), "another tenant's endpoint")
		list := f.attemptList(tenantB, store.AttemptListParams{})
		require.Equal(t, seed.newestFirst(tenantB, nil), attemptIDs(list))
		for _, a := range list {
			require.Equal(t, tenantB, a.TenantID)
		}
	}},
}
