package rpc

import (
	"errors"
	"fmt"
	"strconv"
	"testing"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald/internal/storage"

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

func TestIsServerClosing_OnlyTheShutdownError(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errServerClosing, true},
		{fmt.Errorf("publish: %w", errServerClosing), true},
		{connect.NewError(connect.CodeUnavailable, errors.New("the server is shutting down; reconnect")), false},
		{toConnect(storage.ErrUnavailable), false},
		{errors.New("plain"), false},
		{nil, false},
	} {
		if got := IsServerClosing(c.err); got != c.want {
			t.Errorf("IsServerClosing(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
