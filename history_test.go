package webhook_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
)

// histMaxBody is the fixture's Config.MaxResponseBodySize.
const histMaxBody = 1024

// histFix is a tenant with a known delivery history, made of real
// requests to a receiver on 127.0.0.1:
//
//	event A (order.created) → ok: 200          → succeeded, 1 attempt
//	                        → hold: 500        → failing (retry in 1 h), 1 attempt
//	                        → dead: 503, 503   → exhausted, 2 attempts
//	                        → refused: no TCP  → exhausted, 1 attempt, no response
//	event B (order.paid)    → ok: 200          → succeeded, 1 attempt
//	                        → big: 200, 4 KiB  → succeeded, 1 attempt, body truncated
//
// Every attempt of A started in [t0, tMid), every attempt of B in [tMid, t1).
type histFix struct {
	d                            *webhook.Dispatcher
	tn                           *webhook.Tenant
	ok, hold, dead, refused, big *webhook.Endpoint
	evA, evB                     string
	msgA, msgB                   map[string]string // endpoint ID → message ID
	t0, tMid, t1                 time.Time
}

func newHistFix(t *testing.T) *histFix {
	t.Helper()
	f := &histFix{evA: "evt-hist-a", evB: "evt-hist-b"}
	f.d, _ = startDispatcher(t, &webhook.Config{
		RetrySchedule: fastSchedule, AllowInsecureURLs: true, AllowedDestinations: loopback,
		MaxResponseBodySize: histMaxBody, RequestTimeout: 5 * time.Second,
	})
	registerTypes(t, f.d, "order.created", "order.paid")
	f.tn = f.d.Tenant("acme")
	mux := http.NewServeMux()
	reply := func(status int, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			w.Write(body)
		}
	}
	mux.Handle("/ok", reply(http.StatusOK, []byte("ok-body")))
	mux.Handle("/hold", reply(http.StatusInternalServerError, []byte("hold-body")))
	mux.Handle("/dead", reply(http.StatusServiceUnavailable, []byte("dead-body")))
	mux.Handle("/big", reply(http.StatusOK, bytes.Repeat([]byte("b"), 4*histMaxBody)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refusedURL := "http://" + ln.Addr().String() + "/refused"
	require.NoError(t, ln.Close())

	create := func(url string, types []string, schedule ...time.Duration) *webhook.Endpoint {
		ep, err := f.tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: url, EventTypes: types, RetrySchedule: schedule})
		require.NoError(t, err)
		return ep
	}
	created := []string{"order.created"}
	f.ok = create(srv.URL+"/ok", nil)
	f.hold = create(srv.URL+"/hold", created, 0, time.Hour)
	f.dead = create(srv.URL+"/dead", created, 0, 10*time.Millisecond)
	f.refused = create(refusedURL, created, 0)
	f.big = create(srv.URL+"/big", []string{"order.paid"})

	publish := func(id, typ string, want map[string]webhook.MessageStatus) map[string]string {
		res, err := f.tn.Publish(ctx, webhook.Event{ID: id, Type: typ, Payload: []byte(`{"n":1}`)})
		require.NoError(t, err)
		require.Len(t, res.Messages, len(want))
		out := map[string]string{}
		for _, m := range res.Messages {
			out[m.EndpointID] = m.MessageID
		}
		for ep, st := range want {
			require.Contains(t, out, ep)
			waitStatus(t, f.tn, out[ep], st)
		}
		return out
	}
	f.t0 = time.Now()
	f.msgA = publish(f.evA, "order.created", map[string]webhook.MessageStatus{
		f.ok.ID: webhook.StatusSucceeded, f.hold.ID: webhook.StatusFailing,
		f.dead.ID: webhook.StatusExhausted, f.refused.ID: webhook.StatusExhausted,
	})
	time.Sleep(2 * time.Millisecond)
	f.tMid = time.Now()
	time.Sleep(2 * time.Millisecond)
	f.msgB = publish(f.evB, "order.paid", map[string]webhook.MessageStatus{
		f.ok.ID: webhook.StatusSucceeded, f.big.ID: webhook.StatusSucceeded,
	})
	time.Sleep(2 * time.Millisecond)
	f.t1 = time.Now()
	return f
}

// list reads every page of a query, checking that each page is newest
// first and continues the previous one.
func (f *histFix) list(t *testing.T, q webhook.AttemptQuery) []*webhook.Attempt {
	t.Helper()
	var out []*webhook.Attempt
	for range 1000 {
		p, err := f.tn.ListAttempts(ctx, q)
		require.NoError(t, err)
		out = append(out, p.Items...)
		if p.Next == "" {
			requireNewestFirst(t, out)
			return out
		}
		q.Cursor = p.Next
	}
	t.Fatal("ListAttempts never ended")
	return nil
}

func requireNewestFirst(t *testing.T, atts []*webhook.Attempt) {
	t.Helper()
	for i := 1; i < len(atts); i++ {
		prev, cur := atts[i-1], atts[i]
		require.False(t, cur.StartedAt.After(prev.StartedAt), "attempt %d (%s) is newer than the one before it", i, cur.ID)
		if cur.StartedAt.Equal(prev.StartedAt) {
			require.Less(t, cur.ID, prev.ID, "equal start times are ordered by ID, descending")
		}
	}
}

func attemptIDs(atts []*webhook.Attempt) []string {
	ids := make([]string, len(atts))
	for i, a := range atts {
		ids[i] = a.ID
	}
	return ids
}

func classOf(code int) webhook.StatusClass {
	if code == 0 {
		return webhook.StatusNoResponse
	}
	return webhook.StatusClass(code / 100)
}

// Every filter of AttemptQuery, alone and combined, keeps exactly the
// attempts it names, newest first, and paging a filtered list with a small
// limit gives the same attempts as one page.
func TestListAttempts_filters_by_endpoint_event_status_class_and_time(t *testing.T) {
	t.Parallel()
	f := newHistFix(t)
	all := f.list(t, webhook.AttemptQuery{})
	require.Len(t, all, 7)
	for _, tc := range []struct {
		name string
		q    webhook.AttemptQuery
		want int
	}{
		{"endpoint", webhook.AttemptQuery{EndpointID: f.ok.ID}, 2},
		{"event A", webhook.AttemptQuery{EventID: f.evA}, 5},
		{"event B", webhook.AttemptQuery{EventID: f.evB}, 2},
		{"event and endpoint", webhook.AttemptQuery{EventID: f.evA, EndpointID: f.dead.ID}, 2},
		{"event of another endpoint", webhook.AttemptQuery{EventID: f.evB, EndpointID: f.dead.ID}, 0},
		{"message", webhook.AttemptQuery{MessageID: f.msgA[f.dead.ID]}, 2},
		{"succeeded", webhook.AttemptQuery{MessageStatus: webhook.StatusSucceeded}, 3},
		{"failing", webhook.AttemptQuery{MessageStatus: webhook.StatusFailing}, 1},
		{"exhausted", webhook.AttemptQuery{MessageStatus: webhook.StatusExhausted}, 3},
		{"pending", webhook.AttemptQuery{MessageStatus: webhook.StatusPending}, 0},
		{"2xx", webhook.AttemptQuery{StatusClass: webhook.Status2xx}, 3},
		{"5xx", webhook.AttemptQuery{StatusClass: webhook.Status5xx}, 3},
		{"4xx", webhook.AttemptQuery{StatusClass: webhook.Status4xx}, 0},
		{"no response", webhook.AttemptQuery{StatusClass: webhook.StatusNoResponse}, 1},
		{"no response of an endpoint", webhook.AttemptQuery{StatusClass: webhook.StatusNoResponse, EndpointID: f.refused.ID}, 1},
		{"since", webhook.AttemptQuery{Since: f.tMid}, 2},
		{"until", webhook.AttemptQuery{Until: f.tMid}, 5},
		{"since and until", webhook.AttemptQuery{Since: f.t0, Until: f.tMid}, 5},
		{"since the end", webhook.AttemptQuery{Since: f.t1}, 0},
		{"until the start", webhook.AttemptQuery{Until: f.t0}, 0},
		{"since, by endpoint", webhook.AttemptQuery{Since: f.tMid, EndpointID: f.ok.ID}, 1},
		{"until, by class", webhook.AttemptQuery{Until: f.tMid, StatusClass: webhook.Status2xx}, 1},
		{"event, class and status", webhook.AttemptQuery{EventID: f.evA, StatusClass: webhook.Status5xx,
			MessageStatus: webhook.StatusExhausted}, 2},
		{"everything at once", webhook.AttemptQuery{EventID: f.evA, EndpointID: f.hold.ID, StatusClass: webhook.Status5xx,
			MessageStatus: webhook.StatusFailing, Since: f.t0, Until: f.tMid}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := f.list(t, tc.q)
			require.Len(t, got, tc.want)
			q := tc.q
			for _, a := range got {
				require.Equal(t, "acme", a.TenantID)
				if q.EndpointID != "" {
					require.Equal(t, q.EndpointID, a.EndpointID)
				}
				if q.EventID != "" {
					require.Equal(t, q.EventID, a.EventID)
				}
				if q.MessageID != "" {
					require.Equal(t, q.MessageID, a.MessageID)
				}
				if q.StatusClass != 0 {
					require.Equal(t, q.StatusClass, classOf(a.StatusCode), "status %d", a.StatusCode)
				}
				if q.MessageStatus != "" {
					m, err := f.tn.GetMessage(ctx, a.MessageID)
					require.NoError(t, err)
					require.Equal(t, q.MessageStatus, m.Status)
				}
				if !q.Since.IsZero() {
					require.False(t, a.StartedAt.Before(q.Since))
				}
				if !q.Until.IsZero() {
					require.True(t, a.StartedAt.Before(q.Until))
				}
				require.Nil(t, a.ResponseBody, "a list leaves bodies out unless asked")
			}
			// The same, two at a time.
			q.Limit = 2
			require.Equal(t, attemptIDs(got), attemptIDs(f.list(t, q)), "paged by 2")
		})
	}
	noResponse := f.list(t, webhook.AttemptQuery{StatusClass: webhook.StatusNoResponse})
	require.Equal(t, f.refused.ID, noResponse[0].EndpointID)
	require.Equal(t, webhook.ErrorConnection, noResponse[0].ErrorClass)
	require.Zero(t, noResponse[0].StatusCode)
}

// GetAttempt returns the response body; one larger than
// MaxResponseBodySize is cut there and flagged truncated. Lists carry
// bodies only with WithBodies.
func TestGetAttempt_returns_the_body_and_flags_truncation(t *testing.T) {
	t.Parallel()
	f := newHistFix(t)
	for _, tc := range []struct {
		msg       string
		body      []byte
		truncated bool
	}{
		{f.msgA[f.ok.ID], []byte("ok-body"), false},
		{f.msgA[f.hold.ID], []byte("hold-body"), false},
		{f.msgB[f.big.ID], bytes.Repeat([]byte("b"), histMaxBody), true},
	} {
		listed := f.list(t, webhook.AttemptQuery{MessageID: tc.msg})
		require.Len(t, listed, 1)
		require.Nil(t, listed[0].ResponseBody)
		require.Equal(t, tc.truncated, listed[0].ResponseTruncated)

		a, err := f.tn.GetAttempt(ctx, listed[0].ID)
		require.NoError(t, err)
		require.Equal(t, tc.body, a.ResponseBody)
		require.Equal(t, tc.truncated, a.ResponseTruncated)
		require.Equal(t, tc.msg, a.MessageID)
		a.ResponseBody = nil
		require.Equal(t, listed[0], a, "GetAttempt and the list agree on everything but the body")

		withBodies := f.list(t, webhook.AttemptQuery{MessageID: tc.msg, WithBodies: true})
		require.Equal(t, tc.body, withBodies[0].ResponseBody)
	}
	noBody := f.list(t, webhook.AttemptQuery{MessageID: f.msgA[f.refused.ID]})
	a, err := f.tn.GetAttempt(ctx, noBody[0].ID)
	require.NoError(t, err)
	require.Empty(t, a.ResponseBody, "no response, no body")

	_, err = f.tn.GetAttempt(ctx, "att_unknown")
	require.ErrorIs(t, err, webhook.ErrNotFound)
}

// GetMessageDetail returns the message with its attempts, newest first
// and without bodies; GetEvent returns the event with every delivery in
// its current state, in the order of its Messages.
func TestGetMessageDetail_and_GetEvent_show_each_delivery(t *testing.T) {
	t.Parallel()
	f := newHistFix(t)
	det, err := f.tn.GetMessageDetail(ctx, f.msgA[f.dead.ID])
	require.NoError(t, err)
	require.Equal(t, f.msgA[f.dead.ID], det.Message.ID)
	require.Equal(t, webhook.StatusExhausted, det.Message.Status)
	require.Equal(t, 2, det.Message.Attempts)
	require.Len(t, det.Attempts, 2)
	require.Equal(t, []int{2, 1}, []int{det.Attempts[0].Number, det.Attempts[1].Number}, "newest first")
	for _, a := range det.Attempts {
		require.Equal(t, http.StatusServiceUnavailable, a.StatusCode)
		require.Equal(t, webhook.ErrorHTTPStatus, a.ErrorClass)
		require.Equal(t, f.dead.ID, a.EndpointID)
		require.Equal(t, f.evA, a.EventID)
		require.Nil(t, a.ResponseBody)
	}
	_, err = f.tn.GetMessageDetail(ctx, "msg_unknown")
	require.ErrorIs(t, err, webhook.ErrNotFound)

	ev, err := f.tn.GetEvent(ctx, f.evA)
	require.NoError(t, err)
	require.Equal(t, []byte(`{"n":1}`), ev.Payload)
	require.Len(t, ev.Messages, 4)
	require.Len(t, ev.Deliveries, 4)
	want := map[string]struct {
		status   webhook.MessageStatus
		attempts int
	}{
		f.ok.ID: {webhook.StatusSucceeded, 1}, f.hold.ID: {webhook.StatusFailing, 1},
		f.dead.ID: {webhook.StatusExhausted, 2}, f.refused.ID: {webhook.StatusExhausted, 1},
	}
	for i, ref := range ev.Messages {
		dl := ev.Deliveries[i]
		require.Equal(t, ref.MessageID, dl.ID, "Deliveries follow Messages")
		require.Equal(t, ref.EndpointID, dl.EndpointID)
		require.Equal(t, f.msgA[ref.EndpointID], dl.ID)
		require.Equal(t, want[ref.EndpointID].status, dl.Status, "endpoint %s", ref.EndpointID)
		require.Equal(t, want[ref.EndpointID].attempts, dl.Attempts, "endpoint %s", ref.EndpointID)
		require.Equal(t, f.evA, dl.EventID)
	}
	hold := ev.Deliveries[slices.IndexFunc(ev.Deliveries, func(m *webhook.Message) bool { return m.EndpointID == f.hold.ID })]
	require.WithinDuration(t, time.Now().Add(time.Hour), hold.NextAttemptAt, 15*time.Minute, "the failing one shows its next attempt")
}

// An attempt names what started it: the schedule, a manual RetryMessage,
// or a ReplayEvent; a scheduled retry after a manual one is scheduled again.
func TestAttempt_trigger_names_what_started_it(t *testing.T) {
	t.Parallel()
	f := newHistFix(t)
	for _, a := range f.list(t, webhook.AttemptQuery{}) {
		require.Equal(t, webhook.TriggerScheduled, a.Trigger, "attempt %d of %s", a.Number, a.EndpointID)
	}

	// Manual: the succeeded message to ok, and the failing one to hold,
	// which gets a full schedule again: after its manual attempt fails, it
	// waits an hour for the next one instead of being exhausted.
	require.NoError(t, f.tn.RetryMessage(ctx, f.msgA[f.ok.ID]))
	okAtts := waitAttempts(t, f.tn, f.msgA[f.ok.ID], 2)
	require.Equal(t, []webhook.Trigger{webhook.TriggerScheduled, webhook.TriggerManual},
		[]webhook.Trigger{okAtts[0].Trigger, okAtts[1].Trigger})
	require.Equal(t, 2, okAtts[1].Number)
	require.NoError(t, f.tn.RetryMessage(ctx, f.msgA[f.hold.ID]))
	holdAtts := waitAttempts(t, f.tn, f.msgA[f.hold.ID], 2)
	require.Equal(t, webhook.TriggerManual, holdAtts[1].Trigger)
	held := waitStatus(t, f.tn, f.msgA[f.hold.ID], webhook.StatusFailing)
	require.WithinDuration(t, holdAtts[1].StartedAt.Add(time.Hour), held.NextAttemptAt, 15*time.Minute)

	// Replay: event B again, to both its endpoints.
	res, err := f.tn.ReplayEvent(ctx, f.evB, webhook.ReplayOptions{})
	require.NoError(t, err)
	require.Len(t, res.Replayed, 2)
	require.Empty(t, res.Skipped)
	for _, ep := range []string{f.ok.ID, f.big.ID} {
		atts := waitAttempts(t, f.tn, f.msgB[ep], 2)
		require.Equal(t, webhook.TriggerScheduled, atts[0].Trigger)
		require.Equal(t, webhook.TriggerReplay, atts[1].Trigger, "endpoint %s", ep)
		waitStatus(t, f.tn, f.msgB[ep], webhook.StatusSucceeded)
	}

	// A reopened message whose replayed attempt fails goes on with its
	// schedule: the retry is scheduled, not a replay.
	res, err = f.tn.ReplayEvent(ctx, f.evA, webhook.ReplayOptions{})
	require.NoError(t, err)
	require.Len(t, res.Replayed, 4)
	deadAtts := waitAttempts(t, f.tn, f.msgA[f.dead.ID], 4)
	waitStatus(t, f.tn, f.msgA[f.dead.ID], webhook.StatusExhausted)
	var triggers []webhook.Trigger
	for _, a := range deadAtts {
		triggers = append(triggers, a.Trigger)
	}
	require.Equal(t, []webhook.Trigger{webhook.TriggerScheduled, webhook.TriggerScheduled,
		webhook.TriggerReplay, webhook.TriggerScheduled}, triggers)
	byTrigger := func(tr webhook.Trigger) int {
		n := 0
		for _, a := range f.list(t, webhook.AttemptQuery{}) {
			if a.Trigger == tr {
				n++
			}
		}
		return n
	}
	require.Equal(t, 2, byTrigger(webhook.TriggerManual))
	require.Equal(t, 2+4, byTrigger(webhook.TriggerReplay))
}

// Invalid AttemptQuery input is a *ValidationError naming the field, and
// ErrInvalid; nothing is read.
func TestListAttempts_invalid_query_is_a_ValidationError(t *testing.T) {
	t.Parallel()
	d, _ := newDispatcher(t, nil)
	tn := d.Tenant("acme")
	now := time.Now()
	short := base64.RawURLEncoding.EncodeToString([]byte("short"))
	forged := base64.RawURLEncoding.EncodeToString([]byte("\x00\x00\x00\x00\x00\x00\x00\x01att_forged_position"))
	for _, tc := range []struct {
		name, field string
		q           webhook.AttemptQuery
	}{
		{"unknown message status", "message_status", webhook.AttemptQuery{MessageStatus: "lost"}},
		{"unknown status class", "status_class", webhook.AttemptQuery{StatusClass: 7}},
		{"status class 6", "status_class", webhook.AttemptQuery{StatusClass: 6}},
		{"until before since", "until", webhook.AttemptQuery{Since: now, Until: now.Add(-time.Second)}},
		{"until equal to since", "until", webhook.AttemptQuery{Since: now, Until: now}},
		{"cursor that is not base64", "cursor", webhook.AttemptQuery{ListOptions: webhook.ListOptions{Cursor: "!!not a cursor!!"}}},
		{"cursor too short to be one", "cursor", webhook.AttemptQuery{ListOptions: webhook.ListOptions{Cursor: short}}},
		{"cursor the store did not make", "cursor", webhook.AttemptQuery{ListOptions: webhook.ListOptions{Cursor: forged}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tn.ListAttempts(ctx, tc.q)
			require.True(t, isValidation(err, tc.field), "got %v, want a *ValidationError on %q", err, tc.field)
			require.Empty(t, p.Items)
		})
	}
	_, err := tn.EndpointStats(ctx, "ep_any", now, now.Add(-time.Hour))
	require.True(t, isValidation(err, "until"), "EndpointStats with until before since: %v", err)
}

// Paging through ListAttempts 7 at a time while new attempts keep being
// recorded visits every attempt that existed before the first page exactly
// once, and none twice.
func TestListAttempts_paging_while_attempts_are_written(t *testing.T) {
	t.Parallel()
	_, tn, rcv := acmeRig(t, nil)
	newEndpoint(t, tn, rcv, "/p", webhook.EndpointParams{})
	const before = 40
	for i := range before {
		_, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: fmt.Appendf(nil, `{"n":%d}`, i)})
		require.NoError(t, err)
	}
	var existing []string
	for deadline := time.Now().Add(10 * time.Second); len(existing) < before; time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "%d of %d attempts recorded", len(existing), before)
		p, err := tn.ListAttempts(ctx, webhook.AttemptQuery{ListOptions: webhook.ListOptions{Limit: 1000}})
		require.NoError(t, err)
		existing = attemptIDs(p.Items)
	}
	require.Len(t, existing, before)

	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{"late":true}`)}); err != nil {
				done <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	seen := map[string]int{}
	pages := 0
	q := webhook.AttemptQuery{ListOptions: webhook.ListOptions{Limit: 7}}
	var listed []*webhook.Attempt
	for {
		// Let at least one more attempt be recorded before each page.
		rcv.Wait(t, "/p", len(rcv.Deliveries("/p"))+1, 10*time.Second)
		p, err := tn.ListAttempts(ctx, q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(p.Items), 7)
		pages++
		listed = append(listed, p.Items...)
		for _, a := range p.Items {
			seen[a.ID]++
		}
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	close(stop)
	require.NoError(t, <-done)
	requireNewestFirst(t, listed)
	for id, n := range seen {
		require.Equal(t, 1, n, "attempt %s listed %d times", id, n)
	}
	for _, id := range existing {
		require.Equal(t, 1, seen[id], "attempt %s, recorded before the first page, listed %d times", id, seen[id])
	}
	require.GreaterOrEqual(t, pages, before/7)
	total, err := tn.ListAttempts(ctx, webhook.AttemptQuery{ListOptions: webhook.ListOptions{Limit: 1000}})
	require.NoError(t, err)
	require.Greater(t, len(total.Items), before, "attempts were recorded while paging")
	t.Logf("%d pages; %d attempts before the first page, %d at the end, %d listed", pages, before, len(total.Items), len(seen))
}
