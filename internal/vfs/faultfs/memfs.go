package faultfs

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/heraldevents/herald/internal/vfs"
)

// MemFS is an in-memory vfs.FS that records what is durable, so that Crash
// can show what a power cut would leave. The zero value is not usable; call
// New. A MemFS is safe for concurrent use.
type MemFS struct {
	mu   sync.RWMutex // Guards the whole tree, every file's bytes and every handle's closed flag.
	root *inode       // Always present and durable.
}

var _ vfs.FS = (*MemFS)(nil)

// New returns an empty MemFS holding only the root directory "/".
func New() *MemFS {
	return &MemFS{root: newDir(0o755)}
}

// OpenFile opens or creates a file like os.OpenFile. A new file exists
// durably only after SyncDir of its parent; O_TRUNC empties the file until
// the next Sync. Directories cannot be opened.
func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.lookupParent("open", name)
	if err != nil {
		return nil, err
	}
	n, err := openInode(dir, base, flag, perm)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if flag&os.O_TRUNC != 0 {
		n.truncate(0)
	}
	return &memFile{fs: m, node: n, name: name, flag: flag}, nil
}

// openInode finds or creates the file base in dir, as the flags ask.
func openInode(dir *inode, base string, flag int, perm os.FileMode) (*inode, error) {
	if base == "" {
		return nil, syscall.EISDIR
	}
	n, ok := dir.entries[base]
	switch {
	case !ok && flag&os.O_CREATE == 0:
		return nil, syscall.ENOENT
	case !ok:
		n = newFile(perm)
		dir.entries[base] = n
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, syscall.EEXIST
	case n.isDir():
		return nil, syscall.EISDIR
	}
	return n, nil
}

// Remove removes a file or an empty directory. The removal is durable only
// after SyncDir of the parent.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.lookupParent("remove", name)
	if err != nil {
		return err
	}
	n, ok := dir.entries[base]
	switch {
	case base == "":
		err = syscall.EBUSY
	case !ok:
		err = syscall.ENOENT
	case n.isDir() && len(n.entries) > 0:
		err = syscall.ENOTEMPTY
	default:
		delete(dir.entries, base)
		return nil
	}
	return &fs.PathError{Op: "remove", Path: name, Err: err}
}

// RemoveAll removes name and everything under it; a missing name is not an
// error. The removal is durable only after SyncDir of the parent.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.lookupParent("removeall", name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if base == "" {
		return &fs.PathError{Op: "removeall", Path: name, Err: syscall.EBUSY}
	}
	delete(dir.entries, base)
	return nil
}

// MkdirAll creates a directory and its parents. Each directory it creates
// exists durably only after SyncDir of its parent.
func (m *MemFS) MkdirAll(name string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir := m.root
	for _, part := range splitPath(name) {
		child, ok := dir.entries[part]
		if !ok {
			child = newDir(perm)
			dir.entries[part] = child
		}
		if !child.isDir() {
			return &fs.PathError{Op: "mkdir", Path: name, Err: syscall.ENOTDIR}
		}
		dir = child
	}
	return nil
}

// ReadDir lists a directory's current entries sorted by name.
func (m *MemFS) ReadDir(name string) ([]fs.DirEntry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	dir, err := m.lookupDir("readdir", name)
	if err != nil {
		return nil, err
	}
	list := make([]fs.DirEntry, 0, len(dir.entries))
	for base, n := range dir.entries {
		list = append(list, fs.FileInfoToDirEntry(n.info(base)))
	}
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, nil
}

// Stat describes a path.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return n.info(baseName(name)), nil
}

// SyncDir makes the directory's current entries durable: creations,
// removals and renames of its entries survive Crash from now on.
func (m *MemFS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, err := m.lookupDir("syncdir", name)
	if err != nil {
		return err
	}
	dir.syncDir()
	return nil
}

// lookupDir returns the directory at name.
func (m *MemFS) lookupDir(op, name string) (*inode, error) {
	n, err := m.lookup(op, name)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, &fs.PathError{Op: op, Path: name, Err: syscall.ENOTDIR}
	}
	return n, nil
}
