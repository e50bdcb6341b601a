package webhook

import (
	"context"
	"net"
	"net/http"

	"github.com/hooksmith/webhook/store"
)

// SetDialForTest makes deliveries connect through dial instead of the
// guarded dialer, for in-memory connections under testing/synctest.
func SetDialForTest(c *Config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	c.dial = dial
}

// NewRequestForTest builds the signed request a worker sends to deliver ev
// to the stored endpoint ep, for benchmarks.
func NewRequestForTest(ctx context.Context, d *Dispatcher, ep *store.Endpoint, ev *store.Event) (*http.Request, error) {
	return d.newRequest(ctx, ep, ev)
}

// RoutesForTest reports whether Publish routes an event of eventType with
// labels to the stored endpoint ep, for benchmarks.
func RoutesForTest(ep *store.Endpoint, eventType string, labels map[string]string) bool {
	return ep.Enabled && matchesType(ep.EventTypes, eventType) && matchesLabels(ep.Labels, labels)
}
