package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// naiveMaxInFlight caps how many of the naive baseline's goroutines may
// have an HTTP request open at once. Uncapped, every goroutine that has
// stored its message dials its own connection (the default Transport keeps
// only 2 idle per host), and with client and server in one process each
// connection costs two file descriptors, so 20,000 goroutines can exceed
// `ulimit -n` and the ephemeral port range. The cap is the least change
// that keeps the run from failing: each message still gets its own
// goroutine, its own two Updates and its own request, and the default
// Transport still opens and closes connections as it would.
const naiveMaxInFlight = 512

// naiveBaseline is what a typical hand-written sender does: for each of n
// messages (spread over endpoints paths of one local receiver server that
// returns 200), one goroutine that does a bbolt db.Update to store the
// message as pending (1 KiB payload), POSTs it with a shared http.Client
// (net/http defaults, no tuning beyond what a typical developer writes),
// then another db.Update marking it delivered. fsync on. All n goroutines
// are started at once, as such code does; returns messages delivered per
// second from the first start to the last "delivered" write. The file
// lives in dir.
//
// The message is stored as JSON (id, url, status, payload); marking it
// delivered reads, decodes, edits and re-encodes it, as such code does.
// The client is http.Client{Timeout: 10s} over a clone of
// http.DefaultTransport, so closing its idle connections afterwards does
// not touch the process-wide default. Requests also carry the run's
// deadline so a stuck run returns an error instead of hanging.
func naiveBaseline(dir string, n, endpoints int) (float64, error) {
	if n <= 0 || endpoints <= 0 {
		return 0, fmt.Errorf("bench: naiveBaseline(%d, %d): n and endpoints must be positive", n, endpoints)
	}
	s, err := startSink(endpoints)
	if err != nil {
		return 0, err
	}
	defer s.close()
	db, cleanup, err := openFreshBolt(dir, "naive", nil, naiveBucket)
	if err != nil {
		return 0, err
	}
	defer cleanup()

	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	sender := &naiveSender{
		db:       db,
		client:   &http.Client{Transport: tr, Timeout: 10 * time.Second},
		inFlight: make(chan struct{}, naiveMaxInFlight),
	}
	ctx, cancel := context.WithTimeout(context.Background(), ceilingTimeout)
	defer cancel()
	payload := ceilingBody()

	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			if err := sender.send(ctx, strconv.Itoa(i), s.url(i%endpoints), payload); err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		})
	}
	wg.Wait() // returns just after the last "delivered" Update commits
	elapsed := time.Since(start)
	if firstErr != nil {
		return 0, fmt.Errorf("bench: naiveBaseline: %w", firstErr)
	}
	if got := countKeys(db, naiveBucket); got != n {
		return 0, fmt.Errorf("bench: naiveBaseline: file holds %d of %d messages", got, n)
	}
	return float64(n) / elapsed.Seconds(), nil
}

var naiveBucket = []byte("messages")

// naiveMessage is the record a hand-written sender keeps per message.
type naiveMessage struct {
	ID      string          `json:"id"`
	URL     string          `json:"url"`
	Status  string          `json:"status"`
	Payload json.RawMessage `json:"payload"`
}

// naiveSender holds what the naive code shares between its goroutines.
type naiveSender struct {
	db       *bolt.DB
	client   *http.Client
	inFlight chan struct{} // semaphore; see naiveMaxInFlight
}

// send stores the message as pending, posts it and marks it delivered,
// each Update its own fsynced transaction.
func (s *naiveSender) send(ctx context.Context, id, url string, payload []byte) error {
	m := naiveMessage{ID: id, URL: url, Status: "pending", Payload: payload}
	if err := s.put(m); err != nil {
		return err
	}
	select {
	case s.inFlight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := post(ctx, s.client, url, payload, nil)
	<-s.inFlight
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(naiveBucket)
		var stored naiveMessage
		if err := json.Unmarshal(b.Get([]byte(id)), &stored); err != nil {
			return err
		}
		stored.Status = "delivered"
		v, err := json.Marshal(stored)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), v)
	})
}

// put writes m under its id in one Update.
func (s *naiveSender) put(m naiveMessage) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(naiveBucket).Put([]byte(m.ID), v)
	})
}
