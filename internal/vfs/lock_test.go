package vfs

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestLock_SecondHolderIsRefusedUntilTheFirstReleases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "LOCK")
	first, err := OS.(Locker).Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OS.(Locker).Lock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := OS.(Locker).Lock(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.Close()
}
