package log

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/heraldevents/herald/internal/vfs"
)

// The sync mark.
//
// What was written since the last fsync may reach the disk in any order:
// a power cut can keep later pages of the active segment and lose earlier
// ones, leaving zeros between batches. By its bytes alone such a hole
// looks like damage, and damage is not cut. So each partition keeps in
// sync.mark the active segment's base offset and how many of its bytes an
// fsync covered, written and fsynced after that fsync. On open, a bad
// batch of the segment it names at or after that length is a write the
// power cut lost; it is cut with everything after it, as a torn tail is.
// Damage before the mark is damage: it is reported and the partition is
// read-only until repaired, save in the last batch of the segment, which
// is judged as a torn write is (scan.go's classify), mark or not.
//
// When the mark is written:
//   - mode interval: after each background fsync;
//   - mode always: every SyncInterval (a second), with what the group commits
//     fsynced since the last one. The group being written when the power
//     went was never acknowledged, and it is past the mark;
//   - every mode: at a roll, at open and at close, and after an fsync
//     asked for (Engine.Sync, and compaction's before it removes what the
//     active segment supersedes).
//
// In modes interval and none, the writes past the mark were acknowledged
// before their fsync, which is what these modes risk. In mode always they
// were fsynced too, save the last group: cutting damage there loses
// acknowledged events only when the disk itself failed them, and only
// those of the last interval.
//
// The mark never runs ahead of the disk: it is written after the fsync it
// records, so a mark the power cut lost leaves the one before, which is
// shorter.

const (
	syncMarkFile  = "sync.mark"
	syncMarkMagic = "HSM1"
	syncMarkSize  = 24 // magic, base, length, CRC-32C of the 20 bytes before it
)

// syncMark is how far a partition's active segment is known to be on disk.
type syncMark struct {
	base   int64 // the active segment's base offset
	length int64 // bytes of it an fsync covered
}

// readSyncMark reads the mark in a partition directory. A mark that is
// missing, short or fails its checksum is no mark.
func readSyncMark(fsys vfs.FS, dir string) (syncMark, bool) {
	f, err := fsys.OpenFile(filepath.Join(dir, syncMarkFile), os.O_RDONLY, 0)
	if err != nil {
		return syncMark{}, false
	}
	defer f.Close()
	var b [syncMarkSize]byte
	if n, _ := f.ReadAt(b[:], 0); n < len(b) {
		return syncMark{}, false
	}
	if string(b[:4]) != syncMarkMagic || crc32.Checksum(b[:20], castagnoli) != binary.BigEndian.Uint32(b[20:]) {
		return syncMark{}, false
	}
	m := syncMark{base: int64(binary.BigEndian.Uint64(b[4:])), length: int64(binary.BigEndian.Uint64(b[12:]))}
	return m, m.base >= 0 && m.length >= 0
}

// encode returns the mark's bytes.
func (m syncMark) encode() []byte {
	b := make([]byte, syncMarkSize)
	copy(b, syncMarkMagic)
	binary.BigEndian.PutUint64(b[4:], uint64(m.base))
	binary.BigEndian.PutUint64(b[12:], uint64(m.length))
	binary.BigEndian.PutUint32(b[20:], crc32.Checksum(b[:20], castagnoli))
	return b
}

// markSynced records that the active segment's bytes up to s.size are on
// disk (its fsync returned): it writes the mark, unless it would say no
// more than the one written.
func (p *partition) markSynced(s *segment) {
	p.writeSyncMark(syncMark{base: s.base, length: s.size})
}

// committedMark is the mark of what readers may read of the active
// segment: in mode always, what group commits fsynced. It is false once
// the partition's files are closed, and when the segment was damaged at
// open: what lies before the damage was not fsynced then (see
// settleSyncMark), and no group commit has fsynced it since.
func (p *partition) committedMark() (syncMark, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed || len(p.segs) == 0 {
		return syncMark{}, false
	}
	s := p.segs[len(p.segs)-1]
	if s.damage != nil {
		return syncMark{}, false
	}
	return syncMark{base: s.base, length: s.committed.Load()}, true
}

// writeSyncMark writes m and fsyncs it. Marks only move forward, so one
// written late (the background fsync writes its marks after releasing the
// writer's lock) does not undo a roll's. A failed write is logged: the
// mark on disk is then an older one, or none, which cuts less after a
// power cut but never more.
func (p *partition) writeSyncMark(m syncMark) {
	p.markMu.Lock()
	defer p.markMu.Unlock()
	if p.buried || p.marked && (m.base < p.mark.base || m.base == p.mark.base && m.length <= p.mark.length) {
		return
	}
	path := filepath.Join(p.dir, syncMarkFile)
	err := func() error {
		f, err := p.opts.FS.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		_, err = f.WriteAt(m.encode(), 0)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil && !p.marked {
			err = p.opts.FS.SyncDir(p.dir) // the file may be new
		}
		return err
	}()
	if err != nil {
		p.opts.Logger.Warn("cannot write the partition's sync mark; after a power cut it may stay read-only until repaired", "file", path, "err", err)
		return
	}
	p.mark, p.marked = m, true
}
