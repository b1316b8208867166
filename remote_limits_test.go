package herald_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/testserver"
)

// A remote client's calls that wait count against the server's
// --max-waiting: past it a long poll fails at once, saying to retry; a
// router, whose routes each hold a Subscribe stream, keeps reopening its
// stream and delivers once a place frees.
func TestRemote_WaitsPastTheWaitingLimitAreRefusedAndARouterGetsInOnceAPlaceFrees(t *testing.T) {
	ts := testserver.StartWith(t, t.TempDir(), testserver.Options{MaxWaiting: 1})
	c := ts.Connect(t)
	ctx := context.Background()
	for _, topic := range []string{"orders", "held"} {
		if _, _, err := c.PutTopic(ctx, topic, herald.TopicSpec{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutSubscription(ctx, topic, "s", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
			t.Fatal(err)
		}
	}
	pctx, stopPoll := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopPoll()
	wg.Go(func() { // holds the one place (taking it again should a probe have had it)
		for pctx.Err() == nil {
			if _, err := c.Pull(pctx, "held", "s", 1, 30*time.Second); err != nil {
				time.Sleep(10 * time.Millisecond)
			}
		}
	})
	var refused error
	waitFor(t, 10*time.Second, "a long poll refused past the limit", func() bool {
		_, refused = c.Pull(ctx, "held", "s", 1, 100*time.Millisecond)
		return refused != nil
	})
	if !errors.Is(refused, herald.ErrUnavailable) || connect.CodeOf(refused) != connect.CodeResourceExhausted || !strings.Contains(refused.Error(), "retry in a moment") {
		t.Fatalf("a long poll past the limit: %v, want ErrUnavailable (resource exhausted) saying to retry", refused)
	}

	handled := make(chan string, 1)
	r := herald.NewRouter(c, herald.RouterOptions{})
	herald.Handle(r, "orders", "s", func(ctx context.Context, e herald.Event[string]) error {
		handled <- e.CloudEvent.ID
		return nil
	})
	rctx, stopRouter := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- r.Run(rctx) }()
	if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", "one", herald.WithID("one"))); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-handled:
		t.Fatalf("%s handled while the server had no place for the router's stream", id)
	case <-time.After(300 * time.Millisecond):
	}
	stopPoll()
	select {
	case <-handled:
	case <-time.After(15 * time.Second):
		t.Fatal("the router did not deliver once a place was free")
	}
	stopRouter()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// A remote client refused by the server's topic or subscription limit
// gets the error of that limit, and only that one.
func TestRemote_ALimitReachedIsItsOwnError(t *testing.T) {
	ts := testserver.StartWith(t, t.TempDir(), testserver.Options{MaxTopics: 3, MaxSubscriptions: 1})
	c := ts.Connect(t)
	ctx := context.Background()
	if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSubscription(ctx, "orders", "one", herald.SubscriptionConfig{}); err != nil { // and its dead-letter topic
		t.Fatal(err)
	}
	_, err := c.PutSubscription(ctx, "orders", "two", herald.SubscriptionConfig{})
	if !errors.Is(err, herald.ErrTooManySubscriptions) || errors.Is(err, herald.ErrTooManyTopics) {
		t.Errorf("a subscription past the limit: %v, want ErrTooManySubscriptions only", err)
	}
	if _, _, err := c.PutTopic(ctx, "payments", herald.TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.PutTopic(ctx, "refunds", herald.TopicSpec{})
	if !errors.Is(err, herald.ErrTooManyTopics) || errors.Is(err, herald.ErrTooManySubscriptions) {
		t.Errorf("a topic past the limit: %v, want ErrTooManyTopics only", err)
	}
	_, err = c.Publish(ctx, "refunds", herald.MustNewEvent("refund.made", "r1"))
	if !errors.Is(err, herald.ErrTooManyTopics) {
		t.Errorf("a publish creating a topic past the limit: %v, want ErrTooManyTopics", err)
	}
}
