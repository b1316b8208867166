package log

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
)

// Repair makes a damaged data directory one that Check passes and the
// engine opens, keeping every good batch where it is and never deleting
// anything: bytes it removes and files it replaces are moved into
// <data>/quarantine/<time>/ first, and report.json there says exactly
// what was done.
//
// What it does with each kind of damage:
//
//   - A damaged range in a segment (bad CRC, bad framing, broken offsets)
//     is cut out into a quarantine file. The good batches after it stay,
//     with their offsets: the offsets the cut range held are covered by
//     empty batches (NumRecords 0), the way compaction covers removed
//     records, so the segment's batches stay contiguous. A read at a lost
//     offset returns the records after it. When the damage ends the last
//     segment and its batch header cannot be believed, how many offsets it
//     held is unknown: it is cut, and the offsets from there on are given
//     to new records.
//   - A batch whose FirstOffset alone is wrong (the one field its CRC does
//     not cover), shown by the batches around it, gets its offset back.
//   - A torn tail is cut, as Open would, but its bytes are kept.
//   - Offsets missing at the end of a sealed segment of a topic that is
//     not compacted (a segment file deleted, a segment cut short) are
//     covered by empty batches.
//   - Index files that disagree with their segment are written anew.
//   - topic.json that is missing, unreadable, or lists too few partitions
//     is written anew: with the settings it still holds when it can be
//     parsed, else with default settings (partitions from the directories,
//     retention forever), which the report says.
//   - A missing partition gets an empty segment; stray files are moved out.
//
// Read errors are left alone and reported as not repaired.

// RepairOptions configures Repair. The zero value works.
type RepairOptions struct {
	FS            vfs.FS           // default the operating system's
	Now           func() time.Time // default time.Now
	IndexInterval int              // bytes of log between index entries; default 4096
}

// RepairAction is one change Repair made.
type RepairAction struct {
	File    string       `json:"file"`              // relative to the data directory
	Action  string       `json:"action"`            // cut, mended, filled, index_rebuilt, metadata_rewritten, set_aside, created
	Byte    int64        `json:"byte"`              // -1: the file as a whole
	EndByte int64        `json:"endByte,omitempty"` // end (exclusive) of the bytes cut
	Lost    *OffsetRange `json:"lost,omitempty"`    // offsets whose records are gone
	SavedAs string       `json:"savedAs,omitempty"` // where the removed bytes or the replaced file are kept
	Reason  string       `json:"reason"`
}

// RepairReport says what Repair did.
type RepairReport struct {
	Time       time.Time      `json:"time"`
	Quarantine string         `json:"quarantine,omitempty"` // directory of set-aside bytes and files, relative to the data directory
	Report     string         `json:"report,omitempty"`     // this report as JSON, relative to the data directory
	Actions    []RepairAction `json:"actions"`
	Unrepaired []Finding      `json:"unrepaired,omitempty"` // problems Repair cannot fix (read errors)
}

// quarantineDir is where Repair keeps what it removes, under the data
// directory (outside topics/, so the engine never reads it).
const quarantineDir = "quarantine"

// Repair repairs the data directory dir. It refuses to run while a server
// has the directory open.
func Repair(dir string, opts RepairOptions) (*RepairReport, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.IndexInterval <= 0 {
		opts.IndexInterval = 4096
	}
	in, lock, err := inspect(dir, opts.FS)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	now := opts.Now().UTC()
	r := &repairer{in: in, fs: in.fs, opts: opts, report: &RepairReport{Time: now, Actions: []RepairAction{}},
		qrel: filepath.ToSlash(filepath.Join(quarantineDir, now.Format("20060102T150405.000000000Z")))}
	if in.report.OK() {
		return r.report, nil
	}
	if err := r.run(); err != nil {
		return r.report, errors.Join(err, r.writeReport())
	}
	return r.report, r.writeReport()
}

// repairer is one Repair run.
type repairer struct {
	in     *inspection
	fs     vfs.FS
	opts   RepairOptions
	report *RepairReport
	qrel   string // quarantine directory, relative to the data directory
}

func (r *repairer) act(a RepairAction) { r.report.Actions = append(r.report.Actions, a) }

func (r *repairer) run() error {
	for _, rel := range r.in.stray {
		if err := r.setAside(rel, "a file Herald did not write where it keeps its own"); err != nil {
			return err
		}
	}
	for _, t := range r.in.topics {
		if err := r.topic(t); err != nil {
			return err
		}
	}
	return nil
}

func (r *repairer) topic(t *topicInspection) error {
	if t.metaBad {
		if err := r.metadata(t); err != nil {
			return err
		}
	}
	for _, p := range t.parts {
		if p.missing {
			if err := r.emptyPartition(p); err != nil {
				return err
			}
		}
		for _, s := range p.segments {
			if err := r.segment(s); err != nil {
				return fmt.Errorf("repair %s: %w", r.in.rel(s.path), err)
			}
		}
	}
	return nil
}

// metadata writes topic.json anew, keeping what the old one still says.
func (r *repairer) metadata(t *topicInspection) error {
	path := filepath.Join(t.dir, topicMetaFile)
	info, how := r.salvageMeta(t, path)
	info.Config.Partitions = len(t.parts)
	saved := ""
	if _, err := r.fs.Stat(path); err == nil {
		if saved, err = r.move(path); err != nil {
			return err
		}
	}
	if err := writeTopicMeta(r.fs, t.dir, info); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	r.act(RepairAction{File: r.in.rel(path), Action: "metadata_rewritten", Byte: -1, SavedAs: saved,
		Reason: fmt.Sprintf("%s; written anew with partitions %d and %s", trimPath(describe(t.metaErr), path), len(t.parts), how)})
	return nil
}

func describe(err error) error {
	if err == nil {
		return errors.New("it listed too few partitions")
	}
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("it was missing")
	}
	return err
}

// salvageMeta returns the topic's metadata as far as the damaged file
// still tells it, and says how much of it that was.
func (r *repairer) salvageMeta(t *topicInspection, path string) (storage.TopicInfo, string) {
	if t.metaErr == nil {
		return t.info, "its settings otherwise kept"
	}
	var info storage.TopicInfo
	if b, err := readFile(r.fs, path); err == nil && json.Unmarshal(b, &info) == nil {
		cfg := info.Config
		cfg.Partitions = max(cfg.Partitions, 1)
		if checkConfig(cfg) == nil {
			info.Name = t.name
			return info, "the settings it still held"
		}
	}
	info = storage.TopicInfo{Name: t.name, CreatedAt: r.report.Time}
	return info, "default settings (no retention, no compaction, no labels): set them again"
}

// emptyPartition gives a partition without segments an empty one at
// offset 0, as Open would.
func (r *repairer) emptyPartition(p *partInspection) error {
	if err := r.fs.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	s, err := createSegment(r.fs, p.dir, 0)
	if err != nil {
		return err
	}
	if err := s.f.Close(); err != nil {
		return err
	}
	if err := r.fs.SyncDir(filepath.Dir(p.dir)); err != nil {
		return err
	}
	r.act(RepairAction{File: r.in.rel(s.path), Action: "created", Byte: -1,
		Reason: fmt.Sprintf("partition %d had no segment; an empty one starting at offset 0 was created", p.id)})
	return nil
}

// move sets a file aside into the quarantine directory, durably, and
// returns where it went.
func (r *repairer) move(path string) (string, error) {
	rel := r.in.rel(path)
	dst := filepath.Join(r.in.dir, filepath.FromSlash(r.qrel), filepath.FromSlash(rel))
	if err := r.makeDirs(filepath.Dir(dst)); err != nil {
		return "", err
	}
	if err := r.fs.Rename(path, dst); err != nil {
		return "", fmt.Errorf("set aside %s: %w", rel, err)
	}
	if err := r.syncDirs(filepath.Dir(dst), filepath.Dir(path)); err != nil {
		return "", err
	}
	return r.in.rel(dst), nil
}

func (r *repairer) setAside(rel, reason string) error {
	saved, err := r.move(filepath.Join(r.in.dir, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	r.act(RepairAction{File: rel, Action: "set_aside", Byte: -1, SavedAs: saved, Reason: reason})
	return nil
}

// makeDirs makes dir, under the data directory, and every directory
// between them durable: what is set aside there must survive a power cut
// once the original is cut.
func (r *repairer) makeDirs(dir string) error {
	if err := r.fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := filepath.Clean(r.in.dir)
	for d := filepath.Clean(dir); d != root && strings.HasPrefix(d, root); d = filepath.Dir(d) {
		if err := r.fs.SyncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("sync %s: %w", filepath.Dir(d), err)
		}
	}
	return nil
}

func (r *repairer) syncDirs(dirs ...string) error {
	for _, d := range dirs {
		if err := r.fs.SyncDir(d); err != nil {
			return fmt.Errorf("sync %s: %w", d, err)
		}
	}
	return nil
}

// writeReport writes report.json into the quarantine directory, durably.
func (r *repairer) writeReport() error {
	if len(r.report.Actions) == 0 && len(r.report.Unrepaired) == 0 {
		return nil
	}
	r.report.Quarantine = r.qrel
	r.report.Report = r.qrel + "/report.json"
	data, err := json.MarshalIndent(r.report, "", "  ")
	if err != nil {
		return err
	}
	qdir := filepath.Join(r.in.dir, filepath.FromSlash(r.qrel))
	if err := r.makeDirs(qdir); err != nil { // nothing set aside may have made it yet
		return err
	}
	f, err := writeSynced(r.fs, filepath.Join(qdir, "report.json"), append(data, '\n'))
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return r.fs.SyncDir(qdir)
}
