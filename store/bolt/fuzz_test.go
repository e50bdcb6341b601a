package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

// fuzzRecord frames meta and payload the way encodeEvent does, with a
// length prefix that may lie.
func fuzzRecord(n uint32, meta, payload string) []byte {
	b := binary.BigEndian.AppendUint32(nil, n)
	return append(append(b, meta...), payload...)
}

// fuzzFrame frames meta and payload with the true length.
func fuzzFrame(meta, payload string) []byte { return fuzzRecord(uint32(len(meta)), meta, payload) }

// fuzzEventsEqual compares two decoded events: times as instants, and
// empty and nil maps and slices alike (the encoding omits both).
func fuzzEventsEqual(a, b *store.Event) bool {
	if !a.OccurredAt.Equal(b.OccurredAt) || !a.CreatedAt.Equal(b.CreatedAt) ||
		!bytes.Equal(a.Payload, b.Payload) ||
		len(a.Labels) != len(b.Labels) || len(a.Messages) != len(b.Messages) {
		return false
	}
	if len(a.Labels) > 0 && !reflect.DeepEqual(a.Labels, b.Labels) ||
		len(a.Messages) > 0 && !reflect.DeepEqual(a.Messages, b.Messages) {
		return false
	}
	x, y := *a, *b
	x.OccurredAt, y.OccurredAt, x.CreatedAt, y.CreatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	x.Payload, y.Payload, x.Labels, y.Labels, x.Messages, y.Messages = nil, nil, nil, nil, nil, nil
	return reflect.DeepEqual(x, y)
}

func FuzzDecodeEvent(f *testing.F) {
	good, err := encodeEvent(&store.Event{
		Key: "evk_1", TenantID: "acme", ID: "evt-1", Type: "order.created", ContentType: "application/json",
		Labels:     map[string]string{"region": "eu"},
		OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 7, time.FixedZone("", 3600)),
		Messages: []store.MessageRef{{MessageID: "msg_1", EndpointID: "ep_1"}},
		Payload:  []byte(`{"id":1}`),
	})
	if err != nil {
		f.Fatal(err)
	}
	bare, err := encodeEvent(&store.Event{Key: "evk_2"})
	if err != nil {
		f.Fatal(err)
	}
	two, err := encodeEvent(&store.Event{Key: "evk_3", Messages: []store.MessageRef{{MessageID: "msg_1", EndpointID: "ep_2"}, {MessageID: "msg_2", EndpointID: "ep_1"}}})
	if err != nil {
		f.Fatal(err)
	}
	meta := `{"key":"k","id":"e","labels":{},"messages":[]}`
	for _, seed := range [][]byte{
		good,
		bare,
		two,
		asEventV1(bare, 0),
		withMessages(bare, 2), // a message count past the end
		withMessages(bare, 2, 1, 'b', 0, 1, 'a', 0),      // messages out of ID order
		withMessages(bare, 2, 1, 'a', 0, 1, 'a', 1, 'x'), // a message twice
		good[:len(good)-9],               // cut inside CreatedAt
		append(bytes.Clone(good), 0x81),  // a longer payload
		{eventV1, 1, 'k', 0, 0, 0, 0, 9}, // a label count past the end
		fuzzFrame(`{"key":"k","tenant_id":"acme","occurred_at":"2026-01-01T00:00:00+01:30"}`, "json"),
		fuzzFrame(meta, "payload"),
		fuzzRecord(2, "{}", ""),
		fuzzRecord(4, "null", "\x00\xff"),
		fuzzRecord(0, "", "x"),                                   // empty metadata: not JSON
		fuzzRecord(0xffffffff, "{}", ""),                         // length beyond the record
		fuzzRecord(3, "{}", ""),                                  // length one past the metadata
		fuzzRecord(2, "[]", ""),                                  // metadata not an object
		fuzzFrame(`{"occurred_at":"10000-01-01T00:00:00Z"}`, ""), // year out of range
		fuzzFrame(`{"created_at":"2026-01-01T00:00:00+23:59"}`, "p"),
		fuzzFrame(`{"key":"\ud800\xff"}`, ""),          // bad surrogate, bad UTF-8
		fuzzFrame(`{"payload":"cGF5bG9hZA=="}`, "raw"), // payload is not in the metadata
		nil,
		{},
		{0, 0, 0},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		ev, err := decodeEvent(v)
		if err != nil {
			if ev != nil {
				t.Fatalf("an event came back with error %v", err)
			}
			if v == nil {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("nil record: %v, want ErrNotFound", err)
				}
			} else if !errors.Is(err, errCorrupt) {
				t.Fatalf("corrupt record: %v, want errCorrupt", err)
			}
			return
		}
		if ev == nil {
			t.Fatal("nil event without an error")
		}
		if v[0] == eventV1 || v[0] == eventV2 {
			if !bytes.HasSuffix(v, ev.Payload) {
				t.Fatalf("payload %q is not the record's end", ev.Payload)
			}
		} else if n := binary.BigEndian.Uint32(v); !bytes.Equal(ev.Payload, v[4+n:]) {
			t.Fatalf("payload %q, want the %d bytes after the metadata", ev.Payload, len(v)-4-int(n))
		}
		requireStableEncoding(t, ev, encodeEvent, decodeEvent, fuzzEventsEqual)
	})
}

// requireStableEncoding checks that a decoded record x encodes to a record
// that decodes to what x holds, and encodes again to the same bytes.
func requireStableEncoding[T any](t *testing.T, x *T, encode func(*T) ([]byte, error), decode func([]byte) (*T, error), equal func(a, b *T) bool) {
	t.Helper()
	enc, err := encode(x)
	if err != nil {
		t.Fatalf("a decoded record does not encode again: %v", err)
	}
	again, err := decode(enc)
	if err != nil {
		t.Fatalf("decoding the re-encoded record: %v\n%q", err, enc)
	}
	if !equal(x, again) {
		t.Fatalf("decode(encode(x)) != x:\n%+v\n%+v", x, again)
	}
	enc2, err := encode(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("encoding is not stable:\n%q\n%q", enc, enc2)
	}
}

// FuzzDecodeRecord writes arbitrary bytes as the value of a message and of an
// endpoint record in a real bbolt file, then reads them back the way the
// store does.
func FuzzDecodeRecord(f *testing.F) {
	msg, _ := json.Marshal(&store.Message{ID: "msg_1", TenantID: "acme", EndpointID: "ep_1", EventID: "evt-1",
		EventKey: "evk_1", Status: store.StatusFailing, Attempts: 2, LeaseToken: 7,
		NextAttemptAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	ep, _ := json.Marshal(&store.Endpoint{ID: "ep_1", TenantID: "acme", URL: "https://a.example/", Method: "POST",
		Labels: map[string]string{"k": "v"}, Headers: map[string]string{"X-A": "b"}, Enabled: true,
		Secrets: []store.Secret{{Value: "whsec_AAAA"}}})
	for _, seed := range []string{
		string(msg), string(ep), "", "null", "{}", "[]", `"str"`, "{", `{"attempts":1e400}`,
		`{"attempts":-1,"lease_token":-1}`, `{"lease_token":18446744073709551616}`,
		`{"next_attempt_at":"not a time"}`, `{"secrets":[{"value":1}]}`, `{"labels":{"a":null}}`,
		`{"id":"a","ID":"b"}`, "\xef\xbb\xbf{}", `{"status":"\ud800"}`,
	} {
		f.Add([]byte(seed))
	}
	// Records are written behind the store's back: no cache.
	s, err := Open(filepath.Join(f.TempDir(), "fuzz.db"), &Options{NoSync: true, RouteCacheSize: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		if err := s.Close(); err != nil {
			f.Error(err)
		}
	})
	ctx := context.Background()
	msgKey := []byte("msg_fuzz")
	epKey := tenantKey("acme", "ep_fuzz")

	f.Fuzz(func(t *testing.T, v []byte) {
		if err := s.db.Update(func(tx *bbolt.Tx) error {
			if err := tx.Bucket(bucketMessages).Put(msgKey, v); err != nil {
				return err
			}
			return tx.Bucket(bucketEndpoints).Put(epKey, v)
		}); err != nil {
			t.Fatal(err)
		}

		// wellFormed: JSON, or for a message its binary form (whose decoder
		// FuzzDecodeMessage covers).
		check := func(what string, err error, decoded, wellFormed bool) {
			t.Helper()
			switch {
			case err == nil && !decoded:
				t.Fatalf("%s: no error and no record", what)
			case err != nil && decoded:
				t.Fatalf("%s: a record and error %v", what, err)
			case err == nil && !wellFormed:
				t.Fatalf("%s: malformed record %q decoded without an error", what, v)
			case err != nil && errors.Is(err, store.ErrNotFound):
				t.Fatalf("%s: a present but undecodable record reported as ErrNotFound: %v", what, err)
			}
		}
		var m *store.Message
		var e *store.Endpoint
		if err := s.db.View(func(tx *bbolt.Tx) error {
			_, binErr := decodeMessage(v)
			binary := len(v) > 0 && v[0] != '{' && binErr == nil
			check("getRecord message", getRecord(tx.Bucket(bucketMessages), msgKey, &m), m != nil, json.Valid(v) || binary)
			check("getRecord endpoint", getRecord(tx.Bucket(bucketEndpoints), epKey, &e), e != nil, json.Valid(v))
			return nil
		}); err != nil {
			t.Fatal(err)
		}

		// The store's own readers of these records never panic either, and
		// report a record they cannot decode as an error, not as missing.
		if _, err := s.MessageGet(ctx, "acme", string(msgKey)); err != nil && m != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("MessageGet of a decodable record: %v", err)
		} else if m == nil && (err == nil || errors.Is(err, store.ErrNotFound)) {
			t.Fatalf("MessageGet of an undecodable record: %v, want a decode error", err)
		}
		if _, err := s.EndpointGet(ctx, "acme", "ep_fuzz"); (err == nil) != (e != nil) {
			t.Fatalf("EndpointGet disagrees with getRecord: %v", err)
		}
		if _, err := s.EndpointListAll(ctx, "acme"); (err == nil) != (e != nil) {
			t.Fatalf("EndpointListAll disagrees with getRecord: %v", err)
		}
		if _, err := s.EndpointList(ctx, "acme", store.ListParams{}); (err == nil) != (e != nil) {
			t.Fatalf("EndpointList disagrees with getRecord: %v", err)
		}
	})
}

// fuzzAttemptsEqual compares two decoded attempts: times as instants with
// their offsets, and an empty and a nil header set or value list alike.
func fuzzAttemptsEqual(a, b *store.Attempt) bool {
	_, offA := a.StartedAt.Zone()
	_, offB := b.StartedAt.Zone()
	if !a.StartedAt.Equal(b.StartedAt) || offA != offB {
		return false
	}
	headersEqual := func(x, y map[string][]string) bool {
		if len(x) != len(y) {
			return false
		}
		for k, vx := range x {
			vy, ok := y[k]
			if !ok || len(vx) != len(vy) || len(vx) > 0 && !reflect.DeepEqual(vx, vy) {
				return false
			}
		}
		return true
	}
	if !headersEqual(a.RequestHeaders, b.RequestHeaders) || !headersEqual(a.ResponseHeaders, b.ResponseHeaders) {
		return false
	}
	x, y := *a, *b
	x.StartedAt, y.StartedAt = time.Time{}, time.Time{}
	x.RequestHeaders, y.RequestHeaders, x.ResponseHeaders, y.ResponseHeaders = nil, nil, nil, nil
	return reflect.DeepEqual(x, y)
}

func FuzzDecodeAttempt(f *testing.F) {
	good, err := encodeAttempt(&store.Attempt{ID: "att_1", TenantID: "acme", MessageID: "msg_1", EndpointID: "ep_1",
		EventID: "evt-1", Number: 2, Trigger: store.TriggerManual, StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600)),
		Duration: time.Second, URL: "https://a.example/", StatusCode: 500, ErrorClass: store.ErrorHTTPStatus, Error: "HTTP 500",
		RequestHeaders:  map[string][]string{"A": {"1", "2"}, "B": {}},
		ResponseHeaders: map[string][]string{"C": {"3"}}, ResponseTruncated: true})
	if err != nil {
		f.Fatal(err)
	}
	bare, err := encodeAttempt(&store.Attempt{})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{
		good,
		bare,
		good[:len(good)-3],
		append(bytes.Clone(bare[:10]), 2, 1, 'B', 0, 1, 'A', 0, 0), // names out of order, no tail
		[]byte(`{"id":"att_1","started_at":"2026-01-01T00:00:00+01:30","request_headers":{"A":[],"B":null}}`),
		[]byte(`{"number":1e400}`),
		[]byte(`{"started_at":"10000-01-01T00:00:00Z"}`),
		nil,
		{},
		{attemptV1},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		a, err := decodeAttempt(v)
		if err != nil {
			if a != nil {
				t.Fatalf("an attempt came back with error %v", err)
			}
			if !errors.Is(err, errCorruptAttempt) {
				t.Fatalf("corrupt record: %v, want errCorruptAttempt", err)
			}
			return
		}
		if a == nil {
			t.Fatal("nil attempt without an error")
		}
		requireStableEncoding(t, a, encodeAttempt, decodeAttempt, fuzzAttemptsEqual)
	})
}
