package main

import (
	"strings"
	"testing"
)

// A latency run that did not hold its rate is marked in its cell, and no
// ratio is drawn from it.
func TestRender_MarksLatencyRunsThatDidNotHoldTheRate(t *testing.T) {
	results := map[string]map[string][]float64{"lat99": {"herald": {5.8, 6.1, 7.0}, "nats": {1.7, 1.8, 1.9}, "nats-always": {900, 1200, 2100}}}
	held := map[string][]float64{"herald": {4998, 4997, 4999}, "nats": {4999, 4999, 4999}, "nats-always": {4100, 4200, 4000}}
	out := render(results, map[string][]float64{}, held, "test machine", 3)
	var row string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "| publish-to-handler") {
			row = l
		}
	}
	cells := strings.Split(row, " | ")
	if len(cells) != 6 {
		t.Fatalf("latency row %q", row)
	}
	if strings.Contains(cells[1], "held only") || strings.Contains(cells[2], "held only") || !strings.Contains(cells[3], "held only 4,100 of 5,000 events/s") {
		t.Errorf("cells %q", cells[1:4])
	}
	if cells[4] != "3.39x (lower is better)" || !strings.HasPrefix(cells[5], "not comparable") {
		t.Errorf("ratios %q, %q", cells[4], cells[5])
	}
}

// The median of an even number of runs is the mean of the middle two, not
// the higher of them (-rounds 2 or 4).
func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 20}, 15},
		{[]float64{7}, 7},
		{nil, 0},
	} {
		if got := median(tc.v); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
