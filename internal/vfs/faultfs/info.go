package faultfs

import (
	"io/fs"
	"path"
	"time"
)

// fileInfo is a snapshot of an inode's metadata, taken under the lock.
type fileInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

var _ fs.FileInfo = fileInfo{}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return i.modTime }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }

// info snapshots n under the given name. The caller holds the lock.
func (n *inode) info(name string) fileInfo {
	return fileInfo{name: name, size: n.size(), mode: n.mode, modTime: n.modTime}
}

// baseName is the last element of name, or "/" for the root.
func baseName(name string) string {
	return path.Base(path.Clean("/" + name))
}
