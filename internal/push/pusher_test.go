package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/subscription"
)

func TestPusher_DeliversInBinaryModeAndAcks(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 2)
	v.sub("orders", "hook", subscription.Config{})
	rc := newReceiver(t, ok)
	v.start("orders", "hook", Config{URL: rc.srv.URL + "/events"}, Options{})
	v.publish("orders", "a", "b", "c")
	eventually(t, "3 acks", func() bool { return v.committed("orders", "hook") == 3 })
	reqs := rc.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		e, err := event.FromHTTP(r.header, r.body)
		if err != nil {
			t.Fatal(err)
		}
		var p payload
		if err := json.Unmarshal(e.Data, &p); err != nil || p.Key != e.PartitionKey {
			t.Errorf("data %s for key %s (%v)", e.Data, e.PartitionKey, err)
		}
		if e.Type != "test.event" || e.Source != "/test" || !strings.HasPrefix(e.ID, "ev-") || e.DataContentType != "application/json" {
			t.Errorf("event from the request: %+v", e)
		}
		if got := r.header.Get(AttemptHeader); got != "1" {
			t.Errorf("%s = %q, want 1", AttemptHeader, got)
		}
		if got := r.header.Get(SubscriptionHeader); got != "orders/hook" {
			t.Errorf("%s = %q, want orders/hook", SubscriptionHeader, got)
		}
		if got := r.header.Get(SignatureHeader); got != "" {
			t.Errorf("signed without a secret: %q", got)
		}
	}
}

// In binary mode the data goes with datacontenttype as Content-Type; when
// that is a CloudEvents format, receivers (Herald's publish among them)
// take the request for structured mode and the data for the event. Such
// an event goes in structured mode.
func TestPusher_DataThatIsACloudEventGoesInStructuredMode(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{})
	rc := newReceiver(t, ok)
	v.start("orders", "hook", Config{URL: rc.srv.URL, Secret: "s"}, Options{})
	inner := `{"specversion":"1.0","id":"inner","source":"/inner","type":"inner.event"}`
	outer := &event.Event{ID: "outer", Source: "/test", Type: "test.wrapped", SpecVersion: "1.0",
		DataContentType: "application/cloudevents+json", Data: []byte(inner)}
	if _, err := v.b.Publish(v.ctx, "orders", []*event.Event{outer}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ack", func() bool { return v.committed("orders", "hook") == 1 })
	r := rc.requests()[0]
	var got *event.Event
	if ct := r.header.Get("Content-Type"); event.IsStructured(ct) {
		got = &event.Event{}
		if err := json.Unmarshal(r.body, got); err != nil {
			t.Fatal(err)
		}
	} else {
		var err error
		if got, err = event.FromHTTP(r.header, r.body); err != nil {
			t.Fatal(err)
		}
	}
	if got.ID != "outer" || got.Type != "test.wrapped" || got.DataContentType != outer.DataContentType || string(got.Data) != inner {
		t.Errorf("received id %q type %q datacontenttype %q data %s; want the outer event", got.ID, got.Type, got.DataContentType, got.Data)
	}
	if err := Verify("s", r.header.Get(SignatureHeader), r.body, time.Minute, time.Now()); err != nil {
		t.Error(err)
	}
	if r.header.Get(AttemptHeader) != "1" || r.header.Get(SubscriptionHeader) != "orders/hook" {
		t.Errorf("Herald's headers: %v", r.header)
	}
}

func TestPusher_FailedPushIsRedeliveredAfterBackoff(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{Backoff: fastRetry})
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ []byte, n int) {
		if n == 0 {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	v.start("orders", "hook", Config{URL: rc.srv.URL}, Options{})
	v.publish("orders", "a")
	eventually(t, "the ack of the redelivery", func() bool { return v.committed("orders", "hook") == 1 })
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if a, b := reqs[0].header.Get(AttemptHeader), reqs[1].header.Get(AttemptHeader); a != "1" || b != "2" {
		t.Errorf("attempts %s, %s; want 1, 2", a, b)
	}
	if reqs[0].header.Get("Ce-Id") != reqs[1].header.Get("Ce-Id") {
		t.Error("the redelivery is another event")
	}
	// The backoff starts at the nack, after the first reply went out.
	if gap := reqs[1].arrived.Sub(reqs[0].at); gap < fastRetry.Initial {
		t.Errorf("redelivered %s after the failure, before the %s backoff", gap, fastRetry.Initial)
	}
}

func TestPusher_TimeoutIsANackNamingTheTimeout(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{MaxAttempts: 1})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ []byte, _ int) {
		<-r.Context().Done() // never answers
	})
	v.start("orders", "hook", Config{URL: rc.srv.URL, Timeout: time.Second}, Options{})
	v.publish("orders", "a")
	var dead []*event.Event
	eventually(t, "a dead letter", func() bool { dead = v.deadLetters("orders.hook.dlq"); return len(dead) == 1 })
	if got := dead[0].Extensions[subscription.ExtReason]; got != "push: timeout after 1s" {
		t.Errorf("reason %q", got)
	}
}

func TestPusher_AlwaysFailingReceiverDeadLettersWithTheReason(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{MaxAttempts: 3, Backoff: fastRetry})
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
		http.Error(w, "down for maintenance\nsecond line", http.StatusServiceUnavailable)
	})
	v.start("orders", "hook", Config{URL: rc.srv.URL}, Options{})
	v.publish("orders", "a")
	var dead []*event.Event
	eventually(t, "a dead letter", func() bool { dead = v.deadLetters("orders.hook.dlq"); return len(dead) == 1 })
	ext := dead[0].Extensions
	if got := ext[subscription.ExtReason]; got != "push: 503 Service Unavailable: down for maintenance" {
		t.Errorf("reason %q", got)
	}
	if ext[subscription.ExtAttempts] != "3" || ext[subscription.ExtSubscription] != "hook" {
		t.Errorf("dead letter extensions %v", ext)
	}
	if n := rc.count(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if got := v.committed("orders", "hook"); got != 1 {
		t.Errorf("committed %d after the dead letter, want 1", got)
	}
}

func TestPusher_ConnectionErrorIsANackNamingTheError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/hook"
	l.Close() // nothing listens there now
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{MaxAttempts: 1})
	v.start("orders", "hook", Config{URL: url}, Options{})
	v.publish("orders", "a")
	var dead []*event.Event
	eventually(t, "a dead letter", func() bool { dead = v.deadLetters("orders.hook.dlq"); return len(dead) == 1 })
	reason := dead[0].Extensions[subscription.ExtReason]
	if !strings.HasPrefix(reason, "push: dial tcp") || !strings.Contains(reason, "refused") || strings.Contains(reason, "/hook") {
		t.Errorf("reason %q", reason)
	}
}

func TestPusher_SignatureVerifiesAndTamperingFails(t *testing.T) {
	const secret = "whsec_test"
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{})
	var errs []error
	var mu sync.Mutex
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, body []byte, _ int) {
		sig := r.Header.Get(SignatureHeader)
		tampered := append(append([]byte(nil), body...), ' ')
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs,
			Verify(secret, sig, body, time.Minute, time.Now()),
			Verify(secret, sig, tampered, time.Minute, time.Now()),
			Verify("another", sig, body, time.Minute, time.Now()),
			Verify(secret, sig, body, time.Minute, time.Now().Add(2*time.Minute)))
		w.WriteHeader(http.StatusOK)
	})
	v.start("orders", "hook", Config{URL: rc.srv.URL, Secret: secret}, Options{})
	v.publish("orders", "a")
	eventually(t, "the ack", func() bool { return v.committed("orders", "hook") == 1 })
	mu.Lock()
	defer mu.Unlock()
	want := []error{nil, ErrSignatureMismatch, ErrSignatureMismatch, ErrSignatureExpired}
	for i, w := range want {
		if !errors.Is(errs[i], w) || (w == nil) != (errs[i] == nil) {
			t.Errorf("check %d: %v, want %v", i, errs[i], w)
		}
	}
}

func TestPusher_OneKeyAtATimeInOrder(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 3)
	v.sub("orders", "hook", subscription.Config{Backoff: fastRetry, MaxAttempts: 10})
	var mu sync.Mutex
	busy := map[string]bool{}
	seen := map[string][]int{}  // n of each request, per key
	acked := map[string][]int{} // n of each 2xx reply, per key
	var overlaps atomic.Int64
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, body []byte, i int) {
		var p payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Error(err)
		}
		mu.Lock()
		if busy[p.Key] {
			overlaps.Add(1)
		}
		busy[p.Key] = true
		seen[p.Key] = append(seen[p.Key], p.N)
		mu.Unlock()
		time.Sleep(time.Duration(i%3) * time.Millisecond)
		fail := p.N%4 == 1 && i%2 == 0 // some events fail once or more
		mu.Lock()
		busy[p.Key] = false
		if !fail {
			acked[p.Key] = append(acked[p.Key], p.N)
		}
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	v.start("orders", "hook", Config{URL: rc.srv.URL, MaxInFlight: 8}, Options{})
	const perKey = 12
	keys := []string{"a", "b", "c", "d", "e", "f"}
	var all []string
	for range perKey {
		all = append(all, keys...)
	}
	v.publish("orders", all...)
	eventually(t, "every event acked", func() bool { return v.committed("orders", "hook") == int64(len(all)) })
	mu.Lock()
	defer mu.Unlock()
	if n := overlaps.Load(); n > 0 {
		t.Errorf("%d requests came while another of their key was in flight", n)
	}
	for _, k := range keys {
		for i, n := range acked[k] {
			if n != i {
				t.Fatalf("key %s acked out of order: %v", k, acked[k])
			}
		}
		if len(acked[k]) != perKey {
			t.Errorf("key %s: %d acked, want %d", k, len(acked[k]), perKey)
		}
		for i := 1; i < len(seen[k]); i++ {
			if seen[k][i] < seen[k][i-1] {
				t.Fatalf("key %s delivered out of order: %v", k, seen[k])
			}
		}
	}
}

func TestPusher_NeverMoreThanMaxInFlight(t *testing.T) {
	const limit = 3
	v := newEnv(t)
	v.topic("orders", 2)
	v.sub("orders", "hook", subscription.Config{Ordering: subscription.OrderNone})
	var mu sync.Mutex
	inFlight, peak := 0, 0
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		// Hold the request until the limit is reached (or a while passed),
		// so the pusher has every chance to go over it.
		deadline := time.Now().Add(200 * time.Millisecond)
		for inFlight < limit && time.Now().Before(deadline) {
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
		}
		inFlight--
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	v.start("orders", "hook", Config{URL: rc.srv.URL, MaxInFlight: limit}, Options{})
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	v.publish("orders", keys...)
	eventually(t, "every event acked", func() bool { return v.committed("orders", "hook") == 30 })
	mu.Lock()
	defer mu.Unlock()
	if peak != limit {
		t.Errorf("peak %d requests in flight, want %d", peak, limit)
	}
}

func TestPusher_RedirectIsNotFollowed(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{MaxAttempts: 1})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ []byte, _ int) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	v.start("orders", "hook", Config{URL: rc.srv.URL + "/old"}, Options{})
	v.publish("orders", "a")
	var dead []*event.Event
	eventually(t, "a dead letter", func() bool { dead = v.deadLetters("orders.hook.dlq"); return len(dead) == 1 })
	if got := dead[0].Extensions[subscription.ExtReason]; got != "push: 307 Temporary Redirect" {
		t.Errorf("reason %q", got)
	}
	if n := rc.count(); n != 1 {
		t.Errorf("%d requests, want 1: the redirect was followed", n)
	}
}

// A 101 reply hands the connection over: its body is the raw connection,
// which the client's timeout does not cover. The pusher must not read it,
// or a receiver that keeps the connection open holds the delivery (and
// Stop) for as long as it likes.
func TestPusher_SwitchingProtocolsReplyIsANackWithinTheTimeout(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{MaxAttempts: 1})
	hold := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
		c, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
		bw.Flush()
		<-hold // keeps the connection open
	})
	p := Start(v.m, v.info("orders", "hook"), Config{URL: rc.srv.URL, Timeout: time.Second}, Options{})
	t.Cleanup(func() { close(hold) })
	v.publish("orders", "a")
	var dead []*event.Event
	eventually(t, "a dead letter", func() bool { dead = v.deadLetters("orders.hook.dlq"); return len(dead) == 1 })
	if got := dead[0].Extensions[subscription.ExtReason]; got != "push: 101 Switching Protocols" {
		t.Errorf("reason %q", got)
	}
	if n := rc.count(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop still waits for the request")
	}
}

// A POST may take longer than the subscription's ack timeout: the pusher
// holds the lease, so the event is not redelivered (and the next of its key
// not sent) while the receiver works.
func TestPusher_SlowReceiverKeepsItsLeasePastTheAckTimeout(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{AckTimeout: time.Second, Backoff: fastRetry})
	var inFlight, overlaps atomic.Int64
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
		if inFlight.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer inFlight.Add(-1)
		time.Sleep(1500 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	v.start("orders", "hook", Config{URL: rc.srv.URL, Timeout: 5 * time.Second}, Options{})
	v.publish("orders", "a", "a")
	eventually(t, "both acked", func() bool { return v.committed("orders", "hook") == 2 })
	if n := rc.count(); n != 2 || overlaps.Load() != 0 {
		t.Errorf("%d requests, %d overlapping; want 2 one after the other", n, overlaps.Load())
	}
}

func TestPusher_StopDrainsInFlightAndLeaksNothing(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{Ordering: subscription.OrderNone})
	release := make(chan struct{})
	var arrived atomic.Int64
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
		arrived.Add(1)
		<-release
		w.WriteHeader(http.StatusOK)
	})
	p := Start(v.m, v.info("orders", "hook"), Config{URL: rc.srv.URL}, Options{})
	v.publish("orders", "a", "b")
	eventually(t, "2 requests in flight", func() bool { return arrived.Load() == 2 })
	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) with requests in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got := v.committed("orders", "hook"); got != 2 {
		t.Errorf("committed %d after Stop, want 2: the drained requests were not acked", got)
	}
	rc.srv.Close()
	v.close()
	goleak.VerifyNone(t)
}

func TestPusher_StopAbortsWhenItsContextEnds(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{MaxAttempts: 1})
	var arrived atomic.Int64
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ []byte, _ int) {
		arrived.Add(1)
		<-r.Context().Done()
	})
	p := Start(v.m, v.info("orders", "hook"), Config{URL: rc.srv.URL, Timeout: time.Minute}, Options{})
	v.publish("orders", "a")
	eventually(t, "a request in flight", func() bool { return arrived.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop: %v, want the context's error", err)
	}
	dead := v.deadLetters("orders.hook.dlq")
	if len(dead) != 1 || dead[0].Extensions[subscription.ExtReason] != "push: stopped before the receiver replied" {
		t.Fatalf("the aborted delivery was not nacked: %v", dead)
	}
	rc.srv.Close()
	v.close()
	goleak.VerifyNone(t)
}

func TestPusher_StopsByItselfWhenTheSubscriptionIsDeleted(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{})
	rc := newReceiver(t, ok)
	p := v.start("orders", "hook", Config{URL: rc.srv.URL}, Options{})
	if err := v.m.Delete(v.ctx, "orders", "hook"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pusher to stop", func() bool { return p.Err() != nil })
	if !errors.Is(p.Err(), subscription.ErrNotFound) {
		t.Errorf("Err() = %v", p.Err())
	}
}

func TestStart_PanicsOnAConfigThatFailsCheck(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	Start(nil, subscription.Info{Topic: "orders", Name: "hook"}, Config{URL: "ftp://x"}, Options{})
}

// A subscription deleted and made again under the same name is another
// subscription: a Pusher of the old one, waiting for a free slot meanwhile,
// pushes none of the new one's events to the old URL.
func TestPusher_PushesNothingOfASubscriptionMadeAgainUnderItsName(t *testing.T) {
	v := newEnv(t)
	v.topic("orders", 1)
	v.sub("orders", "hook", subscription.Config{Ordering: subscription.OrderNone})
	release := make(chan struct{})
	var arrived atomic.Int64
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
		if arrived.Add(1) == 1 {
			<-release
		}
		w.WriteHeader(http.StatusOK)
	})
	v.start("orders", "hook", Config{URL: rc.srv.URL, MaxInFlight: 1}, Options{})
	v.publish("orders", "a")
	eventually(t, "the old subscription's event in flight", func() bool { return arrived.Load() == 1 })
	if err := v.m.Delete(v.ctx, "orders", "hook"); err != nil {
		t.Fatal(err)
	}
	v.sub("orders", "hook", subscription.Config{Ordering: subscription.OrderNone, Start: "latest"})
	v.publish("orders", "b")
	close(release)
	time.Sleep(200 * time.Millisecond) // the old Pusher's slot is free: it would pull now
	if n := arrived.Load(); n != 1 {
		t.Fatalf("%d requests reached the old URL, want only the old subscription's one", n)
	}
	ds, err := v.m.Pull(v.ctx, "orders", "hook", 10, 0)
	if err != nil || len(ds) != 1 || ds[0].Event.PartitionKey != "b" {
		t.Fatalf("the new subscription's pull: %+v %v, want its event b", ds, err)
	}
}
