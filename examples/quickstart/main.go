// Quickstart: two customers, their endpoints, signed deliveries and a retry,
// all in one process. Run it with: go run ./examples/quickstart
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
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

	// 1. Storage: one bbolt file. Here in a temp dir; in production a path
	// on persistent disk.
	dir, err := os.MkdirTemp("", "hooksmith-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := bolt.Open(filepath.Join(dir, "webhooks.db"), nil)
	if err != nil {
		return err
	}
	defer st.Close()

	// 2. The customers' side: a receiver that verifies every delivery.
	rcv := newReceiver()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rcv}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	// 3. The dispatcher. The receiver is plain http on loopback, which only
	// development setups should allow: the address guard refuses loopback,
	// private and metadata addresses unless allow-listed. Endpoint secrets
	// are sealed at rest with a key that, in production, comes from a secret
	// manager or the environment (here a throwaway one). The short retry
	// schedule lets the retry below happen within a second.
	sealKey := make([]byte, 32)
	if _, err := rand.Read(sealKey); err != nil {
		return err
	}
	d, err := webhook.New(st, &webhook.Config{
		AllowInsecureURLs:   true,
		AllowedDestinations: []string{"127.0.0.1/32"},
		SecretKeys:          []webhook.SecretKey{{ID: "demo", Key: base64.StdEncoding.EncodeToString(sealKey)}},
		RetrySchedule:       []time.Duration{0, 300 * time.Millisecond, time.Second, 2 * time.Second},
		Logger:              slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	defer d.Stop(ctx)

	// 4. The event catalogue.
	for _, name := range []string{"order.created", "order.shipped", "invoice.paid"} {
		if _, err := d.RegisterEventType(ctx, webhook.EventType{Name: name}); err != nil {
			return err
		}
	}

	// 5. Each customer registers an endpoint and gets its own secret.
	acme, globex := d.Tenant("acme"), d.Tenant("globex")
	acmeEP, err := acme.CreateEndpoint(ctx, webhook.EndpointParams{
		URL: base + "/acme", Description: "Acme order feed", EventTypes: []string{"order.*"},
	})
	if err != nil {
		return err
	}
	globexEP, err := globex.CreateEndpoint(ctx, webhook.EndpointParams{
		URL: base + "/globex", Description: "Globex, everything (its server fails at first)",
	})
	if err != nil {
		return err
	}
	rcv.secret("/acme", acmeEP.Secret())
	rcv.secret("/globex", globexEP.Secret())
	rcv.failFirst("/globex", 2)
	// Secret() is what the host shows its customer, once; never log it.
	fmt.Printf("acme   endpoint %s (its whsec_ secret went to acme)\n", acmeEP.ID)
	fmt.Printf("globex endpoint %s (its whsec_ secret went to globex)\n", globexEP.ID)

	// 6. Publish. Each call returns once the event is on disk.
	var owners []*webhook.Tenant
	var ids []string
	publish := func(tn *webhook.Tenant, ev webhook.Event) error {
		res, err := tn.Publish(ctx, ev)
		if err != nil {
			return err
		}
		fmt.Printf("published %-14s for %-6s → %d endpoint(s)\n", ev.Type, tn.ID(), len(res.Messages))
		for _, m := range res.Messages {
			owners, ids = append(owners, tn), append(ids, m.MessageID)
		}
		return nil
	}
	for _, step := range []struct {
		tn *webhook.Tenant
		ev webhook.Event
	}{
		{acme, webhook.Event{Type: "order.created", Payload: []byte(`{"order_id":"A-1","amount":99.99}`)}},
		{acme, webhook.Event{Type: "invoice.paid", Payload: []byte(`{"invoice":"INV-7"}`)}}, // filtered out
		{acme, webhook.Event{Type: "order.shipped", Payload: []byte(`{"order_id":"A-1"}`)}},
		{globex, webhook.Event{Type: "invoice.paid", Payload: []byte(`{"invoice":"G-3"}`)}},
	} {
		if err := publish(step.tn, step.ev); err != nil {
			return err
		}
	}

	// 7. Wait until every message is final, then show what happened.
	deadline := time.Now().Add(20 * time.Second)
	for i, id := range ids {
		for {
			m, err := owners[i].GetMessage(ctx, id)
			if err != nil {
				return err
			}
			if m.Status == webhook.StatusSucceeded {
				fmt.Printf("message %s for %-6s succeeded after %d attempt(s)\n", m.ID, m.TenantID, m.Attempts)
				break
			}
			if m.Status == webhook.StatusExhausted || time.Now().After(deadline) {
				return fmt.Errorf("message %s ended %s", id, m.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	atts, err := globex.ListAttempts(ctx, webhook.AttemptQuery{EndpointID: globexEP.ID})
	if err != nil {
		return err
	}
	fmt.Println("globex's attempt log, newest first:")
	for _, a := range atts.Items {
		fmt.Printf("  attempt %d  HTTP %d  %s\n", a.Number, a.StatusCode, a.Duration.Round(100*time.Microsecond))
	}
	fmt.Println("the receiver saw:")
	for _, line := range rcv.log() {
		fmt.Println("  " + line)
	}
	return nil
}

// receiver plays the customers' servers: it verifies each delivery with the
// secret of the endpoint it was sent to.
type receiver struct {
	mu      sync.Mutex
	secrets map[string]string
	fails   map[string]int
	lines   []string
}

func newReceiver() *receiver {
	return &receiver{secrets: map[string]string{}, fails: map[string]int{}}
}

func (r *receiver) secret(path, s string) { r.mu.Lock(); r.secrets[path] = s; r.mu.Unlock() }
func (r *receiver) failFirst(path string, n int) {
	r.mu.Lock()
	r.fails[path] = n
	r.mu.Unlock()
}

func (r *receiver) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
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
		r.lines = append(r.lines, fmt.Sprintf("%-7s rejected: %v", req.URL.Path, err))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	status := http.StatusOK
	if r.fails[req.URL.Path] > 0 {
		r.fails[req.URL.Path]--
		status = http.StatusServiceUnavailable
	}
	r.lines = append(r.lines, fmt.Sprintf("%-7s %s verified, answered %d: %s",
		req.URL.Path, req.Header.Get("webhook-id"), status, body))
	w.WriteHeader(status)
}
