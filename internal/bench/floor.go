package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooksmith/webhook/internal/signature"
)

// durableFloor measures, by hand, the least a sender that loses nothing
// must do per message, so the library's end-to-end figure can be read
// against it as well as against the HTTP ceiling. For each of n messages
// one of publishers goroutines stores it (1 KiB) and waits until it is
// durable, as a publish must; one of workers goroutines then signs it as
// the library does (internal/signature: Standard Webhooks, HMAC-SHA256),
// POSTs it to one of endpoints paths with the HTTP ceiling's client, and
// stores its outcome without waiting for it, as the library's deliveries
// do. Every record goes through the bbolt ceiling's committer into one
// bucket in key order, the cheapest commits that measurement found, with
// the library's bbolt options and fsync on. It returns messages per second
// from the first store to the last outcome durable.
//
// Nothing else the library does is here: no routing, idempotency key,
// per-endpoint queue, lease, rate limit, retry, attempt log or index.
func durableFloor(dir string, n, publishers, workers, endpoints int) (float64, error) {
	if n <= 0 || publishers <= 0 || workers <= 0 || endpoints <= 0 {
		return 0, fmt.Errorf("bench: durableFloor(%d, %d, %d, %d): all sizes must be positive", n, publishers, workers, endpoints)
	}
	s, err := startSink(endpoints)
	if err != nil {
		return 0, err
	}
	defer s.close()
	bucket := []byte("records")
	db, cleanup, err := openFreshBolt(dir, "floor", libraryOptions(), bucket)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	client := tunedClient(workers)
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), ceilingTimeout)
	defer cancel()
	body := ceilingBody()
	secret, err := signature.NewSecret()
	if err != nil {
		return 0, err
	}
	key, err := signature.ParseKey(secret)
	if err != nil {
		return 0, err
	}

	queue := make(chan boltWrite, publishers+workers)
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		commitGroups(db, bucket, queue, publishers+workers)
	}()
	var seq atomic.Uint64
	// store queues a record and, if done is nil, waits until it is durable.
	store := func(value []byte, done chan error) error {
		wait := done == nil
		if wait {
			done = make(chan error, 1)
		}
		select {
		case queue <- boltWrite{key: recordKey(seq.Add(1)), value: value, done: done}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !wait {
			return nil
		}
		return <-done
	}

	stored := make(chan uint64, n)  // numbers of the durable messages
	outcomes := make(chan error, n) // one answer per stored message: its failure or its outcome's commit
	var delivering sync.WaitGroup
	start := time.Now()
	for range workers {
		delivering.Go(func() {
			for i := range stored {
				id := "msg_" + strconv.FormatUint(i, 10)
				ts := time.Now().Unix()
				header := http.Header{
					"Webhook-Id":        {id},
					"Webhook-Timestamp": {strconv.FormatInt(ts, 10)},
					"Webhook-Signature": {signature.Header([]signature.Key{key}, id, ts, body)},
				}
				if err := post(ctx, client, s.url(int(i%uint64(endpoints))), body, header); err != nil {
					outcomes <- err
					continue
				}
				if err := store(binary.BigEndian.AppendUint64([]byte{byte(http.StatusOK)}, i), outcomes); err != nil {
					outcomes <- err
				}
			}
		})
	}
	var sent atomic.Int64
	err = parallel(n, publishers, func(i int) error {
		if err := store(body, nil); err != nil {
			return err
		}
		sent.Add(1)
		stored <- uint64(i)
		return nil
	})
	close(stored)
	for range sent.Load() {
		if oerr := <-outcomes; oerr != nil && err == nil {
			err = oerr
			cancel() // the rest fail fast; each still answers once
		}
	}
	elapsed := time.Since(start)
	delivering.Wait()
	close(queue)
	<-committed
	if err != nil {
		return 0, fmt.Errorf("bench: durableFloor: %w", err)
	}
	if got := countKeys(db, bucket); got != 2*n {
		return 0, fmt.Errorf("bench: durableFloor: file holds %d records, want %d (a message and an outcome each)", got, 2*n)
	}
	return float64(n) / elapsed.Seconds(), nil
}
