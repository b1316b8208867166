package push

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldevents/herald/internal/subscription"
)

func TestSupervisor_PushesForSubscriptionsWithPushSettingsAndStopsWithThem(t *testing.T) {
	v := newEnv(t)
	rc := newReceiver(t, ok)
	v.topic("orders", 1)
	v.sub("orders", "webhook", subscription.Config{Start: "earliest",
		Push: &subscription.PushSettings{URL: rc.srv.URL, Secret: "s3cret", MaxInFlight: 4}})
	v.sub("orders", "pulled", subscription.Config{Start: "earliest"})
	sup := Supervise(v.m, 20*time.Millisecond, Options{})
	defer sup.Stop(context.Background())
	v.publish("orders", "a", "b", "c")
	eventually(t, "the webhook subscription to push all three", func() bool { return v.committed("orders", "webhook") == 3 })
	if got := v.committed("orders", "pulled"); got != 0 {
		t.Fatalf("a subscription without push settings was pushed: committed %d", got)
	}
	for _, r := range rc.requests() {
		if err := Verify("s3cret", r.header.Get(SignatureHeader), r.body, time.Minute, time.Now()); err != nil {
			t.Fatalf("signature: %v", err)
		}
	}
	if err := v.m.Delete(v.ctx, "orders", "webhook"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pusher of the deleted subscription to stop", func() bool {
		sup.mu.Lock()
		defer sup.mu.Unlock()
		return len(sup.running) == 0
	})
}

func TestPushSettings_AreCheckedWhenTheSubscriptionIsSet(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	for _, bad := range []subscription.PushSettings{{URL: ""}, {URL: "ftp://x"}, {URL: "http://x", MaxInFlight: 5000}} {
		_, _, err := v.m.Put(v.ctx, "orders", "s", subscription.Config{Push: &bad})
		if !errors.Is(err, subscription.ErrInvalidConfig) {
			t.Errorf("push %+v: %v", bad, err)
		}
	}
}

func TestSupervisor_StopTwiceIsHarmless(t *testing.T) {
	v := newEnv(t)
	sup := Supervise(v.m, 20*time.Millisecond, Options{})
	if err := sup.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sup.Stop(context.Background()); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}
