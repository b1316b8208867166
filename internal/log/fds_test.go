package log

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// Error paths close every file they opened: these tests run on the real
// file system and count the process's open descriptors under the data
// directory.

// openUnder returns the files under dir that the process holds open.
func openUnder(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list open files: %v", err)
	}
	var open []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			open = append(open, target)
		}
	}
	return open
}

// A roll that wrote the sealed segment's index files and then could not
// create the next segment keeps them for its next try; an engine closed
// before that try closes them too.
func TestFaults_ARollThatFailedAfterItsIndexLeavesNoFileOpenAfterClose(t *testing.T) {
	dir := t.TempDir()
	fault := &diskFault{}
	e, err := Open(dir, Options{FS: faultfs.Wrap(vfs.OS, fault.inject), RetentionInterval: -1, SegmentBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CreateTopic(context.Background(), "t", storage.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := appendOne(e, 0, "a"); err != nil {
		t.Fatal(err)
	}
	fault.arm(faultfs.OpCreate, syscall.ENOSPC, suffix("/t/0/", "1.log"))
	if _, err := appendOne(e, 0, "refused"); err == nil || fault.hit() == 0 {
		t.Fatalf("append that rolls on a full disk: %v (fault met %d times)", err, fault.hit())
	}
	if err := e.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if open := openUnder(t, dir); len(open) > 0 {
		t.Fatalf("files still open after Close: %v", open)
	}
}
