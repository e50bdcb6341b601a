package webhook_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/store/bolt"
)

// loopback lets deliveries reach test receivers on 127.0.0.1, and only there.
var loopback = []string{"127.0.0.1/32"}

// fastSchedule retries quickly so tests never wait for minutes.
var fastSchedule = []time.Duration{0, 20 * time.Millisecond, 20 * time.Millisecond}

// newDispatcher opens a bbolt store in t.TempDir and a dispatcher on it with
// a short retry schedule and http allowed (receivers run on 127.0.0.1). It is
// not started. Both are closed when the test ends.
func newDispatcher(t *testing.T, cfg *webhook.Config) (*webhook.Dispatcher, *bolt.Store) {
	t.Helper()
	return newDispatcherWith(t, cfg, nil)
}

// newDispatcherWith is newDispatcher with the store opened with opts.
func newDispatcherWith(t *testing.T, cfg *webhook.Config, opts *bolt.Options) (*webhook.Dispatcher, *bolt.Store) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "webhook.db"), opts)
	require.NoError(t, err)
	c := webhook.Config{RetrySchedule: fastSchedule, AllowInsecureURLs: true, AllowedDestinations: loopback}
	if cfg != nil {
		c = *cfg
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := webhook.New(st, &c)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, d.Close())
		require.NoError(t, st.Close())
	})
	return d, st
}

func startDispatcher(t *testing.T, cfg *webhook.Config) (*webhook.Dispatcher, *bolt.Store) {
	t.Helper()
	d, st := newDispatcher(t, cfg)
	require.NoError(t, d.Start(context.Background()))
	return d, st
}

func registerTypes(t *testing.T, d *webhook.Dispatcher, names ...string) {
	t.Helper()
	for _, n := range names {
		_, err := d.RegisterEventType(context.Background(), webhook.EventType{Name: n})
		require.NoError(t, err)
	}
}

// count returns the number of keys in a bucket of the store's file.
func count(t *testing.T, st *bolt.Store, bucket string) int {
	t.Helper()
	n := 0
	require.NoError(t, st.DB().View(func(tx *bbolt.Tx) error {
		n = tx.Bucket([]byte(bucket)).Stats().KeyN
		return nil
	}))
	return n
}

// waitStatus polls a message until it reaches want or the deadline passes.
func waitStatus(t *testing.T, tn *webhook.Tenant, msgID string, want webhook.MessageStatus) *webhook.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := tn.GetMessage(context.Background(), msgID)
		require.NoError(t, err)
		if m.Status == want {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s: status %s, want %s", msgID, m.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// requireNoLibraryGoroutines fails if a goroutine of the dispatcher or of
// the bolt store's committer is still running.
func requireNoLibraryGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var leaked []string
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "hooksmith/webhook.(*Dispatcher)") || strings.Contains(g, "store/bolt.(*committer)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d library goroutines still running:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isValidation(err error, field string) bool {
	var ve *webhook.ValidationError
	return errors.As(err, &ve) && ve.Field == field && errors.Is(err, webhook.ErrInvalid)
}

var errorsIs = errors.Is
