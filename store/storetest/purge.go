package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// purge calls Purge and fails the test on error.
func (f *fixture) purge(p store.PurgeParams) store.PurgeResult {
	f.t.Helper()
	res, err := f.s.Purge(f.ctx, p)
	require.NoError(f.t, err, "Purge(%+v)", p)
	return res
}

// purgeAll purges the tenant's events created before before, following Next
// to the end, and returns the summed counts.
func (f *fixture) purgeAll(tenant string, before time.Time) store.PurgeResult {
	f.t.Helper()
	var sum store.PurgeResult
	p := store.PurgeParams{TenantID: tenant, Before: before}
	for calls := 0; ; calls++ {
		require.Less(f.t, calls, 1000, "Purge(%s, %s) does not end", tenant, before)
		res := f.purge(p)
		sum.Events += res.Events
		sum.Messages += res.Messages
		sum.Attempts += res.Attempts
		sum.Kept += res.Kept
		if res.Next == "" {
			return sum
		}
		p.After = res.Next
	}
}

func (f *fixture) requireEventMissing(tenant, id string, msgAndArgs ...any) {
	f.t.Helper()
	_, err := f.s.EventGet(f.ctx, tenant, id)
	require.ErrorIs(f.t, err, store.ErrNotFound, msgAndArgs...)
}

func (f *fixture) requireAttemptMissing(tenant, id string, msgAndArgs ...any) {
	f.t.Helper()
	_, err := f.s.AttemptGet(f.ctx, tenant, id)
	require.ErrorIs(f.t, err, store.ErrNotFound, msgAndArgs...)
}

// purgeSeed is what seedPurge published.
type purgeSeed struct {
	kept, newer, other *store.Event
}

// seedPurge publishes, for tenant A:
//
//	evt_0001 at T-3h: msg_0001 succeeded (2 attempts), msg_0002 exhausted (1)
//	evt_0002 at T-2h: msg_0003 succeeded (1), msg_0004 pending, due T+1h
//	evt_0003 at T-1h: msg_0005 cancelled (no attempt)
//	evt_0004 at T-1h: no message
//	evt_0005 at T:    msg_0006 succeeded (1)
//
// and tenant B's evt_0001 at T-3h with msg_0007 succeeded (1). Attempt IDs
// are att_<message>_<number>.
func (f *fixture) seedPurge() purgeSeed {
	f.t.Helper()
	f.createEndpoint(tenantA, "ep_0001")
	f.createEndpoint(tenantA, "ep_0002")
	f.createEndpoint(tenantB, "ep_0003")
	f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-3*time.Hour),
		msg{id: "msg_0001", endpoint: "ep_0001", due: t0}, msg{id: "msg_0002", endpoint: "ep_0002", due: t0})
	kept, _ := f.publish(tenantA, "evt_0002", "evk_0002", t0.Add(-2*time.Hour),
		msg{id: "msg_0003", endpoint: "ep_0001", due: t0}, msg{id: "msg_0004", endpoint: "ep_0002", due: t0.Add(time.Hour)})
	f.publish(tenantA, "evt_0003", "evk_0003", t0.Add(-time.Hour), msg{id: "msg_0005", endpoint: "ep_0001", due: t0})
	f.publish(tenantA, "evt_0004", "evk_0004", t0.Add(-time.Hour))
	newer, _ := f.publish(tenantA, "evt_0005", "evk_0005", t0, msg{id: "msg_0006", endpoint: "ep_0001"})
	other, _ := f.publish(tenantB, "evt_0001", "evk_0006", t0.Add(-3*time.Hour), msg{id: "msg_0007", endpoint: "ep_0003", due: t0})

	f.end(f.claim(t0, t0.Add(time.Minute), 100), t0.Add(time.Second), t0.Add(time.Minute), map[string]store.MessageStatus{
		"msg_0001": store.StatusFailing, "msg_0002": store.StatusExhausted, "msg_0003": store.StatusSucceeded,
		"msg_0005": store.StatusCancelled, "msg_0006": store.StatusSucceeded, "msg_0007": store.StatusSucceeded,
	})
	f.end(f.claim(t0.Add(time.Minute), t0.Add(2*time.Minute), 100), t0.Add(time.Minute), time.Time{},
		map[string]store.MessageStatus{"msg_0001": store.StatusSucceeded})
	kept.Messages = refs("msg_0003", "ep_0001", "msg_0004", "ep_0002")
	newer.Messages = refs("msg_0006", "ep_0001")
	other.Messages = refs("msg_0007", "ep_0003")
	return purgeSeed{kept: kept, newer: newer, other: other}
}

var purgeCases = []testCase{
	{"Purge/deletes_old_events_whose_messages_are_all_final_with_their_messages_and_attempts", func(t *testing.T, f *fixture) {
		f.seedPurge()
		require.Equal(t, []string{"msg_0002"}, f.exhaustedIDs(tenantA, store.MessageListParams{}))
		res := f.purge(store.PurgeParams{TenantID: tenantA, Before: t0})
		require.Equal(t, store.PurgeResult{Events: 3, Messages: 3, Attempts: 3, Kept: 1}, res,
			"evt_0001, evt_0003 and evt_0004 are deleted, evt_0002 is kept")

		for _, id := range []string{"evt_0001", "evt_0003", "evt_0004"} {
			f.requireEventMissing(tenantA, id, "%s is deleted", id)
		}
		for _, id := range []string{"msg_0001", "msg_0002", "msg_0005"} {
			f.requireMessageMissing(tenantA, id, "%s is deleted", id)
		}
		for _, id := range []string{"att_msg_0001_1", "att_msg_0001_2", "att_msg_0002_1"} {
			f.requireAttemptMissing(tenantA, id, "%s is deleted", id)
		}
		many, err := f.s.MessageGetMany(f.ctx, tenantA, []string{"msg_0001", "msg_0002", "msg_0003", "msg_0005"})
		require.NoError(t, err)
		require.Len(t, many, 1)
		require.Equal(t, "msg_0003", many[0].ID)
		require.Empty(t, f.exhaustedIDs(tenantA, store.MessageListParams{}), "a deleted message leaves the exhausted list")
		require.ElementsMatch(t, []string{"att_msg_0003_1", "att_msg_0006_1"}, attemptIDs(f.attemptList(tenantA, store.AttemptListParams{})))
	}},
	{"Purge/keeps_an_event_with_a_live_message_whole_until_it_is_final", func(t *testing.T, f *fixture) {
		seed := f.seedPurge()
		require.Equal(t, 1, f.purge(store.PurgeParams{TenantID: tenantA, Before: t0}).Kept)

		f.requireEventStored(seed.kept, "the payload and both messages are kept")
		require.Equal(t, store.StatusSucceeded, f.getMessage(tenantA, "msg_0003").Status, "a final message of a kept event is kept")
		_, err := f.s.AttemptGet(f.ctx, tenantA, "att_msg_0003_1")
		require.NoError(t, err, "and so is its attempt")
		require.Equal(t, store.PurgeResult{Kept: 1}, f.purge(store.PurgeParams{TenantID: tenantA, Before: t0}), "a second pass keeps it again")

		now := t0.Add(time.Hour)
		f.end(f.claim(now, now.Add(time.Minute), 10), now, time.Time{}, map[string]store.MessageStatus{"msg_0004": store.StatusSucceeded})
		require.Equal(t, store.PurgeResult{Events: 1, Messages: 2, Attempts: 2}, f.purge(store.PurgeParams{TenantID: tenantA, Before: t0}))
		f.requireEventMissing(tenantA, "evt_0002")
		f.requireMessageMissing(tenantA, "msg_0003")
		f.requireMessageMissing(tenantA, "msg_0004")
		f.requireAttemptMissing(tenantA, "att_msg_0004_1")
	}},
	{"Purge/never_touches_another_tenant_or_events_created_since_Before", func(t *testing.T, f *fixture) {
		seed := f.seedPurge()
		f.purgeAll(tenantA, t0)
		f.requireEventStored(seed.newer, "created at Before")
		require.Equal(t, store.StatusSucceeded, f.getMessage(tenantA, "msg_0006").Status)
		f.requireEventStored(seed.other, "tenant B's event with tenant A's event ID")
		require.Equal(t, store.StatusSucceeded, f.getMessage(tenantB, "msg_0007").Status)
		_, err := f.s.AttemptGet(f.ctx, tenantB, "att_msg_0007_1")
		require.NoError(t, err)

		require.Equal(t, store.PurgeResult{Events: 1, Messages: 1, Attempts: 1}, f.purgeAll(tenantB, t0))
		f.requireEventMissing(tenantB, "evt_0001")
		f.requireEventStored(seed.kept, "tenant B's purge leaves tenant A alone")
		f.requireEventStored(seed.newer)
	}},
	{"Purge/resumes_with_Next_and_examines_at_most_Limit_events", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		// Minutes before t0, not in key order; two share a time.
		created := []time.Duration{-2, -6, -6, -5, -4, -3, -7}
		for i, d := range created {
			id := fmt.Sprintf("%04d", i+1)
			var msgs []msg
			if i == 3 {
				msgs = append(msgs, msg{id: "msg_" + id, endpoint: "ep_0001", due: t0.Add(time.Hour)})
			}
			f.publish(tenantA, "evt_"+id, "evk_"+id, t0.Add(d*time.Minute), msgs...)
		}
		f.publish(tenantB, "evt_0001", "evk_0101", t0.Add(-10*time.Minute))

		var sum store.PurgeResult
		p := store.PurgeParams{TenantID: tenantA, Before: t0, Limit: 2}
		calls := 0
		for ; calls < 10; calls++ {
			res := f.purge(p)
			require.LessOrEqual(t, res.Events+res.Kept, 2, "call %d examines at most Limit events", calls)
			sum.Events += res.Events
			sum.Messages += res.Messages
			sum.Kept += res.Kept
			if calls == 0 {
				require.Equal(t, 2, res.Events, "the two oldest events")
				f.requireEventMissing(tenantA, "evt_0007", "the oldest event")
				_, err := f.s.EventGet(f.ctx, tenantA, "evt_0001")
				require.NoError(t, err, "the newest event is examined last")
				require.NotEmpty(t, res.Next, "more events are left")
			}
			if res.Next == "" {
				break
			}
			p.After = res.Next
		}
		require.LessOrEqual(t, calls, 4, "seven events in pages of two")
		require.Equal(t, store.PurgeResult{Events: 6, Kept: 1}, sum, "every event is examined once")
		for i := range created {
			id := fmt.Sprintf("evt_%04d", i+1)
			if i == 3 {
				_, err := f.s.EventGet(f.ctx, tenantA, id)
				require.NoError(t, err, "%s has a live message", id)
				continue
			}
			f.requireEventMissing(tenantA, id)
		}
		_, err := f.s.EventGet(f.ctx, tenantB, "evt_0001")
		require.NoError(t, err)
		require.Equal(t, store.PurgeResult{Kept: 1}, f.purge(store.PurgeParams{TenantID: tenantA, Before: t0}), "a new pass starts over")
	}},
	{"Purge/EventGet_finds_a_newer_publish_of_a_purged_event_ID", func(t *testing.T, f *fixture) {
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-3*time.Hour))
		newer, _ := f.publish(tenantA, "evt_0001", "evk_0002", t0.Add(-3*time.Hour+window+time.Second))
		require.Equal(t, store.PurgeResult{Events: 1}, f.purgeAll(tenantA, t0.Add(-2*time.Hour)))
		f.requireEventStored(newer)
		require.Equal(t, store.PurgeResult{Events: 1}, f.purgeAll(tenantA, t0))
		f.requireEventMissing(tenantA, "evt_0001")
		f.publish(tenantA, "evt_0001", "evk_0003", t0) // not a duplicate
	}},
}
