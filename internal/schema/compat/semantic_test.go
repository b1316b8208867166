package compat

import (
	"encoding/json"
	"testing"
)

// soundness reports writer-valid instances the reader rejects although
// Differences found no change (a soundness bug), and counts how many
// writer-valid instances were tried and whether an incompatibility was
// witnessed by a concrete instance.
type soundness struct {
	tried     int
	witnessed bool
	unsound   []string
}

func checkSound(reader, writer string, changes []Change, extra []string, samples int, seed int64) (soundness, error) {
	var res soundness
	rv, rdoc, err := validator(reader)
	if err != nil {
		return res, err
	}
	wv, wdoc, err := validator(writer)
	if err != nil {
		return res, err
	}
	var instances []any
	for _, d := range extra {
		instances = append(instances, mustJSON(d))
	}
	s := newSampler(seed, rdoc, wdoc)
	s.root = wdoc
	for i := 0; i < samples; i++ {
		instances = append(instances, s.instance(wdoc, 0))
	}
	for _, inst := range instances {
		if wv.Validate(inst) != nil {
			continue
		}
		res.tried++
		if rv.Validate(inst) == nil {
			continue
		}
		res.witnessed = true
		if len(changes) == 0 {
			b, _ := json.Marshal(inst)
			res.unsound = append(res.unsound, string(b))
		}
	}
	return res, nil
}

// TestDifferences_SoundAgainstTheValidator: for every table pair, in both
// directions, instances valid under the writer (hand-written ones and
// generated ones) must validate under the reader whenever Differences finds
// no change. It also counts how many reported incompatibilities a concrete
// instance demonstrates.
func TestDifferences_SoundAgainstTheValidator(t *testing.T) {
	verdicts, witnessed, noSamples := 0, 0, 0
	for i, p := range pairs {
		for dir, rw := range [][2]string{{p.new, p.old}, {p.old, p.new}} {
			changes, err := Differences([]byte(rw[0]), []byte(rw[1]))
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			res, err := checkSound(rw[0], rw[1], changes, p.docs, 400, int64(i*2+dir))
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			for _, u := range res.unsound {
				t.Errorf("%s (direction %d): no change reported, but the reader rejects writer-valid %s", p.name, dir, u)
			}
			if res.tried == 0 {
				noSamples++
			}
			if len(changes) > 0 {
				verdicts++
				if res.witnessed {
					witnessed++
				} else {
					t.Logf("not shown by an instance: %s (direction %d): %v", p.name, dir, got(changes, false))
				}
			}
		}
	}
	t.Logf("%d incompatible verdicts, %d shown by a concrete instance; %d directions without a writer-valid sample",
		verdicts, witnessed, noSamples)
}
