// Package vfs is the file-system seam under the embedded log engine. The
// engine does all its file I/O through FS, so tests can inject write and
// fsync errors and cut power between any two writes (see vfs/faultfs).
//
// Durability model (what the engine may rely on, and what faultfs
// simulates): data written to a File is durable only after File.Sync; a
// file's creation, removal or rename is durable only after SyncDir on its
// parent directory.
package vfs

import (
	"io"
	"io/fs"
	"os"
)

// FS is the subset of the operating system's file API the engine uses.
// Paths are slash-separated and interpreted like os paths.
type FS interface {
	// OpenFile opens or creates a file, like os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes a path and everything under it.
	RemoveAll(name string) error
	// Rename renames (moves) a file or directory, replacing a file at newname.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(name string, perm os.FileMode) error
	// ReadDir lists a directory sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)
	// Stat describes a path.
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the creations, removals and renames of entries in the
	// directory durable.
	SyncDir(name string) error
}

// File is an open file. Writes use explicit positions (WriteAt) so that the
// engine never depends on a shared file cursor.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Sync makes the file's written data durable (fdatasync on Linux).
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Stat describes the file; Size is the current size.
	Stat() (fs.FileInfo, error)
	// Name is the path the file was opened with.
	Name() string
}
