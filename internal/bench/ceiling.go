package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ceilingBodySize is the size of every body and record the ceilings and the
// naive baseline send or store: 1 KiB.
const ceilingBodySize = 1 << 10

// ceilingTimeout bounds one whole measurement. A run that takes longer
// returns an error instead of hanging the benchmark.
const ceilingTimeout = 5 * time.Minute

// httpCeiling measures raw loopback HTTP: n POSTs of 1 KiB bodies from
// workers goroutines to endpoints distinct paths of one Go net/http server
// in this process (127.0.0.1, httptest or net.Listen), no persistence, no
// signing; the server reads the body and answers 200. It returns requests
// per second (n / wall time from first send to last response read).
//
// The client is tuned the way a throughput-minded sender would be: it keeps
// one idle connection per worker, so after the first round every request
// reuses a warm connection. There is no warm-up round; the first workers
// connections are dialled inside the timed window.
func httpCeiling(n, workers, endpoints int) (float64, error) {
	if n <= 0 || workers <= 0 || endpoints <= 0 {
		return 0, fmt.Errorf("bench: httpCeiling(%d, %d, %d): all arguments must be positive", n, workers, endpoints)
	}
	s, err := startSink(endpoints)
	if err != nil {
		return 0, err
	}
	defer s.close()

	client := tunedClient(workers)
	defer client.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), ceilingTimeout)
	defer cancel()
	body := ceilingBody()

	start := time.Now()
	err = parallel(n, workers, func(i int) error { return post(ctx, client, s.url(i%endpoints), body, nil) })
	elapsed := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("bench: httpCeiling: %w", err)
	}
	if got := s.requests.Load(); got != int64(n) {
		return 0, fmt.Errorf("bench: httpCeiling: server saw %d of %d requests", got, n)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// libraryOptions are the library's own bbolt options: the freelist is not
// written on each commit, and is kept as a map.
func libraryOptions() *bolt.Options {
	return &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType}
}

// tunedClient is the HTTP ceiling's client: it keeps one idle connection
// per worker, so after the first round every request reuses a warm one.
func tunedClient(workers int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = workers
	tr.MaxIdleConnsPerHost = workers
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// boltCeiling measures bbolt's grouped-commit ceiling: n records of 1 KiB
// written from writers goroutines into a fresh bbolt file in dir with
// fsync on, one committer goroutine writing everything queued in one
// Update while each writer waits until its record is durable. It returns
// records per second and the KiB of pages written per record.
//
// Keys are an 8-byte big-endian sequence number followed by 8 random
// bytes, so inserts land at the right edge of the B+tree (bbolt's best
// case), and the bucket packs its pages full (FillPercent 1) instead of
// splitting them in half. One committer goroutine gathers what is queued (at most writers
// records, since each writer has one record in flight; see commitGroups)
// and commits it in one Update; writers queue their next record while
// that commit runs.
// The file is removed before returning.
func boltCeiling(dir string, n, writers int) (rate, kib float64, err error) {
	if n <= 0 || writers <= 0 {
		return 0, 0, fmt.Errorf("bench: boltCeiling(%d, %d): n and writers must be positive", n, writers)
	}
	bucket := []byte("records")
	db, cleanup, err := openFreshBolt(dir, "ceiling", libraryOptions(), bucket)
	if err != nil {
		return 0, 0, err
	}
	defer cleanup()

	ctx, cancel := context.WithTimeout(context.Background(), ceilingTimeout)
	defer cancel()
	value := ceilingBody()
	queue := make(chan boltWrite, writers)
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		commitGroups(db, bucket, queue, writers)
	}()

	var seq atomic.Uint64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	before, counts := db.Stats(), countedNow()
	start := time.Now()
	for w := range writers {
		share := n / writers
		if w < n%writers {
			share++
		}
		wg.Go(func() {
			done := make(chan error, 1)
			for range share {
				key := recordKey(seq.Add(1))
				select {
				case queue <- boltWrite{key: key, value: value, done: done}:
				case <-ctx.Done():
					once.Do(func() { firstErr = ctx.Err() })
					return
				}
				if err := <-done; err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(queue)
	<-committed
	if firstErr != nil {
		return 0, 0, fmt.Errorf("bench: boltCeiling: %w", firstErr)
	}
	if got := countKeys(db, bucket); got != n {
		return 0, 0, fmt.Errorf("bench: boltCeiling: file holds %d of %d records", got, n)
	}
	printCounted(counts, n, "record")
	return float64(n) / elapsed.Seconds(), kibWritten(db, before, n), nil
}

// recordKey is the key of the record numbered seq: seq big-endian, then 8
// random bytes, so records numbered in the order they are queued land at
// the right edge of the B+tree.
func recordKey(seq uint64) []byte {
	key := make([]byte, 16)
	binary.BigEndian.PutUint64(key, seq)
	binary.BigEndian.PutUint64(key[8:], rand.Uint64())
	return key
}

// kibWritten is the KiB of pages the write transactions since before
// allocated, all of which are written at commit, per item of n. It leaves
// out the 4 KiB meta page each commit also writes.
func kibWritten(db *bolt.DB, before bolt.Stats, n int) float64 {
	after := db.Stats()
	return float64(after.TxStats.GetPageAlloc()-before.TxStats.GetPageAlloc()) / 1024 / float64(n)
}

// boltWrite is one record queued for the committer; done receives the
// commit's result once the record is durable (or failed).
type boltWrite struct {
	key, value []byte
	done       chan<- error
}

// commitGroups is the group-commit loop: it blocks for one write, gathers
// whatever else is queued (up to limit), commits the lot in one Update and
// answers every writer in it. It returns when queue is closed.
func commitGroups(db *bolt.DB, bucket []byte, queue <-chan boltWrite, limit int) {
	group := make([]boltWrite, 0, limit)
	for first := range queue {
		group = drain(append(group[:0], first), queue, limit)
		// Writers answered by the last commit are still waking up; let them
		// run and queue their next record before committing, until a yield
		// brings nothing new. On 2 cores this cuts commits by about 40%.
		for range commitYields {
			if len(group) >= limit {
				break
			}
			before := len(group)
			runtime.Gosched()
			if group = drain(group, queue, limit); len(group) == before {
				break
			}
		}
		err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			b.FillPercent = 1 // keys only grow: pack pages full
			for _, w := range group {
				if err := b.Put(w.key, w.value); err != nil {
					return err
				}
			}
			return nil
		})
		for _, w := range group {
			w.done <- err
		}
	}
}

// commitYields bounds how many times commitGroups yields to let writers
// join a group before committing it.
const commitYields = 16

// drain appends to group whatever is already queued, without blocking,
// until group holds limit writes or queue is empty or closed.
func drain(group []boltWrite, queue <-chan boltWrite, limit int) []boltWrite {
	for len(group) < limit {
		select {
		case w, ok := <-queue:
			if !ok {
				return group
			}
			group = append(group, w)
		default:
			return group
		}
	}
	return group
}

// sink is the loopback receiver the ceilings and the naive baseline post
// to: one http.Server on 127.0.0.1 with endpoints paths /e/0 … /e/N-1, each
// reading the whole body and answering 200. Unknown paths get 404.
type sink struct {
	srv      *http.Server
	base     string
	served   chan struct{}
	requests atomic.Int64
}

// startSink listens on an ephemeral loopback port and serves until close.
func startSink(endpoints int) (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: sink: %w", err)
	}
	s := &sink{base: "http://" + ln.Addr().String(), served: make(chan struct{})}
	mux := http.NewServeMux()
	for e := range endpoints {
		mux.HandleFunc("POST /e/"+strconv.Itoa(e), s.receive)
	}
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // always ErrServerClosed after close
	}()
	return s, nil
}

func (s *sink) receive(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	s.requests.Add(1)
	w.WriteHeader(http.StatusOK)
}

// url is endpoint e's address.
func (s *sink) url(e int) string { return s.base + "/e/" + strconv.Itoa(e) }

// close stops the server abruptly and waits for Serve to return.
func (s *sink) close() {
	_ = s.srv.Close()
	<-s.served
}

// post sends body to url with header (nil: none) and reads the whole
// answer, which must be 200.
func post(ctx context.Context, client *http.Client, url string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if header != nil {
		req.Header = header
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: status %d", url, resp.StatusCode)
	}
	return nil
}

// ceilingBody is a 1 KiB JSON document, the payload every request and
// record in these measurements carries.
func ceilingBody() []byte {
	const prefix, suffix = `{"data":"`, `"}`
	b := bytes.Repeat([]byte("x"), ceilingBodySize)
	copy(b, prefix)
	copy(b[len(b)-len(suffix):], suffix)
	return b
}

// openFreshBolt opens a new bbolt file with opts (nil: the defaults; fsync
// is on either way) in its own temporary directory under dir, and creates
// bucket in it. cleanup closes the database and removes the directory.
func openFreshBolt(dir, name string, opts *bolt.Options, bucket []byte) (db *bolt.DB, cleanup func(), err error) {
	tmp, err := os.MkdirTemp(dir, name+"-")
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	db, err = bolt.Open(filepath.Join(tmp, name+".db"), 0o600, opts)
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket(bucket)
			return err
		})
		if err != nil {
			_ = db.Close()
		}
	}
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("bench: %s: %w", name, err), os.RemoveAll(tmp))
	}
	return db, func() {
		_ = db.Close()
		_ = os.RemoveAll(tmp)
	}, nil
}

// countKeys is the number of keys in bucket, read after a run to check that
// every record the run counted is really in the file.
func countKeys(db *bolt.DB, bucket []byte) int {
	var n int
	_ = db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	return n
}
