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
