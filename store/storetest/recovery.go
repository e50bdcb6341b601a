package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// newRecovery returns a job that has not started.
func newRecovery(tenant, id string, source store.RecoverySource, endpoint string, since, created time.Time) *store.Recovery {
	return &store.Recovery{
		ID:         id,
		TenantID:   tenant,
		Source:     source,
		EndpointID: endpoint,
		Since:      since,
		CreatedAt:  created,
		UpdatedAt:  created,
	}
}

// createRecovery stores r and fails the test on error.
func (f *fixture) createRecovery(r *store.Recovery) {
	f.t.Helper()
	require.NoError(f.t, f.s.RecoveryCreate(f.ctx, r), "RecoveryCreate(%s)", r.ID)
}

// step calls RecoveryStep, fails the test on error, and checks that
// RecoveryGet then returns the job it returned.
func (f *fixture) step(tenant, id string, limit int, now time.Time) *store.Recovery {
	f.t.Helper()
	r, err := f.s.RecoveryStep(f.ctx, tenant, id, limit, now)
	require.NoError(f.t, err, "RecoveryStep(%s, %s)", tenant, id)
	require.NotNil(f.t, r)
	got, err := f.s.RecoveryGet(f.ctx, tenant, id)
	require.NoError(f.t, err, "RecoveryGet(%s, %s)", tenant, id)
	requireRecovery(f.t, r, got, "the step's progress is saved")
	return r
}

// progress is what a job has counted.
type progress struct {
	scanned, retried, skipped int
	done                      bool
}

func progressOf(r *store.Recovery) progress {
	return progress{scanned: r.Scanned, retried: r.Retried, skipped: r.Skipped, done: r.Done}
}

func normRecovery(r *store.Recovery) *store.Recovery {
	c := *r
	c.Since = normTime(c.Since)
	c.CreatedAt = normTime(c.CreatedAt)
	c.UpdatedAt = normTime(c.UpdatedAt)
	return &c
}

func requireRecovery(t *testing.T, want, got *store.Recovery, msgAndArgs ...any) {
	t.Helper()
	require.NotNil(t, got, msgAndArgs...)
	require.Equal(t, normRecovery(want), normRecovery(got), msgAndArgs...)
}

// publishOne publishes message id for endpoint in its own event, created and
// due at created.
func (f *fixture) publishOne(tenant, id, endpoint string, created time.Time) {
	f.t.Helper()
	f.publish(tenant, "evt_"+id, "evk_"+id, created, msg{id: id, endpoint: endpoint})
}

// end completes the claimed messages of res with the given statuses (an
// attempt each, except for StatusCancelled); failing ones are due at next.
func (f *fixture) end(res store.MessageClaimResult, now, next time.Time, status map[string]store.MessageStatus) {
	f.t.Helper()
	for id, st := range status {
		c := claimOf(f.t, res, id)
		att := fmt.Sprintf("att_%s_%d", id, c.Message.Attempts+1)
		if st == store.StatusCancelled {
			att = ""
		}
		var due time.Time
		if st == store.StatusFailing {
			due = next
		}
		f.finish(c, st, att, now, due)
	}
}

// resumeInSmallSteps runs a job over seven exhausted messages (and a
// succeeded one) in steps of two; between steps the retried messages are
// claimed and exhausted again. Each must be retried exactly once.
func resumeInSmallSteps(t *testing.T, f *fixture, source store.RecoverySource, scanned int) {
	f.createEndpoint(tenantA, "ep_0001")
	status := map[string]store.MessageStatus{"msg_0008": store.StatusSucceeded}
	for i := 1; i <= 7; i++ {
		id := fmt.Sprintf("msg_%04d", i)
		// Creation order differs from ID order.
		f.publishOne(tenantA, id, "ep_0001", t0.Add(-time.Duration((i*3)%7+1)*time.Minute))
		status[id] = store.StatusExhausted
	}
	f.publishOne(tenantA, "msg_0008", "ep_0001", t0.Add(-4*time.Minute+time.Second))
	f.end(f.claim(t0, t0.Add(time.Minute), 100), t0, time.Time{}, status)

	f.createRecovery(newRecovery(tenantA, "rec_0001", source, "ep_0001", time.Time{}, t0))
	retried := map[string]int{}
	var r *store.Recovery
	for i := 0; ; i++ {
		require.Less(t, i, 10, "the job does not end")
		now := t0.Add(time.Duration(i+1) * time.Minute)
		r = f.step(tenantA, "rec_0001", 2, now)
		require.LessOrEqual(t, r.Scanned, 2*(i+1), "a step examines at most limit candidates")
		res := f.claim(now, now.Add(time.Minute), 100)
		again := map[string]store.MessageStatus{}
		for _, c := range res.Claims {
			require.Equal(t, store.TriggerReplay, c.Message.Trigger, "%s", c.Message.ID)
			retried[c.Message.ID]++
			again[c.Message.ID] = store.StatusExhausted
		}
		f.end(res, now.Add(time.Second), time.Time{}, again)
		if r.Done {
			break
		}
	}
	want := map[string]int{}
	for i := 1; i <= 7; i++ {
		want[fmt.Sprintf("msg_%04d", i)] = 1
	}
	require.Equal(t, want, retried, "each candidate is retried exactly once")
	require.Equal(t, progress{scanned: scanned, retried: 7, done: true}, progressOf(r))

	done := f.step(tenantA, "rec_0001", 100, t0.Add(time.Hour))
	require.Equal(t, progressOf(r), progressOf(done), "a Done job stays as it is")
	require.Empty(t, f.claim(t0.Add(time.Hour), t0.Add(2*time.Hour), 100).Claims, "and retries nothing")
}

var recoveryCases = []testCase{
	{"RecoveryCreate/stores_a_job_that_RecoveryGet_returns", func(t *testing.T, f *fixture) {
		r := newRecovery(tenantA, "rec_0001", store.RecoverEndpoint, "ep_0001", t0.Add(-time.Hour), t0)
		f.createRecovery(r)
		got, err := f.s.RecoveryGet(f.ctx, tenantA, "rec_0001")
		require.NoError(t, err)
		requireRecovery(t, r, got)

		require.ErrorIs(t, f.s.RecoveryCreate(f.ctx, newRecovery(tenantA, "rec_0001", store.RecoverExhausted, "", time.Time{}, t0)), store.ErrConflict)
		require.ErrorIs(t, f.s.RecoveryCreate(f.ctx, newRecovery(tenantB, "rec_0001", store.RecoverExhausted, "", time.Time{}, t0)), store.ErrConflict,
			"IDs are unique across tenants")
		got, err = f.s.RecoveryGet(f.ctx, tenantA, "rec_0001")
		require.NoError(t, err)
		requireRecovery(t, r, got, "a conflict writes nothing")
	}},
	{"RecoveryGet/returns_ErrNotFound_for_a_missing_job_or_another_tenant", func(t *testing.T, f *fixture) {
		_, err := f.s.RecoveryGet(f.ctx, tenantA, "rec_0001")
		require.ErrorIs(t, err, store.ErrNotFound, "empty store")
		f.createRecovery(newRecovery(tenantA, "rec_0001", store.RecoverExhausted, "", time.Time{}, t0))
		_, err = f.s.RecoveryGet(f.ctx, tenantB, "rec_0001")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = f.s.RecoveryGet(f.ctx, tenantA, "rec_0002")
		require.ErrorIs(t, err, store.ErrNotFound)
	}},
	{"RecoveryListUnfinished/lists_the_unfinished_jobs_of_every_tenant_oldest_first", func(t *testing.T, f *fixture) {
		list, err := f.s.RecoveryListUnfinished(f.ctx)
		require.NoError(t, err)
		require.Empty(t, list, "empty store")
		jobs := []*store.Recovery{
			newRecovery(tenantA, "rec_0001", store.RecoverExhausted, "", time.Time{}, t0.Add(2*time.Second)),
			newRecovery(tenantB, "rec_0002", store.RecoverExhausted, "", time.Time{}, t0),
			newRecovery(tenantA, "rec_0003", store.RecoverExhausted, "", time.Time{}, t0.Add(time.Second)),
			newRecovery(tenantB, "rec_0004", store.RecoverEndpoint, "ep_0001", t0.Add(-time.Hour), t0.Add(3*time.Second)),
		}
		for _, r := range jobs {
			f.createRecovery(r)
		}
		require.True(t, f.step(tenantA, "rec_0003", 10, t0.Add(time.Minute)).Done, "nothing to retry: the first step reaches the end")

		list, err = f.s.RecoveryListUnfinished(f.ctx)
		require.NoError(t, err)
		require.Len(t, list, 3)
		for i, want := range []*store.Recovery{jobs[1], jobs[0], jobs[3]} {
			requireRecovery(t, want, list[i], "job %d", i)
		}
	}},
	{"RecoveryStep/endpoint_source_retries_the_failing_and_exhausted_messages_created_since", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		f.publishOne(tenantA, "msg_0001", "ep_0001", t0.Add(-2*time.Hour))
		f.publishOne(tenantA, "msg_0002", "ep_0001", t0.Add(-30*time.Minute))
		f.publishOne(tenantA, "msg_0003", "ep_0001", t0.Add(-20*time.Minute))
		f.publishOne(tenantA, "msg_0004", "ep_0001", t0.Add(-20*time.Minute))
		f.publish(tenantA, "evt_0005", "evk_0005", t0.Add(-10*time.Minute), msg{id: "msg_0005", endpoint: "ep_0001", due: t0.Add(5 * time.Hour)})
		f.publishOne(tenantA, "msg_0006", "ep_0002", t0.Add(-10*time.Minute))
		f.publishOne(tenantA, "msg_0007", "ep_0001", t0.Add(-10*time.Minute))
		f.end(f.claim(t0.Add(-5*time.Minute), t0, 100), t0.Add(-4*time.Minute), t0.Add(5*time.Hour), map[string]store.MessageStatus{
			"msg_0001": store.StatusExhausted, "msg_0002": store.StatusExhausted, "msg_0003": store.StatusFailing,
			"msg_0004": store.StatusSucceeded, "msg_0006": store.StatusExhausted, "msg_0007": store.StatusCancelled,
		})
		before := map[string]*store.Message{}
		for _, id := range []string{"msg_0001", "msg_0003", "msg_0004", "msg_0005", "msg_0006", "msg_0007"} {
			before[id] = f.getMessage(tenantA, id)
		}

		f.createRecovery(newRecovery(tenantA, "rec_0001", store.RecoverEndpoint, "ep_0001", t0.Add(-time.Hour), t0))
		now := t0.Add(time.Hour)
		r := f.step(tenantA, "rec_0001", 100, now)
		require.Equal(t, progress{scanned: 5, retried: 2, done: true}, progressOf(r),
			"msg_0002 to msg_0005 and msg_0007 are examined; msg_0002 and msg_0003 retried")
		f.requireReopened(tenantA, "msg_0002", 1, store.TriggerReplay, now)
		m := f.getMessage(tenantA, "msg_0003")
		require.Equal(t, store.StatusFailing, m.Status)
		require.Equal(t, store.TriggerReplay, m.Trigger)
		requireTime(t, now, m.NextAttemptAt, "a failing message is moved up")
		require.Equal(t, before["msg_0003"].Seq, m.Seq)
		for _, id := range []string{"msg_0001", "msg_0004", "msg_0005", "msg_0006", "msg_0007"} {
			requireMessage(t, before[id], f.getMessage(tenantA, id), "%s is not retried", id)
		}
		require.Equal(t, []string{"msg_0002", "msg_0003"}, claimIDs(f.claim(now, now.Add(time.Minute), 100)))
	}},
	{"RecoveryStep/exhausted_source_retries_the_tenants_exhausted_messages_in_ID_order", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		f.createEndpoint(tenantB, "ep_0003")
		f.publish(tenantA, "evt_0001", "evk_0001", t0,
			msg{id: "msg_0001", endpoint: "ep_0001"},
			msg{id: "msg_0002", endpoint: "ep_0002"},
			msg{id: "msg_0003", endpoint: "ep_0001"},
			msg{id: "msg_0004", endpoint: "ep_0001"})
		f.publishOne(tenantB, "msg_0005", "ep_0003", t0)
		f.end(f.claim(t0, t0.Add(time.Minute), 100), t0.Add(time.Second), t0.Add(5*time.Hour), map[string]store.MessageStatus{
			"msg_0001": store.StatusExhausted, "msg_0002": store.StatusExhausted, "msg_0003": store.StatusFailing,
			"msg_0004": store.StatusExhausted, "msg_0005": store.StatusExhausted,
		})
		failing := f.getMessage(tenantA, "msg_0003")
		other := f.getMessage(tenantB, "msg_0005")

		f.createRecovery(newRecovery(tenantA, "rec_0001", store.RecoverExhausted, "ep_0001", time.Time{}, t0))
		now := t0.Add(time.Minute)
		r := f.step(tenantA, "rec_0001", 1, now)
		require.Equal(t, progress{scanned: 1, retried: 1}, progressOf(r))
		f.requireReopened(tenantA, "msg_0001", 1, store.TriggerReplay, now)
		require.Equal(t, store.StatusExhausted, f.getMessage(tenantA, "msg_0004").Status, "msg_0004 comes after msg_0001")
		r = f.step(tenantA, "rec_0001", 10, now)
		require.Equal(t, progress{scanned: 2, retried: 2, done: true}, progressOf(r))
		f.requireReopened(tenantA, "msg_0004", 1, store.TriggerReplay, now)
		require.Equal(t, store.StatusExhausted, f.getMessage(tenantA, "msg_0002").Status, "only EndpointID's messages")

		f.createRecovery(newRecovery(tenantA, "rec_0002", store.RecoverExhausted, "", time.Time{}, t0))
		r = f.step(tenantA, "rec_0002", 10, now)
		require.Equal(t, progress{scanned: 1, retried: 1, done: true}, progressOf(r))
		f.requireReopened(tenantA, "msg_0002", 1, store.TriggerReplay, now)
		requireMessage(t, failing, f.getMessage(tenantA, "msg_0003"), "a failing message is not a candidate")
		requireMessage(t, other, f.getMessage(tenantB, "msg_0005"), "another tenant's message is left alone")
		require.Equal(t, []string{"msg_0005"}, f.exhaustedIDs(tenantB, store.MessageListParams{}))
	}},
	{"RecoveryStep/endpoint_source_resumes_after_each_step_and_retries_each_message_once", func(t *testing.T, f *fixture) {
		resumeInSmallSteps(t, f, store.RecoverEndpoint, 8)
	}},
	{"RecoveryStep/exhausted_source_resumes_after_each_step_and_retries_each_message_once", func(t *testing.T, f *fixture) {
		resumeInSmallSteps(t, f, store.RecoverExhausted, 7)
	}},
	{"RecoveryStep/counts_leased_messages_and_disabled_or_deleted_endpoints_as_skipped", func(t *testing.T, f *fixture) {
		for _, id := range []string{"ep_0001", "ep_0002", "ep_0003"} {
			f.createEndpoint(tenantA, id)
		}
		f.publish(tenantA, "evt_0001", "evk_0001", t0,
			msg{id: "msg_0001", endpoint: "ep_0001"},
			msg{id: "msg_0002", endpoint: "ep_0001"},
			msg{id: "msg_0003", endpoint: "ep_0002"},
			msg{id: "msg_0004", endpoint: "ep_0002"},
			msg{id: "msg_0005", endpoint: "ep_0003"},
			msg{id: "msg_0008", endpoint: "ep_0001", due: t0.Add(time.Minute)})
		res := f.claim(t0, t0.Add(time.Minute), 100)
		f.end(res, t0.Add(time.Second), t0.Add(time.Minute), map[string]store.MessageStatus{
			"msg_0001": store.StatusFailing, "msg_0002": store.StatusExhausted, "msg_0003": store.StatusExhausted,
			"msg_0005": store.StatusExhausted,
		})
		f.end(res, t0.Add(time.Second), t0.Add(5*time.Hour), map[string]store.MessageStatus{"msg_0004": store.StatusFailing})
		// msg_0001 is leased for a retry, msg_0008 for its first attempt.
		require.Equal(t, []string{"msg_0001", "msg_0008"}, claimsFor(f.claim(t0.Add(time.Minute), t0.Add(time.Hour), 100), "ep_0001"))
		f.updateEndpoint(tenantA, "ep_0002", t0.Add(2*time.Minute), func(e *store.Endpoint) { e.Enabled, e.DisabledReason = false, "paused" })
		require.NoError(t, f.s.EndpointDelete(f.ctx, tenantA, "ep_0003", t0.Add(2*time.Minute)))
		alone := map[string]*store.Message{}
		for _, id := range []string{"msg_0001", "msg_0003", "msg_0004", "msg_0005", "msg_0008"} {
			alone[id] = f.getMessage(tenantA, id)
		}

		now := t0.Add(10 * time.Minute)
		f.createRecovery(newRecovery(tenantA, "rec_0001", store.RecoverEndpoint, "ep_0001", time.Time{}, t0))
		f.createRecovery(newRecovery(tenantA, "rec_0002", store.RecoverEndpoint, "ep_0002", time.Time{}, t0))
		f.createRecovery(newRecovery(tenantA, "rec_0003", store.RecoverExhausted, "", time.Time{}, t0))
		require.Equal(t, progress{scanned: 3, retried: 1, skipped: 1, done: true}, progressOf(f.step(tenantA, "rec_0001", 100, now)),
			"msg_0001 is leased, msg_0002 retried, msg_0008 not failing")
		require.Equal(t, progress{scanned: 2, skipped: 2, done: true}, progressOf(f.step(tenantA, "rec_0002", 100, now)),
			"ep_0002 is disabled")
		require.Equal(t, progress{scanned: 2, skipped: 2, done: true}, progressOf(f.step(tenantA, "rec_0003", 100, now)),
			"msg_0003's endpoint is disabled, msg_0005's deleted")
		for id, m := range alone {
			requireMessage(t, m, f.getMessage(tenantA, id), "%s is left alone", id)
		}
		f.requireReopened(tenantA, "msg_0002", 1, store.TriggerReplay, now)
	}},
	{"RecoveryStep/returns_ErrNotFound_for_another_tenants_job_and_retries_nothing", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publishOne(tenantA, "msg_0001", "ep_0001", t0)
		f.end(f.claim(t0, t0.Add(time.Minute), 10), t0, time.Time{}, map[string]store.MessageStatus{"msg_0001": store.StatusExhausted})
		before := f.getMessage(tenantA, "msg_0001")
		job := newRecovery(tenantA, "rec_0001", store.RecoverExhausted, "", time.Time{}, t0)
		f.createRecovery(job)

		for _, c := range []struct{ tenant, id string }{{tenantB, "rec_0001"}, {tenantA, "rec_0009"}} {
			r, err := f.s.RecoveryStep(f.ctx, c.tenant, c.id, 10, t0.Add(time.Minute))
			require.ErrorIs(t, err, store.ErrNotFound, "RecoveryStep(%s, %s)", c.tenant, c.id)
			require.Nil(t, r)
		}
		requireMessage(t, before, f.getMessage(tenantA, "msg_0001"))
		got, err := f.s.RecoveryGet(f.ctx, tenantA, "rec_0001")
		require.NoError(t, err)
		requireRecovery(t, job, got, "the job has not moved")
	}},
	{"RecoveryStep/never_retries_another_tenants_messages", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantB, "ep_0002")
		f.publishOne(tenantA, "msg_0001", "ep_0001", t0)
		f.publishOne(tenantB, "msg_0002", "ep_0002", t0)
		f.end(f.claim(t0, t0.Add(time.Minute), 10), t0, time.Time{}, map[string]store.MessageStatus{
			"msg_0001": store.StatusExhausted, "msg_0002": store.StatusExhausted,
		})
		other := f.getMessage(tenantB, "msg_0002")
		f.createRecovery(newRecovery(tenantA, "rec_0001", store.RecoverExhausted, "", time.Time{}, t0))
		f.createRecovery(newRecovery(tenantA, "rec_0002", store.RecoverEndpoint, "ep_0002", time.Time{}, t0))
		require.Equal(t, progress{scanned: 1, retried: 1, done: true}, progressOf(f.step(tenantA, "rec_0001", 10, t0.Add(time.Minute))))
		require.Equal(t, progress{done: true}, progressOf(f.step(tenantA, "rec_0002", 10, t0.Add(time.Minute))),
			"tenant B's endpoint has no candidates for tenant A")
		requireMessage(t, other, f.getMessage(tenantB, "msg_0002"))
	}},
	{"Purge/deletes_the_tenants_finished_recovery_jobs_created_before_Before", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantB, "ep_0002")
		f.createRecovery(newRecovery(tenantA, "rec_0001", store.RecoverExhausted, "", time.Time{}, t0))
		f.createRecovery(newRecovery(tenantA, "rec_0002", store.RecoverExhausted, "", time.Time{}, t0))
		f.createRecovery(newRecovery(tenantA, "rec_0003", store.RecoverExhausted, "", time.Time{}, t0.Add(2*time.Hour)))
		f.createRecovery(newRecovery(tenantB, "rec_0004", store.RecoverExhausted, "", time.Time{}, t0))
		for _, j := range []struct{ tenant, id string }{{tenantA, "rec_0001"}, {tenantA, "rec_0003"}, {tenantB, "rec_0004"}} {
			require.True(t, f.step(j.tenant, j.id, 10, t0.Add(time.Minute)).Done)
		}
		f.purgeAll(tenantA, t0.Add(time.Hour))
		_, err := f.s.RecoveryGet(f.ctx, tenantA, "rec_0001")
		require.ErrorIs(t, err, store.ErrNotFound, "finished and old: deleted")
		for _, j := range []struct{ tenant, id, why string }{
			{tenantA, "rec_0002", "not finished"}, {tenantA, "rec_0003", "created since Before"}, {tenantB, "rec_0004", "another tenant's"},
		} {
			_, err := f.s.RecoveryGet(f.ctx, j.tenant, j.id)
			require.NoError(t, err, "%s is kept: %s", j.id, j.why)
		}
	}},
}
