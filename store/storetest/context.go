package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// requireCanceled asserts that err reports the cancelled context.
func requireCanceled(t *testing.T, err error, method string) {
	t.Helper()
	require.Error(t, err, "%s with a cancelled context", method)
	require.ErrorIs(t, err, context.Canceled, "%s with a cancelled context", method)
}

var contextCases = []testCase{
	{"CancelledContext/EventTypePut_fails_and_writes_nothing", func(t *testing.T, f *fixture) {
		requireCanceled(t, f.s.EventTypePut(f.cancelled(), newEventType("invoice.paid")), "EventTypePut")
		_, err := f.s.EventTypeGet(f.ctx, "invoice.paid")
		require.ErrorIs(t, err, store.ErrNotFound)
	}},
	{"CancelledContext/EventTypeGet_fails", func(t *testing.T, f *fixture) {
		require.NoError(t, f.s.EventTypePut(f.ctx, newEventType("invoice.paid")))
		_, err := f.s.EventTypeGet(f.cancelled(), "invoice.paid")
		requireCanceled(t, err, "EventTypeGet")
	}},
	{"CancelledContext/EventTypeList_fails", func(t *testing.T, f *fixture) {
		require.NoError(t, f.s.EventTypePut(f.ctx, newEventType("invoice.paid")))
		_, err := f.s.EventTypeList(f.cancelled(), store.ListParams{})
		requireCanceled(t, err, "EventTypeList")
	}},
	{"CancelledContext/EndpointCreate_fails_and_writes_nothing", func(t *testing.T, f *fixture) {
		requireCanceled(t, f.s.EndpointCreate(f.cancelled(), newEndpoint(tenantA, "ep_0001")), "EndpointCreate")
		f.requireEndpointMissing(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0001") // no conflict either
	}},
	{"CancelledContext/EndpointGet_fails", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		_, err := f.s.EndpointGet(f.cancelled(), tenantA, "ep_0001")
		requireCanceled(t, err, "EndpointGet")
	}},
	{"CancelledContext/EndpointList_fails", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		_, err := f.s.EndpointList(f.cancelled(), tenantA, store.ListParams{})
		requireCanceled(t, err, "EndpointList")
	}},
	{"CancelledContext/EndpointListAll_fails", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		_, err := f.s.EndpointListAll(f.cancelled(), tenantA)
		requireCanceled(t, err, "EndpointListAll")
	}},
	{"CancelledContext/EndpointUpdate_fails_and_writes_nothing", func(t *testing.T, f *fixture) {
		orig := f.createEndpoint(tenantA, "ep_0001")
		upd := newEndpoint(tenantA, "ep_0001")
		upd.URL = "https://hooks.example.com/changed"
		upd.Enabled = false
		requireCanceled(t, f.s.EndpointUpdate(f.cancelled(), upd, t0), "EndpointUpdate")
		f.requireEndpointStored(orig)
	}},
	{"CancelledContext/EndpointDelete_fails_and_writes_nothing", func(t *testing.T, f *fixture) {
		orig := f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		requireCanceled(t, f.s.EndpointDelete(f.cancelled(), tenantA, "ep_0001", t0), "EndpointDelete")
		f.requireEndpointStored(orig)
		require.Equal(t, store.StatusPending, f.getMessage(tenantA, "msg_0001").Status)
		require.Equal(t, []string{"msg_0001"}, claimIDs(f.claim(t0, t0.Add(time.Minute), 10)))
	}},
	{"CancelledContext/EventInsert_fails_and_writes_nothing", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		ev, msgs := newEvent(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		_, err := f.s.EventInsert(f.cancelled(), store.EventInsertParams{
			Event: ev, Messages: msgs, IdempotencyWindow: window, Now: t0,
		})
		requireCanceled(t, err, "EventInsert")
		_, err = f.s.EventGet(f.ctx, tenantA, "evt_0001")
		require.ErrorIs(t, err, store.ErrNotFound)
		f.requireMessageMissing(tenantA, "msg_0001")
		require.Empty(t, f.claim(t0, t0.Add(time.Minute), 10).Claims)
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"}) // not a duplicate
	}},
	{"CancelledContext/EventGet_fails", func(t *testing.T, f *fixture) {
		f.publish(tenantA, "evt_0001", "evk_0001", t0)
		_, err := f.s.EventGet(f.cancelled(), tenantA, "evt_0001")
		requireCanceled(t, err, "EventGet")
	}},
	{"CancelledContext/MessageGet_fails", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		_, err := f.s.MessageGet(f.cancelled(), tenantA, "msg_0001")
		requireCanceled(t, err, "MessageGet")
	}},
	{"CancelledContext/MessageClaim_fails_and_leases_nothing", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		_, msgs := f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		_, err := f.s.MessageClaim(f.cancelled(), store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
		requireCanceled(t, err, "MessageClaim")
		requireMessage(t, msgs[0], f.getMessage(tenantA, "msg_0001"))
		require.Equal(t, []string{"msg_0001"}, claimIDs(f.claim(t0, t0.Add(time.Minute), 10)))
	}},
	{"CancelledContext/MessageComplete_fails_and_writes_nothing", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		before := f.getMessage(tenantA, "msg_0001")
		p := store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c.Message.LeaseToken, Attempt: newAttempt("att_0001", c, 1, t0),
			Status: store.StatusSucceeded, Now: t0.Add(time.Second),
		}
		requireCanceled(t, f.s.MessageComplete(f.cancelled(), p), "MessageComplete")
		requireMessage(t, before, f.getMessage(tenantA, "msg_0001"))
		require.Empty(t, f.attemptList(tenantA, store.AttemptListParams{}))
		f.complete(p) // the lease still holds
		f.requireFinal("msg_0001", store.StatusSucceeded, 1)
	}},
	{"CancelledContext/MessageListExhausted_fails", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		f.finish(c, store.StatusExhausted, "att_0001", t0.Add(time.Second), time.Time{})
		_, err := f.s.MessageListExhausted(f.cancelled(), tenantA, store.MessageListParams{})
		requireCanceled(t, err, "MessageListExhausted")
	}},
	{"CancelledContext/AttemptList_fails", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c.Message.LeaseToken, Attempt: newAttempt("att_0001", c, 1, t0),
			Status: store.StatusSucceeded, Now: t0.Add(time.Second),
		})
		_, err := f.s.AttemptList(f.cancelled(), tenantA, store.AttemptListParams{})
		requireCanceled(t, err, "AttemptList")
		_, err = f.s.AttemptGet(f.cancelled(), tenantA, "att_0001")
		requireCanceled(t, err, "AttemptGet")
	}},
	{"CancelledContext/MessageGetMany_fails", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		_, err := f.s.MessageGetMany(f.cancelled(), tenantA, []string{"msg_0001"})
		requireCanceled(t, err, "MessageGetMany")
	}},
	{"CancelledContext/MessageInsert_fails_and_writes_nothing", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0)
		_, err := f.s.MessageInsert(f.cancelled(), store.MessageInsertParams{
			TenantID: tenantA, EventKey: "evk_0001", Now: t0,
			Messages: []*store.Message{newReplay(tenantA, "evt_0001", "evk_0001", "msg_0001", "ep_0001", t0)},
		})
		requireCanceled(t, err, "MessageInsert")
		f.requireMessageMissing(tenantA, "msg_0001")
		require.Empty(t, f.claim(t0, t0.Add(time.Minute), 10).Claims)
	}},
	{"CancelledContext/MessageRetry_fails_and_writes_nothing", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		f.finish(c, store.StatusExhausted, "att_0001", t0.Add(time.Second), time.Time{})
		before := f.getMessage(tenantA, "msg_0001")
		_, err := f.s.MessageRetry(f.cancelled(), store.MessageRetryParams{
			TenantID: tenantA, MessageIDs: []string{"msg_0001"}, Trigger: store.TriggerManual, Now: t0.Add(time.Minute),
		})
		requireCanceled(t, err, "MessageRetry")
		requireMessage(t, before, f.getMessage(tenantA, "msg_0001"))
	}},
	{"CancelledContext/EndpointStats_fails", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		_, err := f.s.EndpointStats(f.cancelled(), store.EndpointStatsParams{TenantID: tenantA, EndpointID: "ep_0001", Since: t0, Until: t0.Add(time.Hour)})
		requireCanceled(t, err, "EndpointStats")
	}},
	{"CancelledContext/recovery_methods_fail_and_write_nothing", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		f.finish(c, store.StatusExhausted, "att_0001", t0.Add(time.Second), time.Time{})
		r := newRecovery(tenantA, "rec_0001", store.RecoverExhausted, "", time.Time{}, t0)
		requireCanceled(t, f.s.RecoveryCreate(f.cancelled(), r), "RecoveryCreate")
		_, err := f.s.RecoveryGet(f.ctx, tenantA, "rec_0001")
		require.ErrorIs(t, err, store.ErrNotFound)

		f.createRecovery(r)
		_, err = f.s.RecoveryGet(f.cancelled(), tenantA, "rec_0001")
		requireCanceled(t, err, "RecoveryGet")
		_, err = f.s.RecoveryListUnfinished(f.cancelled())
		requireCanceled(t, err, "RecoveryListUnfinished")
		_, err = f.s.RecoveryStep(f.cancelled(), tenantA, "rec_0001", 10, t0.Add(time.Minute))
		requireCanceled(t, err, "RecoveryStep")
		got, err := f.s.RecoveryGet(f.ctx, tenantA, "rec_0001")
		require.NoError(t, err)
		requireRecovery(t, r, got)
		require.Equal(t, store.StatusExhausted, f.getMessage(tenantA, "msg_0001").Status)
	}},
	{"CancelledContext/tenant_methods_fail_and_write_nothing", func(t *testing.T, f *fixture) {
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Hour))
		requireCanceled(t, f.s.TenantSettingsPut(f.cancelled(), &store.TenantSettings{TenantID: tenantA, UpdatedAt: t0}), "TenantSettingsPut")
		_, err := f.s.TenantSettingsGet(f.ctx, tenantA)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = f.s.TenantSettingsGet(f.cancelled(), tenantA)
		requireCanceled(t, err, "TenantSettingsGet")
		_, err = f.s.TenantList(f.cancelled(), store.ListParams{})
		requireCanceled(t, err, "TenantList")
		_, err = f.s.Purge(f.cancelled(), store.PurgeParams{TenantID: tenantA, Before: t0})
		requireCanceled(t, err, "Purge")
		_, err = f.s.EventGet(f.ctx, tenantA, "evt_0001")
		require.NoError(t, err, "the event is not purged")
	}},
}
