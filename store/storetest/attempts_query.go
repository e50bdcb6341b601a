package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// historyStep is one attempt of seedHistory: at t0+at, message msg is
// claimed and, when att is set, completed with an attempt of that ID which
// got code (0: no response, with class timeout), leaving the message in
// status (due at t0+next when failing).
type historyStep struct {
	at     time.Duration
	msg    string
	att    string
	code   int
	status store.MessageStatus
	next   time.Duration
}

// history is what seedHistory wrote.
type history struct {
	byID map[string]*store.Attempt
	// leased is the claim of msg_0004, leased for a retry and never completed.
	leased store.Claim
}

// seedHistory writes attempts for two tenants, several endpoints, events and
// messages, with status classes 2xx, 4xx, 5xx and no response, StartedAt
// spread over two hours with ties, and attempt IDs in another order than
// StartedAt. Newest first, tenant A's attempts are:
//
//	att_0004 T+100m msg_0007 ep_0001 evt_0002 500 message cancelled
//	att_0008 T+80m  msg_0004 ep_0002 evt_0002 --- message leased for a retry
//	att_0002 T+60m  msg_0001 ep_0001 evt_0001 200 message succeeded
//	att_0005 T+40m  msg_0002 ep_0002 evt_0001 503 message exhausted
//	att_0010 T+20m  msg_0003 ep_0001 evt_0002 503 message failing
//	att_0001 T+20m  msg_0001 ep_0001 evt_0001 --- message succeeded
//	att_0007 T      msg_0001 ep_0001 evt_0001 503 message succeeded
//	att_0003 T      msg_0002 ep_0002 evt_0001 404 message exhausted
//
// and tenant B's (ep_0003; its evt_0001 holds msg_0005, its evt_0002
// msg_0006):
//
//	att_0011 T+50m msg_0006 evt_0002 404 message exhausted
//	att_0009 T+30m msg_0005 evt_0001 200 message succeeded
//	att_0006 T+10m msg_0005 evt_0001 503 message succeeded
//
// Leases last 30 days; msg_0003 is next due at T+48h.
func (f *fixture) seedHistory() history {
	f.t.Helper()
	f.createEndpoint(tenantA, "ep_0001")
	f.createEndpoint(tenantA, "ep_0002")
	f.createEndpoint(tenantB, "ep_0003")
	pub := t0.Add(-time.Hour)
	due := func(d time.Duration) time.Time { return t0.Add(d) }
	f.publish(tenantA, "evt_0001", "evk_0001", pub,
		msg{id: "msg_0001", endpoint: "ep_0001", due: due(0)},
		msg{id: "msg_0002", endpoint: "ep_0002", due: due(0)})
	f.publish(tenantA, "evt_0002", "evk_0002", pub,
		msg{id: "msg_0003", endpoint: "ep_0001", due: due(20 * time.Minute)},
		msg{id: "msg_0004", endpoint: "ep_0002", due: due(80 * time.Minute)},
		msg{id: "msg_0007", endpoint: "ep_0001", due: due(100 * time.Minute)})
	f.publish(tenantB, "evt_0001", "evk_0003", pub, msg{id: "msg_0005", endpoint: "ep_0003", due: due(10 * time.Minute)})
	f.publish(tenantB, "evt_0002", "evk_0004", pub, msg{id: "msg_0006", endpoint: "ep_0003", due: due(50 * time.Minute)})

	const m = time.Minute
	steps := []historyStep{
		{0, "msg_0001", "att_0007", 503, store.StatusFailing, 20 * m},
		{0, "msg_0002", "att_0003", 404, store.StatusFailing, 40 * m},
		{10 * m, "msg_0005", "att_0006", 503, store.StatusFailing, 30 * m},
		{20 * m, "msg_0001", "att_0001", 0, store.StatusFailing, 60 * m},
		{20 * m, "msg_0003", "att_0010", 503, store.StatusFailing, 48 * time.Hour},
		{30 * m, "msg_0005", "att_0009", 200, store.StatusSucceeded, 0},
		{40 * m, "msg_0002", "att_0005", 503, store.StatusExhausted, 0},
		{50 * m, "msg_0006", "att_0011", 404, store.StatusExhausted, 0},
		{60 * m, "msg_0001", "att_0002", 200, store.StatusSucceeded, 0},
		{80 * m, "msg_0004", "att_0008", 0, store.StatusFailing, 120 * m},
		{100 * m, "msg_0007", "att_0004", 500, store.StatusCancelled, 0},
		{120 * m, "msg_0004", "", 0, "", 0},
	}
	h := history{byID: map[string]*store.Attempt{}}
	for i := 0; i < len(steps); {
		at := t0.Add(steps[i].at)
		group := steps[i:]
		for j := range group {
			if group[j].at != steps[i].at {
				group = group[:j]
				break
			}
		}
		i += len(group)

		res := f.claim(at, at.Add(30*24*time.Hour), 10)
		var want []string
		for _, s := range group {
			want = append(want, s.msg)
		}
		require.Equal(f.t, want, claimIDs(res), "claim at %s", at)
		for k, s := range group {
			c := claimOf(f.t, res, s.msg)
			if s.att == "" {
				h.leased = c
				continue
			}
			a := newAttempt(s.att, c, c.Message.Attempts+1, at)
			a.Duration = time.Duration(len(h.byID)+1) * 100 * time.Millisecond
			a.ResponseBody = []byte("body of " + s.att)
			a.StatusCode = s.code
			switch {
			case s.code == 0:
				a.ErrorClass, a.Error, a.ResponseHeaders, a.ResponseBody = store.ErrorTimeout, "timeout", nil, nil
			case s.code < 300:
				a.ErrorClass, a.Error = store.ErrorNone, ""
			default:
				a.Error = fmt.Sprintf("status %d", s.code)
			}
			var next time.Time
			if s.status == store.StatusFailing {
				next = t0.Add(s.next)
			}
			f.complete(store.MessageCompleteParams{
				MessageID: s.msg, LeaseToken: c.Message.LeaseToken, Attempt: a,
				Status: s.status, NextAttemptAt: next, Now: at.Add(time.Duration(k+1) * time.Second),
			})
			h.byID[a.ID] = a
		}
	}
	return h
}

// addAttempt publishes message id for endpoint (in its own event), claims it
// at t0+24h and completes it succeeded with attempt att started at
// startedAt.
func (f *fixture) addAttempt(tenant, endpoint, id, att string, startedAt time.Time) *store.Attempt {
	f.t.Helper()
	now := t0.Add(24 * time.Hour)
	f.publish(tenant, "evt_"+id, "evk_"+id, now, msg{id: id, endpoint: endpoint})
	c := claimOf(f.t, f.claim(now, now.Add(time.Minute), 10), id)
	a := newAttempt(att, c, 1, startedAt)
	f.complete(store.MessageCompleteParams{
		MessageID: id, LeaseToken: c.Message.LeaseToken, Attempt: a,
		Status: store.StatusSucceeded, Now: now.Add(time.Second),
	})
	return a
}

// requireListed asserts that every listed attempt is the one seeded, without
// its body unless withBodies.
func requireListed(t *testing.T, h history, list []*store.Attempt, withBodies bool, msgAndArgs ...any) {
	t.Helper()
	for _, a := range list {
		want, ok := h.byID[a.ID]
		require.True(t, ok, "unknown attempt %s listed", a.ID)
		if !withBodies {
			want = withoutBody(want)
		}
		requireAttempt(t, want, a, msgAndArgs...)
	}
}

// historyFilters are AttemptList queries over seedHistory with the attempt
// IDs each must list, in order.
var historyFilters = []struct {
	name   string
	tenant string
	p      store.AttemptListParams
	want   []string
}{
	{"no filter", tenantA, store.AttemptListParams{}, []string{"att_0004", "att_0008", "att_0002", "att_0005", "att_0010", "att_0001", "att_0007", "att_0003"}},
	{"MessageID", tenantA, store.AttemptListParams{MessageID: "msg_0001"}, []string{"att_0002", "att_0001", "att_0007"}},
	{"MessageID of a message without attempts", tenantA, store.AttemptListParams{MessageID: "msg_0009"}, nil},
	{"EndpointID", tenantA, store.AttemptListParams{EndpointID: "ep_0002"}, []string{"att_0008", "att_0005", "att_0003"}},
	{"EventID evt_0001", tenantA, store.AttemptListParams{EventID: "evt_0001"}, []string{"att_0002", "att_0005", "att_0001", "att_0007", "att_0003"}},
	{"EventID evt_0002", tenantA, store.AttemptListParams{EventID: "evt_0002"}, []string{"att_0004", "att_0008", "att_0010"}},
	{"MessageStatus succeeded", tenantA, store.AttemptListParams{MessageStatus: store.StatusSucceeded}, []string{"att_0002", "att_0001", "att_0007"}},
	{"MessageStatus failing includes a message leased for a retry", tenantA, store.AttemptListParams{MessageStatus: store.StatusFailing}, []string{"att_0008", "att_0010"}},
	{"MessageStatus delivering", tenantA, store.AttemptListParams{MessageStatus: store.StatusDelivering}, []string{"att_0008"}},
	{"MessageStatus exhausted", tenantA, store.AttemptListParams{MessageStatus: store.StatusExhausted}, []string{"att_0005", "att_0003"}},
	{"MessageStatus cancelled", tenantA, store.AttemptListParams{MessageStatus: store.StatusCancelled}, []string{"att_0004"}},
	{"MessageStatus pending", tenantA, store.AttemptListParams{MessageStatus: store.StatusPending}, nil},
	{"StatusClass 2xx", tenantA, store.AttemptListParams{StatusClass: store.Class2xx}, []string{"att_0002"}},
	{"StatusClass 4xx", tenantA, store.AttemptListParams{StatusClass: store.Class4xx}, []string{"att_0003"}},
	{"StatusClass 5xx", tenantA, store.AttemptListParams{StatusClass: store.Class5xx}, []string{"att_0004", "att_0005", "att_0010", "att_0007"}},
	{"StatusClass no response", tenantA, store.AttemptListParams{StatusClass: store.ClassNoResponse}, []string{"att_0008", "att_0001"}},
	{"StatusClass 3xx", tenantA, store.AttemptListParams{StatusClass: store.Class3xx}, nil},
	{"Since is inclusive", tenantA, store.AttemptListParams{Since: t0.Add(20 * time.Minute)}, []string{"att_0004", "att_0008", "att_0002", "att_0005", "att_0010", "att_0001"}},
	{"Since just after a tie", tenantA, store.AttemptListParams{Since: t0.Add(20*time.Minute + time.Microsecond)}, []string{"att_0004", "att_0008", "att_0002", "att_0005"}},
	{"Until is exclusive", tenantA, store.AttemptListParams{Until: t0.Add(20 * time.Minute)}, []string{"att_0007", "att_0003"}},
	{"Since and Until", tenantA, store.AttemptListParams{Since: t0.Add(20 * time.Minute), Until: t0.Add(60 * time.Minute)}, []string{"att_0005", "att_0010", "att_0001"}},
	{"Since equal to Until", tenantA, store.AttemptListParams{Since: t0.Add(40 * time.Minute), Until: t0.Add(40 * time.Minute)}, nil},
	{"EndpointID and StatusClass", tenantA, store.AttemptListParams{EndpointID: "ep_0001", StatusClass: store.Class5xx}, []string{"att_0004", "att_0010", "att_0007"}},
	{"EventID, MessageStatus and StatusClass", tenantA, store.AttemptListParams{EventID: "evt_0001", MessageStatus: store.StatusExhausted, StatusClass: store.Class5xx}, []string{"att_0005"}},
	{"MessageID and Since", tenantA, store.AttemptListParams{MessageID: "msg_0001", Since: t0.Add(20 * time.Minute)}, []string{"att_0002", "att_0001"}},
	{"EndpointID and MessageStatus", tenantA, store.AttemptListParams{EndpointID: "ep_0002", MessageStatus: store.StatusFailing}, []string{"att_0008"}},
	{"EventID and Until", tenantA, store.AttemptListParams{EventID: "evt_0002", Until: t0.Add(80 * time.Minute)}, []string{"att_0010"}},
	{"MessageStatus and StatusClass", tenantA, store.AttemptListParams{MessageStatus: store.StatusSucceeded, StatusClass: store.ClassNoResponse}, []string{"att_0001"}},
	{"EndpointID, Since, Until and MessageStatus", tenantA, store.AttemptListParams{EndpointID: "ep_0001", Since: t0.Add(20 * time.Minute), Until: t0.Add(100 * time.Minute), MessageStatus: store.StatusFailing}, []string{"att_0010"}},
	{"MessageID of another endpoint", tenantA, store.AttemptListParams{MessageID: "msg_0001", EndpointID: "ep_0002"}, nil},
	{"tenant B, no filter", tenantB, store.AttemptListParams{}, []string{"att_0011", "att_0009", "att_0006"}},
	{"tenant B, EventID shared with tenant A", tenantB, store.AttemptListParams{EventID: "evt_0001"}, []string{"att_0009", "att_0006"}},
	{"tenant B, MessageStatus exhausted", tenantB, store.AttemptListParams{MessageStatus: store.StatusExhausted}, []string{"att_0011"}},
	{"tenant B, tenant A's message", tenantB, store.AttemptListParams{MessageID: "msg_0001"}, nil},
	{"tenant B, tenant A's endpoint", tenantB, store.AttemptListParams{EndpointID: "ep_0001"}, nil},
	{"tenant A, tenant B's endpoint", tenantA, store.AttemptListParams{EndpointID: "ep_0003"}, nil},
}

var attemptQueryCases = []testCase{
	{"AttemptList/each_filter_and_combination_lists_exactly_the_matching_attempts_newest_first", func(t *testing.T, f *fixture) {
		h := f.seedHistory()
		for _, c := range historyFilters {
			page := f.attemptPage(c.tenant, c.p)
			require.Equal(t, c.want, nilIfEmpty(attemptIDs(page.Attempts)), c.name)
			require.Empty(t, page.Next, "%s: everything fits in one page, nothing is left", c.name)
			requireListed(t, h, page.Attempts, false, c.name)
		}
	}},
	{"AttemptList/pages_of_small_Limit_visit_every_matching_attempt_exactly_once", func(t *testing.T, f *fixture) {
		f.seedHistory()
		for _, c := range historyFilters {
			for _, limit := range []int{1, 2, 3} {
				require.Equal(t, c.want, nilIfEmpty(f.attemptWalk(c.tenant, c.p, limit)), "%s, limit %d", c.name, limit)
			}
		}
	}},
	{"AttemptList/another_tenant_never_sees_an_attempt", func(t *testing.T, f *fixture) {
		h := f.seedHistory()
		var all []string
		for _, a := range f.attemptList(tenantB, store.AttemptListParams{WithBodies: true}) {
			all = append(all, a.ID)
		}
		for id, a := range h.byID {
			if a.TenantID != tenantA {
				continue
			}
			require.NotContains(t, all, id, "tenant B lists tenant A's %s", id)
			_, err := f.s.AttemptGet(f.ctx, tenantB, id)
			require.ErrorIs(t, err, store.ErrNotFound, "AttemptGet(tenant B, %s)", id)
		}
		for _, p := range []store.AttemptListParams{
			{MessageID: "msg_0001"}, {EndpointID: "ep_0002"}, {EventID: "evt_0002"}, {MessageStatus: store.StatusCancelled},
		} {
			for _, a := range f.attemptList(tenantB, p) {
				require.Equal(t, tenantB, a.TenantID, "%+v", p)
			}
		}
		require.Empty(t, f.attemptList("tenant_c", store.AttemptListParams{}), "a tenant without attempts")
	}},
	{"AttemptList/a_walk_visits_every_attempt_stored_before_its_first_page_once_despite_writes_between_pages", func(t *testing.T, f *fixture) {
		f.seedHistory()
		want := historyFilters[0].want
		var got []string
		p := store.AttemptListParams{Limit: 2}
		// Between pages: attempts newer than all, older than all, in the
		// middle, and tied with a seeded one, for both tenants.
		writes := []time.Time{
			t0.Add(10 * time.Hour), t0.Add(-time.Hour), t0.Add(50 * time.Minute),
			t0.Add(20 * time.Minute), t0.Add(90 * time.Minute), t0.Add(time.Microsecond),
		}
		for calls := 0; ; calls++ {
			require.Less(t, calls, 100, "the walk does not end")
			page := f.attemptPage(tenantA, p)
			got = append(got, attemptIDs(page.Attempts)...)
			if page.Next == "" {
				break
			}
			p.Cursor = page.Next
			if calls < len(writes) {
				at := writes[calls]
				f.addAttempt(tenantA, "ep_0001", fmt.Sprintf("msg_%04d", 100+calls), fmt.Sprintf("att_%04da", 10-calls), at)
				f.addAttempt(tenantB, "ep_0003", fmt.Sprintf("msg_%04d", 200+calls), fmt.Sprintf("att_%04db", calls), at)
			}
		}
		seen := map[string]int{}
		var old []string
		for _, id := range got {
			seen[id]++
			require.Equal(t, 1, seen[id], "%s listed twice: %v", id, got)
			if slices.Contains(want, id) {
				old = append(old, id)
			}
		}
		require.Equal(t, want, old, "every attempt stored before the first page, once and in order: %v", got)
	}},
	{"AttemptList/returns_ErrInvalidCursor_for_a_cursor_it_did_not_make", func(t *testing.T, f *fixture) {
		f.seedHistory()
		for _, cursor := range []string{"garbage", "\xff\xfe\x00", "att_0005"} {
			page, err := f.s.AttemptList(f.ctx, tenantA, store.AttemptListParams{Cursor: cursor})
			require.ErrorIs(t, err, store.ErrInvalidCursor, "cursor %q", cursor)
			require.Empty(t, page.Attempts, "cursor %q", cursor)
		}
		next := f.attemptPage(tenantA, store.AttemptListParams{Limit: 1}).Next
		require.NotEmpty(t, next)
		require.Len(t, f.attemptPage(tenantA, store.AttemptListParams{Limit: 1, Cursor: next}).Attempts, 1, "its own cursor works")
	}},
	{"AttemptList/returns_response_bodies_only_WithBodies", func(t *testing.T, f *fixture) {
		h := f.seedHistory()
		without := f.attemptList(tenantA, store.AttemptListParams{})
		require.Len(t, without, 8)
		requireListed(t, h, without, false, "without bodies")
		with := f.attemptList(tenantA, store.AttemptListParams{WithBodies: true})
		require.Equal(t, attemptIDs(without), attemptIDs(with))
		requireListed(t, h, with, true, "with bodies")
		require.Equal(t, []byte("body of att_0002"), with[2].ResponseBody)
		withPages := f.attemptList(tenantA, store.AttemptListParams{WithBodies: true, Limit: 3})
		requireListed(t, h, withPages, true, "with bodies, paged")
	}},
	{"AttemptGet/returns_the_attempt_with_its_body", func(t *testing.T, f *fixture) {
		h := f.seedHistory()
		for id, want := range h.byID {
			got, err := f.s.AttemptGet(f.ctx, want.TenantID, id)
			require.NoError(t, err, "AttemptGet(%s, %s)", want.TenantID, id)
			requireAttempt(t, want, got, id)
		}
	}},
	{"AttemptGet/returns_ErrNotFound_for_a_missing_attempt_or_another_tenant", func(t *testing.T, f *fixture) {
		_, err := f.s.AttemptGet(f.ctx, tenantA, "att_0001")
		require.ErrorIs(t, err, store.ErrNotFound, "empty store")
		f.seedHistory()
		for _, c := range []struct{ tenant, id string }{
			{tenantA, "att_0099"}, {tenantB, "att_0002"}, {tenantA, "att_0011"}, {"tenant_c", "att_0001"},
		} {
			_, err := f.s.AttemptGet(f.ctx, c.tenant, c.id)
			require.ErrorIs(t, err, store.ErrNotFound, "AttemptGet(%s, %s)", c.tenant, c.id)
		}
	}},
	{"AttemptList/a_rare_filter_over_more_than_MaxAttemptScan_attempts_returns_a_short_page_and_the_walk_finds_all", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		// The rare match: msg_0000 succeeded after two attempts, older
		// than every other attempt.
		f.publish(tenantA, "evt_0000", "evk_0000", t0, msg{id: "msg_0000", endpoint: "ep_0001"})
		c := claimOf(t, f.claim(t0, t0.Add(time.Minute), 10), "msg_0000")
		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0000", LeaseToken: c.Message.LeaseToken, Attempt: newAttempt("att_r001", c, 1, t0),
			Status: store.StatusFailing, NextAttemptAt: t0.Add(time.Second), Now: t0,
		})
		c = claimOf(t, f.claim(t0.Add(time.Second), t0.Add(time.Minute), 10), "msg_0000")
		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0000", LeaseToken: c.Message.LeaseToken, Attempt: newAttempt("att_r002", c, 2, t0.Add(time.Second)),
			Status: store.StatusSucceeded, Now: t0.Add(time.Second),
		})

		// At least MaxAttemptScan newer attempts, all of failing messages.
		const width = 100
		var bulk []msg
		for i := range width {
			bulk = append(bulk, msg{id: fmt.Sprintf("msg_%04d", i+1), endpoint: "ep_0001", due: t0.Add(time.Minute)})
		}
		f.publish(tenantA, "evt_0001", "evk_0001", t0, bulk...)
		rounds := (store.MaxAttemptScan + width - 1) / width
		for r := range rounds {
			now := t0.Add(time.Minute + time.Duration(r)*time.Second)
			res := f.claim(now, now.Add(30*time.Second), width)
			require.Len(t, res.Claims, width, "round %d", r)
			// Concurrently, so that a store with group commit writes the
			// round in few transactions.
			errs := make([]error, len(res.Claims))
			var wg sync.WaitGroup
			for i, c := range res.Claims {
				wg.Go(func() {
					errs[i] = f.s.MessageComplete(f.ctx, store.MessageCompleteParams{
						MessageID: c.Message.ID, LeaseToken: c.Message.LeaseToken,
						Attempt: newAttempt(fmt.Sprintf("att_%06d", r*width+i), c, r+1, now),
						Status:  store.StatusFailing, NextAttemptAt: now.Add(time.Second), Now: now,
					})
				})
			}
			wg.Wait()
			for i, err := range errs {
				require.NoError(t, err, "round %d, complete %d", r, i)
			}
		}

		p := store.AttemptListParams{MessageStatus: store.StatusSucceeded, Limit: 10}
		first := f.attemptPage(tenantA, p)
		require.Less(t, len(first.Attempts), 2, "one call examines at most MaxAttemptScan attempts, newest first")
		require.NotEmpty(t, first.Next, "a short page still has a Next when attempts are left")
		require.Equal(t, []string{"att_r002", "att_r001"}, f.attemptWalk(tenantA, p, 10), "the walk finds every match")

		all := f.attemptPage(tenantA, store.AttemptListParams{})
		require.Len(t, all.Attempts, store.MaxPageSize, "Limit 0 means MaxPageSize")
		require.NotEmpty(t, all.Next)
	}},
}

// nilIfEmpty returns nil for an empty list, so that it compares equal to a
// nil want.
func nilIfEmpty(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	return ids
}
