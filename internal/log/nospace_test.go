package log

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// A full disk fails the appends that meet it, acknowledges nothing that
// is not durable, and lets writes resume by themselves once space is
// freed; a failed fsync, whatever its errno, fails the partition closed.

// diskFault fails one kind of operation on the paths it matches while it
// is armed.
type diskFault struct {
	mu    sync.Mutex
	op    faultfs.Op
	match func(path string) bool
	err   error
	hits  int
}

func (d *diskFault) arm(op faultfs.Op, err error, match func(string) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.op, d.err, d.match, d.hits = op, err, match, 0
}

func (d *diskFault) disarm() { d.arm(0, nil, nil) }

func (d *diskFault) hit() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hits
}

func (d *diskFault) inject(op faultfs.Op, path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil && op == d.op && d.match(path) {
		d.hits++
		return d.err
	}
	return nil
}

// suffix matches the paths of one partition directory ending in ext.
func suffix(partDir, ext string) func(string) bool {
	return func(p string) bool { return strings.Contains(p, partDir) && strings.HasSuffix(p, ext) }
}

// faultEnv is an engine over an in-memory disk with a diskFault, topic
// "t" of two partitions, and the values acknowledged in each.
type faultEnv struct {
	t     *testing.T
	mem   *faultfs.MemFS
	fault *diskFault
	opts  Options
	e     *Engine
	acked [2][]string
}

func newFaultEnv(t *testing.T, segmentBytes int64) *faultEnv {
	f := &faultEnv{t: t, mem: faultfs.New(), fault: &diskFault{}}
	f.opts = Options{FS: faultfs.Wrap(f.mem, f.fault.inject), RetentionInterval: -1, SegmentBytes: segmentBytes}
	f.e = f.open()
	if err := f.e.CreateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *faultEnv) open() *Engine {
	f.t.Helper()
	e, err := Open("/data", f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { e.Close() })
	return e
}

// append appends one record to partition p and remembers it if acked.
func (f *faultEnv) append(p int, v string) (int64, error) {
	base, err := appendOne(f.e, p, v)
	if err == nil {
		f.acked[p] = append(f.acked[p], v)
	}
	return base, err
}

func (f *faultEnv) mustAppend(p int, v string) {
	f.t.Helper()
	if _, err := f.append(p, v); err != nil {
		f.t.Fatalf("append %s to partition %d: %v", v, p, err)
	}
}

// wantAcked requires engine e to hold exactly the acknowledged values.
func (f *faultEnv) wantAcked(e *Engine, when string) {
	f.t.Helper()
	for p := range f.acked {
		if got, want := strings.Join(values(f.t, e, p), ","), strings.Join(f.acked[p], ","); got != want {
			f.t.Fatalf("%s: partition %d holds %q, want the acknowledged %q", when, p, got, want)
		}
	}
}

// wantSurvivesPowerCut cuts the power now and requires the acknowledged
// values, and nothing else, to be there after recovery.
func (f *faultEnv) wantSurvivesPowerCut() {
	f.t.Helper()
	after := f.mem.Crash(faultfs.CrashOptions{})
	e, err := Open("/data", Options{FS: after, RetentionInterval: -1})
	if err != nil {
		f.t.Fatalf("open after the power cut: %v", err)
	}
	defer e.Close()
	f.wantAcked(e, "after a power cut")
}

func wantNoSpace(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrNoSpace) || !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("%s: %v, want storage.ErrNoSpace and storage.ErrUnavailable", what, err)
	}
}

func TestFaults_DiskFullFailsTheAppendAndWritesResumeWhenSpaceIsFreed(t *testing.T) {
	for name, err := range map[string]error{
		"nothing written":        syscall.ENOSPC,
		"part written":           faultfs.ShortWrite{N: 300, Err: syscall.ENOSPC},
		"quota exceeded":         syscall.EDQUOT,
		"part written, then EIO": faultfs.ShortWrite{N: 30, Err: syscall.EIO},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFaultEnv(t, 0)
			f.mustAppend(0, "a")
			f.mustAppend(1, "x")
			f.fault.arm(faultfs.OpWrite, err, suffix("/t/0/", ".log"))
			for i := 0; i < 3; i++ {
				// Larger than the appends after it: any of it left behind
				// would sit after them as garbage.
				_, aerr := f.append(0, fmt.Sprint("refused", i, strings.Repeat("x", 500)))
				if errors.Is(err, syscall.EIO) {
					if !errors.Is(aerr, storage.ErrUnavailable) || errors.Is(aerr, storage.ErrNoSpace) {
						t.Fatalf("append meeting EIO: %v, want storage.ErrUnavailable without ErrNoSpace", aerr)
					}
				} else {
					wantNoSpace(t, "append on a full disk", aerr)
				}
			}
			f.mustAppend(1, "y") // the other partition's file still has room
			f.wantAcked(f.e, "while the disk is full")
			if _, end, _ := f.e.Offsets(context.Background(), "t", 0); end != 1 {
				t.Fatalf("end offset %d while the disk is full, want 1", end)
			}

			f.fault.disarm() // space is freed: no restart
			if base, err := f.append(0, "b"); err != nil || base != 1 {
				t.Fatalf("append once space is freed: offset %d, %v; want offset 1", base, err)
			}
			f.wantAcked(f.e, "once space is freed")
			f.e.Close()
			f.e = f.open()
			f.mustAppend(0, "c") // nothing of the refused appends was left to trip recovery
			f.wantAcked(f.e, "after a restart")
			f.wantSurvivesPowerCut()
		})
	}
}

// Rolling a segment writes its index files and creates the next segment:
// a full disk there fails the append and leaves the segment active, and
// the roll happens once space is freed.
func TestFaults_DiskFullWhileRollingASegmentResumes(t *testing.T) {
	for _, c := range []struct {
		name  string
		op    faultfs.Op
		match func(string) bool
	}{
		{"creating the index", faultfs.OpCreate, suffix("/t/0/", ".index")},
		{"writing the time index", faultfs.OpWrite, suffix("/t/0/", ".timeindex")},
		{"creating the next segment", faultfs.OpCreate, suffix("/t/0/", "1.log")},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFaultEnv(t, 1) // every append rolls
			f.mustAppend(0, "a")
			f.fault.arm(c.op, syscall.ENOSPC, c.match)
			_, err := f.append(0, "refused")
			wantNoSpace(t, "append that rolls on a full disk", err)
			if f.fault.hit() == 0 {
				t.Fatal("the fault was never met")
			}
			f.fault.disarm()
			for _, v := range []string{"b", "c"} {
				f.mustAppend(0, v)
			}
			f.wantAcked(f.e, "once space is freed")
			f.e.Close()
			f.e = f.open()
			f.wantAcked(f.e, "after a restart")
			rep, err := Check("/data", CheckOptions{FS: f.mem})
			if err != nil || !rep.OK() {
				t.Fatalf("check after the roll resumed: %v %v", err, rep.Findings)
			}
		})
	}
}

// After a failed fsync the kernel may have dropped the written pages, so
// the partition stops taking writes until a restart, even for ENOSPC, and
// the error says so.
func TestFaults_FailedFsyncFailsClosedWhateverTheErrno(t *testing.T) {
	for _, c := range []struct {
		name         string
		segmentBytes int64 // 1: the fsync is the one of a roll
		err          error
	}{
		{"EIO", 0, syscall.EIO},
		{"ENOSPC", 0, syscall.ENOSPC},
		{"EIO while rolling", 1, syscall.EIO},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFaultEnv(t, c.segmentBytes)
			f.mustAppend(0, "a")
			f.fault.arm(faultfs.OpSync, c.err, suffix("/t/0/", ".log"))
			_, err := f.append(0, "unsure")
			if !errors.Is(err, storage.ErrUnavailable) || errors.Is(err, storage.ErrNoSpace) {
				t.Fatalf("append meeting a failed fsync: %v, want storage.ErrUnavailable and not ErrNoSpace", err)
			}
			f.fault.disarm()
			for i := 0; i < 2; i++ {
				_, err := f.append(0, "after")
				if !errors.Is(err, storage.ErrUnavailable) || !strings.Contains(err.Error(), "fsync failed") {
					t.Fatalf("append after the failed fsync: %v, want the partition failed closed", err)
				}
			}
			f.mustAppend(1, "other partition")
			f.wantAcked(f.e, "after the failed fsync")
			f.e.Close()
			f.e = f.open()
			f.mustAppend(0, "after restart")
			f.wantAcked(f.e, "after a restart")
		})
	}
}

func TestFaults_DiskFullRefusesATopicAndTakesItOnceSpaceIsFreed(t *testing.T) {
	f := newFaultEnv(t, 0)
	f.fault.arm(faultfs.OpWrite, syscall.ENOSPC, func(p string) bool { return strings.HasSuffix(p, "topic.json.tmp") })
	err := f.e.CreateTopic(context.Background(), "new", storage.TopicConfig{Partitions: 1})
	wantNoSpace(t, "create a topic on a full disk", err)
	f.fault.disarm()
	if err := f.e.CreateTopic(context.Background(), "new", storage.TopicConfig{Partitions: 1}); err != nil {
		t.Fatalf("create the topic once space is freed: %v", err)
	}
}
