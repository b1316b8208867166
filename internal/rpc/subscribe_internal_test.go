package rpc

import (
	"strconv"
	"testing"

	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/subscription"
)

func TestCoalesceAcks_MergesAcksUpToTheLimitAndKeepsTheRest(t *testing.T) {
	var batch []*heraldv1.Settlement
	for i := 0; i < 3; i++ {
		ids := make([]string, subscription.MaxAckIDs/2)
		for j := range ids {
			ids[j] = strconv.Itoa(i) + "." + strconv.Itoa(j)
		}
		batch = append(batch, &heraldv1.Settlement{Kind: heraldv1.Settlement_KIND_ACK, AckIds: ids})
	}
	batch = append(batch, &heraldv1.Settlement{Kind: heraldv1.Settlement_KIND_NACK, AckIds: []string{"n"}})
	out := coalesceAcks(batch)
	if len(out) != 3 || len(out[0].AckIds) != subscription.MaxAckIDs || len(out[1].AckIds) != subscription.MaxAckIDs/2 ||
		out[2].GetKind() != heraldv1.Settlement_KIND_NACK {
		t.Fatalf("coalesced into %d settlements", len(out))
	}
}
