package rpc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// Merged acks move to where the first ack of the batch was: an ack must
// not move ahead of a nack, reject or release of the same id, which the
// ack follows (and which makes it stale), or coalescing would change what
// the settlements do. Acks of other ids still merge, and so do acks past
// an extend of their id (extended, then acked, or acked, then the extend
// stale: acked either way).
func TestCoalesceAcks_AnAckDoesNotMoveAheadOfAnotherSettlementOfItsID(t *testing.T) {
	st := func(kind heraldv1.Settlement_Kind, ids ...string) *heraldv1.Settlement {
		return &heraldv1.Settlement{Kind: kind, AckIds: ids}
	}
	const (
		ack     = heraldv1.Settlement_KIND_ACK
		nack    = heraldv1.Settlement_KIND_NACK
		reject  = heraldv1.Settlement_KIND_REJECT
		release = heraldv1.Settlement_KIND_RELEASE
		extend  = heraldv1.Settlement_KIND_EXTEND
	)
	show := func(sts []*heraldv1.Settlement) string {
		var s []string
		for _, st := range sts {
			s = append(s, fmt.Sprintf("%s%v", strings.TrimPrefix(st.GetKind().String(), "KIND_"), st.GetAckIds()))
		}
		return strings.Join(s, " ")
	}
	for _, c := range []struct {
		batch []*heraldv1.Settlement
		want  string
	}{
		{[]*heraldv1.Settlement{st(ack, "a"), st(nack, "x"), st(ack, "x")}, "ACK[a] NACK[x] ACK[x]"},
		{[]*heraldv1.Settlement{st(ack, "a"), st(reject, "x"), st(ack, "b", "x")}, "ACK[a] REJECT[x] ACK[b x]"},
		{[]*heraldv1.Settlement{st(ack, "a"), st(release, "x"), st(ack, "b"), st(ack, "x"), st(ack, "c")}, "ACK[a b] RELEASE[x] ACK[x c]"},
		{[]*heraldv1.Settlement{st(ack, "a"), st(nack, "y"), st(ack, "x")}, "ACK[a x] NACK[y]"},
		{[]*heraldv1.Settlement{st(ack, "a"), st(extend, "x"), st(ack, "x")}, "ACK[a x] EXTEND[x]"},
		{[]*heraldv1.Settlement{st(nack, "x"), st(ack, "x"), st(ack, "a")}, "NACK[x] ACK[x a]"},
	} {
		if got := show(coalesceAcks(c.batch)); got != c.want {
			t.Errorf("%s: coalesced into %s, want %s", show(c.batch), got, c.want)
		}
	}
}
