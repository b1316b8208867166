package main

import (
	"testing"
	"time"
)

// Percentiles are by nearest rank, as herald bench computes them, so that
// the two systems' figures are read off their samples the same way.
func TestNearestRank(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		d := make([]time.Duration, len(n))
		for i, v := range n {
			d[i] = time.Duration(v) * time.Millisecond
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{ms(hundred...), 0.5, 50 * time.Millisecond},
		{ms(hundred...), 0.9, 90 * time.Millisecond},
		{ms(hundred...), 0.99, 99 * time.Millisecond},
		{ms(hundred...), 1, 100 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.99, 4 * time.Millisecond},
		{ms(7), 0.5, 7 * time.Millisecond},
		{nil, 0.99, 0},
	} {
		if got := nearestRank(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%d samples, p %v: got %v, want %v", len(tc.sorted), tc.p, got, tc.want)
		}
	}
}
