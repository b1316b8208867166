package faultfs_test

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// appendRecords stands in for the log engine: it creates a segment durably,
// then writes each record and syncs it before acknowledging it.
func appendRecords(fsys vfs.FS, records []string) (acked int, err error) {
	if err := fsys.MkdirAll("/log", 0o755); err != nil {
		return 0, err
	}
	if err := fsys.SyncDir("/"); err != nil {
		return 0, err
	}
	f, err := fsys.OpenFile("/log/seg", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := fsys.SyncDir("/log"); err != nil {
		return 0, err
	}
	var off int64
	for _, r := range records {
		if _, err := f.WriteAt([]byte(r), off); err != nil {
			return acked, err
		}
		if err := f.Sync(); err != nil {
			return acked, err
		}
		off += int64(len(r))
		acked++
	}
	return acked, nil
}

// readSegment returns the segment's bytes, or "" when it does not exist.
func readSegment(fsys vfs.FS) string {
	f, err := fsys.OpenFile("/log/seg", os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		panic(err)
	}
	defer f.Close()
	buf := make([]byte, 64)
	n, _ := f.ReadAt(buf, 0)
	return string(buf[:n])
}

// Cut the power between any two changes a workload makes to the disk, and
// check after each cut that every acknowledged record survived and nothing
// but a prefix of the records is there.
func Example_cutPowerBetweenAnyTwoChanges() {
	records := []string{"one;", "two;", "three;"}
	all := strings.Join(records, "")

	// First run: count the changes (mutating ops) the workload makes.
	var count faultfs.Counter
	if _, err := appendRecords(faultfs.Wrap(faultfs.New(), count.Inject), records); err != nil {
		panic(err)
	}

	// Then cut the power after change k, for every k, and look at the disk.
	for k := 0; k <= count.Mutating(); k++ {
		mem := faultfs.New()
		acked, _ := appendRecords(faultfs.Wrap(mem, faultfs.CutAfter(k)), records)
		disk := mem.Crash(faultfs.CrashOptions{
			TornWrites: true,
			Rand:       rand.New(rand.NewPCG(uint64(k), 0)),
		})
		got := readSegment(disk)
		ok := strings.HasPrefix(got, strings.Join(records[:acked], "")) && strings.HasPrefix(all, got)
		fmt.Printf("cut after %d: acked %d, disk %q, ok %v\n", k, acked, got, ok)
	}
	// Output:
	// cut after 0: acked 0, disk "", ok true
	// cut after 1: acked 0, disk "", ok true
	// cut after 2: acked 0, disk "", ok true
	// cut after 3: acked 0, disk "", ok true
	// cut after 4: acked 0, disk "", ok true
	// cut after 5: acked 0, disk "on", ok true
	// cut after 6: acked 1, disk "one;", ok true
	// cut after 7: acked 1, disk "one;t", ok true
	// cut after 8: acked 2, disk "one;two;", ok true
	// cut after 9: acked 2, disk "one;two;thr", ok true
	// cut after 10: acked 3, disk "one;two;three;", ok true
}
