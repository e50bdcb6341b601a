package ids

import (
	"slices"
	"strings"
	"testing"
)

func TestNew_sorts_in_creation_order_and_is_unique(t *testing.T) {
	t.Parallel()
	const n = 10000
	got := make([]string, n)
	for i := range got {
		got[i] = New("msg")
	}
	if !slices.IsSorted(got) {
		t.Fatal("IDs made in sequence are not sorted")
	}
	seen := make(map[string]bool, n)
	for _, id := range got {
		if seen[id] {
			t.Fatalf("duplicate ID %s", id)
		}
		seen[id] = true
		if !strings.HasPrefix(id, "msg_") || len(id) != len("msg_")+26 {
			t.Fatalf("bad shape %q", id)
		}
	}
}

func TestEncode_preserves_byte_order(t *testing.T) {
	t.Parallel()
	var a, b [16]byte
	a[15], b[0] = 0xff, 0x01
	if ea, eb := Encode("x", a), Encode("x", b); ea >= eb {
		t.Fatalf("%s should sort before %s", ea, eb)
	}
	var max [16]byte
	for i := range max {
		max[i] = 0xff
	}
	if got := Encode("x", max); got != "x_7zzzzzzzzzzzzzzzzzzzzzzzzz" {
		t.Fatalf("all-ones encodes as %s", got)
	}
}
