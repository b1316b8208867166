package main

import (
	"testing"
	"time"
)

// The report's percentiles are by nearest rank, as herald bench's: p99 of
// ten requests is the slowest, not the ninth.
func TestReport_PercentilesAreByNearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 10; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.9, 9 * time.Millisecond}, {0.99, 10 * time.Millisecond}, {1, 10 * time.Millisecond}} {
		if got := nearestRank(lat, tc.p); got != tc.want {
			t.Errorf("p %v of 1..10 ms: got %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := nearestRank(nil, 0.5); got != 0 {
		t.Errorf("no samples: got %v", got)
	}
}
