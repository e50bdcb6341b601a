package main

import (
	"math"
	"runtime"
	"testing"
	"time"
)

func TestCeilings_ReturnPositiveFiniteRatesAtSmallSizes(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	runs := []struct {
		name string
		run  func() (float64, error)
	}{
		{"httpCeiling", func() (float64, error) { return httpCeiling(500, 16, 10) }},
		{"boltCeiling", func() (float64, error) {
			rate, kib, err := boltCeiling(dir, 500, 16)
			if err == nil && kib < 1 {
				t.Errorf("boltCeiling wrote %.2f KiB per 1 KiB record", kib)
			}
			return rate, err
		}},
		{"naiveBaseline", func() (float64, error) { return naiveBaseline(dir, 200, 10) }},
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			rate, err := r.run()
			if err != nil {
				t.Fatal(err)
			}
			if !(rate > 0) || math.IsInf(rate, 0) {
				t.Fatalf("rate = %v, want positive and finite", rate)
			}
		})
	}
	// Every server, committer and connection goroutine is gone shortly after.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, started with %d:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
