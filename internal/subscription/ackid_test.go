package subscription

import (
	"math"
	"strconv"
	"testing"
)

func TestAckID_ParsesBackToItsParts(t *testing.T) {
	for _, c := range []struct {
		inc   uint64
		p     int
		off   int64
		lease uint64
	}{
		{1, 0, 0, 1},
		{2, -1, 5, 3}, // a redriven dead letter: partition -1-p of the dead-letter topic
		{7, 3, 1234567, 42},
		{math.MaxUint64, 65535, math.MaxInt64, math.MaxUint64},
	} {
		s := &sub{inc: c.inc}
		id := s.ackID(&cursor{p: c.p}, &entry{off: c.off, lease: c.lease})
		inc, p, off, lease, ok := parseAckID(id)
		if !ok || inc != c.inc || p != c.p || off != c.off || lease != c.lease {
			t.Errorf("%q parsed to %d %d %d %d %v, want %+v", id, inc, p, off, lease, ok, c)
		}
	}
}

func TestParseAckID_RefusesWhatItDidNotMake(t *testing.T) {
	for _, id := range []string{"", ".", "...", "1.2.3", "1.2.3.4.5", "1.2.3.", ".1.2.3", "1..3.4", "z!.1.2.3",
		"1.x.3.4", "1.2.3.-4", "1.99999999999.3.4", "1.2.3.4 "} {
		if _, _, _, _, ok := parseAckID(id); ok {
			t.Errorf("parseAckID(%q) accepted it", id)
		}
	}
}

// FuzzParseAckID: ack ids come from clients. Parsing never panics, and an
// id it accepts names the same delivery as the id Herald would make for
// those parts.
func FuzzParseAckID(f *testing.F) {
	for _, seed := range []string{"1.0.0.1", "a.3.qglj.16", "1.2.3", "1.2.3.4.5", "-1.2.3.4", "+1.+2.+3.4"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		inc, p, off, lease, ok := parseAckID(id)
		if !ok {
			return
		}
		s := &sub{inc: inc}
		again := s.ackID(&cursor{p: p}, &entry{off: off, lease: lease})
		inc2, p2, off2, lease2, ok2 := parseAckID(again)
		if !ok2 || inc2 != inc || p2 != p || off2 != off || lease2 != lease {
			t.Fatalf("%q parsed to %d.%d.%d.%d, made again as %q, which parsed to %d.%d.%d.%d (%v)",
				id, inc, p, off, lease, again, inc2, p2, off2, lease2, ok2)
		}
		if p < math.MinInt32 || p > math.MaxInt32 {
			t.Fatalf("%q: partition %s out of range", id, strconv.Itoa(p))
		}
	})
}
