package subscription

import (
	"errors"
	"testing"
	"time"
)

// A subscription busy for long (a redrive reading a large dead-letter
// topic holds it) must not hold up the calls of every other subscription
// while its Delete or settings change waits for it.
func TestManager_ACallWaitingForABusySubscriptionHoldsUpNoOther(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(v *env) error
	}{
		{"delete", func(v *env) error { return v.m.Delete(v.ctx, "orders", "busy") }},
		{"settings", func(v *env) error {
			_, _, err := v.m.Put(v.ctx, "orders", "busy", Config{MaxAttempts: 7})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t)
			v.topic("orders", 1)
			v.sub("orders", "busy", Config{})
			v.sub("orders", "other", Config{})
			v.publish("orders", "k")
			busy, err := v.m.get("orders", "busy")
			if err != nil {
				t.Fatal(err)
			}
			busy.mu.Lock() // what a long redrive does
			done := make(chan error, 1)
			go func() { done <- tc.call(v) }()
			time.Sleep(50 * time.Millisecond) // let the call reach the busy subscription

			other := make(chan error, 1)
			go func() {
				ds, err := v.m.Pull(v.ctx, "orders", "other", 10, 0)
				if err == nil && len(ds) != 1 {
					err = errors.New("no delivery")
				}
				other <- err
			}()
			select {
			case err := <-other:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				busy.mu.Unlock()
				t.Fatal("a pull on another subscription waited for the busy one")
			}
			busy.mu.Unlock()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
