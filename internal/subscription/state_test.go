package subscription

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldevents/herald/event"
)

// A reason is bounded as JSON writes it, whatever characters it holds, and
// stays valid UTF-8, cut between characters.
func TestLimitReason_BoundsTheJSONEncoding(t *testing.T) {
	for _, r := range []string{
		strings.Repeat("<", 2000),
		strings.Repeat("\x01", 2000),
		strings.Repeat(`"\`, 1000),
		strings.Repeat("é", 1000),
		strings.Repeat("a\xff", 1000),
		strings.Repeat("x", 1021) + "日本",
	} {
		got := limitReason(r)
		enc, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if len(enc)-2 > maxReason || !utf8.ValidString(got) || !strings.HasSuffix(got, "...") {
			t.Errorf("limitReason(%.12q…) = %d bytes as JSON, valid UTF-8 %v: want at most %d, cut with ...", r, len(enc)-2, utf8.ValidString(got), maxReason)
		}
	}
	if short := "payment service down"; limitReason(short) != short {
		t.Errorf("a short reason was changed: %q", limitReason(short))
	}
}

// One nack of MaxAckIDs deliveries, with the longest names and a reason
// that JSON escapes to six times its length, fits one state write: the
// writer goes on, and another subscription still acks.
func TestSub_TheLargestNackFitsOneStateWrite(t *testing.T) {
	v := newEnv(t)
	topic, name := strings.Repeat("t", 249), strings.Repeat("s", 249)
	v.topic(topic, 12)
	v.topic("other", 1)
	v.sub(topic, name, Config{Ordering: OrderNone, DeadLetterTopic: "dlq"})
	v.sub("other", "s2", Config{})
	for b := range 11 {
		evs := make([]*event.Event, 1000)
		for i := range evs {
			evs[i] = &event.Event{ID: fmt.Sprintf("e-%d-%d", b, i), Source: "/t", Type: "t", SpecVersion: "1.0", PartitionKey: fmt.Sprintf("k%d", b*1000+i)}
		}
		if _, err := v.b.Publish(v.ctx, topic, evs); err != nil {
			t.Fatal(err)
		}
	}
	v.publish("other", "x")
	var ids []string
	for len(ids) < MaxAckIDs {
		ds, err := v.m.Pull(v.ctx, topic, name, min(MaxPull, MaxAckIDs-len(ids)), 0)
		if err != nil || len(ds) == 0 {
			t.Fatalf("pull after %d: %v", len(ids), err)
		}
		ids = append(ids, ackIDs(ds)...)
	}
	if _, err := v.m.Nack(v.ctx, topic, name, ids, 0, strings.Repeat("<", 2000)); err != nil {
		t.Fatalf("nack of %d: %v", len(ids), err)
	}
	other := v.pull("other", "s2", 1)
	if _, err := v.m.Ack(v.ctx, "other", "s2", ackIDs(other)); err != nil {
		t.Fatalf("an unrelated subscription can no longer ack: %v", err)
	}
}
