package herald

import (
	"strconv"
	"testing"

	"github.com/heraldevents/herald/internal/subscription"
)

// Acks merged from many handlers never exceed what one settlement may
// carry; the other settlements stay as they are.
func TestMergeAcks_SplitsAtTheAckIDLimit(t *testing.T) {
	var batch []settlement
	for i := 0; i < subscription.MaxAckIDs+5; i++ {
		batch = append(batch, settlement{kind: settleAck, ackIDs: []string{strconv.Itoa(i)}})
	}
	batch = append(batch, settlement{kind: settleNack, ackIDs: []string{"n"}, reason: "busy"})
	out := mergeAcks(batch)
	if len(out) != 3 || out[0].kind != settleNack || len(out[1].ackIDs) != subscription.MaxAckIDs || len(out[2].ackIDs) != 5 {
		t.Fatalf("merged into %d settlements: first %v, sizes %d, %d", len(out), out[0].kind, len(out[1].ackIDs), len(out[len(out)-1].ackIDs))
	}
}
