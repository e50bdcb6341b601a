package webhook

import (
	"context"
	"net"
)

// SetDialForTest makes deliveries connect through dial instead of the
// guarded dialer, for in-memory connections under testing/synctest.
func SetDialForTest(c *Config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	c.dial = dial
}
