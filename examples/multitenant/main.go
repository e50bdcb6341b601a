// Multitenant walks the GitLab scenario of Hook0's multi-tenant guide with
// this library: event types, project and group webhooks routed by labels,
// the webhook logs page (attempts, time ranges, response bodies), a full
// update, disable, delete, a replay, and platform system hooks.
//
// Run it with: go run ./examples/multitenant
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/store/bolt"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hooksmith-multitenant-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := bolt.Open(filepath.Join(dir, "webhooks.db"), nil)
	if err != nil {
		return err
	}
	defer st.Close()

	// The customers' servers: ci.acme-corp.com, monitoring.acme-corp.com and
	// compliance.gitlab.com, played by one local server. Monitoring fails
	// its first delivery, to have a failed attempt to debug.
	rcv := &receiver{secrets: map[string]string{}, failFirst: map[string]int{"/pipelines": 1}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rcv}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	d, err := webhook.New(st, &webhook.Config{
		AllowInsecureURLs:   true, // the local receiver speaks plain http on loopback
		AllowedDestinations: []string{"127.0.0.1/32"},
		RetrySchedule:       []time.Duration{0, 200 * time.Millisecond, time.Second},
		Retention:           30 * 24 * time.Hour, // premium plans; free ones get 7 days below
		Logger:              slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	defer d.Stop(ctx)

	// Step 1: event types (service.resource.verb), including the system
	// events of step 7.
	for _, name := range []string{"gitlab.push.created", "gitlab.merge_request.opened", "gitlab.pipeline.completed",
		"gitlab.user.created", "gitlab.user.blocked", "gitlab.project.created"} {
		if _, err := d.RegisterEventType(ctx, webhook.EventType{Name: name}); err != nil {
			return err
		}
	}
	fmt.Println("step 1: registered 6 event types")

	// Each GitLab namespace is a tenant: its webhooks, events and logs are
	// invisible to every other namespace. Retention follows its plan.
	acme := d.Tenant("namespace-12345")                                                 // acme-corp, premium
	if err := d.Tenant("namespace-777").SetRetention(ctx, 7*24*time.Hour); err != nil { // a free plan
		return err
	}

	// Step 3: a project webhook and a group webhook, routed by labels.
	project, err := acme.CreateEndpoint(ctx, webhook.EndpointParams{
		URL:         base + "/webhooks/gitlab",
		Description: "ACME Corp API Gateway project webhook",
		EventTypes:  []string{"gitlab.push.created", "gitlab.merge_request.opened"},
		Labels:      map[string]string{"project_id": "67890"},
		Headers:     map[string]string{"X-Custom-Header": "acme-api-gateway"},
		Metadata:    map[string]string{"gitlab_webhook_id": "webhook_123", "created_by_user": "usr_abc123"},
	})
	if err != nil {
		return err
	}
	group, err := acme.CreateEndpoint(ctx, webhook.EndpointParams{
		URL:         base + "/pipelines",
		Description: "ACME Corp group-wide pipeline notifications",
		EventTypes:  []string{"gitlab.pipeline.completed"},
		Labels:      map[string]string{"group_id": "54321"},
		Metadata:    map[string]string{"gitlab_group_webhook_id": "group_webhook_456"},
	})
	if err != nil {
		return err
	}
	rcv.secret("/webhooks/gitlab", project.Secret())
	rcv.secret("/pipelines", group.Secret())
	fmt.Printf("step 3: project webhook %s (project_id=67890), group webhook %s (group_id=54321)\n", project.ID, group.ID)

	// Step 2: the platform publishes with labels. (The guide's pipeline
	// event has no group_id label, so no group webhook could match it; it
	// carries one here.)
	push, err := acme.Publish(ctx, webhook.Event{
		Type:       "gitlab.push.created",
		Payload:    []byte(`{"ref":"refs/heads/main","commits":3,"author":"john@example.com"}`),
		OccurredAt: time.Date(2024, 1, 15, 14, 30, 0, 0, time.UTC),
		Labels: map[string]string{"namespace_id": "12345", "project_id": "67890", "group_id": "54321",
			"user_id": "usr_abc123", "project_path": "acme-corp/api-gateway", "visibility": "private", "plan": "premium", "ref": "main"},
	})
	if err != nil {
		return err
	}
	pipeline, err := acme.Publish(ctx, webhook.Event{
		Type:       "gitlab.pipeline.completed",
		Payload:    []byte(`{"pipeline_id":"9876","status":"success","duration":240}`),
		OccurredAt: time.Date(2024, 1, 15, 14, 45, 0, 0, time.UTC),
		Labels: map[string]string{"namespace_id": "12345", "project_id": "67890", "group_id": "54321",
			"pipeline_id": "9876", "environment": "production", "triggered_by": "usr_abc123"},
	})
	if err != nil {
		return err
	}
	other, err := acme.Publish(ctx, webhook.Event{ // another project: no webhook of its own
		Type: "gitlab.push.created", Payload: []byte(`{"ref":"refs/heads/dev"}`),
		Labels: map[string]string{"namespace_id": "12345", "project_id": "11111"},
	})
	if err != nil {
		return err
	}
	for _, r := range []struct {
		name string
		res  *webhook.PublishResult
	}{{"push (project 67890)", push}, {"pipeline", pipeline}, {"push (project 11111)", other}} {
		fmt.Printf("step 2: published %-22s → %s\n", r.name, endpointNames(r.res, project.ID, group.ID))
	}
	if err := waitFinal(ctx, acme, push, pipeline); err != nil {
		return err
	}
	fmt.Println("        the receivers saw:")
	for _, line := range rcv.log() {
		fmt.Println("          " + line)
	}

	// Step 4: the webhook logs page. Attempts of one webhook, newest first.
	atts, err := acme.ListAttempts(ctx, webhook.AttemptQuery{EndpointID: group.ID})
	if err != nil {
		return err
	}
	fmt.Printf("step 4: group webhook's attempts (%d):\n", len(atts.Items))
	var failed *webhook.Attempt
	for _, a := range atts.Items {
		fmt.Printf("          #%d %-9s HTTP %d %-11s headers sent: %s\n", a.Number, a.Trigger, a.StatusCode, a.ErrorClass, headerNames(a.RequestHeaders))
		if a.StatusCode >= 400 {
			failed = a
		}
	}
	// By time range, like min_created_at / max_created_at.
	since := time.Now().Add(-time.Hour)
	inRange, err := acme.ListAttempts(ctx, webhook.AttemptQuery{Since: since, Until: time.Now().Add(time.Minute)})
	if err != nil {
		return err
	}
	fmt.Printf("        attempts of the namespace in the last hour: %d\n", len(inRange.Items))
	failures, err := acme.ListAttempts(ctx, webhook.AttemptQuery{StatusClass: webhook.Status5xx})
	if err != nil {
		return err
	}
	fmt.Printf("        of which 5xx: %d\n", len(failures.Items))
	if failed == nil {
		return fmt.Errorf("expected a failed attempt on the group webhook")
	}
	full, err := acme.GetAttempt(ctx, failed.ID)
	if err != nil {
		return err
	}
	fmt.Printf("        response body of the failed attempt %s: %s\n", full.ID, full.ResponseBody)
	stats, err := acme.EndpointStats(ctx, group.ID, time.Time{}, time.Time{})
	if err != nil {
		return err
	}
	fmt.Printf("        group webhook, last 24h: %d attempts, %.0f%% success, health %s\n",
		stats.Attempts, 100*stats.SuccessRate, stats.Health)

	// Step 5: a full update (get, change, send back whole), disable, delete.
	cur, err := acme.GetEndpoint(ctx, project.ID)
	if err != nil {
		return err
	}
	params := cur.EndpointParams
	params.URL = base + "/webhooks/new-ci"
	params.EventTypes = append(params.EventTypes, "gitlab.pipeline.completed")
	updated, err := acme.UpdateEndpoint(ctx, project.ID, params)
	if err != nil {
		return err
	}
	rcv.secret("/webhooks/new-ci", updated.Secret())
	fmt.Printf("step 5: updated project webhook: url %s, event types %v\n", strings.TrimPrefix(updated.URL, base), updated.EventTypes)

	// Step 6: the user clicks "Retry" on the push event: a replay to the
	// endpoint it went to, now at its new URL.
	replay, err := acme.ReplayEvent(ctx, push.EventID, webhook.ReplayOptions{})
	if err != nil {
		return err
	}
	if err := waitReplayed(ctx, acme, replay); err != nil {
		return err
	}
	detail, err := acme.GetMessageDetail(ctx, replay.Replayed[0].MessageID)
	if err != nil {
		return err
	}
	fmt.Printf("step 6: replayed %s to %d endpoint(s); its attempts now:", push.EventID, len(replay.Replayed))
	for _, a := range detail.Attempts {
		fmt.Printf(" #%d %s → HTTP %d;", a.Number, a.Trigger, a.StatusCode)
	}
	fmt.Println()

	if err := acme.DisableEndpoint(ctx, project.ID); err != nil {
		return err
	}
	res, err := acme.Publish(ctx, webhook.Event{Type: "gitlab.push.created", Payload: []byte(`{"ref":"refs/heads/main"}`),
		Labels: map[string]string{"project_id": "67890"}})
	if err != nil {
		return err
	}
	fmt.Printf("step 5: disabled the project webhook; a push now goes to %d endpoint(s)\n", len(res.Messages))
	if err := acme.DeleteEndpoint(ctx, project.ID); err != nil {
		return err
	}
	page, err := acme.ListEndpoints(ctx, webhook.ListOptions{})
	if err != nil {
		return err
	}
	fmt.Printf("step 5: deleted it; the namespace has %d webhook(s) left\n", len(page.Items))

	// Step 7: platform system hooks, in the platform's own tenant, get only
	// events labelled hook_type=system.
	platform := d.Tenant("gitlab-platform")
	system, err := platform.CreateEndpoint(ctx, webhook.EndpointParams{
		URL:         base + "/system-events",
		Description: "GitLab.com system hooks for compliance",
		EventTypes:  []string{"gitlab.user.created", "gitlab.user.blocked", "gitlab.project.created"},
		Labels:      map[string]string{"hook_type": "system"},
		Headers:     map[string]string{"X-System-Hook": "true"},
	})
	if err != nil {
		return err
	}
	rcv.secret("/system-events", system.Secret())
	sys, err := platform.Publish(ctx, webhook.Event{Type: "gitlab.user.created", Payload: []byte(`{"user_id":"usr_new"}`),
		Labels: map[string]string{"hook_type": "system"}})
	if err != nil {
		return err
	}
	audit, err := platform.Publish(ctx, webhook.Event{Type: "gitlab.user.created", Payload: []byte(`{"user_id":"usr_internal"}`),
		Labels: map[string]string{"hook_type": "audit"}})
	if err != nil {
		return err
	}
	if err := waitFinal(ctx, platform, sys); err != nil {
		return err
	}
	fmt.Printf("step 7: system event → %d endpoint(s), audit event → %d endpoint(s)\n", len(sys.Messages), len(audit.Messages))
	fmt.Println("        the receivers saw, in all:")
	for _, line := range rcv.log() {
		fmt.Println("          " + line)
	}
	return nil
}

// endpointNames names the endpoints a publish went to.
func endpointNames(res *webhook.PublishResult, projectID, groupID string) string {
	var names []string
	for _, m := range res.Messages {
		switch m.EndpointID {
		case projectID:
			names = append(names, "project webhook")
		case groupID:
			names = append(names, "group webhook")
		}
	}
	if len(names) == 0 {
		return "no webhook"
	}
	return strings.Join(names, ", ")
}

func headerNames(h map[string][]string) string {
	var out []string
	for k, v := range h {
		if strings.HasPrefix(k, "Webhook-") || k == "X-Custom-Header" {
			out = append(out, k+"="+shorten(strings.Join(v, ",")))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func shorten(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// waitFinal waits until every message of the publishes has succeeded.
func waitFinal(ctx context.Context, tn *webhook.Tenant, results ...*webhook.PublishResult) error {
	var ids []string
	for _, r := range results {
		for _, m := range r.Messages {
			ids = append(ids, m.MessageID)
		}
	}
	return waitSucceeded(ctx, tn, ids)
}

func waitReplayed(ctx context.Context, tn *webhook.Tenant, r *webhook.ReplayResult) error {
	var ids []string
	for _, m := range r.Replayed {
		ids = append(ids, m.MessageID)
	}
	return waitSucceeded(ctx, tn, ids)
}

func waitSucceeded(ctx context.Context, tn *webhook.Tenant, ids []string) error {
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range ids {
		for {
			m, err := tn.GetMessage(ctx, id)
			if err != nil {
				return err
			}
			if m.Status == webhook.StatusSucceeded {
				break
			}
			if m.Status == webhook.StatusExhausted || time.Now().After(deadline) {
				return fmt.Errorf("message %s ended %s", id, m.Status)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// receiver plays the customers' servers, verifying each delivery with the
// secret of the endpoint it was sent to.
type receiver struct {
	mu        sync.Mutex
	secrets   map[string]string
	failFirst map[string]int
	lines     []string
}

func (r *receiver) secret(path, s string) { r.mu.Lock(); r.secrets[path] = s; r.mu.Unlock() }

func (r *receiver) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.lines
	r.lines = nil
	return out
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := webhook.Verify(r.secrets[req.URL.Path], req.Header, body); err != nil {
		r.lines = append(r.lines, fmt.Sprintf("%-17s rejected: %v", req.URL.Path, err))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.failFirst[req.URL.Path] > 0 {
		r.failFirst[req.URL.Path]--
		r.lines = append(r.lines, fmt.Sprintf("%-17s %s verified, answered 500", req.URL.Path, req.Header.Get("webhook-id")))
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":"database is locked, try again"}`)
		return
	}
	r.lines = append(r.lines, fmt.Sprintf("%-17s %s verified (%s): %s", req.URL.Path, req.Header.Get("webhook-id"),
		req.Header.Get("X-Custom-Header")+req.Header.Get("X-System-Hook"), body))
	io.WriteString(w, `{"ok":true}`)
}
