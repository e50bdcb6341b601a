package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/store/bolt"
	bbolt "go.etcd.io/bbolt"
)

// eventType is the one type the benchmark publishes.
const eventType = "bench.event"

// receiver is the customers' side: one server on loopback that reads each
// delivery, answers 200 and notes when event "b-N" first arrived.
type receiver struct {
	srv     *http.Server
	base    string
	arrived []atomic.Int64 // by event number: Unix nanoseconds, 0 until received
	count   atomic.Int64
	first   atomic.Int64
}

func newReceiver(events int) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{arrived: make([]atomic.Int64, events), base: "http://" + ln.Addr().String()}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	now := time.Now().UnixNano()
	r.first.CompareAndSwap(0, now)
	if n, err := strconv.Atoi(strings.TrimPrefix(req.Header.Get("Webhook-Id"), "b-")); err == nil && n >= 0 && n < len(r.arrived) {
		if r.arrived[n].CompareAndSwap(0, now) {
			r.count.Add(1)
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) close() { r.srv.Close() }

// waitAll waits until want events have arrived or the deadline passes.
func (r *receiver) waitAll(want int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for r.count.Load() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d events arrived within %v", r.count.Load(), want, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// rig is a store, a dispatcher and its tenants, each with one endpoint
// that receives every event.
type rig struct {
	st      *bolt.Store
	d       *webhook.Dispatcher
	tenants []*webhook.Tenant
	payload []byte
	rcv     *receiver // closed with the rig, if set
}

// storeOptions are the options rigs open their stores with: fsync on every
// commit unless -nosync.
var storeOptions bolt.Options

func openRig(dir string, cfg webhook.Config) (*rig, error) {
	st, err := bolt.Open(filepath.Join(dir, "webhooks.db"), &storeOptions)
	if err != nil {
		return nil, err
	}
	cfg.AllowInsecureURLs = true
	cfg.AllowedDestinations = []string{"127.0.0.1/32"}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := webhook.New(st, &cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	ctx := context.Background()
	if _, err := d.RegisterEventType(ctx, webhook.EventType{Name: eventType}); err != nil {
		return nil, err
	}
	if _, err := d.RegisterEventType(ctx, webhook.EventType{Name: "bench.other"}); err != nil {
		return nil, err
	}
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i%36]
	}
	copy(payload, `{"data":"`)
	copy(payload[len(payload)-2:], `"}`)
	return &rig{st: st, d: d, payload: payload}, nil
}

func (r *rig) close() {
	_ = r.d.Close()
	_ = r.st.Close()
	if r.rcv != nil {
		r.rcv.close()
	}
}

// setup opens a rig with a receiver for events events and tenants tenants
// delivering to it; the caller closes both (close does) and starts the
// dispatcher when it wants delivery.
func setup(dir string, events, tenants int) (*rig, *receiver, error) {
	rcv, err := newReceiver(events)
	if err != nil {
		return nil, nil, err
	}
	r, err := openRig(dir, webhook.Config{})
	if err != nil {
		rcv.close()
		return nil, nil, err
	}
	r.rcv = rcv
	if err := r.addTenants(tenants, rcv.base); err != nil {
		r.close()
		return nil, nil, err
	}
	return r, rcv, nil
}

// addTenants creates n tenants "t-K" with one endpoint each at url/K.
func (r *rig) addTenants(n int, url string) error {
	ctx := context.Background()
	for i := range n {
		tn := r.d.Tenant(fmt.Sprintf("t-%d", i))
		if _, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: fmt.Sprintf("%s/%d", url, i),
			EventTypes: []string{eventType}}); err != nil {
			return err
		}
		r.tenants = append(r.tenants, tn)
	}
	return nil
}

// publish sends event number n to tenant n mod len(tenants).
func (r *rig) publish(n int) error { return r.publishTo(n, n) }

// publishTo sends event number n to tenant t mod len(tenants).
func (r *rig) publishTo(n, t int) error {
	res, err := r.tenants[t%len(r.tenants)].Publish(context.Background(), webhook.Event{
		ID: "b-" + strconv.Itoa(n), Type: eventType, Payload: r.payload,
	})
	if err == nil && len(res.Messages) != 1 {
		err = fmt.Errorf("event %d went to %d endpoints, want 1", n, len(res.Messages))
	}
	return err
}

// parallel runs fn(0..n-1) from workers goroutines and returns the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// publishResult is what the publish throughput scenario measured.
type publishResult struct {
	PerSecond  float64
	KiBWritten float64 // bbolt pages per event
	WriterLoad float64 // the store writer's busy time over the elapsed time (bolt.Stats.Busy)
	PerCommit  float64 // store writes per commit: how well they are grouped
}

// publishThroughput: Publish calls per second from publishers goroutines
// to tenants tenants (event i goes to tenant i mod tenants), each with one
// matching endpoint; the dispatcher is not started, so only the durable
// publish path is measured, up to the index entries it leaves written.
func publishThroughput(dir string, n, publishers, tenants int) (publishResult, error) {
	r, err := openRig(dir, webhook.Config{})
	if err != nil {
		return publishResult{}, err
	}
	defer r.close()
	if err := r.addTenants(tenants, "http://127.0.0.1:9"); err != nil {
		return publishResult{}, err
	}
	before, counts := r.st.DB().Stats(), countedNow()
	w0 := r.st.Stats()
	start := time.Now()
	if err := parallel(n, publishers, r.publish); err != nil {
		return publishResult{}, err
	}
	// DB first writes what the publishes left in the index log: that
	// background work is timed too, so the figure does not depend on
	// Options.IndexInterval deferring some of it past the clock.
	db := r.st.DB()
	elapsed := time.Since(start)
	w := r.st.Stats()
	res := publishResult{
		PerSecond:  float64(n) / elapsed.Seconds(),
		KiBWritten: kibWritten(db, before, n),
		WriterLoad: float64(w.Busy-w0.Busy) / float64(elapsed),
		PerCommit:  float64(w.Writes-w0.Writes) / float64(w.Commits-w0.Commits),
	}
	printCounted(counts, n, "event")
	return res, nil
}

// e2eResult is what the end-to-end scenario measured.
type e2eResult struct {
	PerSecond     float64
	KiBWritten    float64 // bbolt pages per message, publish to outcome
	WriterLoad    float64 // as in publishResult, over the elapsed time PerSecond counts
	PerCommit     float64 // as in publishResult
	P50, P99, Max time.Duration
}

// endToEnd publishes events across endpoints tenants (one endpoint each)
// from 64 publishers while the dispatcher delivers, and measures from the
// first publish to the last receipt (and the index entries left then
// written), and each event's publish-to-receipt. With stores above 1 (an
// experiment: -stores) the tenants are split evenly over that many stores,
// each in a file of its own with a dispatcher of an equal share of the
// workers, and the events alternate between them; the store figures are
// their sums, and the writer load their mean.
func endToEnd(dir string, events, endpoints, stores int) (e2eResult, error) {
	if stores < 1 || stores > senders || endpoints%stores != 0 {
		return e2eResult{}, fmt.Errorf("%d stores: want 1 to %d, dividing the %d endpoints", stores, senders, endpoints)
	}
	rcv, err := newReceiver(events)
	if err != nil {
		return e2eResult{}, err
	}
	defer rcv.close()
	rigs := make([]*rig, stores)
	for i := range rigs {
		sub := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(sub, 0o700); err != nil {
			return e2eResult{}, err
		}
		r, err := openRig(sub, webhook.Config{Workers: senders / stores})
		if err != nil {
			return e2eResult{}, err
		}
		defer r.close()
		if err := r.addTenants(endpoints/stores, rcv.base); err != nil {
			return e2eResult{}, err
		}
		if err := r.d.Start(context.Background()); err != nil {
			return e2eResult{}, err
		}
		rigs[i] = r
	}
	sent := make([]int64, events)
	before, w0 := make([]bbolt.Stats, stores), make([]bolt.Stats, stores)
	for i, r := range rigs {
		before[i], w0[i] = r.st.DB().Stats(), r.st.Stats()
	}
	counts := countedNow()
	start := time.Now()
	err = parallel(events, 64, func(i int) error {
		sent[i] = time.Now().UnixNano()
		return rigs[i%stores].publishTo(i, i/stores)
	})
	if err != nil {
		return e2eResult{}, err
	}
	if err := rcv.waitAll(int64(events), 5*time.Minute); err != nil {
		return e2eResult{}, err
	}
	var last int64
	for i := range events {
		last = max(last, rcv.arrived[i].Load())
	}
	// The deliveries leave index entries in the log (Options.IndexInterval);
	// writing those is work of the run too, so its time counts, as in
	// publishThroughput, and the figure does not depend on how much of it
	// the interval left for after the last receipt.
	flush := time.Now()
	for _, r := range rigs {
		r.st.DB()
	}
	elapsed := time.Duration(last-start.UnixNano()) + time.Since(flush)
	res := latencies(rcv, sent)
	res.PerSecond = float64(events) / elapsed.Seconds()
	var busy time.Duration
	var writes, commits uint64
	for i, r := range rigs {
		w := r.st.Stats()
		busy += w.Busy - w0[i].Busy
		writes += w.Writes - w0[i].Writes
		commits += w.Commits - w0[i].Commits
	}
	res.WriterLoad = float64(busy) / float64(elapsed) / float64(stores)
	res.PerCommit = float64(writes) / float64(commits)
	// Close waits for the last outcomes to be stored. It cuts short requests
	// still in flight, whose release is counted too: an overcount of at
	// most one write per worker.
	for i, r := range rigs {
		if err := r.d.Close(); err != nil {
			return e2eResult{}, err
		}
		res.KiBWritten += kibWritten(r.st.DB(), before[i], events)
	}
	printCounted(counts, events, "message")
	return res, nil
}

// latencies summarises receipt minus send for every event sent.
func latencies(rcv *receiver, sent []int64) e2eResult {
	lat := make([]time.Duration, 0, len(sent))
	for i, s := range sent {
		if s != 0 {
			lat = append(lat, time.Duration(rcv.arrived[i].Load()-s))
		}
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		return e2eResult{}
	}
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return e2eResult{P50: q(0.50), P99: q(0.99), Max: lat[len(lat)-1]}
}

// steadyLoad publishes rate events per second for d, each at its planned
// instant (open loop: a late publish does not delay the next), over the
// rig's tenants, and returns publish-to-receipt percentiles.
func steadyLoad(r *rig, rcv *receiver, first, rate int, d time.Duration) (e2eResult, error) {
	n := int(float64(rate) * d.Seconds())
	sent := make([]int64, first+n)
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Go(func() {
			sent[first+i] = time.Now().UnixNano()
			if err := r.publish(first + i); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return e2eResult{}, err
	default:
	}
	if err := rcv.waitAll(int64(first+n), time.Minute); err != nil {
		return e2eResult{}, err
	}
	return latencies(rcv, sent), nil
}

// steady measures the latency at a steady load on a fresh rig of
// endpoints tenants.
func steady(dir string, endpoints, rate int, d time.Duration) (e2eResult, error) {
	r, rcv, err := setup(dir, int(float64(rate)*d.Seconds()), endpoints)
	if err != nil {
		return e2eResult{}, err
	}
	defer r.close()
	if err := r.d.Start(context.Background()); err != nil {
		return e2eResult{}, err
	}
	return steadyLoad(r, rcv, 0, rate, d)
}

// scaleResult is what the scale scenario measured.
type scaleResult struct {
	Register time.Duration
	Mem      mem // after registration
	Steady   e2eResult
	FileSize int64
}

// scale registers endpoints endpoints across tenants tenants (the
// first 100 tenants get one endpoint at the receiver, the rest idle
// endpoints that match nothing published), then runs the steady load over
// the first 100 tenants.
func scale(dir string, tenants, endpoints, rate int, d time.Duration) (scaleResult, error) {
	const active = 100
	r, rcv, err := setup(dir, int(float64(rate)*d.Seconds()), active)
	if err != nil {
		return scaleResult{}, err
	}
	defer r.close()
	per := endpoints / tenants
	start := time.Now()
	ctx := context.Background()
	err = parallel(endpoints-active, 64, func(i int) error {
		tn := r.d.Tenant(fmt.Sprintf("t-%d", i/per))
		_, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "http://127.0.0.1:9/idle/" + strconv.Itoa(i),
			EventTypes: []string{"bench.other"}, Labels: map[string]string{"idle": strconv.Itoa(i % 10)}})
		return err
	})
	if err != nil {
		return scaleResult{}, err
	}
	res := scaleResult{Register: time.Since(start)}
	runtime.GC()
	res.Mem = memory()
	res.FileSize = fileSize(filepath.Join(dir, "webhooks.db"))
	if err := r.d.Start(ctx); err != nil {
		return scaleResult{}, err
	}
	res.Steady, err = steadyLoad(r, rcv, 0, rate, d)
	return res, err
}

// backlogResult is what the backlog scenario measured.
type backlogResult struct {
	Publish        time.Duration
	FirstDelivery  time.Duration // from the receiver coming back (Start)
	DrainPerSecond float64       // over the measured window
	Peak           mem           // while publishing and draining
}

// backlog publishes messages messages over 100 endpoints while delivery
// is off (the dispatcher not started: the receivers are down), then starts
// it with the receiver up and watches the first window seconds.
func backlog(dir string, messages int, window time.Duration) (backlogResult, error) {
	r, rcv, err := setup(dir, messages, 100)
	if err != nil {
		return backlogResult{}, err
	}
	defer r.close()
	var res backlogResult
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // sampled while publishing, then while draining
		defer close(sampled)
		for {
			res.Peak.peak(memory())
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
			<-sampled
		}
	}()
	start := time.Now()
	if err := parallel(messages, 64, r.publish); err != nil {
		return backlogResult{}, err
	}
	res.Publish = time.Since(start)
	started := time.Now()
	if err := r.d.Start(context.Background()); err != nil {
		return backlogResult{}, err
	}
	for rcv.first.Load() == 0 {
		if time.Since(started) > time.Minute {
			return res, errors.New("no delivery within a minute of the receiver coming back")
		}
		time.Sleep(time.Millisecond)
	}
	res.FirstDelivery = time.Duration(rcv.first.Load() - started.UnixNano())
	time.Sleep(time.Until(started.Add(window)))
	res.DrainPerSecond = float64(rcv.count.Load()) / time.Since(started).Seconds()
	close(stop)
	<-sampled
	return res, nil
}
