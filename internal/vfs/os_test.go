package vfs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/vfstest"
)

func TestOS_PassesBehaviourSuite(t *testing.T) {
	vfstest.Run(t, func(t *testing.T) (vfs.FS, string) { return vfs.OS, t.TempDir() })
}

func TestOS_SyncAndSyncDirPersistThroughPackageOS(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "seg")
	f, err := vfs.OS.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("record"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := vfs.OS.SyncDir(dir); err != nil {
		t.Fatalf("SyncDir: %v", err)
	}
	got, err := os.ReadFile(name)
	if err != nil || string(got) != "record" {
		t.Fatalf("ReadFile = %q, %v; want \"record\"", got, err)
	}
}
