// Receiver: what a customer runs to accept webhooks from a Hooksmith sender.
//
//	WEBHOOK_SECRET=whsec_... go run ./examples/receiver -addr 127.0.0.1:8080
//
// Any Standard Webhooks library, in any language, verifies the same way.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hooksmith/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	secret := os.Getenv("WEBHOOK_SECRET")
	if secret == "" {
		log.Fatal("set WEBHOOK_SECRET to the endpoint's whsec_ secret")
	}
	srv := &http.Server{Addr: *addr, Handler: handler(secret), ReadHeaderTimeout: 10 * time.Second}
	log.Printf("receiving webhooks on http://%s/webhook", *addr)
	log.Fatal(srv.ListenAndServe())
}

// handler verifies each delivery, drops redeliveries by webhook-id, and
// answers 2xx quickly: slow work belongs in a queue of the receiver's own.
func handler(secret string) http.Handler {
	var (
		mu   sync.Mutex
		seen = map[string]bool{} // a real receiver keeps this in its database, with expiry
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhook", func(w http.ResponseWriter, r *http.Request) {
		// Verify the raw bytes, before decoding: re-encoded JSON would not match.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := webhook.Verify(secret, r.Header, body); err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, webhook.ErrMissingHeader) {
				status = http.StatusBadRequest
			}
			http.Error(w, "invalid webhook", status)
			return
		}
		id := r.Header.Get("webhook-id")
		mu.Lock()
		dup := seen[id]
		seen[id] = true
		mu.Unlock()
		if dup {
			w.WriteHeader(http.StatusOK) // already handled: delivery is at least once
			return
		}
		var event map[string]any
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		log.Printf("event %s: %v", id, event)
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}
