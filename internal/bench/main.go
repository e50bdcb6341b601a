// Command bench measures the library against the machine's own ceilings,
// in one run: raw loopback HTTP, raw bbolt grouped commits, a naive
// hand-written sender, then the library's publish throughput, end-to-end
// delivery, latency under steady load, at a scale of a million endpoints,
// and with a million-message backlog. Each scenario runs in a child
// process of its own (so memory figures are its own), reps times; the
// table shows the median.
//
//	go run ./internal/bench            # full sizes: several minutes
//	go run ./internal/bench -quick     # small sizes, a smoke run
//	go run ./internal/bench -json      # the summary as JSON on the last line
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"time"
)

// params are the sizes of every scenario.
type params struct {
	Events         int           // end to end
	Endpoints      int           // end to end, steady: one per tenant
	Publish        int           // publish throughput
	Publishers     int           // concurrent publishers
	PubTenants     int           // publish throughput: tenants they publish to (0: one each)
	Rate           int           // steady load, events per second
	Duration       time.Duration // steady load
	ScaleEndpoints int
	ScaleTenants   int
	Backlog        int
	DrainWindow    time.Duration
	Records        int  // bbolt ceiling
	Stores         int  // end to end: stores the tenants are split over (an experiment)
	NoSync         bool // the library's scenarios: stores open with Options.NoSync (an experiment)
}

func main() {
	p := params{}
	flag.IntVar(&p.Events, "events", 20000, "end to end: events published")
	flag.IntVar(&p.Endpoints, "endpoints", 100, "end to end and steady: endpoints, one per tenant")
	flag.IntVar(&p.Publish, "publish", 20000, "publish throughput: events published")
	flag.IntVar(&p.Publishers, "publishers", 64, "concurrent publishers")
	flag.IntVar(&p.PubTenants, "publish-tenants", 0, "publish throughput: tenants published to (0: one per publisher)")
	flag.IntVar(&p.Rate, "rate", 1000, "steady load: events per second")
	flag.DurationVar(&p.Duration, "duration", 10*time.Second, "steady load: how long")
	flag.IntVar(&p.ScaleEndpoints, "scale-endpoints", 1_000_000, "scale: endpoints registered (0 skips)")
	flag.IntVar(&p.ScaleTenants, "scale-tenants", 100_000, "scale: tenants they belong to")
	flag.IntVar(&p.Backlog, "backlog", 1_000_000, "backlog: pending messages (0 skips)")
	flag.DurationVar(&p.DrainWindow, "drain-window", 10*time.Second, "backlog: how long delivery is watched")
	flag.IntVar(&p.Records, "records", 20000, "bbolt ceiling: 1 KiB records written")
	flag.IntVar(&p.Stores, "stores", 1, "end to end, an experiment: stores the tenants are split over, each with a dispatcher of an equal share of the workers")
	flag.BoolVar(&p.NoSync, "nosync", false, "the library's scenarios, an experiment: open the store with Options.NoSync (commits are not fsynced)")
	reps := flag.Int("reps", 3, "repetitions of each scenario (the median is reported)")
	heavyReps := flag.Int("heavy-reps", 3, "repetitions of the scale and backlog scenarios")
	quick := flag.Bool("quick", false, "small sizes: a smoke run of every scenario")
	asJSON := flag.Bool("json", false, "print the summary as JSON on the last line of stdout")
	scenario := flag.String("scenario", "", "internal: run one scenario in this process and print its result")
	cpuProfile := flag.String("cpuprofile", "", "with -scenario: write a CPU profile of it to this file")
	memProfile := flag.String("memprofile", "", "with -scenario: write a heap profile (allocations included) to this file after it")
	traceFile := flag.String("trace", "", "with -scenario: write an execution trace of it to this file")
	flag.Parse()
	if *traceFile != "" {
		startOrExit(*traceFile, trace.Start)
		defer trace.Stop()
	}
	if *cpuProfile != "" {
		startOrExit(*cpuProfile, pprof.StartCPUProfile)
		defer pprof.StopCPUProfile()
	}
	if *quick {
		p = params{Events: 2000, Endpoints: 100, Publish: 2000, Publishers: 64, Rate: 500, Duration: 2 * time.Second,
			ScaleEndpoints: 20000, ScaleTenants: 2000, Backlog: 20000, DrainWindow: 2 * time.Second, Records: 2000,
			Stores: p.Stores, NoSync: p.NoSync}
		*reps, *heavyReps = 1, 1
	}
	if *scenario != "" {
		err := runScenario(*scenario, p)
		if err == nil && *memProfile != "" {
			err = writeHeapProfile(*memProfile)
		}
		if err != nil {
			pprof.StopCPUProfile()
			trace.Stop()
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(p, *reps, *heavyReps, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// startOrExit creates path and starts start writing to it, or exits.
func startOrExit(path string, start func(io.Writer) error) {
	f, err := os.Create(path)
	if err == nil {
		err = start(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// writeHeapProfile writes the heap profile; its alloc_space and
// alloc_objects samples cover the whole scenario.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// metrics are one scenario run's figures by name.
type metrics map[string]float64

// senders is how many requests the HTTP ceiling and the durable floor
// keep in flight: the library's default Config.Workers.
const senders = 64

// runScenario runs one scenario in this process and prints its metrics as
// JSON on stdout.
func runScenario(name string, p params) error {
	dir, err := os.MkdirTemp("", "hooksmith-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	storeOptions.NoSync = p.NoSync
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	var m metrics
	switch name {
	case "http_ceiling":
		v, err := httpCeiling(p.Events, senders, p.Endpoints)
		if err != nil {
			return err
		}
		m = metrics{"per_second": v}
	case "bolt_ceiling":
		v, kib, err := boltCeiling(dir, p.Records, p.Publishers)
		if err != nil {
			return err
		}
		m = metrics{"per_second": v, "kib_written_per_record": kib}
	case "durable_floor":
		v, err := durableFloor(dir, p.Events, p.Publishers, senders, p.Endpoints)
		if err != nil {
			return err
		}
		m = metrics{"per_second": v}
	case "naive":
		v, err := naiveBaseline(dir, p.Events, p.Endpoints)
		if err != nil {
			return err
		}
		m = metrics{"per_second": v}
	case "publish":
		r, err := publishThroughput(dir, p.Publish, p.Publishers, cmp.Or(p.PubTenants, p.Publishers))
		if err != nil {
			return err
		}
		m = metrics{"per_second": r.PerSecond, "kib_written_per_event": r.KiBWritten, "writer_load": r.WriterLoad,
			"writes_per_commit": r.PerCommit}
	case "e2e":
		r, err := endToEnd(dir, p.Events, p.Endpoints, p.Stores)
		if err != nil {
			return err
		}
		m = metrics{"per_second": r.PerSecond, "p50_ms": ms(r.P50), "p99_ms": ms(r.P99), "max_ms": ms(r.Max),
			"kib_written_per_message": r.KiBWritten, "writer_load": r.WriterLoad,
			"writes_per_commit": r.PerCommit}
	case "steady":
		r, err := steady(dir, p.Endpoints, p.Rate, p.Duration)
		if err != nil {
			return err
		}
		m = metrics{"p50_ms": ms(r.P50), "p99_ms": ms(r.P99), "max_ms": ms(r.Max)}
	case "scale":
		r, err := scale(dir, p.ScaleTenants, p.ScaleEndpoints, p.Rate, p.Duration)
		if err != nil {
			return err
		}
		m = metrics{"register_s": r.Register.Seconds(), "rss_mib": mib(r.Mem.RSS), "rss_anon_mib": mib(r.Mem.Anon),
			"rss_file_mib": mib(r.Mem.File), "heap_mib": mib(r.Mem.Heap),
			"file_mib": float64(r.FileSize) / (1 << 20), "p50_ms": ms(r.Steady.P50), "p99_ms": ms(r.Steady.P99),
			"max_ms": ms(r.Steady.Max)}
	case "backlog":
		r, err := backlog(dir, p.Backlog, p.DrainWindow)
		if err != nil {
			return err
		}
		m = metrics{"publish_s": r.Publish.Seconds(), "first_delivery_ms": ms(r.FirstDelivery),
			"drain_per_second": r.DrainPerSecond, "peak_rss_mib": mib(r.Peak.RSS),
			"peak_rss_anon_mib": mib(r.Peak.Anon), "peak_rss_file_mib": mib(r.Peak.File), "peak_heap_mib": mib(r.Peak.Heap)}
	default:
		return fmt.Errorf("unknown scenario %q", name)
	}
	return json.NewEncoder(os.Stdout).Encode(m)
}

// child runs one scenario in a fresh process and returns its metrics.
func child(name string, args []string) (metrics, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, append([]string{"-scenario", name}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	var m metrics
	if err := json.Unmarshal(lastLine(out.Bytes()), &m); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	return m, nil
}

func lastLine(b []byte) []byte {
	var last []byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			last = slices.Clone(line)
		}
	}
	return last
}

// result is a scenario's metrics over its repetitions.
type result struct {
	Scenario string               `json:"scenario"`
	Median   map[string]float64   `json:"median"`
	Runs     []map[string]float64 `json:"runs"`
}

func run(p params, reps, heavyReps int, asJSON bool) error {
	if reps < 1 || heavyReps < 1 {
		return errors.New("-reps and -heavy-reps must be at least 1")
	}
	if p.NoSync || p.Stores != 1 {
		return errors.New("-nosync and -stores are for -scenario runs: the targets are for one durable store")
	}
	args := childArgs(p)
	type plan struct {
		name string
		reps int
		what string
	}
	plans := []plan{
		{"http_ceiling", reps, fmt.Sprintf("raw loopback HTTP: %d POSTs of 1 KiB, %d workers, %d paths", p.Events, senders, p.Endpoints)},
		{"bolt_ceiling", reps, fmt.Sprintf("raw bbolt: %d records of 1 KiB from %d writers, grouped commits, fsync, the library's bbolt options", p.Records, p.Publishers)},
		{"durable_floor", reps, fmt.Sprintf("durable floor, by hand: %d messages from %d publishers, each stored before and its outcome after a signed POST by %d workers over %d paths, grouped commits", p.Events, p.Publishers, senders, p.Endpoints)},
		{"naive", reps, fmt.Sprintf("naive sender: %d messages, a goroutine each, bbolt Update before and after the POST", p.Events)},
		{"publish", reps, fmt.Sprintf("library publish: %d events from %d publishers to %d tenants, durable on return",
			p.Publish, p.Publishers, cmp.Or(p.PubTenants, p.Publishers))},
		{"e2e", reps, fmt.Sprintf("library end to end: %d events over %d endpoints", p.Events, p.Endpoints)},
		{"steady", reps, fmt.Sprintf("library at %d events/s for %v over %d endpoints", p.Rate, p.Duration, p.Endpoints)},
	}
	if p.ScaleEndpoints > 0 {
		plans = append(plans, plan{"scale", heavyReps, fmt.Sprintf("%d endpoints over %d tenants, then %d events/s", p.ScaleEndpoints, p.ScaleTenants, p.Rate)})
	}
	if p.Backlog > 0 {
		plans = append(plans, plan{"backlog", heavyReps, fmt.Sprintf("%d pending messages, then delivery for %v", p.Backlog, p.DrainWindow)})
	}
	fmt.Printf("machine: %s, %d CPUs, %s/%s, %s\n", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	var results []result
	for _, pl := range plans {
		fmt.Printf("== %s (%d runs)\n", pl.what, pl.reps)
		res := result{Scenario: pl.name, Median: map[string]float64{}}
		for range pl.reps {
			m, err := child(pl.name, args)
			if err != nil {
				return err
			}
			res.Runs = append(res.Runs, m)
		}
		for k := range res.Runs[0] {
			vals := make([]float64, len(res.Runs))
			for i, r := range res.Runs {
				vals[i] = r[k]
			}
			slices.Sort(vals)
			res.Median[k] = vals[len(vals)/2]
		}
		for _, k := range slices.Sorted(mapsKeys(res.Median)) {
			var runs []string
			for _, r := range res.Runs {
				runs = append(runs, format(r[k]))
			}
			fmt.Printf("   %-24s %12s   (runs: %s)\n", k, format(res.Median[k]), strings.Join(runs, ", "))
		}
		results = append(results, res)
	}
	summary := ratios(results)
	fmt.Println("== ratios and targets")
	for _, r := range summary {
		if r.Met == nil {
			fmt.Printf("   %-58s %10s   (no target)\n", r.Name, format(r.Value))
			continue
		}
		fmt.Printf("   %-58s %10s   target %s %s\n", r.Name, format(r.Value), r.Target, verdict(*r.Met))
	}
	if asJSON {
		out, err := json.Marshal(map[string]any{"results": results, "ratios": summary})
		if err != nil {
			return err
		}
		fmt.Println(string(out))
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// ratio is one comparison the issue sets a target for, or, with no
// Target and a nil Met, one that shows what bounds such a figure.
type ratio struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
}

func ratios(results []result) []ratio {
	get := func(scenario, metric string) (float64, bool) {
		for _, r := range results {
			if r.Scenario == scenario {
				v, ok := r.Median[metric]
				return v, ok
			}
		}
		return 0, false
	}
	var out []ratio
	add := func(name, target string, v float64, met bool) {
		out = append(out, ratio{Name: name, Value: v, Target: target, Met: &met})
	}
	// note adds a ratio with no target.
	note := func(name string, v float64) { out = append(out, ratio{Name: name, Value: v}) }
	if pub, ok := get("publish", "per_second"); ok {
		if ceil, ok := get("bolt_ceiling", "per_second"); ok {
			add("library publish / bbolt grouped-commit ceiling", ">= 0.5", pub/ceil, pub/ceil >= 0.5)
		}
	}
	if e2e, ok := get("e2e", "per_second"); ok {
		if ceil, ok := get("http_ceiling", "per_second"); ok {
			add("library end to end / loopback HTTP ceiling", ">= 0.5", e2e/ceil, e2e/ceil >= 0.5)
		}
		if naive, ok := get("naive", "per_second"); ok {
			add("library end to end / naive sender", ">= 10", e2e/naive, e2e/naive >= 10)
		}
		if floor, ok := get("durable_floor", "per_second"); ok {
			note("library end to end / durable floor", e2e/floor)
		}
	}
	if floor, ok := get("durable_floor", "per_second"); ok {
		if ceil, ok := get("http_ceiling", "per_second"); ok {
			note("durable floor / loopback HTTP ceiling", floor/ceil)
		}
	}
	if p99, ok := get("steady", "p99_ms"); ok {
		add("p99 publish-to-receipt at the steady load, ms", "< 20", p99, p99 < 20)
		if sp99, ok := get("scale", "p99_ms"); ok {
			add("same p99 with the scale registered / without", "<= 1.5", sp99/p99, sp99/p99 <= 1.5)
		}
	}
	if rss, ok := get("scale", "rss_mib"); ok {
		add("RSS with the scale's endpoints registered, MiB", "< 500", rss, rss < 500)
		anon, _ := get("scale", "rss_anon_mib")
		add("  of which anonymous (not the mapped bbolt file), MiB", "< 500", anon, anon < 500)
	}
	if rss, ok := get("backlog", "peak_rss_mib"); ok {
		add("peak RSS with the backlog (publishing, then draining), MiB", "< 300", rss, rss < 300)
		anon, _ := get("backlog", "peak_rss_anon_mib")
		add("  of which anonymous (not the mapped bbolt file), MiB", "< 300", anon, anon < 300)
	}
	if first, ok := get("backlog", "first_delivery_ms"); ok {
		add("first delivery after the backlog's receiver came back, ms", "< 1000", first, first < 1000)
	}
	return out
}

func childArgs(p params) []string {
	return []string{
		"-events", strconv.Itoa(p.Events), "-endpoints", strconv.Itoa(p.Endpoints),
		"-publish", strconv.Itoa(p.Publish), "-publishers", strconv.Itoa(p.Publishers),
		"-publish-tenants", strconv.Itoa(p.PubTenants),
		"-rate", strconv.Itoa(p.Rate), "-duration", p.Duration.String(),
		"-scale-endpoints", strconv.Itoa(p.ScaleEndpoints), "-scale-tenants", strconv.Itoa(p.ScaleTenants),
		"-backlog", strconv.Itoa(p.Backlog), "-drain-window", p.DrainWindow.String(),
		"-records", strconv.Itoa(p.Records),
	}
}

func format(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

func mapsKeys(m map[string]float64) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// mem is the process's memory: resident set size, split into anonymous
// memory (the heap, stacks) and file pages mapped in (bbolt maps its file:
// pages it has read stay resident until the kernel needs them), and the Go
// heap in use.
type mem struct{ RSS, Anon, File, Heap uint64 }

func memory() mem {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := mem{Heap: ms.HeapInuse}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			m.RSS = kb << 10
		case "RssAnon":
			m.Anon = kb << 10
		case "RssFile":
			m.File = kb << 10
		}
	}
	return m
}

// peak keeps the largest of each figure.
func (m *mem) peak(o mem) {
	m.RSS, m.Anon, m.File, m.Heap = max(m.RSS, o.RSS), max(m.Anon, o.Anon), max(m.File, o.File), max(m.Heap, o.Heap)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return "unknown CPU"
}
