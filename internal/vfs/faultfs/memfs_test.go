package faultfs_test

import (
	"testing"

	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
	"github.com/heraldevents/herald/internal/vfs/vfstest"
)

// newMem returns a MemFS with the directory /data, for vfstest.
func newMem(t *testing.T) (vfs.FS, string) {
	m := faultfs.New()
	if err := m.MkdirAll("/data", 0o755); err != nil {
		t.Fatal(err)
	}
	return m, "/data"
}

func TestMemFS_PassesBehaviourSuite(t *testing.T) {
	vfstest.Run(t, newMem)
}

func TestWrap_PassesBehaviourSuiteOverMemFS(t *testing.T) {
	vfstest.Run(t, func(t *testing.T) (vfs.FS, string) {
		fsys, dir := newMem(t)
		var c faultfs.Counter
		return faultfs.Wrap(fsys, c.Inject), dir
	})
}

func TestWrap_PassesBehaviourSuiteOverOS(t *testing.T) {
	vfstest.Run(t, func(t *testing.T) (vfs.FS, string) {
		return faultfs.Wrap(vfs.OS, nil), t.TempDir()
	})
}
