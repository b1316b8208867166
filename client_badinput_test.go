package herald_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/heraldevents/herald"
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
