package webhook_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/store/bolt"
	"github.com/hooksmith/webhook/webhooktest"
)

const (
	crashEnvDB     = "HOOKSMITH_CRASH_DB"
	crashEvents    = 1500
	crashPublisher = 8
)

// crashConfig keeps leases short so the restarted dispatcher takes over the
// crashed one's in-flight messages within seconds.
func crashConfig() *webhook.Config {
	return &webhook.Config{AllowInsecureURLs: true, AllowedDestinations: loopback, Workers: 16, Logger: slog.New(slog.DiscardHandler),
		RequestTimeout: time.Second, LeaseDuration: 2 * time.Second,
		RetrySchedule: []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}}
}

// TestCrash_SIGKILL_loses_no_published_message runs a publisher in a child
// process, kills it with SIGKILL while it publishes and delivers, reopens the
// same file in a new dispatcher, and checks that every publish the child saw
// succeed is delivered at least once, duplicates under the same webhook-id.
func TestCrash_SIGKILL_loses_no_published_message(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "webhook.db")
	rcv := webhooktest.NewServer(t)
	rcv.Respond("/crash", func(webhooktest.Delivery, int) int {
		time.Sleep(2 * time.Millisecond) // keep deliveries in flight
		return 200
	})

	// Set up the catalogue and endpoint, then hand the file to the child.
	st, err := bolt.Open(path, nil)
	require.NoError(t, err)
	d, err := webhook.New(st, crashConfig())
	require.NoError(t, err)
	_, err = d.RegisterEventType(ctx, webhook.EventType{Name: "order.created"})
	require.NoError(t, err)
	ep, err := d.Tenant("acme").CreateEndpoint(ctx, webhook.EndpointParams{URL: rcv.URL("/crash")})
	require.NoError(t, err)
	rcv.SetSecret("/crash", ep.Secret())
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvDB+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
	)
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		}
	}()

	// Kill once deliveries are flowing and publishing is still under way.
	deadline := time.Now().Add(60 * time.Second)
	for len(rcv.Deliveries("/crash")) < 200 {
		require.True(t, time.Now().Before(deadline), "the child delivered too little before the kill")
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	<-scanDone
	mu.Lock()
	published := len(acked)
	mu.Unlock()
	deliveredBeforeKill := len(rcv.Deliveries("/crash"))
	require.Positive(t, published)
	require.Less(t, published, crashEvents, "the child finished publishing before it was killed")

	// A new dispatcher on the same file finishes the job.
	st, err = bolt.Open(path, nil)
	require.NoError(t, err)
	d, err = webhook.New(st, crashConfig())
	require.NoError(t, err)
	defer func() {
		require.NoError(t, d.Close())
		require.NoError(t, st.Close())
	}()
	require.NoError(t, d.Start(ctx))

	var missing []string
	for wait := time.Now().Add(60 * time.Second); ; {
		seen := map[string]bool{}
		for _, dl := range rcv.Deliveries("/crash") {
			seen[dl.ID] = true
		}
		missing = missing[:0]
		for id := range acked {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Now().After(wait) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Empty(t, missing, "published messages lost in the crash")
	// Wait for the dead process's leases to expire and its in-flight
	// messages to be redelivered: nothing may stay live.
	for wait := time.Now().Add(30 * time.Second); count(t, st, "queue") > 0; {
		require.True(t, time.Now().Before(wait), "%d messages still live", count(t, st, "queue"))
		time.Sleep(20 * time.Millisecond)
	}

	byID := map[string][]webhooktest.Delivery{}
	for _, dl := range rcv.Deliveries("/crash") {
		require.True(t, dl.Verified, "delivery %s failed verification: %v", dl.ID, dl.Err)
		byID[dl.ID] = append(byID[dl.ID], dl)
	}
	dups := 0
	for id, dls := range byID {
		for _, dl := range dls[1:] {
			require.Equal(t, dls[0].Body, dl.Body, "duplicates of %s differ", id)
		}
		require.Equal(t, fmt.Sprintf(`{"order":%q}`, id), string(dls[0].Body))
		dups += len(dls) - 1
	}
	t.Logf("crash test: %d publishes acknowledged before SIGKILL, %d deliveries before the kill; "+
		"after restart %d distinct events delivered (%d beyond the acknowledged ones), %d duplicate deliveries (same webhook-id, same body), 0 lost",
		published, deliveredBeforeKill, len(byID), len(byID)-published, dups)
}

// TestCrashChild is the child half of the crash test; it does nothing unless
// started by it.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvDB)
	if path == "" {
		t.Skip("run by TestCrash_SIGKILL_loses_no_published_message")
	}
	st, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := webhook.New(st, crashConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var (
		outMu sync.Mutex
		w     = bufio.NewWriter(os.Stdout)
		wg    sync.WaitGroup
	)
	tn := d.Tenant("acme")
	for p := range crashPublisher {
		wg.Go(func() {
			for i := p; i < crashEvents; i += crashPublisher {
				id := fmt.Sprintf("crash-%05d", i)
				_, err := tn.Publish(context.Background(), webhook.Event{ID: id, Type: "order.created",
					Payload: fmt.Appendf(nil, `{"order":%q}`, id)})
				if err != nil {
					fmt.Fprintln(os.Stderr, "publish:", err)
					os.Exit(3)
				}
				outMu.Lock()
				fmt.Fprintf(w, "ACK %s\n", id)
				w.Flush()
				outMu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	// Stay alive, delivering, until killed.
	time.Sleep(time.Minute)
	os.Exit(4)
}
