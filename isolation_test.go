package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/store/bolt"
	"github.com/hooksmith/webhook/webhooktest"
)

// isoBuckets are the buckets whose key counts a foreign call must not change.
var isoBuckets = []string{"endpoints", "messages", "events", "attempts"}

// isoRawBuckets are snapshotted byte for byte around every foreign call.
var isoRawBuckets = []string{"endpoints", "messages", "events", "attempts", "idempotency", "queue",
	"due_by_endpoint", "leases", "ready", "endpoint_state", "exhausted", "exhausted_endpoint",
	"event_messages", "tenant_events", "endpoint_messages", "attempt_bodies",
	"attempts_by_tenant", "attempts_by_class", "attempts_by_endpoint", "attempts_by_event", "attempts_by_message",
	"stats", "stats_by_tenant", "tenants", "recoveries", "recoveries_open"}

// isoEndpointView is what must stay byte-for-byte the same on tenant A's
// endpoints: the host's params, the secret, the disabled reason and the
// update time (any write would bump it).
type isoEndpointView struct {
	Params         webhook.EndpointParams
	Secret         string
	DisabledReason string
	UpdatedAt      time.Time
}

func isoViewEndpoint(t *testing.T, tn *webhook.Tenant, id string) isoEndpointView {
	t.Helper()
	ep, err := tn.GetEndpoint(context.Background(), id)
	require.NoError(t, err, "tenant A can no longer read its endpoint %s", id)
	return isoEndpointView{Params: ep.EndpointParams, Secret: ep.Secret(), DisabledReason: ep.DisabledReason, UpdatedAt: ep.UpdatedAt}
}

// isoSnapshot copies every key and value of the named buckets.
func isoSnapshot(t *testing.T, st *bolt.Store, buckets []string) map[string]map[string]string {
	t.Helper()
	out := make(map[string]map[string]string, len(buckets))
	require.NoError(t, st.DB().View(func(tx *bbolt.Tx) error {
		for _, name := range buckets {
			b := tx.Bucket([]byte(name))
			if b == nil {
				continue // a bucket the store no longer has: nothing to compare
			}
			kv := map[string]string{}
			if err := b.ForEach(func(k, v []byte) error {
				kv[string(k)] = string(v)
				return nil
			}); err != nil {
				return err
			}
			out[name] = kv
		}
		return nil
	}))
	return out
}

// isoRequireNotFound asserts that a foreign ID is refused with ErrNotFound,
// and with the same error as an ID that never existed, so that a caller
// cannot tell another tenant's ID from a made-up one.
func isoRequireNotFound(t *testing.T, call func(id string) error, foreignID string) {
	t.Helper()
	err := call(foreignID)
	require.Error(t, err, "a call with another tenant's ID %q succeeded", foreignID)
	require.True(t, errors.Is(err, webhook.ErrNotFound), "another tenant's ID %q: got %v, want ErrNotFound", foreignID, err)
	var ve *webhook.ValidationError
	require.False(t, errors.As(err, &ve), "another tenant's ID %q: got a validation error %v", foreignID, err)

	missing := strings.Repeat("z", len(foreignID))
	errMissing := call(missing)
	require.ErrorIs(t, errMissing, webhook.ErrNotFound, "made-up ID %q", missing)
	require.Equal(t,
		strings.ReplaceAll(errMissing.Error(), missing, "<id>"),
		strings.ReplaceAll(err.Error(), foreignID, "<id>"),
		"another tenant's ID must be indistinguishable from a made-up one")
}

// TestTenant_isolation_every_method calls every exported *Tenant method with
// tenant B's handle on tenant A's IDs. Each must answer ErrNotFound (or an
// empty list) and write nothing. The method set is read by reflection, so a
// new Tenant method fails this test until it is listed here.
func TestTenant_isolation_every_method(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The first attempt is made at once and fails; the retry is an hour
	// away, so after it A's message sits in StatusFailing with one attempt
	// recorded and nothing more happens for the rest of the test.
	d, st := startDispatcher(t, &webhook.Config{
		RetrySchedule:       []time.Duration{0, time.Hour},
		AllowInsecureURLs:   true,
		AllowedDestinations: loopback,
	})
	registerTypes(t, d, "order.created", "order.paid")
	a, b := d.Tenant("tenant-a"), d.Tenant("tenant-b")

	rcv := webhooktest.NewServer(t)
	rcv.Respond("/a1", func(webhooktest.Delivery, int) int { return 500 })
	ep1, err := a.CreateEndpoint(ctx, webhook.EndpointParams{
		URL: rcv.URL("/a1"), Method: "PUT", Description: "A's live endpoint",
		EventTypes: []string{"order.*"}, Labels: map[string]string{"region": "eu"},
		Headers: map[string]string{"X-Tenant": "a"}, Metadata: map[string]string{"owner": "a"},
	})
	require.NoError(t, err)
	rcv.SetSecret("/a1", ep1.Secret())
	ep2, err := a.CreateEndpoint(ctx, webhook.EndpointParams{URL: rcv.URL("/a2"), Disabled: true})
	require.NoError(t, err)
	const evA = "evt-a-1"
	resA, err := a.Publish(ctx, webhook.Event{ID: evA, Type: "order.created",
		Payload: []byte(`{"for":"a"}`), Labels: map[string]string{"region": "eu"}})
	require.NoError(t, err)
	require.Len(t, resA.Messages, 1)
	require.Equal(t, ep1.ID, resA.Messages[0].EndpointID)
	msgA := resA.Messages[0].MessageID
	waitStatus(t, a, msgA, webhook.StatusFailing)
	// A dead letter: one attempt only, and it fails.
	rcv.Respond("/a3", func(webhooktest.Delivery, int) int { return 500 })
	ep3, err := a.CreateEndpoint(ctx, webhook.EndpointParams{URL: rcv.URL("/a3"),
		EventTypes: []string{"order.paid"}, RetrySchedule: []time.Duration{0}})
	require.NoError(t, err)
	resDead, err := a.Publish(ctx, webhook.Event{Type: "order.paid", Payload: []byte(`{"for":"a"}`)})
	require.NoError(t, err)
	require.Len(t, resDead.Messages, 1)
	deadA := resDead.Messages[0].MessageID
	waitStatus(t, a, deadA, webhook.StatusExhausted)
	deadPage, err := a.ListExhaustedMessages(ctx, webhook.ExhaustedQuery{ListOptions: webhook.ListOptions{Limit: 1}})
	require.NoError(t, err)
	require.Len(t, deadPage.Items, 1, "A sees its dead letter")
	require.NotEmpty(t, deadPage.Next)
	deadCursor := base64.RawURLEncoding.EncodeToString([]byte("msg_zzzzzzzzzzzzzzzzzzzzzzzzzz"))

	// Every ID kind of A exists and is visible to A.
	attsA, err := a.ListAttempts(ctx, webhook.AttemptQuery{MessageID: msgA, ListOptions: webhook.ListOptions{Limit: 1}})
	require.NoError(t, err)
	require.Len(t, attsA.Items, 1, "A's message should have one recorded attempt")
	require.Empty(t, attsA.Next, "the page holds the message's only attempt: nothing follows")
	epsA, err := a.ListEndpoints(ctx, webhook.ListOptions{Limit: 1})
	require.NoError(t, err)
	require.Len(t, epsA.Items, 1)
	require.NotEmpty(t, epsA.Next, "a full page of A's endpoints has a cursor")
	_, err = a.GetEvent(ctx, evA)
	require.NoError(t, err)
	attA := attsA.Items[0].ID
	// A cursor built from A's own attempt and endpoint IDs, as B might forge.
	attCursor := base64.RawURLEncoding.EncodeToString([]byte(attA))
	// A genuine cursor into A's attempts (A has two: msgA's and deadA's).
	attsAll, err := a.ListAttempts(ctx, webhook.AttemptQuery{ListOptions: webhook.ListOptions{Limit: 1}})
	require.NoError(t, err)
	require.NotEmpty(t, attsAll.Next, "a full page of A's attempts has a cursor")
	attNext := attsAll.Next
	epCursor := base64.RawURLEncoding.EncodeToString([]byte(ep1.ID))
	// Every AttemptQuery filter, each matching at least one of A's attempts.
	window := func(q webhook.AttemptQuery) webhook.AttemptQuery {
		q.Since, q.Until = attsA.Items[0].StartedAt.Add(-time.Minute), time.Now().Add(time.Minute)
		return q
	}
	attFilters := []webhook.AttemptQuery{
		{EventID: evA},
		{EventID: evA, EndpointID: ep1.ID},
		{MessageStatus: webhook.StatusFailing},
		{MessageStatus: webhook.StatusExhausted, EndpointID: ep3.ID},
		{StatusClass: webhook.Status5xx},
		{StatusClass: webhook.Status5xx, MessageStatus: webhook.StatusFailing, EventID: evA},
		window(webhook.AttemptQuery{}),
		window(webhook.AttemptQuery{EndpointID: ep1.ID, StatusClass: webhook.Status5xx}),
		{Since: attsA.Items[0].StartedAt.Add(-time.Minute)},
		{Until: time.Now().Add(time.Minute), WithBodies: true},
	}
	for _, q := range attFilters {
		p, err := a.ListAttempts(ctx, q)
		require.NoError(t, err)
		require.NotEmpty(t, p.Items, "A's own filter %+v finds nothing: B's empty answer would prove nothing", q)
	}
	// A recovery job of A's, finished before the snapshot (it has nothing
	// to retry), and a retention of A's own.
	recA, err := a.RecoverEndpoint(ctx, ep1.ID, time.Now().Add(time.Hour))
	require.NoError(t, err)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		r, err := a.GetRecovery(ctx, recA.ID)
		require.NoError(t, err)
		if r.Done {
			break
		}
		require.True(t, time.Now().Before(deadline), "A's recovery job never finished")
	}
	const retentionA = 72 * time.Hour
	require.NoError(t, a.SetRetention(ctx, retentionA))

	deliveries := len(rcv.All())
	counts := map[string]int{}
	for _, bk := range isoBuckets {
		counts[bk] = count(t, st, bk)
	}
	view1, view2 := isoViewEndpoint(t, a, ep1.ID), isoViewEndpoint(t, a, ep2.ID)
	msgBefore, err := a.GetMessage(ctx, msgA)
	require.NoError(t, err)
	raw := isoSnapshot(t, st, isoRawBuckets)
	requireUnchanged := func(t *testing.T) {
		t.Helper()
		for _, bk := range isoBuckets {
			require.Equal(t, counts[bk], count(t, st, bk), "keys in bucket %q", bk)
		}
		require.Equal(t, view1, isoViewEndpoint(t, a, ep1.ID), "A's endpoint %s changed", ep1.ID)
		require.Equal(t, view2, isoViewEndpoint(t, a, ep2.ID), "A's endpoint %s changed", ep2.ID)
		msg, err := a.GetMessage(ctx, msgA)
		require.NoError(t, err)
		require.Equal(t, msgBefore.Status, msg.Status, "A's message status")
		require.Equal(t, msgBefore, msg, "A's message")
		require.Equal(t, raw, isoSnapshot(t, st, isoRawBuckets), "the store's records changed")
		require.Equal(t, deliveries, len(rcv.All()), "A's receiver got a delivery")
	}
	requireEmpty := func(t *testing.T, n int, err error, what string) {
		t.Helper()
		require.NoError(t, err, what)
		require.Zero(t, n, "%s: B sees %d of A's items", what, n)
	}
	bEvent := func(id string) webhook.Event {
		return webhook.Event{ID: id, Type: "order.created", Payload: []byte(`{"for":"b"}`),
			Labels: map[string]string{"region": "eu"}}
	}

	// isolated has one entry per exported *Tenant method that takes an ID of
	// a tenant's record, or a filter or cursor built from such IDs. Each
	// entry calls the method through B's handle with A's IDs.
	isolated := map[string]func(t *testing.T){
		"GetEndpoint": func(t *testing.T) {
			for _, id := range []string{ep1.ID, ep2.ID} {
				isoRequireNotFound(t, func(id string) error { _, err := b.GetEndpoint(ctx, id); return err }, id)
			}
		},
		"ListEndpoints": func(t *testing.T) {
			for _, opts := range []webhook.ListOptions{{}, {Limit: 1000}, {Cursor: epsA.Next}, {Cursor: epCursor, Limit: 1}} {
				p, err := b.ListEndpoints(ctx, opts)
				requireEmpty(t, len(p.Items), err, "ListEndpoints "+opts.Cursor)
				require.Empty(t, p.Next)
			}
		},
		"UpdateEndpoint": func(t *testing.T) {
			for _, id := range []string{ep1.ID, ep2.ID} {
				isoRequireNotFound(t, func(id string) error {
					_, err := b.UpdateEndpoint(ctx, id, webhook.EndpointParams{URL: "https://evil.example/steal"})
					return err
				}, id)
			}
		},
		"EnableEndpoint": func(t *testing.T) {
			isoRequireNotFound(t, func(id string) error { return b.EnableEndpoint(ctx, id) }, ep2.ID) // disabled
			isoRequireNotFound(t, func(id string) error { return b.EnableEndpoint(ctx, id) }, ep1.ID)
		},
		"DisableEndpoint": func(t *testing.T) {
			isoRequireNotFound(t, func(id string) error { return b.DisableEndpoint(ctx, id) }, ep1.ID) // enabled
			isoRequireNotFound(t, func(id string) error { return b.DisableEndpoint(ctx, id) }, ep2.ID)
		},
		"RotateSecret": func(t *testing.T) {
			for _, id := range []string{ep1.ID, ep2.ID} {
				isoRequireNotFound(t, func(id string) error { _, err := b.RotateSecret(ctx, id, 0); return err }, id)
				isoRequireNotFound(t, func(id string) error { _, err := b.RotateSecret(ctx, id, time.Hour); return err }, id)
			}
		},
		"SetSecret": func(t *testing.T) {
			// A well-formed secret B knows: were it accepted, B could forge
			// deliveries to A's customer.
			known := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 32))
			for _, id := range []string{ep1.ID, ep2.ID} {
				isoRequireNotFound(t, func(id string) error { _, err := b.SetSecret(ctx, id, known, time.Hour); return err }, id)
			}
		},
		"DeleteEndpoint": func(t *testing.T) {
			for _, id := range []string{ep1.ID, ep2.ID} {
				isoRequireNotFound(t, func(id string) error { return b.DeleteEndpoint(ctx, id) }, id)
			}
		},
		"SendTo": func(t *testing.T) {
			// A disabled endpoint of A's must be ErrNotFound too, not
			// ErrEndpointDisabled, which would confirm that it exists.
			for _, id := range []string{ep1.ID, ep2.ID} {
				isoRequireNotFound(t, func(id string) error { _, err := b.SendTo(ctx, id, bEvent("")); return err }, id)
				isoRequireNotFound(t, func(id string) error { _, err := b.SendTo(ctx, id, bEvent(evA)); return err }, id)
			}
		},
		"GetEvent": func(t *testing.T) {
			isoRequireNotFound(t, func(id string) error { _, err := b.GetEvent(ctx, id); return err }, evA)
		},
		"GetMessage": func(t *testing.T) {
			isoRequireNotFound(t, func(id string) error { _, err := b.GetMessage(ctx, id); return err }, msgA)
		},
		"ListExhaustedMessages": func(t *testing.T) {
			for _, q := range []webhook.ExhaustedQuery{
				{},
				{EndpointID: ep3.ID},
				{ListOptions: webhook.ListOptions{Cursor: deadPage.Next}},
				{ListOptions: webhook.ListOptions{Cursor: deadCursor}},
				{EndpointID: ep3.ID, ListOptions: webhook.ListOptions{Cursor: deadCursor, Limit: 1}},
			} {
				p, err := b.ListExhaustedMessages(ctx, q)
				requireEmpty(t, len(p.Items), err, "ListExhaustedMessages")
				require.Empty(t, p.Next)
			}
		},
		"ListAttempts": func(t *testing.T) {
			for _, q := range []webhook.AttemptQuery{
				{MessageID: msgA},
				{EndpointID: ep1.ID},
				{MessageID: msgA, EndpointID: ep1.ID},
				{},
				{ListOptions: webhook.ListOptions{Cursor: attNext}},
				{MessageID: msgA, ListOptions: webhook.ListOptions{Cursor: attNext, Limit: 1}},
				{EndpointID: ep1.ID, ListOptions: webhook.ListOptions{Cursor: attNext}},
				{EventID: evA, ListOptions: webhook.ListOptions{Cursor: attNext}},
			} {
				p, err := b.ListAttempts(ctx, q)
				requireEmpty(t, len(p.Items), err, "ListAttempts")
				require.Empty(t, p.Next)
			}
			// A cursor forged from A's attempt ID is refused as a cursor,
			// for A as for B: the answer says nothing about whose it is.
			forged := webhook.AttemptQuery{MessageID: msgA, ListOptions: webhook.ListOptions{Cursor: attCursor, Limit: 1}}
			_, errB := b.ListAttempts(ctx, forged)
			_, errA := a.ListAttempts(ctx, forged)
			require.True(t, isValidation(errB, "cursor"), "B's forged cursor: %v", errB)
			require.Error(t, errA)
			require.Equal(t, errA.Error(), errB.Error())
			for _, q := range attFilters {
				p, err := b.ListAttempts(ctx, q)
				requireEmpty(t, len(p.Items), err, fmt.Sprintf("ListAttempts %+v", q))
				require.Empty(t, p.Next)
			}
		},
		"GetAttempt": func(t *testing.T) {
			isoRequireNotFound(t, func(id string) error { _, err := b.GetAttempt(ctx, id); return err }, attA)
		},
		"GetMessageDetail": func(t *testing.T) {
			for _, id := range []string{msgA, deadA} {
				isoRequireNotFound(t, func(id string) error { _, err := b.GetMessageDetail(ctx, id); return err }, id)
			}
		},
		"EndpointStats": func(t *testing.T) {
			for _, id := range []string{ep1.ID, ep2.ID, ep3.ID} {
				isoRequireNotFound(t, func(id string) error { _, err := b.EndpointStats(ctx, id, time.Time{}, time.Time{}); return err }, id)
			}
		},
		"RetryMessage": func(t *testing.T) {
			// A's failing message and A's dead letter: either, retried, would
			// reach A's receiver.
			for _, id := range []string{msgA, deadA} {
				isoRequireNotFound(t, func(id string) error { return b.RetryMessage(ctx, id) }, id)
			}
		},
		"ReplayEvent": func(t *testing.T) {
			for _, opts := range []webhook.ReplayOptions{{}, {Rematch: true}} {
				isoRequireNotFound(t, func(id string) error { _, err := b.ReplayEvent(ctx, id, opts); return err }, evA)
			}
		},
		"RecoverEndpoint": func(t *testing.T) {
			// The disabled one too: ErrEndpointDisabled would confirm it exists.
			for _, id := range []string{ep1.ID, ep2.ID, ep3.ID} {
				isoRequireNotFound(t, func(id string) error { _, err := b.RecoverEndpoint(ctx, id, time.Time{}); return err }, id)
			}
		},
		"ReplayExhausted": func(t *testing.T) {
			for _, id := range []string{ep3.ID, ep1.ID, ep2.ID} {
				isoRequireNotFound(t, func(id string) error { _, err := b.ReplayExhausted(ctx, id); return err }, id)
			}
		},
		"GetRecovery": func(t *testing.T) {
			isoRequireNotFound(t, func(id string) error { _, err := b.GetRecovery(ctx, id); return err }, recA.ID)
		},
	}

	// noForeignID lists the exported *Tenant methods that take no ID of an
	// existing record, with why. A method here must not take a string.
	noForeignID := map[string]string{
		// ID returns the handle's own tenant ID and takes nothing.
		"ID": "takes no argument",
		// Format prints the handle's own tenant ID for fmt.
		"Format": "prints the handle's own ID; takes no record ID",
		// CreateEndpoint generates the new endpoint's ID; it takes only
		// params (its event-type filter names the shared catalogue).
		"CreateEndpoint": "takes params only; the endpoint ID is generated",
		// Publish routes over the caller's own endpoints; its Event.ID is an
		// idempotency key scoped per tenant. Checked below: B publishing
		// under A's event ID is no duplicate and reaches none of A's
		// endpoints.
		"Publish": "routes over the caller's endpoints only; checked below",
		// SetRetention and Retention read and write the handle's own
		// settings. Checked below: B's setting leaves A's alone.
		"SetRetention": "sets the caller's own retention; checked below",
		"Retention":    "reads the caller's own retention; checked below",
	}

	tenantType := reflect.TypeOf(&webhook.Tenant{})
	for i := range tenantType.NumMethod() {
		m := tenantType.Method(i)
		_, inTable := isolated[m.Name]
		reason, exempt := noForeignID[m.Name]
		switch {
		case inTable && exempt:
			t.Errorf("(*webhook.Tenant).%s is both in the isolation table and in the noForeignID allow-list; keep one", m.Name)
		case !inTable && !exempt:
			t.Errorf("(*webhook.Tenant).%s %v is not covered by the tenant isolation test: add an entry to the isolated "+
				"table in isolation_test.go that calls it through tenant B with tenant A's IDs, or, if it takes no "+
				"ID of a tenant's record, add it to noForeignID with the reason", m.Name, m.Type)
		case exempt:
			for j := 1; j < m.Type.NumIn(); j++ { // 0 is the receiver
				if m.Type.In(j).Kind() == reflect.String {
					t.Errorf("(*webhook.Tenant).%s is allow-listed as taking no foreign ID (%s) but its argument %d is a %v; "+
						"move it to the isolated table", m.Name, reason, j, m.Type.In(j))
				}
			}
		}
	}
	for _, name := range append(slices.Sorted(maps.Keys(isolated)), slices.Sorted(maps.Keys(noForeignID))...) {
		if _, ok := tenantType.MethodByName(name); !ok {
			t.Errorf("stale entry %q in isolation_test.go: (*webhook.Tenant) has no exported method of that name", name)
		}
	}

	for _, name := range slices.Sorted(maps.Keys(isolated)) {
		t.Run(name, func(t *testing.T) {
			isolated[name](t)
			requireUnchanged(t)
		})
	}

	t.Run("Publish", func(t *testing.T) {
		resB, err := b.Publish(ctx, bEvent(evA))
		require.NoError(t, err)
		require.False(t, resB.Duplicate, "B's event under A's event ID is not a duplicate of A's")
		require.Equal(t, evA, resB.EventID)
		require.Empty(t, resB.Messages, "B's event was routed to A's endpoints")
		require.Equal(t, counts["events"]+1, count(t, st, "events"))
		for _, bk := range []string{"endpoints", "messages", "attempts"} {
			require.Equal(t, counts[bk], count(t, st, bk), "keys in bucket %q", bk)
		}

		evOfA, err := a.GetEvent(ctx, evA)
		require.NoError(t, err)
		require.True(t, bytes.Equal([]byte(`{"for":"a"}`), evOfA.Payload), "A's event was replaced: %s", evOfA.Payload)
		require.Equal(t, resA.Messages, evOfA.Messages)
		evOfB, err := b.GetEvent(ctx, evA)
		require.NoError(t, err)
		require.Equal(t, []byte(`{"for":"b"}`), evOfB.Payload)
		require.Empty(t, evOfB.Messages)

		// A's idempotency record still answers for A.
		again, err := a.Publish(ctx, webhook.Event{ID: evA, Type: "order.created", Payload: []byte(`{"for":"a"}`)})
		require.NoError(t, err)
		require.True(t, again.Duplicate)
		require.Equal(t, resA.Messages, again.Messages)

		require.Equal(t, view1, isoViewEndpoint(t, a, ep1.ID))
		require.Equal(t, view2, isoViewEndpoint(t, a, ep2.ID))
		msg, err := a.GetMessage(ctx, msgA)
		require.NoError(t, err)
		require.Equal(t, msgBefore, msg)
		require.Equal(t, deliveries, len(rcv.All()), "A's receiver got a delivery")
	})

	t.Run("SetRetention", func(t *testing.T) {
		require.Equal(t, webhook.DefaultRetention, mustRetention(t, b), "B starts at the default")
		require.Equal(t, retentionA, mustRetention(t, a))
		require.NoError(t, b.SetRetention(ctx, 2*time.Hour))
		require.Equal(t, 2*time.Hour, mustRetention(t, b))
		require.Equal(t, retentionA, mustRetention(t, a), "B's SetRetention changed A's retention")
		require.NoError(t, b.SetRetention(ctx, 0))
		require.Equal(t, webhook.DefaultRetention, mustRetention(t, b))
		require.Equal(t, retentionA, mustRetention(t, a), "B's reset changed A's retention")
	})

	t.Run("ReplayExhausted of the whole tenant", func(t *testing.T) {
		// B's job over its own (empty) dead letters must not touch A's.
		job, err := b.ReplayExhausted(ctx, "")
		require.NoError(t, err)
		for deadline := time.Now().Add(10 * time.Second); !job.Done; time.Sleep(5 * time.Millisecond) {
			require.True(t, time.Now().Before(deadline), "B's recovery job never finished")
			job, err = b.GetRecovery(ctx, job.ID)
			require.NoError(t, err)
		}
		require.Zero(t, job.Scanned, "B's job examined A's dead letters")
		require.Zero(t, job.Retried)
		m, err := a.GetMessage(ctx, deadA)
		require.NoError(t, err)
		require.Equal(t, webhook.StatusExhausted, m.Status)
		dead, err := a.ListExhaustedMessages(ctx, webhook.ExhaustedQuery{})
		require.NoError(t, err)
		require.Len(t, dead.Items, 1, "A's dead letter left the list")
		_, err = a.GetRecovery(ctx, job.ID)
		require.ErrorIs(t, err, webhook.ErrNotFound, "A reads B's job")
		require.Equal(t, deliveries, len(rcv.All()), "A's receiver got a delivery")
	})
}
