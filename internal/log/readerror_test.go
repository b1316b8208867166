package log

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// A disk that cannot read one segment file costs the reads that need that
// file and nothing else: other segments, other partitions and appends go
// on, the error names the file, and nothing is cut or marked damaged.

// readErrorEnv fills partition 0 of topic "t" over several segments and
// partition 1 with a few records.
func readErrorEnv(t *testing.T) (*faultEnv, []int64) {
	f := newFaultEnv(t, 200)
	for i := 0; i < 12; i++ {
		f.mustAppend(0, fmt.Sprintf("p0-%02d", i))
	}
	for i := 0; i < 3; i++ {
		f.mustAppend(1, fmt.Sprintf("p1-%02d", i))
	}
	segs := (&corruptEnv{t: t, fs: f.mem, dir: "/data"}).segments()
	if len(segs) < 4 {
		t.Fatalf("%d segments, want 4 or more", len(segs))
	}
	return f, segs
}

func wantReadErrorNaming(t *testing.T, what string, err error, path string) {
	t.Helper()
	if !errors.Is(err, storage.ErrUnavailable) || errors.Is(err, storage.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("%s: %v; want storage.ErrUnavailable (not ErrCorrupt) naming %s", what, err, path)
	}
}

func TestRead_ErrorOnOneSegmentSparesTheOthersAndNamesTheFile(t *testing.T) {
	f, segs := readErrorEnv(t)
	ctx := context.Background()
	bad := segs[1]
	path := fmt.Sprintf("/data/topics/t/0/%s.log", segmentName(bad))
	f.fault.arm(faultfs.OpRead, syscall.EIO, func(p string) bool { return p == path })

	_, err := f.e.Read(ctx, "t", 0, bad, 10, 1<<20)
	wantReadErrorNaming(t, "read of the unreadable segment", err, path)
	_, err = f.e.OffsetForTime(ctx, "t", 0, f.e.opts.Now().Add(-1e12))
	if err != nil && !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("time lookup: %v", err)
	}
	recs, err := f.e.Read(ctx, "t", 0, 0, 100, 1<<20)
	if err != nil || len(recs) != int(bad) {
		t.Fatalf("read from the start: %d records, %v; want the %d before the unreadable segment", len(recs), err, bad)
	}
	for _, o := range []int64{segs[2], segs[len(segs)-1]} {
		if recs, err := f.e.Read(ctx, "t", 0, o, 1, 1<<20); err != nil || len(recs) != 1 || string(recs[0].Value) != f.acked[0][o] {
			t.Fatalf("read at %d in another segment: %v %v", o, recs, err)
		}
	}
	if got := strings.Join(values(t, f.e, 1), ","); got != strings.Join(f.acked[1], ",") {
		t.Fatalf("the other partition reads %s", got)
	}
	f.mustAppend(0, "still appending")
	f.mustAppend(1, "here too")

	f.fault.disarm() // the disk reads again: nothing was remembered as damage
	f.wantAcked(f.e, "once the disk reads again")
}

func TestRecovery_ReadErrorOnOpenLeavesOnePartitionReadOnlyAndCutsNothing(t *testing.T) {
	f, segs := readErrorEnv(t)
	f.e.Close()
	active := fmt.Sprintf("/data/topics/t/0/%s.log", segmentName(segs[len(segs)-1]))
	size := f.size(active)
	f.fault.arm(faultfs.OpRead, syscall.EIO, func(p string) bool { return p == active })

	f.e = f.open() // opens: one unreadable file does not stop the engine
	if got := f.size(active); got != size {
		t.Fatalf("the unreadable segment is %d bytes after open, was %d", got, size)
	}
	_, err := f.append(0, "refused")
	wantReadErrorNaming(t, "append to the partition that could not be recovered", err, active)
	_, err = f.e.Read(context.Background(), "t", 0, segs[len(segs)-1], 10, 1<<20)
	wantReadErrorNaming(t, "read of the unreadable segment", err, active)
	f.mustAppend(1, "other partition")
	if got := strings.Join(values(t, f.e, 1), ","); got != strings.Join(f.acked[1], ",") {
		t.Fatalf("the other partition reads %s", got)
	}

	f.fault.disarm()
	f.e.Close()
	f.e = f.open()
	f.wantAcked(f.e, "after a restart with the disk reading again")
	f.mustAppend(0, "appends again")
}

func (f *faultEnv) size(path string) int64 {
	f.t.Helper()
	st, err := f.mem.Stat(path)
	if err != nil {
		f.t.Fatal(err)
	}
	return st.Size()
}
