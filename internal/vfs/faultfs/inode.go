package faultfs

import (
	"bytes"
	"io/fs"
	"math"
	"slices"
	"time"
)

// inode is a file or a directory. Its name lives in the entries of its
// parent directories, so renames and links only move pointers.
type inode struct {
	mode    fs.FileMode // Permission bits, plus fs.ModeDir for a directory.
	modTime time.Time

	// Files only.
	data    []byte // Current contents.
	durable []byte // Contents as of the last Sync; never mutated in place.
	shared  bool   // data's backing array aliases durable's (copy on write).
	tailEnd int64  // End of the bytes written contiguously from len(durable) since the last Sync.
	lost    []span // Bytes a failed Sync dropped and no write has touched since: Sync leaves them as on disk.

	// Directories only.
	entries        map[string]*inode // Current entries.
	durableEntries map[string]*inode // Entries as of the last SyncDir.
}

// newFile returns an empty file that has never been synced.
func newFile(perm fs.FileMode) *inode {
	return &inode{mode: perm.Perm(), modTime: time.Now()}
}

// newDir returns an empty directory.
func newDir(perm fs.FileMode) *inode {
	return &inode{
		mode:           fs.ModeDir | perm.Perm(),
		modTime:        time.Now(),
		entries:        map[string]*inode{},
		durableEntries: map[string]*inode{},
	}
}

func (n *inode) isDir() bool { return n.mode.IsDir() }

// size is the current length of a file.
func (n *inode) size() int64 { return int64(len(n.data)) }

// own copies data before a change at offset from would modify bytes that
// data shares with durable.
func (n *inode) own(from int64) {
	if n.shared && from < int64(len(n.durable)) {
		n.data = bytes.Clone(n.data)
		n.shared = false
	}
}

// writeAt writes p at off, filling any gap after the end with zeros.
func (n *inode) writeAt(p []byte, off int64) {
	end := off + int64(len(p))
	n.own(min(off, n.size()))
	if end > n.size() {
		n.grow(end)
	}
	copy(n.data[off:], p)
	n.lost = cutSpans(n.lost, off, end)
	if off <= n.tailEnd && end > n.tailEnd {
		n.tailEnd = end
	}
	n.modTime = time.Now()
}

// grow extends the file with zeros to size; the caller has called own.
func (n *inode) grow(size int64) {
	old := n.size()
	if size > int64(cap(n.data)) {
		n.data = append(n.data[:old:old], make([]byte, size-old)...)
		n.shared = false
		return
	}
	n.data = n.data[:size]
	clear(n.data[old:])
}

// truncate sets the file's size; bytes past the old end read as zeros.
func (n *inode) truncate(size int64) {
	if size > n.size() {
		n.own(n.size())
		n.grow(size)
	} else if n.shared {
		// Cap it too: the bytes past size may be an older durable's, held
		// by a Crash or Clone image, so growing must copy, not reuse them.
		n.data = n.data[:size:size]
	} else {
		n.data = n.data[:size]
	}
	n.lost = cutSpans(n.lost, size, math.MaxInt64)
	n.tailEnd = max(int64(len(n.durable)), min(n.tailEnd, size))
	n.modTime = time.Now()
}

// sync makes the current contents durable, size included, without copying
// them, save the bytes a failed sync dropped: those stay as they are on
// disk, zeros past its old end.
func (n *inode) sync() {
	defer func() { n.tailEnd = n.size() }()
	if len(n.lost) == 0 {
		n.durable = n.data[:len(n.data):len(n.data)]
		n.shared = true
		return
	}
	disk := slices.Clone(n.data)
	for _, sp := range n.lost {
		clear(disk[sp.from:sp.to])
		if sp.from < int64(len(n.durable)) {
			copy(disk[sp.from:sp.to], n.durable[sp.from:])
		}
	}
	n.durable = disk[:len(disk):len(disk)]
}

// failSync is what a failed fsync leaves: the kernel marks the pages it
// could not write clean, so no later sync writes them, though reads still
// return them. They are lost unless written again.
func (n *inode) failSync() {
	if n.size() > 0 {
		n.lost = []span{{0, n.size()}}
	}
}

// syncDir makes the current entries durable.
func (n *inode) syncDir() {
	n.durableEntries = cloneEntries(n.entries, nil)
}

// tail returns the unsynced bytes that extend the durable contents
// contiguously: what a torn write may have left on disk.
func (n *inode) tail() []byte {
	from, to := int64(len(n.durable)), min(n.tailEnd, n.size())
	if to <= from {
		return nil
	}
	return n.data[from:to]
}

// cloneEntries copies a directory's entry map, mapping each inode with
// conv when it is not nil.
func cloneEntries(m map[string]*inode, conv func(*inode) *inode) map[string]*inode {
	out := make(map[string]*inode, len(m))
	for name, child := range m {
		if conv != nil {
			child = conv(child)
		}
		out[name] = child
	}
	return out
}

// span is the bytes [from, to) of a file.
type span struct{ from, to int64 }

// cutSpans returns spans without the bytes [from, to).
func cutSpans(spans []span, from, to int64) []span {
	if len(spans) == 0 || from >= to {
		return spans
	}
	var out []span
	for _, sp := range spans {
		if sp.from < from {
			out = append(out, span{sp.from, min(sp.to, from)})
		}
		if sp.to > to {
			out = append(out, span{max(sp.from, to), sp.to})
		}
	}
	return out
}
