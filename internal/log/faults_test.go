package log

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// switchable fails one kind of operation on segment files of one
// partition directory while armed.
type switchable struct {
	mu   sync.Mutex
	op   faultfs.Op
	dir  string // e.g. "/t/0/"
	err  error
	hits int
}

func (s *switchable) arm(op faultfs.Op, dir string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.op, s.dir, s.err = op, dir, err
}

func (s *switchable) disarm() { s.arm(0, "", nil) }

func (s *switchable) inject(op faultfs.Op, path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil && op == s.op && strings.Contains(path, s.dir) && strings.HasSuffix(path, ".log") {
		s.hits++
		return s.err
	}
	return nil
}

func faultyEngine(t *testing.T) (*Engine, *switchable, vfs.FS) {
	t.Helper()
	sw := &switchable{}
	fsys := faultfs.Wrap(faultfs.New(), sw.inject)
	e, err := Open("/data", Options{FS: fsys, RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.CreateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	return e, sw, fsys
}

func appendOne(e *Engine, p int, value string) (int64, error) {
	bases, err := e.Append(context.Background(), "t", []storage.PartitionRecords{{Partition: p, Records: []storage.Record{rec("k", value)}}})
	if err != nil {
		return 0, err
	}
	return bases[0], nil
}

func values(t *testing.T, e *Engine, p int) []string {
	t.Helper()
	recs, err := e.Read(context.Background(), "t", p, 0, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, r := range recs {
		vs = append(vs, string(r.Value))
	}
	return vs
}

func TestFaults_FailedWriteIsCutBackAndTheLogGoesOn(t *testing.T) {
	for name, err := range map[string]error{
		"disk full":   syscall.ENOSPC,
		"short write": faultfs.ShortWrite{N: 10, Err: syscall.EIO},
	} {
		t.Run(name, func(t *testing.T) {
			e, sw, _ := faultyEngine(t)
			appendOne(e, 0, "a")
			sw.arm(faultfs.OpWrite, "/t/0/", err)
			if _, err := appendOne(e, 0, "lost"); !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("append during write failure: %v", err)
			}
			sw.disarm()
			if base, err := appendOne(e, 0, "b"); err != nil || base != 1 {
				t.Fatalf("append after the failure: %d %v", base, err)
			}
			if got := strings.Join(values(t, e, 0), ","); got != "a,b" {
				t.Fatalf("partition holds %s, want a,b", got)
			}
		})
	}
}

func TestFaults_FailedFsyncFailsThePartitionClosed(t *testing.T) {
	e, sw, fsys := faultyEngine(t)
	appendOne(e, 0, "a")
	sw.arm(faultfs.OpSync, "/t/0/", syscall.EIO)
	if _, err := appendOne(e, 0, "unsure"); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("append during fsync failure: %v", err)
	}
	sw.disarm()
	_, err := appendOne(e, 0, "after")
	if !errors.Is(err, storage.ErrUnavailable) || !strings.Contains(err.Error(), "fsync") {
		t.Fatalf("partition kept accepting writes after a failed fsync: %v", err)
	}
	if got := strings.Join(values(t, e, 0), ","); got != "a" {
		t.Fatalf("readers see %s, want a", got)
	}
	if _, err := appendOne(e, 1, "other"); err != nil {
		t.Fatalf("the other partition stopped too: %v", err)
	}
	e.Close()
	e2, err := Open("/data", Options{FS: fsys, RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if base, err := appendOne(e2, 0, "b"); err != nil || base < 1 {
		t.Fatalf("append after restart: %d %v", base, err)
	}
	if vs := values(t, e2, 0); vs[0] != "a" {
		t.Fatalf("acknowledged record lost: %v", vs)
	}
}

func TestFaults_MultiPartitionAppendIsAllOrNothing(t *testing.T) {
	e, sw, _ := faultyEngine(t)
	sw.arm(faultfs.OpWrite, "/t/1/", syscall.ENOSPC)
	parts := []storage.PartitionRecords{
		{Partition: 0, Records: []storage.Record{rec("k", "x0")}},
		{Partition: 1, Records: []storage.Record{rec("k", "x1")}},
	}
	if _, err := e.Append(context.Background(), "t", parts); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("append: %v", err)
	}
	for p := 0; p < 2; p++ {
		if vs := values(t, e, p); len(vs) != 0 {
			t.Fatalf("partition %d shows %v from a failed append", p, vs)
		}
	}
	sw.disarm()
	if bases, err := e.Append(context.Background(), "t", parts); err != nil || bases[0] != 0 || bases[1] != 0 {
		t.Fatalf("append after the failure: %v %v", bases, err)
	}
}
