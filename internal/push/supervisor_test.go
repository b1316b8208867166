package push

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

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

// Stop's context may end while the supervisor is stopping a pusher whose
// settings changed: that pusher aborts its request (a nack), and when Stop
// returns no pusher runs and no lease is left held.
func TestSupervisor_StopWhoseContextEndsStopsThePusherBeingRestarted(t *testing.T) {
	v := newEnv(t)
	var arrived atomic.Int64
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ []byte, _ int) {
		arrived.Add(1)
		<-r.Context().Done() // never answers
	})
	v.topic("orders", 1)
	push := subscription.PushSettings{URL: rc.srv.URL, Timeout: time.Minute}
	v.sub("orders", "webhook", subscription.Config{MaxAttempts: 1, Push: &push})
	sup := Supervise(v.m, 20*time.Millisecond, Options{})
	v.publish("orders", "a")
	eventually(t, "a request in flight", func() bool { return arrived.Load() == 1 })
	changed := push
	changed.MaxInFlight = 2
	v.sub("orders", "webhook", subscription.Config{MaxAttempts: 1, Push: &changed})
	time.Sleep(200 * time.Millisecond) // the supervisor is stopping the pusher: it waits for the request
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := sup.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop: %v, want the context's error", err)
	}
	dead := v.deadLetters("orders.webhook.dlq")
	if len(dead) != 1 || dead[0].Extensions[subscription.ExtReason] != "push: stopped before the receiver replied" {
		t.Fatalf("after Stop the request still runs: dead letters %v", dead)
	}
	rc.srv.Close()
	v.close()
	goleak.VerifyNone(t)
}

// heldRequests is a receiver that holds every request until release closes.
type heldRequests struct {
	rc      *receiver
	arrived atomic.Int64
	release chan struct{}
}

// twoHeldPushers supervises push subscriptions "one" and "two" of topic
// orders to a receiver that holds their requests, and returns once each
// has one request in flight.
func twoHeldPushers(t *testing.T) (*env, *heldRequests, *Supervisor) {
	v := newEnv(t)
	h := &heldRequests{release: make(chan struct{})}
	h.rc = newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
		h.arrived.Add(1)
		<-h.release
		w.WriteHeader(http.StatusOK)
	})
	v.topic("orders", 1)
	for _, name := range []string{"one", "two"} {
		v.sub("orders", name, subscription.Config{Ordering: subscription.OrderNone,
			Push: &subscription.PushSettings{URL: h.rc.srv.URL}})
	}
	sup := Supervise(v.m, 20*time.Millisecond, Options{})
	v.publish("orders", "a")
	eventually(t, "a request of each subscription in flight", func() bool { return h.arrived.Load() == 2 })
	return v, h, sup
}

// Stop stops every pusher pulling before it waits for the requests of any:
// a pusher still running while Stop waits for another's requests would
// start new requests that the shutdown then aborts (each a nack that counts
// an attempt).
func TestSupervisor_StopStartsNoRequestWhileWaitingForOthers(t *testing.T) {
	v, h, sup := twoHeldPushers(t)
	arrived, release := &h.arrived, h.release
	stopped := make(chan error, 1)
	go func() { stopped <- sup.Stop(context.Background()) }()
	time.Sleep(100 * time.Millisecond) // Stop waits for a pusher's request
	v.publish("orders", "b")
	time.Sleep(300 * time.Millisecond)
	if n := arrived.Load(); n != 2 {
		t.Errorf("%d requests, want 2: a request started after Stop began", n)
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"one", "two"} {
		if got := v.committed("orders", name); got != 1 {
			t.Errorf("%s: committed %d after Stop, want 1", name, got)
		}
	}
}

// Pushers whose settings changed together are all stopped pulling before
// the supervisor waits for the requests of any: the old settings push
// nothing more while it waits.
func TestSupervisor_PushersChangedTogetherStopPullingTogether(t *testing.T) {
	v, h, sup := twoHeldPushers(t)
	defer sup.Stop(context.Background())
	arrived, release, rc := &h.arrived, h.release, h.rc
	names := []string{"one", "two"}
	for _, name := range names {
		v.sub("orders", name, subscription.Config{Ordering: subscription.OrderNone,
			Push: &subscription.PushSettings{URL: rc.srv.URL, MaxInFlight: 2}})
	}
	time.Sleep(200 * time.Millisecond) // the supervisor waits for a pusher's request
	v.publish("orders", "b")
	time.Sleep(300 * time.Millisecond)
	if n := arrived.Load(); n != 2 {
		t.Errorf("%d requests, want 2: a pusher with the old settings started one after the change", n)
	}
	close(release)
	for _, name := range names {
		eventually(t, name+" to push both events", func() bool { return v.committed("orders", name) == 2 })
	}
}
