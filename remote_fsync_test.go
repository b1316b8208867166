package herald_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldevents/herald"
)

// With --fsync interval or none nothing is fsynced before an answer, yet a
// crash of the process (SIGKILL) loses no acknowledged publish and no
// answered ack: what was written is with the operating system.
func TestRemote_FsyncIntervalAndNoneLoseNothingToAServerKill(t *testing.T) {
	for _, mode := range []string{"interval", "none"} {
		t.Run(mode, func(t *testing.T) {
			s := &serveProc{t: t, bin: heraldBinary(t), dir: t.TempDir(), Addr: "127.0.0.1:0", args: []string{"--fsync", mode}}
			s.start()
			t.Cleanup(s.kill)
			c := connectProc(t, s)
			ctx := context.Background()
			two := 2
			if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{Partitions: &two}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest", Ordering: herald.OrderNone}); err != nil {
				t.Fatal(err)
			}
			stored := map[string][2]int64{} // id -> partition, offset
			for b := 0; b < 10; b++ {
				var evs []*herald.CloudEvent
				for i := 0; i < 10; i++ {
					id := fmt.Sprintf("e-%d", b*10+i)
					evs = append(evs, herald.MustNewEvent("tick", map[string]int{"n": b*10 + i}, herald.WithSource("/fsync"), herald.WithID(id), herald.WithKey(id)))
				}
				res, err := c.Publish(ctx, "orders", evs...)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range res {
					stored[evs[i].ID] = [2]int64{int64(r.Partition), r.Offset}
				}
			}
			acked := map[string]bool{}
			for len(acked) < 50 {
				ds, err := c.Pull(ctx, "orders", "billing", 50-len(acked), time.Second)
				if err != nil || len(ds) == 0 {
					t.Fatalf("pull: %d deliveries, %v", len(ds), err)
				}
				var ids []string
				for _, d := range ds {
					ids = append(ids, d.AckID)
				}
				res, err := c.Ack(ctx, "orders", "billing", ids...)
				if err != nil || len(res.Acked) != len(ds) {
					t.Fatalf("ack: %+v %v", res, err)
				}
				for _, d := range ds {
					acked[d.Event.ID] = true
				}
			}

			s.kill()
			s.start()
			c2 := connectProc(t, s)
			for p := 0; p < 2; p++ {
				evs, err := c2.Read(ctx, "orders", p, 0, 1000)
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range evs {
					if at, ok := stored[ev.ID]; ok && at == [2]int64{int64(p), ev.Offset} {
						delete(stored, ev.ID)
					}
				}
			}
			if len(stored) != 0 {
				t.Fatalf("acknowledged publishes lost or moved by the kill: %v", stored)
			}
			delivered := 0
			for {
				ds, err := c2.Pull(ctx, "orders", "billing", 100, 300*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				if len(ds) == 0 {
					break
				}
				for _, d := range ds {
					if acked[d.Event.ID] {
						t.Fatalf("%s delivered again (attempt %d) after its ack was answered", d.Event.ID, d.Attempt)
					}
					delivered++
				}
			}
			if delivered != 50 {
				t.Fatalf("%d of the 50 events not acked before the kill delivered after it", delivered)
			}
		})
	}
}
