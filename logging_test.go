package webhook_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/webhooktest"
)

// logRecord is one captured slog record with its attributes flattened,
// groups as dotted prefixes.
type logRecord struct {
	Level slog.Level
	Msg   string
	Attrs map[string]slog.Value
}

// String renders the record as text, every value with %v.
func (r logRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %s", r.Level, r.Msg)
	for _, k := range slices.Sorted(maps.Keys(r.Attrs)) {
		fmt.Fprintf(&b, " %s=%v", k, r.Attrs[k].Any())
	}
	return b.String()
}

// logCapture is a slog.Handler that keeps every record, at every level.
type logCapture struct {
	mu     *sync.Mutex
	recs   *[]logRecord
	attrs  []slog.Attr
	prefix string
}

func newLogCapture() *logCapture {
	return &logCapture{mu: &sync.Mutex{}, recs: new([]logRecord)}
}

func (h *logCapture) Enabled(context.Context, slog.Level) bool { return true }

func (h *logCapture) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{Level: r.Level, Msg: r.Message, Attrs: map[string]slog.Value{}}
	var add func(prefix string, a slog.Attr)
	add = func(prefix string, a slog.Attr) {
		v := a.Value.Resolve()
		if v.Kind() == slog.KindGroup {
			for _, g := range v.Group() {
				add(prefix+a.Key+".", g)
			}
			return
		}
		rec.Attrs[prefix+a.Key] = v
	}
	for _, a := range h.attrs {
		add("", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		add(h.prefix, a)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, rec)
	return nil
}

func (h *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	for _, a := range as {
		a.Key = h.prefix + a.Key
		c.attrs = append(slices.Clone(c.attrs), a)
	}
	return &c
}

func (h *logCapture) WithGroup(name string) slog.Handler {
	c := *h
	c.prefix += name + "."
	return &c
}

func (h *logCapture) records() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.recs)
}

// find returns the records whose message is msg.
func (h *logCapture) find(msg string) []logRecord {
	var out []logRecord
	for _, r := range h.records() {
		if r.Msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// A success, a failure that exhausts its schedule and a 410 that disables
// the endpoint are logged: each attempt at Debug under fixed keys, the
// exhaustion and the disable at Warn. No record holds the payload, a
// secret or a credential header's value.
func TestLogging_attempts_exhaustion_and_disable_without_secrets(t *testing.T) {
	t.Parallel()
	logs := newLogCapture()
	_, tn, rcv := acmeRig(t, &webhook.Config{RetrySchedule: fastSchedule, AllowInsecureURLs: true,
		AllowedDestinations: loopback, Logger: slog.New(logs)})
	rcv.Respond("/down", func(webhooktest.Delivery, int) int { return http.StatusInternalServerError })
	rcv.Respond("/gone", func(webhooktest.Delivery, int) int { return http.StatusGone })
	const (
		payload = `{"card":"planted-log-payload-9911"}`
		cred    = "Bearer planted-log-credential-9912"
		apiKey  = "planted-log-api-key-9913"
	)
	headers := map[string]string{"Authorization": cred, "X-Api-Key": apiKey}
	eps := map[string]*webhook.Endpoint{}
	var forbidden []string
	for _, path := range []string{"/ok", "/down", "/gone"} {
		eps[path] = newEndpoint(t, tn, rcv, path, webhook.EndpointParams{Headers: headers})
		forbidden = append(forbidden, secretForms(t, eps[path].Secret())[:2]...)
	}
	forbidden = append(forbidden, payload, "planted-log-payload-9911", cred, "planted-log-credential-9912", apiKey)
	res, err := tn.Publish(ctx, webhook.Event{ID: "evt-log", Type: "order.created", Payload: []byte(payload)})
	require.NoError(t, err)
	require.Len(t, res.Messages, 3)
	msgOf := map[string]string{}
	for _, m := range res.Messages {
		msgOf[m.EndpointID] = m.MessageID
	}
	waitStatus(t, tn, msgOf[eps["/ok"].ID], webhook.StatusSucceeded)
	waitStatus(t, tn, msgOf[eps["/down"].ID], webhook.StatusExhausted)
	for deadline := time.Now().Add(10 * time.Second); len(logs.find("webhook: endpoint disabled")) == 0; time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the 410 disable was not logged")
	}

	// Attempts: one record each, at Debug, under the fixed keys.
	attempts := logs.find("webhook: attempt finished")
	require.Len(t, attempts, 1+len(fastSchedule)+1, "ok once, down its whole schedule, gone once")
	wantCodes := map[string]int{eps["/ok"].ID: 200, eps["/down"].ID: 500, eps["/gone"].ID: 410}
	numbers := map[string][]int64{}
	for _, r := range attempts {
		require.Equal(t, slog.LevelDebug, r.Level, r.String())
		for _, k := range []string{"tenant_id", "endpoint_id", "event_id", "message_id", "attempt", "status_code", "duration_ms"} {
			require.Contains(t, r.Attrs, k, "attempt record without %s: %s", k, r.String())
		}
		ep := r.Attrs["endpoint_id"].String()
		require.Contains(t, wantCodes, ep, r.String())
		require.Equal(t, "acme", r.Attrs["tenant_id"].String())
		require.Equal(t, "evt-log", r.Attrs["event_id"].String())
		require.Equal(t, msgOf[ep], r.Attrs["message_id"].String())
		require.EqualValues(t, wantCodes[ep], r.Attrs["status_code"].Int64(), r.String())
		require.GreaterOrEqual(t, r.Attrs["duration_ms"].Int64(), int64(0))
		numbers[ep] = append(numbers[ep], r.Attrs["attempt"].Int64())
	}
	slices.Sort(numbers[eps["/down"].ID])
	require.Equal(t, []int64{1, 2, 3}, numbers[eps["/down"].ID])

	exhausted := logs.find("webhook: message exhausted its retries")
	require.Len(t, exhausted, 1)
	require.Equal(t, slog.LevelWarn, exhausted[0].Level)
	require.Equal(t, msgOf[eps["/down"].ID], exhausted[0].Attrs["message_id"].String())
	require.Equal(t, eps["/down"].ID, exhausted[0].Attrs["endpoint_id"].String())
	require.EqualValues(t, 3, exhausted[0].Attrs["attempt"].Int64())

	disabled := logs.find("webhook: endpoint disabled")
	require.Len(t, disabled, 1)
	require.Equal(t, slog.LevelWarn, disabled[0].Level)
	require.Equal(t, eps["/gone"].ID, disabled[0].Attrs["endpoint_id"].String())
	require.Equal(t, "acme", disabled[0].Attrs["tenant_id"].String())
	require.Contains(t, disabled[0].Attrs["reason"].String(), "410")

	// Nothing secret, in any record.
	all := logs.records()
	for _, r := range all {
		text := r.String()
		for _, f := range forbidden {
			require.NotContains(t, text, f, "a log record holds a secret or the payload")
		}
	}
	t.Logf("%d records checked", len(all))
}
