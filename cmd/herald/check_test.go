package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/server"
	"github.com/heraldevents/herald/internal/subscription"
)

// Tests of `herald check` and `herald repair` over data directories that
// the real engine wrote (through the real server) and the test damaged.

// dirServer is a server over a given data directory, with small segments
// so that partitions have several.
type dirServer struct {
	t    *testing.T
	env  *cliEnv
	stop func()
}

func serveDir(t *testing.T, dir string) *dirServer {
	t.Helper()
	eng, err := log.Open(dir, log.Options{SegmentBytes: 700, IndexInterval: 200})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(eng, broker.Options{DedupDir: filepath.Join(dir, "dedup")})
	if err != nil {
		t.Fatal(err)
	}
	subs, err := subscription.New(context.Background(), b, subscription.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(b, server.Options{Subscriptions: subs})
	hs := httptest.NewServer(srv)
	d := &dirServer{t: t, env: &cliEnv{t: t, url: hs.URL, broker: b}}
	stopped := false
	d.stop = func() {
		if stopped {
			return
		}
		stopped = true
		srv.Close()
		hs.Close()
		subs.Close()
		if err := eng.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
	}
	t.Cleanup(d.stop)
	return d
}

// written is the data directory every test starts from: topic orders
// with events id-0 .. id-29 in partition 0 (over several segments) and
// topic audit with a few, written by a real server, then stopped.
var written string

func TestMain(m *testing.M) {
	code := m.Run()
	if written != "" {
		os.RemoveAll(written)
	}
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

const orderEvents = 30

// freshData returns a copy of the written data directory.
func freshData(t *testing.T) string {
	t.Helper()
	if written == "" {
		dir, err := os.MkdirTemp("", "herald-check-")
		if err != nil {
			t.Fatal(err)
		}
		s := serveDir(t, dir)
		s.env.mustRun("topics", "create", "orders", "--partitions", "1", "--retention", "0")
		for i := 0; i < orderEvents; i++ {
			s.env.mustRun("publish", "orders", "--type", "t", "--source", "/s", "--id", fmt.Sprint("id-", i), fmt.Sprintf(`{"n":%d}`, i))
		}
		for i := 0; i < 3; i++ {
			s.env.mustRun("publish", "audit", "--type", "t", "--source", "/s", fmt.Sprintf(`{"n":%d}`, i))
		}
		s.stop()
		written = dir
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(written)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// segments returns the segment files of orders' partition 0, oldest first.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "topics", "orders", "0", "*.log"))
	if err != nil || len(paths) < 4 {
		t.Fatalf("segments %v (%v); want 4 or more", paths, err)
	}
	return paths
}

// batch is a record batch found in a segment file.
type batch struct {
	pos, size   int64
	first, last int64
}

func batchesOf(t *testing.T, path string) []batch {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []batch
	for pos := int64(0); pos+61 <= int64(len(b)); {
		size := int64(binary.BigEndian.Uint32(b[pos+8:])) + 12
		first := int64(binary.BigEndian.Uint64(b[pos:]))
		out = append(out, batch{pos: pos, size: size, first: first, last: first + int64(binary.BigEndian.Uint32(b[pos+23:]))})
		pos += size
	}
	return out
}

func flipByte(t *testing.T, path string, pos int64, mask byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[pos] ^= mask
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func rel(t *testing.T, dir, path string) string {
	t.Helper()
	r, err := filepath.Rel(dir, path)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(r)
}

// checkJSONOf runs herald check --json over dir.
func checkJSONOf(t *testing.T, dir string) (checkOutput, result) {
	t.Helper()
	r := runApp(context.Background(), nil, "", "check", "--data", dir, "--json")
	var out checkOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("check --json printed %q (%v); stderr %q", r.stdout, err, r.stderr)
	}
	return out, r
}

type checkOutput struct {
	OK         bool      `json:"ok"`
	Topics     int       `json:"topics"`
	Partitions int       `json:"partitions"`
	Segments   int       `json:"segments"`
	Records    int64     `json:"records"`
	Findings   []finding `json:"findings"`
}

type finding struct {
	File    string `json:"file"`
	Byte    int64  `json:"byte"`
	EndByte int64  `json:"endByte"`
	Kind    string `json:"kind"`
	Detail  string `json:"detail"`
	FixedBy string `json:"fixedBy"`
	Lost    *struct {
		First, Last int64
		Known       bool
	} `json:"lost"`
}

func TestCheck_CleanDirectoryPassesWithASummary(t *testing.T) {
	dir := freshData(t)
	r := runApp(context.Background(), nil, "", "check", "--data", dir)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("check: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	segs := len(segments(t, dir))
	if !strings.HasPrefix(r.stdout, "ok: checked 3 topics, 3 partitions, ") || !strings.Contains(r.stdout, fmt.Sprintf("records (")) || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("check printed %q", r.stdout)
	}
	out, r := checkJSONOf(t, dir)
	if r.code != 0 || !out.OK || out.Topics != 3 || out.Segments < segs+2 || out.Records < orderEvents+3 || len(out.Findings) != 0 {
		t.Fatalf("check --json: exit %d, %+v", r.code, out)
	}
	rr := runApp(context.Background(), nil, "", "repair", "--data", dir)
	if rr.code != 0 || !strings.HasPrefix(rr.stdout, "nothing to repair: checked 3 topics") {
		t.Fatalf("repair of a sound directory: exit %d, %q %q", rr.code, rr.stdout, rr.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "quarantine")); !os.IsNotExist(err) {
		t.Fatalf("repair with nothing to do made a quarantine directory (%v)", err)
	}
}

func TestCheck_RefusesADirectoryInUse(t *testing.T) {
	dir := freshData(t)
	serveDir(t, dir) // holds the directory's lock until the test ends
	for _, cmd := range []string{"check", "repair"} {
		r := runApp(context.Background(), nil, "", cmd, "--data", dir)
		r.wantOneErrorLine(t, "in use by a running Herald", "stop it first")
		if r.stdout != "" {
			t.Fatalf("%s printed %q while refusing", cmd, r.stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "quarantine")); !os.IsNotExist(err) {
		t.Fatalf("repair changed a directory in use (%v)", err)
	}
}

func TestCheck_RefusesWhatIsNotADataDirectory(t *testing.T) {
	for _, dir := range []string{filepath.Join(t.TempDir(), "nowhere"), t.TempDir()} {
		r := runApp(context.Background(), nil, "", "check", "--data", dir)
		r.wantOneErrorLine(t, dir)
	}
}

// damageCase damages a data directory and says what check must find and
// which offsets of orders' partition 0 repair may lose.
type damageCase struct {
	name   string
	damage func(t *testing.T, dir string) (want []finding, lost []int64)
}

// span lists the offsets [first, last].
func span(first, last int64) []int64 {
	var o []int64
	for i := first; i <= last; i++ {
		o = append(o, i)
	}
	return o
}

func indexOf(seg, ext string) string { return strings.TrimSuffix(seg, ".log") + ext }

var damageCases = []damageCase{
	{"bit flipped in a sealed segment's record", func(t *testing.T, dir string) ([]finding, []int64) {
		seg := segments(t, dir)[1]
		b := batchesOf(t, seg)[1]
		flipByte(t, seg, b.pos+b.size-4, 0x10)
		return []finding{{File: rel(t, dir, seg), Byte: b.pos, EndByte: b.pos + b.size, Kind: "bad_crc", FixedBy: "repair"}}, span(b.first, b.last)
	}},
	{"bit flipped in the active segment's first batch", func(t *testing.T, dir string) ([]finding, []int64) {
		segs := segments(t, dir)
		seg := segs[len(segs)-1]
		b := batchesOf(t, seg)[0]
		flipByte(t, seg, b.pos+70, 0x01)
		return []finding{{File: rel(t, dir, seg), Byte: b.pos, EndByte: b.pos + b.size, Kind: "bad_crc", FixedBy: "repair"}}, span(b.first, b.last)
	}},
	{"bit flipped in a batch's FirstOffset, which the CRC does not cover", func(t *testing.T, dir string) ([]finding, []int64) {
		seg := segments(t, dir)[2]
		b := batchesOf(t, seg)[2]
		flipByte(t, seg, b.pos+6, 0x04)
		return []finding{{File: rel(t, dir, seg), Byte: b.pos, EndByte: b.pos + b.size, Kind: "offset_break", FixedBy: "repair"}}, nil
	}},
	{"active segment cut in its last batch", func(t *testing.T, dir string) ([]finding, []int64) {
		segs := segments(t, dir)
		seg := segs[len(segs)-1]
		bs := batchesOf(t, seg)
		b := bs[len(bs)-1]
		if err := os.Truncate(seg, b.pos+20); err != nil {
			t.Fatal(err)
		}
		return []finding{{File: rel(t, dir, seg), Byte: b.pos, EndByte: b.pos + 20, Kind: "torn_tail", FixedBy: "open"}}, span(b.first, b.last)
	}},
	{"sealed segment cut short", func(t *testing.T, dir string) ([]finding, []int64) {
		segs := segments(t, dir)
		b := batchesOf(t, segs[1])[3]
		if err := os.Truncate(segs[1], b.pos+30); err != nil {
			t.Fatal(err)
		}
		next := batchesOf(t, segs[2])[0].first
		return []finding{
			{File: rel(t, dir, segs[1]), Byte: b.pos, EndByte: b.pos + 30, Kind: "bad_batch", FixedBy: "repair"},
			{File: rel(t, dir, segs[1]), Byte: b.pos + 30, Kind: "size_mismatch", FixedBy: "repair"},
		}, span(b.first, next-1)
	}},
	{"index file deleted", func(t *testing.T, dir string) ([]finding, []int64) {
		idx := indexOf(segments(t, dir)[1], ".index")
		if err := os.Remove(idx); err != nil {
			t.Fatal(err)
		}
		return []finding{{File: rel(t, dir, idx), Byte: -1, Kind: "missing_file", FixedBy: "open"}}, nil
	}},
	{"bit flipped in a time index", func(t *testing.T, dir string) ([]finding, []int64) {
		idx := indexOf(segments(t, dir)[3], ".timeindex")
		flipByte(t, idx, 3, 0x01)
		return []finding{{File: rel(t, dir, idx), Byte: -1, Kind: "index_mismatch", FixedBy: "open"}}, nil
	}},
	{"topic metadata unreadable", func(t *testing.T, dir string) ([]finding, []int64) {
		meta := filepath.Join(dir, "topics", "orders", "topic.json")
		if err := os.WriteFile(meta, []byte(`{"name": "orders", "config": {"partit`), 0o644); err != nil {
			t.Fatal(err)
		}
		return []finding{{File: rel(t, dir, meta), Byte: -1, Kind: "bad_metadata", FixedBy: "repair"}}, nil
	}},
	{"topic metadata deleted", func(t *testing.T, dir string) ([]finding, []int64) {
		meta := filepath.Join(dir, "topics", "orders", "topic.json")
		if err := os.Remove(meta); err != nil {
			t.Fatal(err)
		}
		return []finding{{File: rel(t, dir, meta), Byte: -1, Kind: "missing_file", FixedBy: "repair"}}, nil
	}},
	{"a middle segment deleted", func(t *testing.T, dir string) ([]finding, []int64) {
		segs := segments(t, dir)
		if err := os.Remove(segs[2]); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(segs[1])
		if err != nil {
			t.Fatal(err)
		}
		gone := span(batchesOf(t, segs[1])[4].last+1, batchesOf(t, segs[3])[0].first-1)
		return []finding{
			{File: rel(t, dir, indexOf(segs[2], ".index")), Byte: -1, Kind: "stray_file", FixedBy: "repair"},
			{File: rel(t, dir, indexOf(segs[2], ".timeindex")), Byte: -1, Kind: "stray_file", FixedBy: "repair"},
			{File: rel(t, dir, segs[1]), Byte: st.Size(), Kind: "offset_gap", FixedBy: "repair"},
		}, gone
	}},
	{"a stray file among the topics", func(t *testing.T, dir string) ([]finding, []int64) {
		stray := filepath.Join(dir, "topics", "notes.txt")
		if err := os.WriteFile(stray, []byte("hello"), 0o644); err != nil {
			t.Fatal(err)
		}
		return []finding{{File: rel(t, dir, stray), Byte: -1, Kind: "stray_file", FixedBy: "repair"}}, nil
	}},
}

func TestCheck_ReportsEachKindOfDamageWithItsFileAndPosition(t *testing.T) {
	for _, c := range damageCases {
		t.Run(c.name, func(t *testing.T) {
			dir := freshData(t)
			want, _ := c.damage(t, dir)
			out, r := checkJSONOf(t, dir)
			if r.code != 1 || out.OK {
				t.Fatalf("check: exit %d, ok %v; want it to fail", r.code, out.OK)
			}
			r.wantOneErrorLine(t, dir, fmt.Sprintf("%d problem(s)", len(want)))
			if len(out.Findings) != len(want) {
				t.Fatalf("check found %+v; want %+v", out.Findings, want)
			}
			for i, w := range want {
				g := out.Findings[i]
				if g.File != w.File || g.Byte != w.Byte || g.EndByte != w.EndByte || g.Kind != w.Kind || g.FixedBy != w.FixedBy || g.Detail == "" {
					t.Errorf("finding %d: %+v; want %+v", i, g, w)
				}
			}
			text := runApp(context.Background(), nil, "", "check", "--data", dir)
			for _, w := range want {
				if !strings.Contains(text.stdout, w.File) || !strings.Contains(text.stdout, w.Kind) {
					t.Errorf("check's text %q does not name %s and %s", text.stdout, w.File, w.Kind)
				}
			}
		})
	}
}
