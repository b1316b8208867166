package herald_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/subscription"
	"github.com/heraldevents/herald/internal/testserver"
)

// Bad input to any method of a Client: refused with the same sentinel
// embedded and remote, and nothing changes.

// A backoff multiplier that is not a number is out of range like any
// other: ErrInvalidSubscription, and no subscription is made.
func TestClient_ANaNBackoffMultiplierIsErrInvalidSubscription(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		cfg := herald.SubscriptionConfig{Backoff: herald.Backoff{Multiplier: math.NaN()}}
		if _, err := c.PutSubscription(ctx, "orders", "billing", cfg); !errors.Is(err, herald.ErrInvalidSubscription) {
			t.Fatalf("a NaN multiplier: %v, want ErrInvalidSubscription", err)
		}
		if _, err := c.Subscription(ctx, "orders", "billing"); !errors.Is(err, herald.ErrSubscriptionNotFound) {
			t.Fatalf("the refused subscription was made: %v", err)
		}
	})
}

// A subscription setting naming a topic or partition that cannot be is an
// invalid subscription setting, remote too, where the server's error also
// names the topic's rule.
func TestClient_ASettingNamingABadTopicOrPartitionIsErrInvalidSubscription(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		for _, dlq := range []string{"__dead", ".dead", "a b"} {
			_, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{DeadLetterTopic: dlq})
			if !errors.Is(err, herald.ErrInvalidSubscription) {
				t.Errorf("deadLetterTopic %q: %v, want ErrInvalidSubscription", dlq, err)
			}
		}
		if _, err := c.Subscription(ctx, "orders", "billing"); !errors.Is(err, herald.ErrSubscriptionNotFound) {
			t.Fatalf("a refused subscription was made: %v", err)
		}
		if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Seek(ctx, "orders", "billing", herald.SeekPosition{Offsets: map[int]int64{5: 0}})
		if !errors.Is(err, herald.ErrInvalidSubscription) {
			t.Fatalf("seek to a partition the topic lacks: %v, want ErrInvalidSubscription", err)
		}
	})
}

// A number too large for the wire's 32 bits is refused as out of range,
// remote too, rather than sent cut down to another value that may be
// valid (partition 1<<32 was partition 0).
func TestClient_ANumberBeyond32BitsIsOutOfRangeNotCutDown(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))); err != nil {
			t.Fatal(err)
		}
		if evs, err := c.Read(ctx, "orders", 1<<32, 0, 10); err == nil {
			t.Errorf("read of partition 1<<32: %d events, want an unknown partition", len(evs))
		}
		n := 1<<32 + 3
		if tp, _, err := c.PutTopic(ctx, "audit", herald.TopicSpec{Partitions: &n}); !errors.Is(err, herald.ErrInvalidTopicSetting) {
			t.Errorf("a topic of 1<<32+3 partitions: %+v, %v; want ErrInvalidTopicSetting", tp, err)
		}
		if _, err := c.Topic(ctx, "audit"); !errors.Is(err, herald.ErrTopicNotFound) {
			t.Errorf("the refused topic was made: %v", err)
		}
		cfg := herald.SubscriptionConfig{Start: "earliest", MaxAttempts: 1<<32 + 5}
		if _, err := c.PutSubscription(ctx, "orders", "billing", cfg); !errors.Is(err, herald.ErrInvalidSubscription) {
			t.Errorf("maxAttempts 1<<32+5: %v, want ErrInvalidSubscription", err)
		}
		if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Seek(ctx, "orders", "billing", herald.SeekPosition{Offsets: map[int]int64{1 << 32: 1}})
		if !errors.Is(err, herald.ErrInvalidSubscription) {
			t.Errorf("seek of partition 1<<32: %v, want ErrInvalidSubscription", err)
		}
		if info, err := c.Subscription(ctx, "orders", "billing"); err != nil || info.Partitions[0].Committed != 0 {
			t.Errorf("after the refused seek: %+v, %v; want partition 0 still at 0", info.Partitions, err)
		}
	})
}

// The limits of reads and of the delivery calls are the same embedded and
// remote (the servers' limits): a limit, max, wait, delay or number of
// ack ids out of range is refused with the same sentinel, and nothing is
// read, leased or settled. A limit or max of 0 takes one.
func TestClient_ReadAndDeliveryLimitsAreTheSameEmbeddedAndRemote(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest", Ordering: herald.OrderNone}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			e := herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"), herald.WithID(fmt.Sprint("o-", i)))
			if _, err := c.Publish(ctx, "orders", e); err != nil {
				t.Fatal(err)
			}
		}
		for _, limit := range []int{-1, 10001} {
			if evs, err := c.Read(ctx, "orders", 0, 0, limit); !errors.Is(err, herald.ErrInvalidTopicSetting) {
				t.Errorf("read limit %d: %d events, %v; want ErrInvalidTopicSetting", limit, len(evs), err)
			}
		}
		if evs, err := c.ReadWait(ctx, "orders", 0, 3, 10, 31*time.Second); !errors.Is(err, herald.ErrInvalidTopicSetting) {
			t.Errorf("read wait 31s: %d events, %v; want ErrInvalidTopicSetting", len(evs), err)
		}
		if evs, err := c.Read(ctx, "orders", 0, 0, 0); err != nil || len(evs) != 1 {
			t.Errorf("read limit 0: %d events, %v; want 1", len(evs), err)
		}
		for _, max := range []int{-1, 1001} {
			if ds, err := c.Pull(ctx, "orders", "billing", max, 0); !errors.Is(err, herald.ErrInvalidSubscription) {
				t.Errorf("pull max %d: %d deliveries, %v; want ErrInvalidSubscription", max, len(ds), err)
			}
		}
		if ds, err := c.Pull(ctx, "orders", "billing", 1, 31*time.Second); !errors.Is(err, herald.ErrInvalidSubscription) {
			t.Errorf("pull wait 31s: %d deliveries, %v; want ErrInvalidSubscription", len(ds), err)
		}
		if info, err := c.Subscription(ctx, "orders", "billing"); err != nil || info.Partitions[0].InFlight != 0 {
			t.Fatalf("after the refused pulls: %+v, %v; want nothing in flight", info.Partitions, err)
		}
		ds, err := c.Pull(ctx, "orders", "billing", 0, time.Second)
		if err != nil || len(ds) != 1 {
			t.Fatalf("pull max 0: %d deliveries, %v; want 1", len(ds), err)
		}
		id := ds[0].AckID
		many := make([]string, 10001)
		for i := range many {
			many[i] = id
		}
		if res, err := c.Ack(ctx, "orders", "billing", many...); !errors.Is(err, herald.ErrInvalidSubscription) {
			t.Errorf("ack of 10001 ids: %+v, %v; want ErrInvalidSubscription", len(res.Acked), err)
		}
		if res, err := c.Nack(ctx, "orders", "billing", []string{id}, 13*time.Hour, ""); !errors.Is(err, herald.ErrInvalidSubscription) {
			t.Errorf("nack for 13h: %+v, %v; want ErrInvalidSubscription", res, err)
		}
		if res, err := c.Extend(ctx, "orders", "billing", []string{id}, 13*time.Hour); !errors.Is(err, herald.ErrInvalidSubscription) {
			t.Errorf("extend by 13h: %+v, %v; want ErrInvalidSubscription", res, err)
		}
		if res, err := c.Ack(ctx, "orders", "billing", id); err != nil || len(res.Acked) != 1 {
			t.Errorf("ack after the refused settlements: %+v, %v; want it acked", res, err)
		}
	})
}

// Text that is not UTF-8 cannot go in a request (protobuf strings are
// UTF-8), and no topic, subscription or ack id is such text: a remote
// client answers for it as the embedded engine does, with the same
// sentinel, not with an internal marshalling error, and nothing changes.
func TestClient_NamesAndIDsThatAreNotUTF8AreAnsweredAsEmbedded(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		const bad = "\xff\xfe"
		if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
			t.Fatal(err)
		}
		want := func(what string, err, sentinel error) {
			t.Helper()
			if !errors.Is(err, sentinel) {
				t.Errorf("%s: %v, want %v", what, err, sentinel)
			}
		}
		wantRefused := func(what string, err error) {
			t.Helper()
			if err == nil || strings.Contains(err.Error(), "internal") {
				t.Errorf("%s: %v, want a clear refusal", what, err)
			}
		}
		_, _, err := c.PutTopic(ctx, bad, herald.TopicSpec{})
		wantRefused("put topic", err)
		policy := herald.SchemaPolicy(bad)
		_, _, err = c.PutTopic(ctx, "orders", herald.TopicSpec{SchemaPolicy: &policy})
		want("put topic schema policy", err, herald.ErrInvalidTopicSetting)
		_, err = c.Publish(ctx, bad, herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop")))
		wantRefused("publish", err)
		_, err = c.Topic(ctx, bad)
		want("topic", err, herald.ErrTopicNotFound)
		want("delete topic", c.DeleteTopic(ctx, bad), herald.ErrTopicNotFound)
		_, err = c.Read(ctx, bad, 0, 0, 10)
		want("read", err, herald.ErrTopicNotFound)
		_, _, err = c.Offsets(ctx, bad, 0)
		want("offsets", err, herald.ErrTopicNotFound)
		_, err = c.Subscriptions(ctx, bad)
		want("subscriptions", err, herald.ErrTopicNotFound)
		_, err = c.PutSubscription(ctx, bad, "billing", herald.SubscriptionConfig{})
		want("put subscription on topic", err, herald.ErrTopicNotFound)
		_, err = c.PutSubscription(ctx, "orders", bad, herald.SubscriptionConfig{})
		wantRefused("put subscription", err)
		for i, cfg := range []herald.SubscriptionConfig{{Start: bad}, {Ordering: bad}, {DeadLetterTopic: bad},
			{Filter: herald.Filter{Types: []string{"order.*", bad}}}, {Filter: herald.Filter{Sources: []string{bad}}}, {Filter: herald.Filter{SubjectPrefix: bad}}} {
			_, err = c.PutSubscription(ctx, "orders", "s"+fmt.Sprint(i), cfg)
			want(fmt.Sprintf("put subscription %+v", cfg), err, herald.ErrInvalidSubscription)
		}
		for _, tc := range []struct {
			topic, name string
			err         error
		}{{bad, "billing", herald.ErrTopicNotFound}, {"orders", bad, herald.ErrSubscriptionNotFound}} {
			_, err = c.Subscription(ctx, tc.topic, tc.name)
			want("subscription", err, tc.err)
			want("delete subscription", c.DeleteSubscription(ctx, tc.topic, tc.name), tc.err)
			_, err = c.Seek(ctx, tc.topic, tc.name, herald.SeekPosition{Start: "latest"})
			want("seek", err, tc.err)
			_, err = c.Pull(ctx, tc.topic, tc.name, 1, 0)
			want("pull", err, tc.err)
			_, err = c.Ack(ctx, tc.topic, tc.name, "x")
			want("ack", err, tc.err)
		}
		_, err = c.Seek(ctx, "orders", "billing", herald.SeekPosition{Start: bad})
		want("seek to a start that is not UTF-8", err, herald.ErrInvalidSubscription)
		ds, err := c.Pull(ctx, "orders", "billing", 1, 5*time.Second)
		if err != nil || len(ds) != 1 {
			t.Fatalf("pull: %v, %v", ds, err)
		}
		res, err := c.Ack(ctx, "orders", "billing", "", bad, ds[0].AckID, "x"+bad)
		if err != nil || len(res.Acked) != 1 || res.Acked[0] != ds[0].AckID || !slices.Equal(res.Unknown, []string{"", bad, "x" + bad}) {
			t.Errorf("ack: %+v, %v; want %s acked and the others unknown, in order", res, err, ds[0].AckID)
		}
		if subs, err := c.Subscriptions(ctx, "orders"); err != nil || len(subs) != 1 {
			t.Errorf("subscriptions after the refused puts: %d, %v; want billing alone", len(subs), err)
		}
		if topics, err := c.Topics(ctx); err != nil || len(topics) != 2 {
			t.Errorf("topics after the refused calls: %v, %v; want orders and its dead letters", topics, err)
		}
	})
}

// After Close every call fails with ErrClientClosed, embedded and remote
// alike (a remote client dialled the server again and went on, an
// embedded one failed with its storage's error or answered from memory).
func TestClient_EveryCallAfterCloseIsErrClientClosed(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
			t.Fatal(err)
		}
		ds, err := c.Pull(ctx, "orders", "billing", 1, 5*time.Second)
		if err != nil || len(ds) != 1 {
			t.Fatalf("pull: %v, %v", ds, err)
		}
		id := ds[0].AckID
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		calls := everyCall(ctx, c, id)
		for name, call := range calls {
			if err := call(); !errors.Is(err, herald.ErrClientClosed) {
				t.Errorf("%s after Close: %v, want ErrClientClosed", name, err)
			}
		}
		// With its ctx ended too, a call after Close says first that the
		// client is closed (a remote Publish said context.Canceled).
		ended, cancel := context.WithCancel(ctx)
		cancel()
		for name, call := range everyCall(ended, c, id) {
			if err := call(); !errors.Is(err, herald.ErrClientClosed) {
				t.Errorf("%s after Close with an ended ctx: %v, want ErrClientClosed", name, err)
			}
		}
	})
}

// A call whose ctx has ended changes nothing and returns the ctx's error,
// embedded as remote (embedded, it went on and created, deleted, acked).
func TestClient_ACallWithAnEndedContextChangesNothing(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		bg := context.Background()
		if _, err := c.Publish(bg, "orders", herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutSubscription(bg, "orders", "billing", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
			t.Fatal(err)
		}
		ds, err := c.Pull(bg, "orders", "billing", 1, 5*time.Second)
		if err != nil || len(ds) != 1 {
			t.Fatalf("pull: %v, %v", ds, err)
		}
		ctx, cancel := context.WithCancel(bg)
		cancel()
		calls := everyCall(ctx, c, ds[0].AckID)
		for name, call := range calls {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with an ended ctx: %v, want context.Canceled", name, err)
			}
		}
		if topics, err := c.Topics(bg); err != nil || len(topics) != 2 {
			t.Errorf("topics: %v, %v; want orders and its dead letters alone", topics, err)
		}
		if subs, err := c.Subscriptions(bg, "orders"); err != nil || len(subs) != 1 || subs[0].Partitions[0].InFlight != 1 {
			t.Errorf("subscriptions: %+v, %v; want billing alone, its delivery in flight", subs, err)
		}
	})
}

// Names no topic or subscription can have, and partitions a topic does
// not have, match their sentinels, embedded and remote.
func TestClient_NamesAndPartitionsThatCannotBeMatchTheirSentinels(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"a/b", "__herald"} {
			if _, _, err := c.PutTopic(ctx, name, herald.TopicSpec{}); !errors.Is(err, herald.ErrInvalidTopicName) {
				t.Errorf("PutTopic %q: %v, want ErrInvalidTopicName", name, err)
			}
			if _, err := c.Publish(ctx, name, herald.MustNewEvent("order.placed", nil)); !errors.Is(err, herald.ErrInvalidTopicName) {
				t.Errorf("Publish to %q: %v, want ErrInvalidTopicName", name, err)
			}
		}
		if _, err := c.PutSubscription(ctx, "orders", "bad/name", herald.SubscriptionConfig{}); !errors.Is(err, herald.ErrInvalidSubscriptionName) {
			t.Errorf("PutSubscription bad/name: %v, want ErrInvalidSubscriptionName", err)
		}
		if _, err := c.Read(ctx, "orders", 7, 0, 10); !errors.Is(err, herald.ErrPartitionNotFound) {
			t.Errorf("Read of partition 7: %v, want ErrPartitionNotFound", err)
		}
	})
}

// everyCall is a call of each method of a Client that takes a ctx, on
// topic orders and its subscription billing; ackID is a delivery of it.
func everyCall(ctx context.Context, c *herald.Client, ackID string) map[string]func() error {
	return map[string]func() error{
		"PutTopic":    func() error { _, _, err := c.PutTopic(ctx, "audit", herald.TopicSpec{}); return err },
		"Topic":       func() error { _, err := c.Topic(ctx, "orders"); return err },
		"Topics":      func() error { _, err := c.Topics(ctx); return err },
		"DeleteTopic": func() error { return c.DeleteTopic(ctx, "orders") },
		"Read":        func() error { _, err := c.Read(ctx, "orders", 0, 0, 10); return err },
		"ReadWait":    func() error { _, err := c.ReadWait(ctx, "orders", 0, 1, 10, time.Second); return err },
		"Offsets":     func() error { _, _, err := c.Offsets(ctx, "orders", 0); return err },
		"PutSubscription": func() error {
			_, err := c.PutSubscription(ctx, "orders", "audit", herald.SubscriptionConfig{})
			return err
		},
		"Subscription":  func() error { _, err := c.Subscription(ctx, "orders", "billing"); return err },
		"Subscriptions": func() error { _, err := c.Subscriptions(ctx, "orders"); return err },
		"Seek": func() error {
			_, err := c.Seek(ctx, "orders", "billing", herald.SeekPosition{Start: "latest"})
			return err
		},
		"DeleteSubscription": func() error { return c.DeleteSubscription(ctx, "orders", "billing") },
		"Pull":               func() error { _, err := c.Pull(ctx, "orders", "billing", 1, 0); return err },
		"Ack":                func() error { _, err := c.Ack(ctx, "orders", "billing", ackID); return err },
		"Nack":               func() error { _, err := c.Nack(ctx, "orders", "billing", []string{ackID}, 0, ""); return err },
		"Reject":             func() error { _, err := c.Reject(ctx, "orders", "billing", []string{ackID}, ""); return err },
		"Release":            func() error { _, err := c.Release(ctx, "orders", "billing", ackID); return err },
		"Extend":             func() error { _, err := c.Extend(ctx, "orders", "billing", []string{ackID}, 0); return err },
		"RegisterSchema":     func() error { _, err := c.RegisterSchema(ctx, "order.placed", []byte(`{}`)); return err },
		"Publish": func() error {
			_, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop")))
			return err
		},
	}
}

// A nil publish middleware, or one that makes a nil PublishFunc, is
// refused by Open and Connect with an error, holding nothing: it
// panicked, embedded with the data directory left locked until the
// process ended (or, made nil, at every Publish).
func TestClient_ANilPublishMiddlewareIsRefused(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // last: after the server stops
	ts := testserver.Start(t, t.TempDir())
	for name, mw := range map[string]herald.PublishMiddleware{
		"nil":        nil,
		"making nil": func(herald.PublishFunc) herald.PublishFunc { return nil },
	} {
		opt := herald.WithPublishMiddleware(func(next herald.PublishFunc) herald.PublishFunc { return next }, mw)
		t.Run(name+"/embedded", func(t *testing.T) {
			dir := t.TempDir()
			err := refusal(func() error { _, err := herald.Open(dir, opt); return err })
			if err == nil || !strings.Contains(err.Error(), "publish middleware 2") {
				t.Fatalf("Open: %v, want an error naming publish middleware 2", err)
			}
			c, err := herald.Open(dir)
			if err != nil {
				t.Fatalf("Open after the refused one: %v", err)
			}
			c.Close()
		})
		t.Run(name+"/remote", func(t *testing.T) {
			err := refusal(func() error { _, err := herald.Connect(context.Background(), ts.Addr, opt); return err })
			if err == nil || !strings.Contains(err.Error(), "publish middleware 2") {
				t.Fatalf("Connect: %v, want an error naming publish middleware 2", err)
			}
		})
	}
}

// refusal runs open, turning a panic into an error saying so.
func refusal(open func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panicked: %v", p)
		}
	}()
	return open()
}

// Calls waiting when the client is closed end at once with
// ErrClientClosed, embedded and remote alike (embedded, they failed with
// the storage's own error; remote, they waited on for their whole wait,
// holding the connection Close was to release).
func TestClient_CallsWaitingAtCloseEndWithErrClientClosed(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{}); err != nil {
			t.Fatal(err)
		}
		waits := map[string]func() error{
			"Pull":     func() error { _, err := c.Pull(ctx, "orders", "billing", 1, 20*time.Second); return err },
			"ReadWait": func() error { _, err := c.ReadWait(ctx, "orders", 0, 0, 1, 20*time.Second); return err },
		}
		done := make(chan error, len(waits))
		for name, wait := range waits {
			go func() { done <- fmt.Errorf("%s: %w", name, wait()) }()
		}
		time.Sleep(300 * time.Millisecond) // let them wait (they must end either way)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		for range waits {
			select {
			case err := <-done:
				if !errors.Is(err, herald.ErrClientClosed) {
					t.Errorf("%v, want ErrClientClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a call waiting at Close still waits 5s later")
			}
		}
	})
}

// Push settings, which neither client sets (embedded, nothing would push;
// remote, they go over the HTTP API), are refused as a setting is:
// ErrInvalidSubscription, and no subscription is made (remote, it was an
// error no sentinel matched).
func TestClient_PushSettingsAreErrInvalidSubscription(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		ctx := context.Background()
		if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		cfg := herald.SubscriptionConfig{Push: &subscription.PushSettings{URL: "https://example.com/hook"}}
		if _, err := c.PutSubscription(ctx, "orders", "billing", cfg); !errors.Is(err, herald.ErrInvalidSubscription) {
			t.Fatalf("PutSubscription with push settings: %v, want ErrInvalidSubscription", err)
		}
		if subs, err := c.Subscriptions(ctx, "orders"); err != nil || len(subs) != 0 {
			t.Fatalf("subscriptions after the refused put: %v, %v; want none", subs, err)
		}
	})
}

// A Pull or ReadWait whose ctx is cancelled while it waits returns the
// ctx's error, embedded as remote (embedded, it answered nothing came,
// with no error).
func TestClient_AWaitCutShortByItsContextIsItsError(t *testing.T) {
	forEachClient(t, func(t *testing.T, c *herald.Client) {
		bg := context.Background()
		if _, _, err := c.PutTopic(bg, "orders", herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutSubscription(bg, "orders", "billing", herald.SubscriptionConfig{}); err != nil {
			t.Fatal(err)
		}
		waits := map[string]func(ctx context.Context) error{
			"Pull": func(ctx context.Context) error {
				_, err := c.Pull(ctx, "orders", "billing", 1, 20*time.Second)
				return err
			},
			"ReadWait": func(ctx context.Context) error {
				_, err := c.ReadWait(ctx, "orders", 0, 0, 1, 20*time.Second)
				return err
			},
		}
		for name, wait := range waits {
			ctx, cancel := context.WithCancel(bg)
			time.AfterFunc(200*time.Millisecond, cancel)
			if err := wait(ctx); !errors.Is(err, context.Canceled) {
				t.Errorf("%s cancelled while it waits: %v, want context.Canceled", name, err)
			}
		}
	})
}
