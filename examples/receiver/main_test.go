package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/hooksmith/webhook/internal/signature"
)

func TestHandler(t *testing.T) {
	secret, err := signature.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, err := signature.ParseKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler(secret))
	defer srv.Close()
	post := func(id string, body []byte, sign bool) int {
		req, _ := http.NewRequest("POST", srv.URL+"/webhook", bytes.NewReader(body))
		ts := time.Now().Unix()
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		if sign {
			req.Header.Set("webhook-signature", signature.Header([]signature.Key{key}, id, ts, body))
		} else {
			req.Header.Set("webhook-signature", "v1,bm90IGEgc2lnbmF0dXJl")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := []byte(`{"order_id":"A-1"}`)
	if got := post("evt_1", body, true); got != http.StatusNoContent {
		t.Fatalf("signed delivery: got %d", got)
	}
	if got := post("evt_1", body, true); got != http.StatusOK {
		t.Fatalf("redelivery: got %d", got)
	}
	if got := post("evt_2", body, false); got != http.StatusUnauthorized {
		t.Fatalf("forged delivery: got %d", got)
	}
}
