package middleware

import (
	"errors"
	"testing"
	"time"
)

func TestSweepSchedule_SweepsInBatchesAndGivesBackWhatItLeft(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name      string
		removes   []int64 // what each purge call removes; -1 fails
		wantCalls int
		wantAgain bool // the next claim sweeps again
	}{
		{"a short batch ends the sweep", []int64{SweepBatch, 10}, 2, false},
		{"nothing expired", []int64{0}, 1, false},
		{"a full budget leaves the rest to the next claim", nil, SweepBatches, true},
		{"a failed batch is tried again by the next claim", []int64{SweepBatch, -1}, 2, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s SweepSchedule
			calls := 0
			s.Sweep(now, func(limit int) (int64, error) {
				if limit != SweepBatch {
					t.Fatalf("limit %d, want %d", limit, SweepBatch)
				}
				calls++
				if calls > len(c.removes) {
					return SweepBatch, nil
				}
				if n := c.removes[calls-1]; n >= 0 {
					return n, nil
				}
				return 0, errors.New("database is locked")
			})
			if calls != c.wantCalls {
				t.Fatalf("%d purge calls, want %d", calls, c.wantCalls)
			}
			if again := s.Due(now.Add(time.Millisecond)); again != c.wantAgain {
				t.Fatalf("due again at once: %v, want %v", again, c.wantAgain)
			}
		})
	}
}

func TestPurgeAll_PurgesUntilABatchComesBackShort(t *testing.T) {
	left := int64(2*SweepBatch + 7)
	n, err := PurgeAll(func(limit int) (int64, error) {
		k := min(left, int64(limit))
		left -= k
		return k, nil
	})
	if err != nil || n != 2*SweepBatch+7 || left != 0 {
		t.Fatalf("purged %d (%v), %d left", n, err, left)
	}
}
