package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/store/bolt"
)

// A customer's endpoint receives a signed event and verifies it.
func ExampleTenant_Publish() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	st, err := bolt.Open(filepath.Join(dir, "webhooks.db"), nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()

	var secret string
	got := make(chan string, 1)
	customer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header, body); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got <- fmt.Sprintf("%s %s", r.Header.Get("webhook-id"), body)
	}))
	defer customer.Close()

	// The customer's server is plain http on loopback, for this example only:
	// the address guard refuses loopback unless it is allow-listed.
	d, err := webhook.New(st, &webhook.Config{AllowInsecureURLs: true, AllowedDestinations: []string{"127.0.0.1/32"}})
	if err != nil {
		panic(err)
	}
	d.Start(ctx)
	defer d.Stop(ctx)
	d.RegisterEventType(ctx, webhook.EventType{Name: "order.created"})

	acme := d.Tenant("acme")
	ep, err := acme.CreateEndpoint(ctx, webhook.EndpointParams{URL: customer.URL, EventTypes: []string{"order.*"}})
	if err != nil {
		panic(err)
	}
	secret = ep.Secret() // handed to the customer
	res, err := acme.Publish(ctx, webhook.Event{ID: "order-42", Type: "order.created", Payload: []byte(`{"id":42}`)})
	if err != nil {
		panic(err)
	}
	fmt.Println("routed to", len(res.Messages), "endpoint")
	fmt.Println("verified:", <-got)
	// Output:
	// routed to 1 endpoint
	// verified: order-42 {"id":42}
}
