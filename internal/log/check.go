package log

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
)

// Check verifies a data directory offline: every batch of every segment
// (framing, offsets, CRC), every index file against its segment, and every
// topic's metadata. It takes the directory's lock, so it refuses to run
// while a server has the directory open, and changes nothing.

// Finding is one problem Check found.
type Finding struct {
	File    string       `json:"file"`              // relative to the data directory, slash-separated
	Byte    int64        `json:"byte"`              // where the problem starts; -1: the file as a whole
	EndByte int64        `json:"endByte,omitempty"` // where the bad bytes end (exclusive), for a range
	Kind    string       `json:"kind"`              // bad_crc, torn_tail, index_mismatch, ... (see the kind constants)
	Detail  string       `json:"detail"`
	Lost    *OffsetRange `json:"lost,omitempty"` // the offsets whose records are affected, when any
	// FixedBy says what fixes it: "open" when Herald fixes it by itself
	// when it opens the directory (nothing acknowledged is lost), "repair"
	// when it takes `herald repair`.
	FixedBy string `json:"fixedBy"`
}

// What fixes a finding.
const (
	fixedByOpen   = "open"
	fixedByRepair = "repair"
)

func (f Finding) String() string {
	var b strings.Builder
	b.WriteString(f.File)
	switch {
	case f.Byte >= 0 && f.EndByte > f.Byte:
		fmt.Fprintf(&b, " bytes %d to %d", f.Byte, f.EndByte)
	case f.Byte >= 0:
		fmt.Fprintf(&b, " at byte %d", f.Byte)
	}
	fmt.Fprintf(&b, ": %s: %s", f.Kind, f.Detail)
	if f.Lost != nil {
		fmt.Fprintf(&b, " (%s)", f.Lost)
	}
	switch f.FixedBy {
	case fixedByOpen:
		b.WriteString(" [Herald fixes this when it opens the directory]")
	case fixedByRepair:
		b.WriteString(" [needs herald repair]")
	default:
		b.WriteString(" [the disk could not read it: copy or restore the file]")
	}
	return b.String()
}

// CheckReport is what Check found.
type CheckReport struct {
	Topics     int       `json:"topics"`
	Partitions int       `json:"partitions"`
	Segments   int       `json:"segments"`
	Records    int64     `json:"records"` // in good batches
	Bytes      int64     `json:"bytes"`   // of segment files
	Findings   []Finding `json:"findings"`
}

// OK reports whether nothing is wrong.
func (r *CheckReport) OK() bool { return len(r.Findings) == 0 }

// CheckOptions configures Check and Repair. The zero value works.
type CheckOptions struct {
	FS vfs.FS // default the operating system's
}

// Check verifies the data directory dir. It returns an error only when it
// cannot do its job (no such directory, the directory in use by a running
// server); what is wrong with the data is in the report.
func Check(dir string, opts CheckOptions) (*CheckReport, error) {
	in, unlock, err := inspect(dir, opts.FS)
	if err != nil {
		return nil, err
	}
	defer unlock.Close()
	return in.report, nil
}

// inspection is what the offline tools learn about a data directory.
type inspection struct {
	fs     vfs.FS
	dir    string
	report *CheckReport
	topics []*topicInspection
	stray  []string // files to set aside, relative to dir
}

type topicInspection struct {
	dir      string
	name     string
	info     storage.TopicInfo
	metaBad  bool // topic.json is missing, unreadable or lists too few partitions
	metaErr  error
	compact  bool
	parts    []*partInspection
	dataDirs int // partition directories up to the last one holding records
}

type partInspection struct {
	dir      string
	id       int
	missing  bool // no directory, or no segment in it
	segments []*segInspection
}

type segInspection struct {
	path       string
	base       int64
	nextBase   int64 // -1 for the last (active) segment
	walk       segWalk
	unreadable bool
	fillTo     int64 // > walk.end: offsets [walk.end, fillTo) are lost at the end of a sealed segment
	badIndex   bool  // the index files must be written again
}

// inspect locks dir and inspects it. The caller closes the returned lock.
func inspect(dir string, fsys vfs.FS) (*inspection, io.Closer, error) {
	if fsys == nil {
		fsys = vfs.OS
	}
	root := filepath.Join(dir, topicsDir)
	if st, err := fsys.Stat(root); err != nil || !st.IsDir() {
		if _, derr := fsys.Stat(dir); derr != nil {
			return nil, nil, fmt.Errorf("data directory %s: %w", dir, derr)
		}
		return nil, nil, fmt.Errorf("%s is not a Herald data directory: it has no %s directory", dir, topicsDir)
	}
	lock, err := lockOffline(fsys, dir)
	if err != nil {
		return nil, nil, err
	}
	in := &inspection{fs: fsys, dir: dir, report: &CheckReport{Findings: []Finding{}}}
	if err := in.run(root); err != nil {
		lock.Close()
		return nil, nil, err
	}
	return in, lock, nil
}

// lockOffline takes the data directory's lock for an offline tool.
func lockOffline(fsys vfs.FS, dir string) (io.Closer, error) {
	l, ok := fsys.(vfs.Locker)
	if !ok {
		return io.NopCloser(nil), nil
	}
	lock, err := l.Lock(filepath.Join(dir, lockFile))
	if errors.Is(err, vfs.ErrLocked) {
		return nil, fmt.Errorf("data directory %s is in use by a running Herald: stop it first, check and repair work offline: %w", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	return lock, nil
}

func (in *inspection) rel(path string) string {
	r, err := filepath.Rel(in.dir, path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(r)
}

func (in *inspection) find(f Finding) {
	in.report.Findings = append(in.report.Findings, f)
}

// whole reports a problem with a file as a whole.
func (in *inspection) whole(path, kind, fixedBy string, detail string, args ...any) {
	in.find(Finding{File: in.rel(path), Byte: -1, Kind: kind, Detail: fmt.Sprintf(detail, args...), FixedBy: fixedBy})
}

func (in *inspection) run(root string) error {
	entries, err := in.fs.ReadDir(root)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, ent := range entries {
		path := filepath.Join(root, ent.Name())
		switch {
		case strings.HasPrefix(ent.Name(), deletedPrefix):
			// a deletion that did not finish: Open completes it
		case !ent.IsDir():
			in.whole(path, kindStrayFile, fixedByRepair, "a file among the topic directories (Herald cannot open the directory with it there)")
			in.stray = append(in.stray, in.rel(path))
		default:
			if err := in.topic(path); err != nil {
				return err
			}
		}
	}
	return nil
}

func (in *inspection) topic(dir string) error {
	t := &topicInspection{dir: dir, name: filepath.Base(dir)}
	info, err := readTopicMeta(in.fs, dir)
	metaPath := filepath.Join(dir, topicMetaFile)
	if errors.Is(err, os.ErrNotExist) {
		data, herr := holdsData(in.fs, dir)
		if herr != nil {
			return herr
		}
		if data == "" {
			return nil // a creation that did not finish: Open removes it
		}
		in.whole(metaPath, kindMissingFile, fixedByRepair, "the topic's metadata is missing but %s holds records", in.rel(data))
		t.metaBad, t.metaErr = true, err
	} else if err != nil {
		in.whole(metaPath, kindBadMetadata, fixedByRepair, "%v", trimPath(err, metaPath))
		t.metaBad, t.metaErr = true, err
	}
	t.info, t.compact = info, info.Config.Compact
	dirs, err := in.partitionDirs(t)
	if err != nil {
		return err
	}
	n := max(t.info.Config.Partitions, t.dataDirs, 1)
	if !t.metaBad && t.dataDirs > t.info.Config.Partitions {
		in.whole(metaPath, kindBadMetadata, fixedByRepair, "it lists %d partitions but partition %d holds records", t.info.Config.Partitions, t.dataDirs-1)
		t.metaBad = true
	}
	if t.metaBad {
		n = max(n, dirs)
	}
	in.report.Topics++
	for id := 0; id < n; id++ {
		p, err := in.partition(t, id)
		if err != nil {
			return err
		}
		t.parts = append(t.parts, p)
	}
	in.topics = append(in.topics, t)
	return nil
}

// partitionDirs counts the partition directories (up to the highest
// number) and notes in t up to which one records are held.
func (in *inspection) partitionDirs(t *topicInspection) (int, error) {
	entries, err := in.fs.ReadDir(t.dir)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", t.dir, err)
	}
	n := 0
	for _, ent := range entries {
		id, err := strconv.Atoi(ent.Name())
		if err != nil || id < 0 || !ent.IsDir() || strconv.Itoa(id) != ent.Name() {
			continue
		}
		n = max(n, id+1)
		if partitionHolds(in.fs, filepath.Join(t.dir, ent.Name())) {
			t.dataDirs = max(t.dataDirs, id+1)
		}
	}
	return n, nil
}

// partitionHolds reports whether a partition directory has a non-empty
// segment file.
func partitionHolds(fsys vfs.FS, dir string) bool {
	files, err := fsys.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".log") {
			if st, err := fsys.Stat(filepath.Join(dir, f.Name())); err == nil && st.Size() > 0 {
				return true
			}
		}
	}
	return false
}

func (in *inspection) partition(t *topicInspection, id int) (*partInspection, error) {
	p := &partInspection{dir: filepath.Join(t.dir, strconv.Itoa(id)), id: id}
	in.report.Partitions++
	entries, err := in.fs.ReadDir(p.dir)
	if errors.Is(err, os.ErrNotExist) {
		in.whole(p.dir, kindMissingFile, fixedByRepair, "partition %d's directory is missing: whatever it held is lost", id)
		p.missing = true
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", p.dir, err)
	}
	bases, stems := segmentFiles(entries)
	if len(bases) == 0 {
		in.whole(p.dir, kindMissingFile, fixedByRepair, "partition %d has no segment file: whatever it held is lost", id)
		p.missing = true
	}
	in.strayIndexes(p.dir, bases, stems)
	for i, base := range bases {
		next := int64(-1)
		if i+1 < len(bases) {
			next = bases[i+1]
		}
		p.segments = append(p.segments, in.segment(t, p, base, next))
	}
	return p, nil
}

// segmentFiles returns the base offsets of a partition's .log files,
// sorted, and the stems of its index files.
func segmentFiles(entries []os.DirEntry) ([]int64, map[string]bool) {
	var bases []int64
	stems := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		for _, ext := range []string{".log", ".index", ".timeindex"} {
			stem, ok := strings.CutSuffix(name, ext)
			if !ok {
				continue
			}
			base, err := strconv.ParseInt(stem, 10, 64)
			if err != nil || base < 0 || segmentName(base) != stem {
				continue
			}
			if ext == ".log" {
				bases = append(bases, base)
			} else {
				stems[stem] = true
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, stems
}

// strayIndexes reports index files without a segment: the segment file
// was deleted (Herald removes index files first, so it never leaves these).
func (in *inspection) strayIndexes(dir string, bases []int64, stems map[string]bool) {
	for _, b := range bases {
		delete(stems, segmentName(b))
	}
	var names []string
	for stem := range stems {
		names = append(names, stem)
	}
	sort.Strings(names)
	for _, stem := range names {
		for _, ext := range []string{".index", ".timeindex"} {
			path := filepath.Join(dir, stem+ext)
			if _, err := in.fs.Stat(path); err == nil {
				in.whole(path, kindStrayFile, fixedByRepair, "an index file without its segment %s.log: that segment was deleted", stem)
				in.stray = append(in.stray, in.rel(path))
			}
		}
	}
}

// trimPath drops path from err's message, as findings name their file,
// and the "corrupt data: " that every finding would otherwise start with.
func trimPath(err error, path string) string {
	msg := strings.ReplaceAll(err.Error(), path+": ", "")
	msg = strings.TrimPrefix(msg, storage.ErrCorrupt.Error()+": ")
	return strings.ReplaceAll(msg, path, "the file")
}
