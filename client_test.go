package herald_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/testserver"
)

// The client conformance suite: each test runs on an embedded and on a
// remote client (forEachClient), which must behave the same.

func TestClient_TopicAdmin(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		three, day := 3, 24*time.Hour
		tp, created, err := c.PutTopic(ctx, "orders", herald.TopicSpec{Partitions: &three, Retention: &day})
		if err != nil || !created || tp.Partitions != 3 || tp.Retention != day {
			t.Fatalf("create: %+v %v %v", tp, created, err)
		}
		five := 5
		if tp, created, err = c.PutTopic(ctx, "orders", herald.TopicSpec{Partitions: &five}); err != nil || created || tp.Partitions != 5 || tp.Retention != day {
			t.Fatalf("update: %+v %v %v", tp, created, err)
		}
		one := 1
		if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{Partitions: &one}); !errors.Is(err, herald.ErrTopicConflict) {
			t.Fatalf("shrinking partitions: %v, want ErrTopicConflict", err)
		}
		if _, _, err := c.PutTopic(ctx, "Orders", herald.TopicSpec{}); !errors.Is(err, herald.ErrTopicConflict) || !strings.Contains(err.Error(), `"orders"`) {
			t.Fatalf("a topic named orders in other case: %v, want ErrTopicConflict naming orders", err)
		}
		if _, err := c.Publish(ctx, "ORDERS", &herald.CloudEvent{ID: "1", Source: "/shop", Type: "order.placed", SpecVersion: "1.0"}); !errors.Is(err, herald.ErrTopicConflict) {
			t.Fatalf("a publish creating ORDERS beside orders: %v, want ErrTopicConflict", err)
		}
		if got, err := c.Topic(ctx, "orders"); err != nil || got.Partitions != 5 || got.CreatedAt.IsZero() {
			t.Fatalf("get: %+v %v", got, err)
		}
		if all, err := c.Topics(ctx); err != nil || len(all) != 1 || all[0].Name != "orders" {
			t.Fatalf("list: %+v %v", all, err)
		}
		if err := c.DeleteTopic(ctx, "orders"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Topic(ctx, "orders"); !errors.Is(err, herald.ErrTopicNotFound) {
			t.Fatalf("get after delete: %v, want ErrTopicNotFound", err)
		}
		if _, _, err := c.PutTopic(ctx, "__herald_x", herald.TopicSpec{}); err == nil {
			t.Fatal("a reserved topic name was accepted")
		}
	})
}

func TestClient_PublishReadRoundTripsEveryAttribute(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		e := &herald.CloudEvent{ID: "o-1", Source: "/shop", Type: "order.placed", SpecVersion: "1.0",
			Time: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), Subject: "orders/1", DataContentType: "application/json",
			DataSchema: "https://schemas.example/order/1", Data: []byte(`{"order":1}`), PartitionKey: "customer-9",
			TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", CorrelationID: "corr", CausationID: "cause",
			Extensions: map[string]string{"tenant": "acme"}}
		res, err := c.Publish(ctx, "orders", e)
		if err != nil || len(res) != 1 || res[0].ID != "o-1" || res[0].Duplicate {
			t.Fatalf("publish: %+v %v", res, err)
		}
		again, err := c.Publish(ctx, "orders", e)
		if err != nil || !again[0].Duplicate || again[0].Offset != res[0].Offset {
			t.Fatalf("republish: %+v %v, want the duplicate of %+v", again, err, res[0])
		}
		got, err := c.Read(ctx, "orders", res[0].Partition, res[0].Offset, 10)
		if err != nil || len(got) != 1 {
			t.Fatalf("read: %v %v", got, err)
		}
		g := got[0]
		if g.ID != e.ID || g.Source != e.Source || g.Type != e.Type || !g.Time.Equal(e.Time) || g.Subject != e.Subject ||
			g.DataContentType != e.DataContentType || g.DataSchema != e.DataSchema || string(g.Data) != string(e.Data) ||
			g.PartitionKey != e.PartitionKey || g.TraceParent != e.TraceParent || g.CorrelationID != e.CorrelationID ||
			g.CausationID != e.CausationID || g.Extensions["tenant"] != "acme" {
			t.Fatalf("read back %+v\nwant %+v", g, e)
		}
		if !g.Stored || g.Topic != "orders" || g.Offset != res[0].Offset || g.StoredAt.IsZero() {
			t.Fatalf("read back without its place: %+v", g)
		}
		if end, err := c.Read(ctx, "orders", 0, 1, 10); err != nil || len(end) != 0 {
			t.Fatalf("read at the end: %v %v, want nothing", end, err)
		}
		if _, err := c.Read(ctx, "orders", 0, 2, 10); !errors.Is(err, herald.ErrOffsetOutOfRange) {
			t.Fatalf("read past the end: %v, want ErrOffsetOutOfRange", err)
		}
	})
}

// An event's time keeps the offset it was given, read or delivered, as
// the stored RFC 3339 text keeps it.
func TestClient_AnEventTimeKeepsItsOffset(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		at := time.Date(2026, 11, 29, 10, 0, 0, 123, time.FixedZone("", 2*3600))
		e := &herald.CloudEvent{ID: "o-1", Source: "/shop", Type: "order.placed", SpecVersion: "1.0", Time: at}
		if _, err := c.Publish(ctx, "orders", e); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
			t.Fatal(err)
		}
		got, err := c.Read(ctx, "orders", 0, 0, 10)
		if err != nil || len(got) != 1 {
			t.Fatalf("read: %v %v", got, err)
		}
		ds, err := c.Pull(ctx, "orders", "billing", 10, 5*time.Second)
		if err != nil || len(ds) != 1 {
			t.Fatalf("pull: %v %v", ds, err)
		}
		for how, g := range map[string]time.Time{"read": got[0].Time, "delivered": ds[0].Event.Time} {
			if _, off := g.Zone(); !g.Equal(at) || off != 2*3600 {
				t.Errorf("%s time %v, want %v", how, g, at)
			}
		}
	})
}

func TestClient_ABadEventRefusesItsWholeBatch(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		good := herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))
		bad := herald.MustNewEvent("order.placed", []byte(`{}`))
		bad.Source = "" // breaks a CloudEvents rule
		if _, err := c.Publish(ctx, "orders", good, bad); !errors.Is(err, herald.ErrInvalidEvent) {
			t.Fatalf("publish: %v, want ErrInvalidEvent", err)
		}
		if _, err := c.Read(ctx, "orders", 0, 0, 10); !errors.Is(err, herald.ErrTopicNotFound) {
			t.Fatalf("the refused batch created or stored something: %v", err)
		}
	})
}

// An extension named for an attribute that has a field of its own
// (partitionkey, subject, …) breaks a rule: the event is refused with
// ErrInvalidEvent naming its index and id, and nothing is stored, also by
// a remote client, whose server would read the extension as the
// attribute.
func TestClient_AnExtensionNamedForAnAttributeIsRefused(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		good := herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))
		bad := herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"), herald.WithID("x-1"))
		bad.Extensions = map[string]string{"partitionkey": "k", "subject": "s"}
		res, err := c.Publish(ctx, "orders", good, bad)
		if !errors.Is(err, herald.ErrInvalidEvent) || !strings.Contains(err.Error(), `event 1 (id "x-1")`) {
			t.Fatalf("publish: %v, %v; want ErrInvalidEvent naming event 1 (id \"x-1\")", res, err)
		}
		if _, err := c.Read(ctx, "orders", 0, 0, 10); !errors.Is(err, herald.ErrTopicNotFound) {
			t.Fatalf("the refused batch created or stored something: %v", err)
		}
	})
}

// A nil event is bad input like any other: ErrInvalidEvent naming its
// index, and nothing of the batch is stored.
func TestClient_ANilEventIsRefused(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		good := herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))
		res, err := c.Publish(ctx, "orders", good, nil)
		if !errors.Is(err, herald.ErrInvalidEvent) || !strings.Contains(err.Error(), "event 1 is nil") {
			t.Fatalf("publish: %v, %v; want ErrInvalidEvent naming event 1", res, err)
		}
		if _, err := c.Read(ctx, "orders", 0, 0, 10); !errors.Is(err, herald.ErrTopicNotFound) {
			t.Fatalf("the refused batch created or stored something: %v", err)
		}
	})
}

// A publish whose ctx has ended already stores nothing and returns the
// ctx's error, every time.
func TestClient_PublishWithAnEndedContextStoresNothing(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		if _, _, err := c.PutTopic(context.Background(), "orders", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for i := range 50 {
			e := herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"), herald.WithID(fmt.Sprint("o-", i)))
			if res, err := c.Publish(ctx, "orders", e); !errors.Is(err, context.Canceled) {
				t.Fatalf("publish %d with an ended ctx: %v, %v; want context.Canceled", i, res, err)
			}
		}
		if got, err := c.Read(context.Background(), "orders", 0, 0, 10); err != nil || len(got) != 0 {
			t.Fatalf("read: %d events, %v; want none", len(got), err)
		}
	})
}

// A batch over 32 MiB of events as stored is ErrBatchTooLarge, embedded
// and remote, and nothing of it is stored.
func TestClient_ABatchOverTheSizeLimitIsErrBatchTooLarge(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		var events []*herald.CloudEvent
		for i := range 40 {
			events = append(events, herald.MustNewEvent("blob.stored", []byte(`"`+strings.Repeat("a", 1_000_000)+`"`),
				herald.WithSource("/blobs"), herald.WithID(fmt.Sprint("b-", i))))
		}
		if res, err := c.Publish(ctx, "blobs", events...); !errors.Is(err, herald.ErrBatchTooLarge) {
			t.Fatalf("publish of 40 MB: %v, %v; want ErrBatchTooLarge", res, err)
		}
		if _, err := c.Read(ctx, "blobs", 0, 0, 10); !errors.Is(err, herald.ErrTopicNotFound) {
			t.Fatalf("the refused batch created or stored something: %v", err)
		}
	})
}

// A publish after Close fails with ErrClientClosed, embedded and remote.
func TestClient_PublishAfterCloseIsErrClientClosed(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		e := herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))
		if _, err := c.Publish(ctx, "orders", e); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if res, err := c.Publish(ctx, "orders", e); !errors.Is(err, herald.ErrClientClosed) {
			t.Fatalf("publish after Close: %v, %v; want ErrClientClosed", res, err)
		}
	})
}

func TestClient_ReadWaitWakesOnPublish(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		got := make(chan []*herald.CloudEvent, 1)
		go func() {
			evs, _ := c.ReadWait(ctx, "orders", 0, 0, 10, 10*time.Second)
			got <- evs
		}()
		time.Sleep(20 * time.Millisecond) // let the read start waiting (it works either way)
		if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", nil, herald.WithSource("/shop"))); err != nil {
			t.Fatal(err)
		}
		select {
		case evs := <-got:
			if len(evs) != 1 {
				t.Fatalf("woke with %d events", len(evs))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the waiting read did not wake")
		}
	})
}

func TestClient_SubscriptionAdmin(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{}); !errors.Is(err, herald.ErrTopicNotFound) {
			t.Fatalf("subscribe to a missing topic: %v", err)
		}
		for i := 0; i < 3; i++ {
			if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", nil, herald.WithSource("/shop"))); err != nil {
				t.Fatal(err)
			}
		}
		cfg := herald.SubscriptionConfig{Start: "earliest", MaxAttempts: 3, AckTimeout: 10 * time.Second, Ordering: "partition",
			Backoff: herald.Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 3}}
		cfg.Filter.Types = []string{"order.*"}
		if created, err := c.PutSubscription(ctx, "orders", "billing", cfg); err != nil || !created {
			t.Fatalf("create: %v %v", created, err)
		}
		info, err := c.Subscription(ctx, "orders", "billing")
		if err != nil || info.Config.MaxAttempts != 3 || info.Config.AckTimeout != 10*time.Second || info.Config.Ordering != "partition" ||
			info.Config.Backoff.Multiplier != 3 || info.Config.Filter.Types[0] != "order.*" || info.Config.DeadLetterTopic != "orders.billing.dlq" {
			t.Fatalf("get: %+v %v", info, err)
		}
		if len(info.Partitions) != 1 || info.Partitions[0].Lag != 3 || info.Partitions[0].End != 3 {
			t.Fatalf("state: %+v", info.Partitions)
		}
		cfg.MaxAttempts = 7
		if created, err := c.PutSubscription(ctx, "orders", "billing", cfg); err != nil || created {
			t.Fatalf("update: %v %v", created, err)
		}
		if _, err := c.PutSubscription(ctx, "orders", "bad", herald.SubscriptionConfig{MaxAttempts: -1}); !errors.Is(err, herald.ErrInvalidSubscription) {
			t.Fatalf("a bad setting: %v, want ErrInvalidSubscription", err)
		}
		if info, err = c.Seek(ctx, "orders", "billing", herald.SeekPosition{Start: "latest"}); err != nil || info.Partitions[0].Lag != 0 {
			t.Fatalf("seek: %+v %v", info, err)
		}
		if all, err := c.Subscriptions(ctx, "orders"); err != nil || len(all) != 1 || all[0].Config.MaxAttempts != 7 {
			t.Fatalf("list: %+v %v", all, err)
		}
		if err := c.DeleteSubscription(ctx, "orders", "billing"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Subscription(ctx, "orders", "billing"); !errors.Is(err, herald.ErrSubscriptionNotFound) {
			t.Fatalf("get after delete: %v, want ErrSubscriptionNotFound", err)
		}
	})
}

func TestClient_PullAckNackRejectExtend(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest", Ordering: "none",
			Backoff: herald.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{"order":`+itoa(i)+`}`), herald.WithSource("/shop"))); err != nil {
				t.Fatal(err)
			}
		}
		ds, err := c.Pull(ctx, "orders", "billing", 10, time.Second)
		if err != nil || len(ds) != 3 || ds[0].Attempt != 1 || ds[0].AckID == "" || ds[0].Topic != "orders" || ds[0].Event.Offset != 0 {
			t.Fatalf("pull: %+v %v", ds, err)
		}
		if res, err := c.Extend(ctx, "orders", "billing", []string{ds[0].AckID}, time.Minute); err != nil || len(res.Acked) != 1 {
			t.Fatalf("extend: %+v %v", res, err)
		}
		if res, err := c.Ack(ctx, "orders", "billing", ds[0].AckID, "nonsense"); err != nil || len(res.Acked) != 1 || len(res.Unknown) != 1 {
			t.Fatalf("ack: %+v %v", res, err)
		}
		if res, err := c.Ack(ctx, "orders", "billing", ds[0].AckID); err != nil || len(res.Stale) != 1 {
			t.Fatalf("ack again: %+v %v, want stale", res, err)
		}
		if _, err := c.Nack(ctx, "orders", "billing", []string{ds[1].AckID}, 0, "busy"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Reject(ctx, "orders", "billing", []string{ds[2].AckID}, "no lines"); err != nil {
			t.Fatal(err)
		}
		again, err := c.Pull(ctx, "orders", "billing", 10, 5*time.Second)
		if err != nil || len(again) != 1 || again[0].Attempt != 2 || again[0].Event.Offset != 1 {
			t.Fatalf("after the nack: %+v %v, want offset 1 at attempt 2", again, err)
		}
		dead, err := c.Read(ctx, "orders.billing.dlq", 0, 0, 10)
		if err != nil || len(dead) != 1 || dead[0].Extensions["deadreason"] != "no lines" {
			t.Fatalf("dead letters: %+v %v", dead, err)
		}
		if _, err := c.Pull(ctx, "orders", "nobody", 1, 0); !errors.Is(err, herald.ErrSubscriptionNotFound) {
			t.Fatalf("pull a missing subscription: %v", err)
		}
	})
}

// A subscription call on a topic that does not exist says so, as the HTTP
// API does, rather than only that the subscription does not exist: a
// misspelt topic is found at once.
func TestClient_ASubscriptionOfATopicThatDoesNotExistIsErrTopicNotFound(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		calls := map[string]error{}
		_, calls["subscription"] = c.Subscription(ctx, "ordres", "billing")
		calls["delete"] = c.DeleteSubscription(ctx, "ordres", "billing")
		_, calls["pull"] = c.Pull(ctx, "ordres", "billing", 1, 0)
		_, calls["ack"] = c.Ack(ctx, "ordres", "billing", "x")
		_, calls["nack"] = c.Nack(ctx, "ordres", "billing", []string{"x"}, 0, "no")
		_, calls["extend"] = c.Extend(ctx, "ordres", "billing", []string{"x"}, time.Second)
		_, calls["seek"] = c.Seek(ctx, "ordres", "billing", herald.SeekPosition{Start: "latest"})
		for name, err := range calls {
			if !errors.Is(err, herald.ErrTopicNotFound) || errors.Is(err, herald.ErrSubscriptionNotFound) {
				t.Errorf("%s on a topic that does not exist: %v, want ErrTopicNotFound", name, err)
			}
		}
	})
}

func TestRouter_RunFailsAtOnceOnAMissingSubscription(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		r := herald.NewRouter(c, herald.RouterOptions{})
		r.HandleFunc("orders", "nobody", func(context.Context, *herald.Delivery) error { return nil })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Run(ctx); !errors.Is(err, herald.ErrSubscriptionNotFound) && !errors.Is(err, herald.ErrTopicNotFound) {
			t.Fatalf("Run: %v, want a not-found error", err)
		}
	})
}

// Publishing no events is refused, embedded and remote alike.
func TestClient_PublishOfNoEventsIsRefused(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		if res, err := c.Publish(context.Background(), "orders"); err == nil || !strings.Contains(err.Error(), "no events to publish") {
			t.Fatalf("publish of no events: %v, %v", res, err)
		}
	})
}

// With automatic creation off, a publish to a topic that does not exist
// fails with ErrTopicNotFound and creates nothing.
func TestClient_PublishWithoutAutoCreateIsTopicNotFound(t *testing.T) {
	c, err := herald.Open(t.TempDir(), herald.WithoutAutoCreate())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	_, err = c.Publish(ctx, "no-such-topic", herald.MustNewEvent("order.placed", []byte(`{}`)))
	if !errors.Is(err, herald.ErrTopicNotFound) {
		t.Fatalf("publish to a missing topic: %v, want ErrTopicNotFound", err)
	}
	if topics, err := c.Topics(ctx); err != nil || len(topics) != 0 {
		t.Fatalf("topics after the refused publish: %v, %v; want none", topics, err)
	}
}

// Offsets says where a partition starts and ends, embedded and remote;
// a topic, partition or name that cannot be is refused with its sentinel.
func TestClient_OffsetsAreWhereAPartitionStartsAndEnds(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		two := 2
		if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{Partitions: &two}); err != nil {
			t.Fatal(err)
		}
		if start, end, err := c.Offsets(ctx, "orders", 0); err != nil || start != 0 || end != 0 {
			t.Fatalf("offsets of an empty partition: %d, %d, %v; want 0, 0", start, end, err)
		}
		var res []herald.Result
		for i := range 3 {
			e := herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"), herald.WithKey("order-42"), herald.WithID(fmt.Sprint("o-", i)))
			r, err := c.Publish(ctx, "orders", e)
			if err != nil {
				t.Fatal(err)
			}
			res = append(res, r...)
		}
		p := res[0].Partition
		if start, end, err := c.Offsets(ctx, "orders", p); err != nil || start != 0 || end != 3 {
			t.Fatalf("offsets of partition %d after 3 events: %d, %d, %v; want 0, 3", p, start, end, err)
		}
		if start, end, err := c.Offsets(ctx, "orders", 1-p); err != nil || start != 0 || end != 0 {
			t.Fatalf("offsets of the other partition: %d, %d, %v; want 0, 0", start, end, err)
		}
		for _, tc := range []struct {
			topic     string
			partition int
			want      error
		}{
			{"audit", 0, herald.ErrTopicNotFound},
			{"orders", 2, herald.ErrPartitionNotFound},
			{"orders", -1, herald.ErrPartitionNotFound},
			{"orders", 1 << 32, herald.ErrPartitionNotFound},
			{"__herald_subscriptions", 0, herald.ErrInvalidTopicName},
			{"a/b", 0, herald.ErrTopicNotFound},
		} {
			if start, end, err := c.Offsets(ctx, tc.topic, tc.partition); !errors.Is(err, tc.want) {
				t.Errorf("offsets of %s partition %d: %d, %d, %v; want %v", tc.topic, tc.partition, start, end, err, tc.want)
			}
		}
	})
}

// Once retention has deleted a partition's oldest events, Offsets starts
// past them, embedded and remote: a read from 0 is out of range, a read
// from the start offset returns what is left.
func TestClient_OffsetsStartPastTheEventsRetentionDeleted(t *testing.T) {
	prepare := func(t *testing.T, dir string) {
		c, err := herald.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		one := 1
		if _, _, err := c.PutTopic(context.Background(), "orders", herald.TopicSpec{Partitions: &one}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := c.Publish(context.Background(), "orders", herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		testserver.AgeLog(t, dir, 8*24*time.Hour) // past the default retention of seven days
	}
	forEachClientOver(t, prepare, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if start, end, err := c.Offsets(ctx, "orders", 0); err != nil || start != 3 || end != 3 {
			t.Fatalf("offsets after retention deleted all 3 events: %d, %d, %v; want 3, 3", start, end, err)
		}
		e := herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))
		if _, err := c.Publish(ctx, "orders", e); err != nil {
			t.Fatal(err)
		}
		start, end, err := c.Offsets(ctx, "orders", 0)
		if err != nil || start != 3 || end != 4 {
			t.Fatalf("offsets after one more event: %d, %d, %v; want 3, 4", start, end, err)
		}
		if _, err := c.Read(ctx, "orders", 0, 0, 10); !errors.Is(err, herald.ErrOffsetOutOfRange) {
			t.Fatalf("read from 0: %v, want ErrOffsetOutOfRange", err)
		}
		if got, err := c.Read(ctx, "orders", 0, start, 10); err != nil || len(got) != 1 || got[0].ID != e.ID {
			t.Fatalf("read from the start offset: %v, %v; want %s alone", got, err, e.ID)
		}
	})
}
