package webhook_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/store/bolt"
)

// Tests of timing policy (schedules, rate limits, breakers, windows of days)
// run inside a testing/synctest bubble, where time is virtual: it jumps
// ahead whenever every goroutine of the bubble is blocked, so a 27-hour
// schedule runs in milliseconds. Real sockets do not block durably, so
// deliveries travel over in-memory pipes to a real net/http server; the
// store is a real bbolt file.

// vrig is a dispatcher, its store and an in-memory receiver in a bubble.
type vrig struct {
	t     *testing.T
	d     *webhook.Dispatcher
	st    *bolt.Store
	srv   *http.Server
	ln    *pipeListener
	start time.Time

	mu       sync.Mutex
	handlers map[string]func(r *http.Request, n int) int // path → status for its n-th request (from 1)
	got      map[string][]vdelivery
}

// vdelivery is a request the receiver got, at a virtual time.
type vdelivery struct {
	At    time.Time
	ID    string // webhook-id
	Body  string
	Index int // 1-based, per path
}

// newVRig must be called inside synctest.Test. cfg's dial and logger are
// set here; http and 127.0.0.1 are allowed. noSync skips fsync, for tests
// that publish thousands of messages.
func newVRig(t *testing.T, cfg webhook.Config, noSync bool) *vrig {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "webhook.db"), &bolt.Options{NoSync: noSync})
	require.NoError(t, err)
	r := &vrig{t: t, st: st, start: time.Now(), ln: newPipeListener(),
		handlers: map[string]func(*http.Request, int) int{}, got: map[string][]vdelivery{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve)}
	go func() { _ = r.srv.Serve(r.ln) }()
	cfg.AllowInsecureURLs = true
	cfg.AllowedDestinations = loopback
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	webhook.SetDialForTest(&cfg, r.ln.dial)
	r.d, err = webhook.New(st, &cfg)
	require.NoError(t, err)
	require.NoError(t, r.d.Start(context.Background()))
	return r
}

// close stops everything the rig started, so the bubble can end.
func (r *vrig) close() {
	require.NoError(r.t, r.d.Close())
	require.NoError(r.t, r.srv.Close())
	require.NoError(r.t, r.st.Close())
	// Let handlers still sleeping in virtual time return.
	time.Sleep(time.Hour)
}

func (r *vrig) serve(w http.ResponseWriter, req *http.Request) {
	body := make([]byte, 0, 64)
	buf := make([]byte, 512)
	for {
		n, err := req.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err != nil {
			break
		}
	}
	r.mu.Lock()
	n := len(r.got[req.URL.Path]) + 1
	r.got[req.URL.Path] = append(r.got[req.URL.Path], vdelivery{At: time.Now(), ID: req.Header.Get("Webhook-Id"), Body: string(body), Index: n})
	h := r.handlers[req.URL.Path]
	r.mu.Unlock()
	status := http.StatusOK
	if h != nil {
		status = h(req, n)
	}
	if status == 0 { // hang until the client gives up
		<-req.Context().Done()
		return
	}
	w.WriteHeader(status)
}

// respond sets how a path answers; a status of 0 hangs until the client
// times out.
func (r *vrig) respond(path string, h func(req *http.Request, n int) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[path] = h
}

func (r *vrig) deliveries(path string) []vdelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]vdelivery(nil), r.got[path]...)
}

// endpoint creates an endpoint at path for tenant; event types must be
// registered by the caller.
func (r *vrig) endpoint(tenant, path string, p webhook.EndpointParams) *webhook.Endpoint {
	r.t.Helper()
	p.URL = "http://127.0.0.1:8080" + path
	ep, err := r.d.Tenant(tenant).CreateEndpoint(context.Background(), p)
	require.NoError(r.t, err)
	return ep
}

// publish publishes one event of type "t.e" for tenant and returns its
// message IDs.
func (r *vrig) publish(tenant, body string) []string {
	r.t.Helper()
	res, err := r.d.Tenant(tenant).Publish(context.Background(), webhook.Event{Type: "t.e", Payload: []byte(body)})
	require.NoError(r.t, err)
	ids := make([]string, len(res.Messages))
	for i, m := range res.Messages {
		ids[i] = m.MessageID
	}
	return ids
}

// waitFor advances virtual time in small steps until cond holds or limit
// passes (virtual time), and fails then.
func (r *vrig) waitFor(limit time.Duration, what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(limit)
	// Checks cost real time; the receiver's timestamps stay exact whatever
	// the step.
	step := max(10*time.Millisecond, limit/2000)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("after %s of virtual time: %s", limit, what)
		}
		time.Sleep(step)
		synctest.Wait()
	}
}

func (r *vrig) message(tenant, id string) *webhook.Message {
	r.t.Helper()
	m, err := r.d.Tenant(tenant).GetMessage(context.Background(), id)
	require.NoError(r.t, err)
	return m
}

// pipeListener hands out in-memory connections: dial returns one end of a
// net.Pipe, Accept the other.
type pipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "127.0.0.1:8080" }

// TestVirtualTime_rig_delivers_a_message checks the rig itself: one message
// goes over a pipe to the receiver and succeeds, in no virtual time to
// speak of.
func TestVirtualTime_rig_delivers_a_message(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newVRig(t, webhook.Config{}, false)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		r.endpoint("acme", "/ok", webhook.EndpointParams{})
		ids := r.publish("acme", `{"n":1}`)
		require.Len(t, ids, 1)
		r.waitFor(time.Second, "the message was not delivered", func() bool {
			return r.message("acme", ids[0]).Status == webhook.StatusSucceeded
		})
		got := r.deliveries("/ok")
		require.Len(t, got, 1)
		require.Equal(t, `{"n":1}`, got[0].Body)
	})
}
