package faultfs_test

import (
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

func TestMemFS_CrashAndCloneWhileWriting(t *testing.T) {
	const blocks = 200
	block := strings.Repeat("x", 100)
	m := faultfs.New()
	must(t, m.MkdirAll("/d", 0o755))
	must(t, m.SyncDir("/"))
	f, err := m.OpenFile("/d/f", os.O_CREATE|os.O_RDWR, 0o644)
	must(t, err)
	defer f.Close()
	must(t, m.SyncDir("/d"))
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range blocks {
			if _, err := f.WriteAt([]byte(block), int64(i*len(block))); err != nil {
				t.Error(err)
			}
			if err := f.Sync(); err != nil {
				t.Error(err)
			}
		}
	})
	for range 3 {
		wg.Go(func() { crashRepeatedly(t, m, blocks*len(block)) })
	}
	wg.Wait()
}

// crashRepeatedly crashes and clones m while a writer appends x's to /d/f,
// checking that each copy holds a run of x's that is not longer than full.
func crashRepeatedly(t *testing.T, m *faultfs.MemFS, full int) {
	for i := range 50 {
		disk := m.Crash(faultfs.CrashOptions{TornWrites: i%2 == 0})
		if i%3 == 0 {
			disk = m.Clone()
		}
		got, err := readFile(disk, "/d/f")
		if err != nil {
			t.Error(err)
			return
		}
		if len(got) > full || strings.Trim(got, "x") != "" {
			t.Errorf("copy %d holds %d bytes that are not all x", i, len(got))
			return
		}
	}
}
