package storetest

import (
	"testing"

	"github.com/hooksmith/webhook/store"
)

// TestMemStore validates the suite against the in-memory reference store.
func TestMemStore(t *testing.T) {
	Exercise(t, func(t *testing.T) store.Store { return newMemStore() })
}

func BenchmarkMemStore(b *testing.B) {
	Benchmark(b, func(b *testing.B) store.Store { return newMemStore() })
}
