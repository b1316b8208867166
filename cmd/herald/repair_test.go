package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// repairOutput is the --json output of repair (and report.json).
type repairOutput struct {
	Quarantine string `json:"quarantine"`
	Report     string `json:"report"`
	Actions    []struct {
		File    string `json:"file"`
		Action  string `json:"action"`
		Byte    int64  `json:"byte"`
		EndByte int64  `json:"endByte"`
		SavedAs string `json:"savedAs"`
		Reason  string `json:"reason"`
		Lost    *struct {
			First, Last int64
			Known       bool
		} `json:"lost"`
	} `json:"actions"`
}

func TestRepair_SetsTheDamageAsideAndTheServerServesEveryOtherEvent(t *testing.T) {
	for _, c := range damageCases {
		t.Run(c.name, func(t *testing.T) {
			dir := freshData(t)
			findings, lost := c.damage(t, dir)
			before := snapshot(t, dir)

			r := runApp(context.Background(), nil, "", "repair", "--data", dir, "--json")
			if r.code != 0 {
				t.Fatalf("repair: exit %d: %s %s", r.code, r.stdout, r.stderr)
			}
			var rep repairOutput
			if err := json.NewDecoder(strings.NewReader(r.stdout)).Decode(&rep); err != nil {
				t.Fatalf("repair --json printed %q: %v", r.stdout, err)
			}
			wantReportFile(t, dir, rep)
			wantNothingDeleted(t, dir, before, rep)
			wantLostAsReported(t, rep, lost)
			if fixedByRepair(findings) && len(rep.Actions) == 0 {
				t.Fatalf("repair did nothing about %+v", findings)
			}
			if r := runApp(context.Background(), nil, "", "check", "--data", dir); r.code != 0 {
				t.Fatalf("check after repair: exit %d: %s %s", r.code, r.stdout, r.stderr)
			}
			wantServed(t, dir, lost)
		})
	}
}

func fixedByRepair(fs []finding) bool {
	for _, f := range fs {
		if f.FixedBy == "repair" {
			return true
		}
	}
	return false
}

// snapshot reads every file under dir's topics.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	root := filepath.Join(dir, "topics")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[rel(t, dir, path)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// wantReportFile requires the report in the data directory to say what
// repair printed.
func wantReportFile(t *testing.T, dir string, rep repairOutput) {
	t.Helper()
	if rep.Report == "" || !strings.HasPrefix(rep.Report, rep.Quarantine+"/") || !strings.HasPrefix(rep.Quarantine, "quarantine/") {
		t.Fatalf("report at %q in %q", rep.Report, rep.Quarantine)
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rep.Report)))
	if err != nil {
		t.Fatal(err)
	}
	var saved repairOutput
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(saved, rep) {
		t.Fatalf("report.json says %+v; repair printed %+v", saved, rep)
	}
}

// wantNothingDeleted requires every byte repair removed to be kept: a cut
// range in its quarantine file, byte for byte; a file set aside or
// rewritten, whole. Segments may only lose the ranges reported cut.
func wantNothingDeleted(t *testing.T, dir string, before map[string][]byte, rep repairOutput) {
	t.Helper()
	cut := map[string][][2]int64{}
	for _, a := range rep.Actions {
		if a.Action == "cut" && a.EndByte > a.Byte {
			if a.SavedAs == "" {
				t.Fatalf("bytes %d to %d of %s cut and not kept", a.Byte, a.EndByte, a.File)
			}
			kept, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(a.SavedAs)))
			if err != nil || !bytes.Equal(kept, before[a.File][a.Byte:a.EndByte]) {
				t.Fatalf("%s holds %d bytes (%v), not bytes %d to %d of %s", a.SavedAs, len(kept), err, a.Byte, a.EndByte, a.File)
			}
			cut[a.File] = append(cut[a.File], [2]int64{a.Byte, a.EndByte})
		}
		if a.Action == "mended" {
			cut[a.File] = append(cut[a.File], [2]int64{a.Byte, a.Byte + 8}) // the FirstOffset put right
		}
		if a.Action == "set_aside" || a.Action == "metadata_rewritten" && a.SavedAs != "" {
			kept, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(a.SavedAs)))
			if err != nil || !bytes.Equal(kept, before[a.File]) {
				t.Fatalf("%s set aside as %s: %v, contents differ", a.File, a.SavedAs, err)
			}
		}
	}
	after := snapshot(t, dir)
	for name, old := range before {
		if !strings.HasSuffix(name, ".log") {
			continue
		}
		now, ok := after[name]
		if !ok {
			t.Fatalf("segment %s is gone after repair", name)
		}
		if len(cut[name]) == 0 && !bytes.HasPrefix(now, old) {
			t.Fatalf("segment %s changed, and repair reports no cut or mend in it", name)
		}
	}
}

// wantLostAsReported requires the offsets repair reports lost to be among
// those the damage could cost.
func wantLostAsReported(t *testing.T, rep repairOutput, lost []int64) {
	t.Helper()
	for _, a := range rep.Actions {
		if a.Lost == nil || !strings.Contains(a.File, "orders") {
			continue
		}
		last := a.Lost.Last
		if !a.Lost.Known {
			last = a.Lost.First
		}
		for o := a.Lost.First; o <= last; o++ {
			if !slices.Contains(lost, o) {
				t.Fatalf("repair reports offset %d lost (%+v); the damage could cost only %v", o, a, lost)
			}
		}
	}
}

// wantServed starts a server over the repaired directory and reads orders
// back: every event but those at the lost offsets, in order.
func wantServed(t *testing.T, dir string, lost []int64) {
	t.Helper()
	s := serveDir(t, dir)
	defer s.stop()
	events := jsonLines(t, s.env.mustRun("read", "orders", "--json"))
	var got, want []string
	for _, e := range events {
		got = append(got, e.ID)
	}
	for i := int64(0); i < orderEvents; i++ {
		if !slices.Contains(lost, i) {
			want = append(want, fmt.Sprint("id-", i))
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after repair the server serves %v; want %v", got, want)
	}
	s.env.mustRun("publish", "orders", "--type", "t", "--source", "/s", `{"after":"repair"}`)
}
