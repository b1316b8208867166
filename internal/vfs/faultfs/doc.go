// Package faultfs provides file systems for testing the log engine against
// disk faults and power loss: MemFS, an in-memory vfs.FS that tracks what is
// durable and can show what a power cut leaves (MemFS.Crash), and Wrap,
// which injects errors into any vfs.FS, the real one included.
//
// # Durability model of MemFS
//
// MemFS implements the model stated in package vfs, exactly and no more
// generously:
//
//   - Every file has current contents and durable contents. WriteAt,
//     Truncate and OpenFile with O_TRUNC change the current contents only.
//     File.Sync (through any handle) makes the durable contents equal to the
//     current ones, size included. A file never synced has empty durable
//     contents.
//   - Every directory has current entries and durable entries (name to
//     file or directory). Creating a file (OpenFile with O_CREATE) or a
//     directory (MkdirAll), Remove, RemoveAll and Rename change current
//     entries only. SyncDir(d) makes d's durable entries equal to its
//     current ones; it affects d alone, not its parents or subdirectories.
//     So a directory MkdirAll made vanishes in a crash, with all under it,
//     until SyncDir of its parent; each level of MkdirAll needs its own.
//   - Crash builds a new tree from the root, following durable entries only.
//     Each file it reaches gets its durable contents. So: unsynced data is
//     lost; a file created but not made durable by SyncDir of its parent
//     vanishes, even if synced; an unsynced Remove or RemoveAll is undone,
//     the entry coming back with its durable contents; an unsynced Rename
//     within one directory is undone (the old name holds the old file, the
//     new name whatever it durably held before). A Rename across
//     directories is undone per directory: if only the target directory was
//     synced the file appears under both names, as hard links to one file;
//     if only the source directory was synced it appears under neither.
//   - With CrashOptions.TornWrites, a surviving file also keeps a prefix of
//     its torn tail, chosen uniformly at random from 0 to all of its bytes.
//     With D its durable size, the tail is the current bytes [D, T), where
//     T starts at D at each Sync and grows only by writes that extend the
//     file contiguously: a WriteAt at off <= T sets T to max(T, off+len(p)),
//     a WriteAt past T (leaving a gap) leaves T alone, and Truncate to s sets
//     T to max(D, min(T, s)). Bytes below D overwritten since the last Sync
//     always revert to their durable values: only an append can tear.
//     The kept bytes are durable in the new MemFS, like all it holds.
//   - A Sync that Wrap fails drops the file's unsynced writes, as Linux
//     does when fsync fails: it marks the pages it could not write clean.
//     Reads still return what was written, but a later Sync that succeeds
//     leaves those bytes as they were on disk (zeros past its old end) and
//     Crash loses them, unless they were written again since. What Sync
//     makes durable of the file's size is its current size all the same.
//   - Modification times and permissions are kept but not modelled for
//     durability. Open handles, and the MemFS that Crash or Clone was called
//     on, never reach the new MemFS.
//
// Paths are slash-separated and cleaned; a relative name is resolved from
// the root "/", as MemFS has no working directory and no symbolic links.
// OpenFile refuses directories (EISDIR): use ReadDir and SyncDir. Errors are
// *fs.PathError and *os.LinkError holding the errno that Linux would give,
// so errors.Is(err, fs.ErrNotExist) and friends work as with package os.
//
// # Fault injection
//
// Wrap(fsys, inj) asks an Injector before every operation and fails it with
// the injector's error. FailAfter, FailOnce, CutAfter, Chain and OnPath build
// injectors; Counter counts operations; ShortWrite makes a write store only
// part of its buffer; NoSpaceError and IOError are the errors of a full and
// a failing disk.
//
// To cut the power between any two changes of a workload, count its
// mutating operations once with a Counter, then for every k from 0 to that
// count run it on Wrap(mem, CutAfter(k)) over a fresh MemFS, call
// mem.Crash, and check the engine's recovery on the result (see the
// example).
package faultfs
