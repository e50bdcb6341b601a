package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

func (f *fixture) requireEventStored(want *store.Event, msgAndArgs ...any) {
	f.t.Helper()
	got, err := f.s.EventGet(f.ctx, want.TenantID, want.ID)
	require.NoError(f.t, err, msgAndArgs...)
	requireEvent(f.t, want, got, msgAndArgs...)
}

func (f *fixture) requireMessageMissing(tenant, id string, msgAndArgs ...any) {
	f.t.Helper()
	_, err := f.s.MessageGet(f.ctx, tenant, id)
	require.ErrorIs(f.t, err, store.ErrNotFound, msgAndArgs...)
}

var eventCases = []testCase{
	{"EventGet/returns_the_event_EventInsert_stored", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		ev, msgs := newEvent(tenantA, "evt_0001", "evk_0001", t0,
			msg{id: "msg_0001", endpoint: "ep_0001"},
			msg{id: "msg_0002", endpoint: "ep_0002", due: t0.Add(5 * time.Minute)})
		res := f.insert(ev, msgs, t0)
		require.False(t, res.Duplicate)
		requireEvent(t, ev, res.Event, "EventInsert returns the stored event")

		other, _ := f.publish(tenantA, "evt_0002", "evk_0002", t0.Add(time.Second))
		f.requireEventStored(ev, "payload and message refs round-trip")
		f.requireEventStored(other)
	}},
	{"EventGet/returns_ErrNotFound_for_a_missing_event", func(t *testing.T, f *fixture) {
		_, err := f.s.EventGet(f.ctx, tenantA, "evt_0001")
		require.ErrorIs(t, err, store.ErrNotFound, "empty store")
		f.publish(tenantA, "evt_0001", "evk_0001", t0)
		_, err = f.s.EventGet(f.ctx, tenantA, "evt_0002")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = f.s.EventGet(f.ctx, tenantA, "evk_0001")
		require.ErrorIs(t, err, store.ErrNotFound, "events are looked up by ID, not by key")
	}},
	{"EventGet/returns_ErrNotFound_for_another_tenant", func(t *testing.T, f *fixture) {
		f.publish(tenantA, "evt_0001", "evk_0001", t0)
		_, err := f.s.EventGet(f.ctx, tenantB, "evt_0001")
		require.ErrorIs(t, err, store.ErrNotFound)
	}},
	{"MessageGet/returns_each_message_EventInsert_stored", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		_, msgs := f.publish(tenantA, "evt_0001", "evk_0001", t0,
			msg{id: "msg_0001", endpoint: "ep_0001"},
			msg{id: "msg_0002", endpoint: "ep_0002", due: t0.Add(5*time.Minute + 3*time.Microsecond)})
		_, more := f.publish(tenantA, "evt_0002", "evk_0002", t0.Add(time.Second),
			msg{id: "msg_0003", endpoint: "ep_0001"})
		for _, m := range append(msgs, more...) {
			requireMessage(t, m, f.getMessage(tenantA, m.ID), "message %s", m.ID)
		}
	}},
	{"MessageGet/returns_ErrNotFound_for_a_missing_message", func(t *testing.T, f *fixture) {
		f.requireMessageMissing(tenantA, "msg_0001", "empty store")
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		f.requireMessageMissing(tenantA, "msg_0002")
	}},
	{"MessageGet/returns_ErrNotFound_for_another_tenant", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		f.requireMessageMissing(tenantB, "msg_0001")
	}},
	{"EventInsert/stores_an_event_without_messages", func(t *testing.T, f *fixture) {
		ev, _ := f.publish(tenantA, "evt_0001", "evk_0001", t0)
		require.Empty(t, ev.Messages)
		f.requireEventStored(ev)
		res := f.claim(t0.Add(time.Hour), t0.Add(2*time.Hour), 10)
		require.Empty(t, res.Claims)
	}},
	{"EventInsert/assigns_each_message_its_place_in_its_endpoints_publish_order", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		// Message IDs are not in publish order.
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0003", endpoint: "ep_0001"}, msg{id: "msg_0005", endpoint: "ep_0002"})
		f.publish(tenantA, "evt_0002", "evk_0002", t0.Add(time.Second), msg{id: "msg_0001", endpoint: "ep_0001"})
		f.publish(tenantA, "evt_0003", "evk_0003", t0.Add(2*time.Second), msg{id: "msg_0002", endpoint: "ep_0001"}, msg{id: "msg_0004", endpoint: "ep_0002"})
		seq := map[string]uint64{}
		for _, id := range ids("msg_%04d", 1, 6) {
			seq[id] = f.getMessage(tenantA, id).Seq
			require.NotZero(t, seq[id], "%s has no Seq", id)
		}
		require.Less(t, seq["msg_0003"], seq["msg_0001"], "ep_0001's first publish before its second")
		require.Less(t, seq["msg_0001"], seq["msg_0002"], "ep_0001's second publish before its third")
		require.Less(t, seq["msg_0005"], seq["msg_0004"], "ep_0002's first publish before its second")

		res := f.claim(t0.Add(time.Minute), t0.Add(2*time.Minute), 10)
		require.Len(t, res.Claims, 5)
		for _, c := range res.Claims {
			require.Equal(t, seq[c.Message.ID], c.Message.Seq, "%s: a claim keeps the Seq", c.Message.ID)
		}
		f.finish(claimOf(t, res, "msg_0003"), store.StatusFailing, "att_0001", t0.Add(time.Minute), t0.Add(time.Hour))
		require.Equal(t, seq["msg_0003"], f.getMessage(tenantA, "msg_0003").Seq, "a completion keeps the Seq")
	}},
	{"EventInsert/reports_a_duplicate_within_the_window_and_writes_nothing", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		first, firstMsgs := f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})

		for i, at := range []time.Duration{0, time.Second, window / 2, window - time.Second} {
			now := t0.Add(at)
			key := fmt.Sprintf("evk_%04d", i+2)
			id := fmt.Sprintf("msg_%04d", i+2)
			dup, dupMsgs := newEvent(tenantA, "evt_0001", key, now, msg{id: id, endpoint: "ep_0001"})
			res := f.insert(dup, dupMsgs, now)
			require.True(t, res.Duplicate, "publish %s after the first", at)
			requireEvent(t, first, res.Event, "the original event is returned (key %s, not %s)", first.Key, key)
			f.requireMessageMissing(tenantA, id, "a duplicate's messages are not written")
		}

		f.requireEventStored(first)
		requireMessage(t, firstMsgs[0], f.getMessage(tenantA, "msg_0001"), "the original message is untouched")
		require.Equal(t, []string{"msg_0001"}, claimIDs(f.claim(t0, t0.Add(time.Minute), 100)))
		require.Equal(t, []string{"msg_0001"}, claimIDs(f.claim(t0.Add(3*window), t0.Add(4*window), 100)),
			"a duplicate's messages are never claimed")
	}},
	{"EventInsert/same_event_ID_for_another_tenant_is_not_a_duplicate", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantB, "ep_0002")
		a, _ := f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		b, bMsgs := newEvent(tenantB, "evt_0001", "evk_0002", t0.Add(time.Second), msg{id: "msg_0002", endpoint: "ep_0002"})
		res := f.insert(b, bMsgs, t0.Add(time.Second))
		require.False(t, res.Duplicate)
		requireEvent(t, b, res.Event)

		f.requireEventStored(a)
		f.requireEventStored(b)
		requireMessage(t, bMsgs[0], f.getMessage(tenantB, "msg_0002"))
		require.Equal(t, []string{"msg_0001", "msg_0002"}, claimIDs(f.claim(t0.Add(time.Minute), t0.Add(time.Hour), 10)))
	}},
	{"EventInsert/same_event_ID_after_the_window_is_a_new_publish", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		_, oldMsgs := f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})

		later := t0.Add(window + time.Second)
		ev, msgs := newEvent(tenantA, "evt_0001", "evk_0002", later, msg{id: "msg_0002", endpoint: "ep_0001"})
		res := f.insert(ev, msgs, later)
		require.False(t, res.Duplicate, "the first publish is outside the window")
		requireEvent(t, ev, res.Event)

		f.requireEventStored(ev, "EventGet returns the latest publish")
		requireMessage(t, oldMsgs[0], f.getMessage(tenantA, "msg_0001"), "the old publish's messages survive")
		requireMessage(t, msgs[0], f.getMessage(tenantA, "msg_0002"))

		res2 := f.claim(later, later.Add(time.Minute), 10)
		require.Equal(t, []string{"msg_0001", "msg_0002"}, claimIDs(res2))
		require.Equal(t, "evk_0001", claimOf(t, res2, "msg_0001").Event.Key, "each message carries its own publish")
		require.Equal(t, "evk_0002", claimOf(t, res2, "msg_0002").Event.Key)
	}},
	{"EventInsert/measures_the_window_from_the_latest_publish", func(t *testing.T, f *fixture) {
		f.publish(tenantA, "evt_0001", "evk_0001", t0)
		second, _ := f.publish(tenantA, "evt_0001", "evk_0002", t0.Add(window+time.Second))

		now := t0.Add(window + window/2)
		dup, _ := newEvent(tenantA, "evt_0001", "evk_0003", now)
		res := f.insert(dup, nil, now)
		require.True(t, res.Duplicate, "within the window of the second publish")
		requireEvent(t, second, res.Event)
	}},
	{"EventInsert/concurrent_publishes_of_one_event_ID_store_it_once", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		const n = 8
		results := make([]store.EventInsertResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				ev, msgs := newEvent(tenantA, "evt_0001", fmt.Sprintf("evk_%04d", i), t0,
					msg{id: fmt.Sprintf("msg_%04d", i), endpoint: "ep_0001"})
				<-start
				results[i], errs[i] = f.s.EventInsert(f.ctx, store.EventInsertParams{
					Event: ev, Messages: msgs, IdempotencyWindow: window, Now: t0,
				})
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for i := range n {
			require.NoError(t, errs[i], "publisher %d", i)
			require.NotNil(t, results[i].Event, "publisher %d", i)
			if !results[i].Duplicate {
				require.Equal(t, -1, winner, "publishers %d and %d both stored the event", winner, i)
				winner = i
			}
		}
		require.NotEqual(t, -1, winner, "every publisher saw a duplicate")
		key := fmt.Sprintf("evk_%04d", winner)
		for i := range n {
			require.Equal(t, key, results[i].Event.Key, "publisher %d", i)
			if i != winner {
				f.requireMessageMissing(tenantA, fmt.Sprintf("msg_%04d", i))
			}
		}
		got, err := f.s.EventGet(f.ctx, tenantA, "evt_0001")
		require.NoError(t, err)
		require.Equal(t, key, got.Key)
		require.Equal(t, []string{fmt.Sprintf("msg_%04d", winner)}, claimIDs(f.claim(t0, t0.Add(time.Minute), 100)))
	}},
}
