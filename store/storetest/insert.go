package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// newReplay returns a pending message due at now for the stored event
// (tenant, eventID, key), as the root package builds it for MessageInsert.
func newReplay(tenant, eventID, key, id, endpoint string, now time.Time) *store.Message {
	return &store.Message{
		ID:            id,
		TenantID:      tenant,
		EndpointID:    endpoint,
		EventID:       eventID,
		EventKey:      key,
		Status:        store.StatusPending,
		NextAttemptAt: now,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
}

// insertMessages calls MessageInsert and fails the test on error.
func (f *fixture) insertMessages(tenant, key string, now time.Time, msgs ...*store.Message) []string {
	f.t.Helper()
	written, err := f.s.MessageInsert(f.ctx, store.MessageInsertParams{TenantID: tenant, EventKey: key, Messages: msgs, Now: now})
	require.NoError(f.t, err, "MessageInsert(%s, %s)", tenant, key)
	return written
}

// refs returns the MessageRefs of (message, endpoint) pairs.
func refs(pairs ...string) []store.MessageRef {
	var out []store.MessageRef
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, store.MessageRef{MessageID: pairs[i], EndpointID: pairs[i+1]})
	}
	return out
}

// eventMessages returns the Messages of the event EventGet returns.
func (f *fixture) eventMessages(tenant, id string) []store.MessageRef {
	f.t.Helper()
	ev, err := f.s.EventGet(f.ctx, tenant, id)
	require.NoError(f.t, err, "EventGet(%s, %s)", tenant, id)
	return normSlice(ev.Messages)
}

var messageInsertCases = []testCase{
	{"MessageInsert/adds_claimable_messages_to_a_stored_event", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		f.createEndpoint(tenantA, "ep_0003")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0005", endpoint: "ep_0001"})
		f.finish(claimOf(t, f.claim(t0, t0.Add(time.Minute), 10), "msg_0005"), store.StatusSucceeded, "att_0001", t0.Add(time.Second), time.Time{})

		now := t0.Add(time.Hour)
		add := []*store.Message{
			newReplay(tenantA, "evt_0001", "evk_0001", "msg_0007", "ep_0003", now),
			newReplay(tenantA, "evt_0001", "evk_0001", "msg_0002", "ep_0002", now),
		}
		require.Equal(t, []string{"msg_0007", "msg_0002"}, f.insertMessages(tenantA, "evk_0001", now, add...))
		old := f.getMessage(tenantA, "msg_0005")
		for _, m := range add {
			got := f.getMessage(tenantA, m.ID)
			requireMessage(t, m, got, "%s is stored as given", m.ID)
			require.Greater(t, got.Seq, old.Seq, "%s is published after msg_0005", m.ID)
		}
		want := refs("msg_0002", "ep_0002", "msg_0005", "ep_0001", "msg_0007", "ep_0003")
		require.Equal(t, want, f.eventMessages(tenantA, "evt_0001"), "EventGet lists every message in message ID order")

		require.Empty(t, f.claim(now.Add(-time.Microsecond), now, 10).Claims, "not due before NextAttemptAt")
		res := f.claim(now, now.Add(time.Minute), 10)
		require.Equal(t, []string{"msg_0002", "msg_0007"}, claimIDs(res))
		for _, c := range res.Claims {
			require.Equal(t, "evk_0001", c.Event.Key)
			require.Equal(t, want, normSlice(c.Event.Messages), "%s: the claim's event lists the added messages", c.Message.ID)
			require.NotEmpty(t, c.Event.Payload)
		}
	}},
	{"MessageInsert/skips_an_endpoint_that_has_a_message_for_the_event_or_no_longer_exists", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		f.createEndpoint(tenantA, "ep_0003")
		f.createEndpoint(tenantB, "ep_0004")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		require.NoError(t, f.s.EndpointDelete(f.ctx, tenantA, "ep_0002", t0.Add(time.Second)))

		now := t0.Add(time.Minute)
		replay := func(id, endpoint string) *store.Message {
			return newReplay(tenantA, "evt_0001", "evk_0001", id, endpoint, now)
		}
		written := f.insertMessages(tenantA, "evk_0001", now,
			replay("msg_0002", "ep_0001"), // already has msg_0001
			replay("msg_0003", "ep_0002"), // deleted
			replay("msg_0004", "ep_0009"), // never existed
			replay("msg_0005", "ep_0004"), // tenant B's
			replay("msg_0006", "ep_0003"))
		require.Equal(t, []string{"msg_0006"}, written)
		for _, id := range []string{"msg_0002", "msg_0003", "msg_0004", "msg_0005"} {
			f.requireMessageMissing(tenantA, id, "%s is not written", id)
			f.requireMessageMissing(tenantB, id, "%s is not written", id)
		}
		require.Equal(t, refs("msg_0001", "ep_0001", "msg_0006", "ep_0003"), f.eventMessages(tenantA, "evt_0001"))

		require.Empty(t, f.insertMessages(tenantA, "evk_0001", now, replay("msg_0007", "ep_0003")),
			"ep_0003 now has a message for the event")
		f.requireMessageMissing(tenantA, "msg_0007")
		require.Equal(t, []string{"msg_0001", "msg_0006"}, claimIDs(f.claim(now, now.Add(time.Minute), 10)))
	}},
	{"MessageInsert/returns_ErrNotFound_for_an_unknown_event_or_another_tenants_event", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantB, "ep_0002")
		f.publish(tenantA, "evt_0001", "evk_0001", t0)
		for _, c := range []struct {
			tenant, key, endpoint string
		}{
			{tenantB, "evk_0001", "ep_0002"}, // tenant A's event
			{tenantA, "evk_0009", "ep_0001"}, // unknown key
			{tenantA, "evt_0001", "ep_0001"}, // an event ID is not its key
		} {
			m := newReplay(c.tenant, "evt_0001", c.key, "msg_0001", c.endpoint, t0)
			written, err := f.s.MessageInsert(f.ctx, store.MessageInsertParams{TenantID: c.tenant, EventKey: c.key, Messages: []*store.Message{m}, Now: t0})
			require.ErrorIs(t, err, store.ErrNotFound, "MessageInsert(%s, %s)", c.tenant, c.key)
			require.Empty(t, written)
			f.requireMessageMissing(c.tenant, "msg_0001")
		}
		require.Empty(t, f.claim(t0.Add(time.Hour), t0.Add(2*time.Hour), 10).Claims)
		require.Empty(t, f.eventMessages(tenantA, "evt_0001"))
	}},
	{"MessageInsert/adds_to_the_publish_named_by_EventKey", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		later := t0.Add(window + time.Second)
		f.publish(tenantA, "evt_0001", "evk_0002", later, msg{id: "msg_0002", endpoint: "ep_0001"})

		require.Equal(t, []string{"msg_0003"}, f.insertMessages(tenantA, "evk_0001", later,
			newReplay(tenantA, "evt_0001", "evk_0001", "msg_0003", "ep_0002", later)))
		require.Equal(t, refs("msg_0002", "ep_0001"), f.eventMessages(tenantA, "evt_0001"), "EventGet returns the latest publish")
		res := f.claim(later, later.Add(time.Minute), 10)
		c := claimOf(t, res, "msg_0003")
		require.Equal(t, "evk_0001", c.Event.Key)
		require.Equal(t, refs("msg_0001", "ep_0001", "msg_0003", "ep_0002"), normSlice(c.Event.Messages))
	}},
	{"EventGet/lists_the_messages_in_message_ID_order_whatever_the_insert_order", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		ev, _ := f.publish(tenantA, "evt_0001", "evk_0001", t0,
			msg{id: "msg_0003", endpoint: "ep_0001"},
			msg{id: "msg_0001", endpoint: "ep_0002"},
			msg{id: "msg_0002", endpoint: "ep_0001"})
		want := refs("msg_0001", "ep_0002", "msg_0002", "ep_0001", "msg_0003", "ep_0001")
		require.Equal(t, want, f.eventMessages(tenantA, "evt_0001"))
		ev.Messages = want
		f.requireEventStored(ev)
		require.Equal(t, want, normSlice(claimOf(t, f.claim(t0, t0.Add(time.Minute), 10), "msg_0003").Event.Messages))
	}},
	{"MessageGetMany/returns_the_tenants_messages_in_the_order_of_ids", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantB, "ep_0002")
		f.publish(tenantA, "evt_0001", "evk_0001", t0,
			msg{id: "msg_0001", endpoint: "ep_0001"},
			msg{id: "msg_0002", endpoint: "ep_0001"},
			msg{id: "msg_0003", endpoint: "ep_0001"})
		f.publish(tenantB, "evt_0001", "evk_0002", t0, msg{id: "msg_0004", endpoint: "ep_0002"})
		f.finish(claimOf(t, f.claim(t0, t0.Add(time.Minute), 10), "msg_0001"), store.StatusFailing, "att_0001", t0.Add(time.Second), t0.Add(time.Hour))

		get := func(tenant string, ids ...string) []string {
			t.Helper()
			list, err := f.s.MessageGetMany(f.ctx, tenant, ids)
			require.NoError(t, err)
			var out []string
			for _, m := range list {
				requireMessage(t, f.getMessage(tenant, m.ID), m, "%s is as MessageGet returns it", m.ID)
				out = append(out, m.ID)
			}
			return out
		}
		require.Equal(t, []string{"msg_0003", "msg_0001", "msg_0002"}, get(tenantA, "msg_0003", "msg_0009", "msg_0001", "msg_0004", "msg_0002"),
			"unknown IDs and another tenant's are left out")
		require.Equal(t, []string{"msg_0004"}, get(tenantB, "msg_0001", "msg_0004"))
		require.Empty(t, get(tenantA))
		require.Empty(t, get("tenant_c", "msg_0001"))
	}},
}
