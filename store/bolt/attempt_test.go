package bolt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// everyAttemptField is an attempt with every stored field set, so a field
// added to store.Attempt without a place in the record fails the round
// trip. The response body is stored apart, so it is left out.
func everyAttemptField(t *testing.T) *store.Attempt {
	t.Helper()
	a := &store.Attempt{ID: "att_1", TenantID: "acme", MessageID: "msg_1", EndpointID: "ep_1", EventID: "evt_1",
		Number: 3, Trigger: store.TriggerReplay,
		// Any year, and the zone offset, are kept, as the JSON form kept them.
		StartedAt: time.Date(1850, 1, 2, 3, 4, 5, 6, time.FixedZone("", -(3*3600+30*60))),
		Duration:  1500 * time.Millisecond, URL: "https://customer.example/hooks?x=1",
		RequestHeaders: map[string][]string{"Webhook-Id": {"msg_1"}, "Content-Type": {"application/json"},
			"Authorization": {"[redacted]"}, "X-Multi": {"a", "", "b"}, "": {"empty name"}},
		StatusCode:        503,
		ResponseHeaders:   map[string][]string{"Retry-After": {"30"}, "Content-Length": {"0"}},
		ResponseTruncated: true, ErrorClass: store.ErrorHTTPStatus, Error: "HTTP 503"}
	v := reflect.ValueOf(a).Elem()
	for i := range v.NumField() {
		if v.Type().Field(i).Name != "ResponseBody" {
			require.False(t, v.Field(i).IsZero(), "everyAttemptField leaves %s unset", v.Type().Field(i).Name)
		}
	}
	return a
}

func TestAttempt_round_trips(t *testing.T) {
	for name, a := range map[string]*store.Attempt{
		"every field": everyAttemptField(t),
		"no headers, zero time": {ID: "att_2", TenantID: "acme", Number: 1, ErrorClass: store.ErrorTimeout,
			Error: "context deadline exceeded"},
		"negative and extreme numbers":                     {ID: "att_3", Number: -1, StatusCode: -999, Duration: -time.Second},
		"only response headers":                            {ID: "att_4", ResponseHeaders: map[string][]string{"A": {"1"}}},
		"more names than appendHeaders keeps on its stack": {ID: "att_5", RequestHeaders: manyHeaders(40)},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := encodeAttempt(a)
			require.NoError(t, err)
			require.Equal(t, byte(attemptV1), v[0])
			got, err := decodeAttempt(v)
			require.NoError(t, err)
			require.Equal(t, a, got)
			if !a.StartedAt.IsZero() {
				_, off := got.StartedAt.Zone()
				require.Equal(t, -(3*3600 + 30*60), off)
			}
		})
	}
}

func manyHeaders(n int) map[string][]string {
	h := map[string][]string{}
	for i := range n {
		h[fmt.Sprintf("X-Header-%02d", n-i)] = []string{strconv.Itoa(i)}
	}
	return h
}

// appendAttempt writes after what the buffer holds, and leaves that alone.
func TestAttempt_appends_to_a_buffer_in_use(t *testing.T) {
	a := everyAttemptField(t)
	want, err := encodeAttempt(a)
	require.NoError(t, err)
	buf := append(make([]byte, 0, 8), "kept"...)
	got, err := appendAttempt(buf, a)
	require.NoError(t, err)
	require.Equal(t, "kept", string(got[:4]))
	require.Equal(t, want, got[4:])
}

// The body is not part of the record; empty header sets, and a header
// without values, read back as nil, as omitempty JSON read empty sets.
func TestAttempt_leaves_out_the_body_and_empty_headers(t *testing.T) {
	a := &store.Attempt{ID: "att_1", ResponseBody: []byte("body"), RequestHeaders: map[string][]string{},
		ResponseHeaders: map[string][]string{"X-None": {}}}
	v, err := encodeAttempt(a)
	require.NoError(t, err)
	require.NotContains(t, string(v), "body")
	got, err := decodeAttempt(v)
	require.NoError(t, err)
	require.Nil(t, got.ResponseBody)
	require.Nil(t, got.RequestHeaders)
	require.Equal(t, map[string][]string{"X-None": nil}, got.ResponseHeaders)
}

// Files written before format 11 hold attempts as JSON, without the body.
func TestAttempt_reads_the_JSON_form(t *testing.T) {
	a := everyAttemptField(t)
	v, err := json.Marshal(a)
	require.NoError(t, err)
	got, err := decodeAttempt(v)
	require.NoError(t, err)
	require.True(t, got.StartedAt.Equal(a.StartedAt))
	got.StartedAt = a.StartedAt
	require.Equal(t, a, got)
}

func TestAttempt_refuses_a_record_it_cannot_read(t *testing.T) {
	good, err := encodeAttempt(&store.Attempt{ID: "a", StatusCode: 200, StartedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	base, err := encodeAttempt(&store.Attempt{})
	require.NoError(t, err)
	// An attempt with nothing set: the version, nine empty texts, two empty
	// header sets, then the numbers, flags and time, its tail.
	texts, tail := base[:10], base[12:]
	withHeaders := func(h ...byte) []byte { return append(append(bytes.Clone(texts), h...), tail...) }
	withTail := func(t ...byte) []byte { return append(append(bytes.Clone(texts), 0, 0), t...) }
	for name, v := range map[string][]byte{
		"empty":                      {},
		"version only":               {attemptV1},
		"a text past the end":        {attemptV1, 9, 'a'},
		"cut short in the time":      good[:len(good)-1],
		"a byte after the time":      append(bytes.Clone(good), 0),
		"a name count past the end":  withHeaders(200, 0),
		"a value count past the end": append(bytes.Clone(texts), 1, 1, 'A', 9, 'x'),
		"names out of order":         withHeaders(2, 1, 'B', 0, 1, 'A', 0, 0),
		"a name twice":               withHeaders(0, 2, 1, 'A', 0, 1, 'A', 0),
		"a number past 64 bits":      withTail(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0),
		"a flags byte of 2":          withTail(2, 0, 0, 2),
		"no time":                    withTail(2, 0, 0, 0),
		"a time in the wrong form":   withTail(2, 0, 0, 0, 3, 9, 9, 9),
		"not JSON either":            []byte(`{"id":`),
	} {
		t.Run(name, func(t *testing.T) {
			a, err := decodeAttempt(v)
			require.ErrorIs(t, err, errCorruptAttempt)
			require.Nil(t, a)
		})
	}
}

func BenchmarkAttemptRecord(b *testing.B) {
	a := &store.Attempt{ID: "att_0d4d6cympvjt0ezvy8hq9rcnec", TenantID: "acme", MessageID: "msg_0d4d6cympvjt0ezvy8hq9rcnec",
		EndpointID: "ep_0d4d6cympvjt0ezvy8hq9rcnec", EventID: "evt_0d4d6cympvjt0ezvy8hq9rcnec", Number: 1,
		Trigger: store.TriggerScheduled, StartedAt: time.Now().UTC(), Duration: 3 * time.Millisecond,
		URL: "https://customer.example/hooks", StatusCode: 200,
		RequestHeaders: map[string][]string{"Content-Type": {"application/json"}, "User-Agent": {"hooksmith/1"},
			"Webhook-Id": {"msg_0d4d6cympvjt0ezvy8hq9rcnec"}, "Webhook-Timestamp": {"1764000000"},
			"Webhook-Signature": {"v1,dJ+qJTnpv09QmXc2dm0i4lYkq1QWm0Oa3iBQxL4kp8c="}},
		ResponseHeaders: map[string][]string{"Content-Length": {"0"}, "Date": {"Mon, 24 Nov 2026 08:00:00 GMT"}}}
	v, err := encodeAttempt(a)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeAttempt(a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode_json_form", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeAttempt(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	jsonForm, err := json.Marshal(a)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode_json_form", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeAttempt(jsonForm); err != nil {
				b.Fatal(err)
			}
		}
	})
}
