package webhook_test

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/store/bolt"
)

// endpointsOf returns the endpoint IDs a publish was routed to, sorted.
func endpointsOf(res *webhook.PublishResult) []string {
	var out []string
	for _, m := range res.Messages {
		out = append(out, m.EndpointID)
	}
	sort.Strings(out)
	return out
}

func sorted(ids ...string) []string {
	sort.Strings(ids)
	return ids
}

func TestPublish_routing(t *testing.T) {
	t.Parallel()
	d, _ := newDispatcher(t, nil)
	registerTypes(t, d, "gitlab.push.created", "gitlab.merge_request.opened", "gitlab.pipeline.completed", "gitlab.user.created")
	tn := d.Tenant("gitlab")
	create := func(p webhook.EndpointParams) string {
		ep, err := tn.CreateEndpoint(ctx, p)
		require.NoError(t, err)
		return ep.ID
	}
	project := create(webhook.EndpointParams{URL: "https://ci.acme.example/webhooks/gitlab",
		EventTypes: []string{"gitlab.push.created", "gitlab.merge_request.opened"},
		Labels:     map[string]string{"project_id": "67890"}})
	group := create(webhook.EndpointParams{URL: "https://monitoring.acme.example/pipelines",
		EventTypes: []string{"gitlab.pipeline.completed"},
		Labels:     map[string]string{"group_id": "54321"}})
	everything := create(webhook.EndpointParams{URL: "https://all.example/"})
	wildcard := create(webhook.EndpointParams{URL: "https://wild.example/", EventTypes: []string{"gitlab.*"},
		Labels: map[string]string{"group_id": "54321"}})
	system := create(webhook.EndpointParams{URL: "https://compliance.example/",
		EventTypes: []string{"gitlab.user.created"}, Labels: map[string]string{"hook_type": "system"}})
	disabled := create(webhook.EndpointParams{URL: "https://off.example/", Disabled: true})
	_ = disabled

	publish := func(typ string, labels map[string]string) []string {
		res, err := tn.Publish(ctx, webhook.Event{Type: typ, Payload: []byte(`{}`), Labels: labels})
		require.NoError(t, err)
		return endpointsOf(res)
	}
	pushLabels := map[string]string{"namespace_id": "12345", "project_id": "67890", "group_id": "54321", "ref": "main"}
	require.Equal(t, sorted(project, everything, wildcard), publish("gitlab.push.created", pushLabels),
		"a push in project 67890 of group 54321")
	require.Equal(t, sorted(group, everything, wildcard),
		publish("gitlab.pipeline.completed", map[string]string{"project_id": "11111", "group_id": "54321"}),
		"a pipeline of another project in the group")
	require.Equal(t, sorted(everything),
		publish("gitlab.push.created", map[string]string{"project_id": "11111", "group_id": "99999"}),
		"a push elsewhere reaches only the catch-all")
	require.Equal(t, sorted(everything), publish("gitlab.user.created", nil),
		"without hook_type=system the system hook stays silent")
	require.Equal(t, sorted(system, everything), publish("gitlab.user.created", map[string]string{"hook_type": "system"}))
	require.Equal(t, sorted(everything, wildcard),
		publish("gitlab.merge_request.opened", map[string]string{"project_id": "67890x", "group_id": "54321"}),
		"label values must be equal, not prefixes")
}

func TestPublish_idempotency(t *testing.T) {
	t.Parallel()
	d, st := newDispatcher(t, nil)
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	for i := range 3 {
		_, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: fmt.Sprintf("https://e%d.example/", i)})
		require.NoError(t, err)
	}
	first, err := tn.Publish(ctx, webhook.Event{ID: "order-42", Type: "order.created", Payload: []byte(`{"v":1}`)})
	require.NoError(t, err)
	require.False(t, first.Duplicate)
	require.Len(t, first.Messages, 3)
	events, messages := count(t, st, "events"), count(t, st, "messages")

	// A retry of the same publish (a new endpoint appeared meanwhile) returns the original result.
	_, err = tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://late.example/"})
	require.NoError(t, err)
	again, err := tn.Publish(ctx, webhook.Event{ID: "order-42", Type: "order.created", Payload: []byte(`{"v":2}`)})
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, first.Messages, again.Messages)
	require.Equal(t, events, count(t, st, "events"))
	require.Equal(t, messages, count(t, st, "messages"))
	ev, err := tn.GetEvent(ctx, "order-42")
	require.NoError(t, err)
	require.Equal(t, `{"v":1}`, string(ev.Payload))
	require.Equal(t, "order.created", ev.Type)
	require.Equal(t, first.Messages, ev.Messages)

	t.Run("after_the_window_the_ID_is_new_again", func(t *testing.T) {
		d2, err := webhook.New(st, &webhook.Config{IdempotencyWindow: 1, AllowInsecureURLs: true})
		require.NoError(t, err)
		defer d2.Close()
		res, err := d2.Tenant("acme").Publish(ctx, webhook.Event{ID: "order-42", Type: "order.created", Payload: []byte(`{"v":3}`)})
		require.NoError(t, err)
		require.False(t, res.Duplicate)
		require.Len(t, res.Messages, 4)
		ev, err := st.EventGet(ctx, "acme", "order-42")
		require.NoError(t, err)
		require.Equal(t, `{"v":3}`, string(ev.Payload))
		for _, m := range first.Messages {
			_, err := st.MessageGet(ctx, "acme", m.MessageID)
			require.NoError(t, err, "the earlier publish's messages are kept")
		}
	})
}

func TestPublish_bad_input_writes_nothing(t *testing.T) {
	t.Parallel()
	d, st := newDispatcher(t, &webhook.Config{MaxPayloadSize: 4 << 20, AllowInsecureURLs: true})
	registerTypes(t, d, "order.created", "old.type")
	require.NoError(t, d.ArchiveEventType(ctx, "old.type"))
	tn := d.Tenant("acme")
	ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://acme.example/"})
	require.NoError(t, err)
	ok := webhook.Event{Type: "order.created", Payload: []byte(`{}`)}
	with := func(f func(*webhook.Event)) webhook.Event { e := ok; f(&e); return e }

	cases := []struct {
		name  string
		ev    webhook.Event
		check func(error) bool
	}{
		{"nil payload", with(func(e *webhook.Event) { e.Payload = nil }),
			func(err error) bool { return isValidation(err, "payload") }},
		{"10 MiB payload over a 4 MiB limit", with(func(e *webhook.Event) { e.Payload = make([]byte, 10<<20) }),
			func(err error) bool { return isValidation(err, "payload") && errorsIs(err, webhook.ErrPayloadTooLarge) }},
		{"invalid UTF-8 label", with(func(e *webhook.Event) { e.Labels = map[string]string{"k": "\xc3\x28"} }),
			func(err error) bool { return isValidation(err, "labels") }},
		{"empty label value", with(func(e *webhook.Event) { e.Labels = map[string]string{"k": ""} }),
			func(err error) bool { return isValidation(err, "labels") }},
		{"bad event ID", with(func(e *webhook.Event) { e.ID = "has space" }),
			func(err error) bool { return isValidation(err, "id") }},
		{"malformed type", with(func(e *webhook.Event) { e.Type = "order..created" }),
			func(err error) bool { return isValidation(err, "type") }},
		{"unregistered type", with(func(e *webhook.Event) { e.Type = "order.deleted" }),
			func(err error) bool { return errorsIs(err, webhook.ErrUnknownEventType) }},
		{"archived type", with(func(e *webhook.Event) { e.Type = "old.type" }),
			func(err error) bool { return errorsIs(err, webhook.ErrEventTypeArchived) }},
		{"bad content type", with(func(e *webhook.Event) { e.ContentType = "not a type" }),
			func(err error) bool { return isValidation(err, "content_type") }},
		{"invalid UTF-8 in content type", with(func(e *webhook.Event) { e.ContentType = "text/plain; x=\"\xf4\"" }),
			func(err error) bool { return isValidation(err, "content_type") }},
		{"content type without a subtype", with(func(e *webhook.Event) { e.ContentType = "foo" }),
			func(err error) bool { return isValidation(err, "content_type") }},
		{"control character in content type", with(func(e *webhook.Event) { e.ContentType = "text/plain; x=\"a\x01b\"" }),
			func(err error) bool { return isValidation(err, "content_type") }},
	}
	for _, c := range cases {
		ev := c.ev
		ev.ID = strings.ReplaceAll(c.name, " ", "-")
		if c.name == "bad event ID" {
			ev.ID = "has space"
		}
		_, err := tn.Publish(ctx, ev)
		require.True(t, c.check(err), "%s: got %v", c.name, err)
		_, err = tn.SendTo(ctx, ep.ID, ev)
		require.True(t, c.check(err), "SendTo %s: got %v", c.name, err)
	}
	_, err = tn.SendTo(ctx, "ep_unknown", webhook.Event{ID: "to-unknown", Type: "order.created", Payload: []byte(`{}`)})
	require.ErrorIs(t, err, webhook.ErrNotFound)
	require.NoError(t, tn.DisableEndpoint(ctx, ep.ID))
	_, err = tn.SendTo(ctx, ep.ID, webhook.Event{ID: "to-disabled", Type: "order.created", Payload: []byte(`{}`)})
	require.ErrorIs(t, err, webhook.ErrEndpointDisabled)

	require.Zero(t, count(t, st, "events"))
	require.Zero(t, count(t, st, "messages"))
}

func TestSendTo_targets_one_endpoint_regardless_of_filters(t *testing.T) {
	t.Parallel()
	d, _ := newDispatcher(t, nil)
	registerTypes(t, d, "order.created", "payment.completed")
	tn := d.Tenant("acme")
	target, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://a.example/", EventTypes: []string{"payment.completed"}})
	require.NoError(t, err)
	_, err = tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://b.example/"})
	require.NoError(t, err)
	res, err := tn.SendTo(ctx, target.ID, webhook.Event{ID: "o-1", Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	require.Equal(t, []string{target.ID}, endpointsOf(res))
	again, err := tn.SendTo(ctx, target.ID, webhook.Event{ID: "o-1", Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, res.Messages, again.Messages)
}

func TestPublish_concurrent_publishes_share_commits(t *testing.T) {
	t.Parallel()
	// The indexer's writes would count among the publishes'.
	d, st := newDispatcherWith(t, nil, &bolt.Options{IndexInterval: -1})
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	_, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://a.example/"})
	require.NoError(t, err)
	before := st.Stats()
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := tn.Publish(ctx, webhook.Event{ID: fmt.Sprintf("e-%d", i), Type: "order.created", Payload: []byte(`{}`)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	after := st.Stats()
	writes, commits := after.Writes-before.Writes, after.Commits-before.Commits
	require.EqualValues(t, n, writes)
	require.Equal(t, n, count(t, st, "messages"))
	t.Logf("%d publishes in %d commits", writes, commits)
	require.Less(t, commits, writes/2, "concurrent publishes were not grouped into shared commits")
}
