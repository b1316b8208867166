package subscription

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// A full disk under the subscription state does not stop acknowledgements
// for good: an ack waits while there is no space and is answered once
// space returns, and the ones after it work without a restart.
func TestSubscription_AcksWaitOutAFullDiskAndResume(t *testing.T) {
	m, b, full := fullDiskEnv(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		ev := &event.Event{ID: "o-" + string(rune('a'+i)), Source: "/s", Type: "t", SpecVersion: "1.0"}
		if _, err := b.Publish(ctx, "orders", []*event.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := m.Pull(ctx, "orders", "billing", 3, time.Second)
	if err != nil || len(ds) != 3 {
		t.Fatalf("pull: %v %v", ds, err)
	}
	full.Store(true)
	acked := make(chan error, 1)
	go func() {
		_, err := m.Ack(ctx, "orders", "billing", []string{ds[0].AckID})
		acked <- err
	}()
	select {
	case err := <-acked:
		t.Fatalf("the ack was answered (%v) while nothing could be written", err)
	case <-time.After(300 * time.Millisecond):
	}
	full.Store(false) // space returns
	select {
	case err := <-acked:
		if err != nil {
			t.Fatalf("the ack after space returned: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the ack never completed after space returned")
	}
	if res, err := m.Ack(ctx, "orders", "billing", []string{ds[1].AckID, ds[2].AckID}); err != nil || len(res.Acked) != 2 {
		t.Fatalf("acks after the full disk: %+v %v", res, err)
	}
	info, _ := m.Get(ctx, "orders", "billing")
	if info.Partitions[0].Committed != 3 {
		t.Fatalf("committed %d, want 3", info.Partitions[0].Committed)
	}
}

// A pull for a consumer outside Herald's process does not wait for its
// attempt records to be on disk (a full disk here holds every write), a
// pull for one inside does; the acks of either wait for both records.
func TestPullRemote_DeliversWithoutWaitingForTheAttemptRecord(t *testing.T) {
	m, b, full := fullDiskEnv(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		ev := &event.Event{ID: id, Source: "/s", Type: "t", SpecVersion: "1.0"}
		if _, err := b.Publish(ctx, "orders", []*event.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	full.Store(true)
	pulled := make(chan []Delivery, 1)
	go func() {
		ds, _ := m.PullRemote(ctx, "orders", "billing", 1, time.Second)
		pulled <- ds
	}()
	var remote []Delivery
	select {
	case remote = <-pulled:
	case <-time.After(5 * time.Second):
		full.Store(false) // lets the pull finish before the test ends
		<-pulled
		t.Fatal("a remote pull waited for its attempt record to be on disk")
	}
	if len(remote) != 1 {
		t.Fatalf("remote pull with the state unwritable: %v, want a delivery at once", remote)
	}
	local := make(chan []Delivery, 1)
	go func() {
		ds, _ := m.Pull(ctx, "orders", "billing", 1, time.Second)
		local <- ds
	}()
	acked := make(chan error, 1)
	go func() {
		_, err := m.Ack(ctx, "orders", "billing", []string{remote[0].AckID})
		acked <- err
	}()
	select {
	case ds := <-local:
		t.Fatalf("a pull for a consumer in Herald's process delivered %v before its attempt was on disk", ds)
	case err := <-acked:
		t.Fatalf("an ack was answered (%v) before the attempt it acks was on disk", err)
	case <-time.After(300 * time.Millisecond):
	}
	full.Store(false)
	if ds := <-local; len(ds) != 1 || ds[0].Event.ID == remote[0].Event.ID {
		t.Fatalf("the local pull after space returned: %v", ds)
	}
	if err := <-acked; err != nil {
		t.Fatalf("the ack after space returned: %v", err)
	}
}

// fullDiskEnv is a subscription "billing" (ordering none) on topic
// "orders" over an in-memory disk on which the subscription state cannot
// be written while full is set.
func fullDiskEnv(t *testing.T) (*Manager, *broker.Broker, *atomic.Bool) {
	t.Helper()
	full := new(atomic.Bool)
	m, b := stateFaultEnv(t, func(op faultfs.Op, path string) error {
		if full.Load() {
			return faultfs.NoSpaceError(op, path)
		}
		return nil
	})
	return m, b, full
}

// stateFaultEnv is fullDiskEnv with the error of each write to the
// subscription state chosen by fail (nil: the write goes through).
func stateFaultEnv(t *testing.T, fail faultfs.Injector) (*Manager, *broker.Broker) {
	t.Helper()
	inject := func(op faultfs.Op, path string) error {
		if op == faultfs.OpWrite && strings.Contains(path, stateTopic) {
			return fail(op, path)
		}
		return nil
	}
	e, err := log.Open("/data", log.Options{FS: faultfs.Wrap(faultfs.New(), inject), RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	b, err := broker.New(e, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := New(ctx, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close) // before the engine's close: cleanups run last first
	if _, _, err := b.PutTopic(ctx, "orders", broker.TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Put(ctx, "orders", "billing", Config{Start: "earliest", Ordering: OrderNone}); err != nil {
		t.Fatal(err)
	}
	return m, b
}

// A seek whose state write fails leaves the subscription where it was,
// in what it reports as on disk.
func TestSeek_WhoseStateWriteFailsLeavesTheSubscriptionAsItWas(t *testing.T) {
	m, broken := breakableStateEnv(t)
	ctx := context.Background()
	ds, err := m.Pull(ctx, "orders", "billing", 10, 0)
	if err != nil || len(ds) != 3 {
		t.Fatalf("pulled %d events (%v), want 3", len(ds), err)
	}
	if _, err := m.Ack(ctx, "orders", "billing", ackIDs(ds)); err != nil {
		t.Fatal(err)
	}
	broken.Store(true)
	if _, err := m.Seek(ctx, "orders", "billing", Position{Start: "earliest"}); err == nil {
		t.Fatal("a seek whose state write failed reported success")
	}
	info, err := m.Get(ctx, "orders", "billing")
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Partitions[0].Committed; got != 3 {
		t.Fatalf("committed offset %d after a failed seek to earliest, want 3 as before", got)
	}
}

// Once the state writer has failed for good, nothing is delivered until a
// restart: the attempts of a delivery could not be recorded, and no ack
// of it could be.
func TestPull_AfterTheStateWriterFailedDeliversNothing(t *testing.T) {
	m, broken := breakableStateEnv(t)
	ctx := context.Background()
	broken.Store(true)
	if _, err := m.Pull(ctx, "orders", "billing", 1, 0); err == nil {
		t.Fatal("a pull whose state write failed reported success")
	}
	broken.Store(false) // the disk works again; the state on it still has a hole
	for _, pull := range []func() ([]Delivery, error){
		func() ([]Delivery, error) { return m.PullRemote(ctx, "orders", "billing", 10, 0) },
		func() ([]Delivery, error) { return m.Pull(ctx, "orders", "billing", 10, 0) },
	} {
		if ds, err := pull(); err == nil || len(ds) != 0 {
			t.Fatalf("pull after the state writer failed: %d deliveries, %v; want none and an error", len(ds), err)
		}
	}
}

// breakableStateEnv is stateFaultEnv with three events published on
// orders, whose state writes fail with EIO while broken is set.
func breakableStateEnv(t *testing.T) (*Manager, *atomic.Bool) {
	t.Helper()
	broken := new(atomic.Bool)
	m, b := stateFaultEnv(t, func(op faultfs.Op, path string) error {
		if broken.Load() {
			return faultfs.IOError(op, path)
		}
		return nil
	})
	for i := range 3 {
		e := &event.Event{ID: fmt.Sprint("ev-", i), Source: "/test", Type: "test.event", SpecVersion: "1.0"}
		if _, err := b.Publish(context.Background(), "orders", []*event.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	return m, broken
}
