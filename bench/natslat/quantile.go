package main

import (
	"math"
	"time"
)

// nearestRank is the p-th quantile of sorted samples by nearest rank, as
// herald bench computes it: the ceil(p*n)-th smallest (0 for none).
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted)) - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
