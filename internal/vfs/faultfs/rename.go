package faultfs

import (
	"os"
	"slices"
	"syscall"
)

// Rename moves a file or directory, replacing a file at newname, like
// os.Rename on Unix (a directory at newname is an error). The move is
// durable only after SyncDir of both parents; until then Crash reverts it
// per directory (see the package comment).
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.rename(splitPath(oldname), splitPath(newname)); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return nil
}

// rename moves the entry at from to to; both are split paths.
func (m *MemFS) rename(from, to []string) error {
	if len(from) == 0 || len(to) == 0 {
		return syscall.EBUSY
	}
	oldDir, err := m.walk(from[:len(from)-1])
	if err != nil {
		return err
	}
	src, ok := oldDir.entries[from[len(from)-1]]
	if !ok {
		return syscall.ENOENT
	}
	newDir, err := m.walk(to[:len(to)-1])
	if err != nil {
		return err
	}
	if err := checkRename(src, newDir.entries[to[len(to)-1]], from, to); err != nil {
		return err
	}
	delete(oldDir.entries, from[len(from)-1])
	newDir.entries[to[len(to)-1]] = src
	return nil
}

// checkRename reports why src cannot replace dst (nil when absent).
func checkRename(src, dst *inode, from, to []string) error {
	switch {
	case dst != nil && dst.isDir():
		return syscall.EEXIST // What os.Rename returns on Unix.
	case dst == src:
		return nil
	case src.isDir() && dst != nil:
		return syscall.ENOTDIR
	case src.isDir() && len(to) > len(from) && slices.Equal(to[:len(from)], from):
		return syscall.EINVAL // Into its own subtree.
	}
	return nil
}
