package bolt_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store/bolt"
)

// rssFile is the process's resident file-backed memory.
func rssFile(t *testing.T) int64 {
	data, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

func TestTrim_unmaps_read_pages_and_keeps_the_data(t *testing.T) {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "webhook.db"), &bolt.Options{TrimInterval: -1, NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	const records, size = 24 << 10, 4 << 10 // 96 MiB
	value := func(i int) []byte {
		return bytes.Repeat(binary.BigEndian.AppendUint32(nil, uint32(i)), size/4)
	}
	for from := 0; from < records; from += 1024 {
		require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("trim"))
			if err != nil {
				return err
			}
			for i := from; i < from+1024; i++ {
				if err := b.Put(binary.BigEndian.AppendUint32(nil, uint32(i)), value(i)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	readAll := func() {
		require.NoError(t, s.DB().View(func(tx *bbolt.Tx) error {
			n := 0
			return tx.Bucket([]byte("trim")).ForEach(func(k, v []byte) error {
				require.Equal(t, value(n), v, "record %d", n)
				n++
				return nil
			})
		}))
	}
	readAll()
	before := rssFile(t)
	require.Greater(t, before, int64(64<<20), "reading the file maps its pages")

	s.Trim()
	after := rssFile(t)
	require.Less(t, after, before-int64(64<<20), "trim unmaps them")

	readAll() // the data is still there, read back through fresh faults
}
