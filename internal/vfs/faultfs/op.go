package faultfs

import "strconv"

// Op names a file-system operation for an Injector.
type Op int

// Operations that Wrap reports to its Injector.
const (
	OpOpen      Op = iota + 1 // FS.OpenFile without O_CREATE or O_TRUNC.
	OpCreate                  // FS.OpenFile with O_CREATE or O_TRUNC.
	OpRead                    // File.ReadAt.
	OpWrite                   // File.WriteAt.
	OpSync                    // File.Sync.
	OpTruncate                // File.Truncate.
	OpStat                    // FS.Stat and File.Stat.
	OpClose                   // File.Close.
	OpRemove                  // FS.Remove.
	OpRemoveAll               // FS.RemoveAll.
	OpRename                  // FS.Rename; the path is the old name.
	OpMkdir                   // FS.MkdirAll.
	OpReadDir                 // FS.ReadDir.
	OpSyncDir                 // FS.SyncDir.
	numOps
)

var opNames = [numOps]string{
	OpOpen: "open", OpCreate: "create", OpRead: "read", OpWrite: "write",
	OpSync: "sync", OpTruncate: "truncate", OpStat: "stat", OpClose: "close",
	OpRemove: "remove", OpRemoveAll: "removeall", OpRename: "rename",
	OpMkdir: "mkdir", OpReadDir: "readdir", OpSyncDir: "syncdir",
}

// String returns the lower-case name used in error messages ("write").
func (op Op) String() string {
	if op > 0 && op < numOps {
		return opNames[op]
	}
	return "op(" + strconv.Itoa(int(op)) + ")"
}

// Mutating reports whether op can change what is on disk, durable or not:
// create, write, sync, truncate, remove, removeall, rename, mkdir and
// syncdir. These are the ops that CutAfter and Counter.Mutating count.
func (op Op) Mutating() bool {
	switch op {
	case OpCreate, OpWrite, OpSync, OpTruncate, OpRemove, OpRemoveAll,
		OpRename, OpMkdir, OpSyncDir:
		return true
	}
	return false
}
