package faultfs

import (
	"io/fs"
	"path"
	"strings"
	"syscall"
)

// splitPath cleans name and returns its components. Relative names are
// taken from the root: MemFS has no working directory.
func splitPath(name string) []string {
	clean := strings.TrimPrefix(path.Clean("/"+name), "/")
	if clean == "" {
		return nil
	}
	return strings.Split(clean, "/")
}

// walk returns the directory that the components lead to.
func (m *MemFS) walk(parts []string) (*inode, error) {
	dir := m.root
	for _, part := range parts {
		child, ok := dir.entries[part]
		if !ok {
			return nil, syscall.ENOENT
		}
		if !child.isDir() {
			return nil, syscall.ENOTDIR
		}
		dir = child
	}
	return dir, nil
}

// lookup returns the inode at name.
func (m *MemFS) lookup(op, name string) (*inode, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return m.root, nil
	}
	dir, base, err := m.lookupParent(op, name)
	if err != nil {
		return nil, err
	}
	n, ok := dir.entries[base]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: syscall.ENOENT}
	}
	return n, nil
}

// lookupParent returns the directory that holds name, and name's base. The
// base is empty for the root.
func (m *MemFS) lookupParent(op, name string) (*inode, string, error) {
	parts := splitPath(name)
	if len(parts) == 0 {
		return m.root, "", nil
	}
	dir, err := m.walk(parts[:len(parts)-1])
	if err != nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	return dir, parts[len(parts)-1], nil
}
