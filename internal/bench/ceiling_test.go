package main

import (
	"math"
	"os"
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
		// It checks itself that the file holds a message and an outcome each.
		{"durableFloor", func() (float64, error) { return durableFloor(dir, 300, 8, 8, 10) }},
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

func TestDurableFloor_RefusesEmptySizes(t *testing.T) {
	for _, sizes := range [][4]int{{0, 8, 8, 10}, {300, 0, 8, 10}, {300, 8, 0, 10}, {300, 8, 8, 0}} {
		if _, err := durableFloor(t.TempDir(), sizes[0], sizes[1], sizes[2], sizes[3]); err == nil {
			t.Errorf("durableFloor%v: no error", sizes)
		}
	}
}

func TestLibraryScenarios_ReportWriterLoadAndGrouping(t *testing.T) {
	check := func(t *testing.T, rate, kib, load, perCommit float64) {
		t.Helper()
		if !(rate > 0) || math.IsInf(rate, 0) {
			t.Errorf("rate = %v, want positive and finite", rate)
		}
		if kib < 1 {
			t.Errorf("%.2f KiB written per 1 KiB payload", kib)
		}
		// One writer's busy time over the elapsed time: at most 1, but for
		// a commit that began before the clock started.
		if !(load > 0 && load <= 1.25) {
			t.Errorf("writer load = %v, want in (0, 1]", load)
		}
		if perCommit < 1 {
			t.Errorf("%.2f writes per commit, want at least 1", perCommit)
		}
	}
	t.Run("publish", func(t *testing.T) {
		r, err := publishThroughput(t.TempDir(), 500, 16, 16)
		if err != nil {
			t.Fatal(err)
		}
		check(t, r.PerSecond, r.KiBWritten, r.WriterLoad, r.PerCommit)
	})
	t.Run("e2e", func(t *testing.T) {
		r, err := endToEnd(t.TempDir(), 300, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		check(t, r.PerSecond, r.KiBWritten, r.WriterLoad, r.PerCommit)
	})
	// Every event must arrive (endToEnd fails otherwise) when they
	// alternate between two stores, and both stores' writes count.
	t.Run("e2e over two stores", func(t *testing.T) {
		r, err := endToEnd(t.TempDir(), 300, 10, 2)
		if err != nil {
			t.Fatal(err)
		}
		check(t, r.PerSecond, r.KiBWritten, r.WriterLoad, r.PerCommit)
	})
}

func TestEndToEnd_refuses_stores_that_do_not_divide_the_endpoints(t *testing.T) {
	for _, stores := range []int{0, 3, senders + 1} {
		dir := t.TempDir()
		if _, err := endToEnd(dir, 10, 10, stores); err == nil {
			t.Errorf("%d stores over 10 endpoints: no error", stores)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("%d stores: wrote %d entries", stores, len(left))
		}
	}
}

func TestRun_refuses_the_experiments(t *testing.T) {
	for _, p := range []params{{Stores: 2}, {Stores: 1, NoSync: true}} {
		if err := run(p, 1, 1, false); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
}
