package middleware

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heraldevents/herald"
)

// IdempotencyStore remembers which events a subscription has handled. Each
// method must be atomic on its own: two concurrent Claims of one key never
// both return Claimed. Entries past their expiry count as absent, and a
// store removes them by itself so it does not grow without bound.
type IdempotencyStore interface {
	// Claim takes key for token until lease runs out, when the key is
	// absent or expired. Otherwise it reports whether another delivery
	// holds the key (InProgress) or it was handled already (Completed).
	Claim(ctx context.Context, key, token string, lease time.Duration) (ClaimState, error)
	// Complete records key as handled for ttl, whoever holds its claim
	// now: the handler did succeed, so the event must not run again.
	Complete(ctx context.Context, key string, ttl time.Duration) error
	// Release drops token's claim on key so the next delivery runs the
	// handler. A key completed or claimed by another token is left as is.
	Release(ctx context.Context, key, token string) error
}

// ClaimState is what Claim found.
type ClaimState int

const (
	Claimed    ClaimState = iota + 1 // the caller holds the key and must Complete or Release it
	InProgress                       // another delivery holds a live claim
	Completed                        // the key was handled within its TTL
)

func (s ClaimState) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case InProgress:
		return "in progress"
	case Completed:
		return "completed"
	}
	return "ClaimState(" + strconv.Itoa(int(s)) + ")"
}

// ErrInProgress is returned (wrapped) for a delivery of an event that
// another delivery was still handling when the delivery's ctx ended. It
// is an ordinary error, so the event comes again after the subscription's
// backoff and is then acked or run.
var ErrInProgress = errors.New("event is being handled by another delivery")

// IdempotentOption configures Idempotent.
type IdempotentOption func(*idempotentConfig)

type idempotentConfig struct {
	ttl, lease time.Duration
}

// IdempotencyTTL sets how long a handled event is remembered (default 24h).
// Keep it longer than the subscription can redeliver an event.
func IdempotencyTTL(d time.Duration) IdempotentOption {
	return func(c *idempotentConfig) { c.ttl = d }
}

// IdempotencyLease sets how long a delivery may hold an event before
// another may run it (default 1m): it is how an event held by a consumer
// that crashed becomes runnable again. Keep it longer than the handler
// can run (see Timeout).
func IdempotencyLease(d time.Duration) IdempotentOption {
	return func(c *idempotentConfig) { c.lease = d }
}

// settleTimeout bounds the store calls made after the handler returns.
const settleTimeout = 10 * time.Second

// Idempotent runs the handler at most once per event and subscription
// within the TTL: a delivery of an event the subscription already handled
// is acked without calling the handler. Only success is recorded, so a
// failed or panicking handler runs again on the redelivery. While one
// delivery holds the event, another of the same event waits: it is acked
// once the first completes, and runs the handler once the first releases
// the event or its lease runs out (a consumer that crashed). The Router
// keeps the waiting delivery's lease, so the wait uses up none of its
// attempts; if its ctx ends first, it fails with ErrInProgress. A store
// error nacks the event. Idempotent panics without a store, or with a TTL
// or lease that is not positive.
func Idempotent(store IdempotencyStore, opts ...IdempotentOption) herald.Middleware {
	if store == nil {
		panic("middleware.Idempotent: no store (use NewMemoryStore, sqlitestore or pgstore)")
	}
	c := idempotentConfig{ttl: 24 * time.Hour, lease: time.Minute}
	for _, o := range opts {
		o(&c)
	}
	if c.ttl <= 0 || c.lease <= 0 {
		panic(fmt.Sprintf("middleware.Idempotent: TTL (%s) and lease (%s) must be positive", c.ttl, c.lease))
	}
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) error {
			return c.handle(ctx, store, next, d)
		}
	}
}

func (c idempotentConfig) handle(ctx context.Context, store IdempotencyStore, next herald.Handler, d *herald.Delivery) error {
	key, token := idempotencyKey(d), rand.Text()
	state, err := store.Claim(ctx, key, token, c.lease)
	if err == nil && state == InProgress {
		state, err = c.await(ctx, store, key, token)
	}
	switch {
	case err != nil && errors.Is(err, ErrInProgress):
		return fmt.Errorf("idempotent: event %s: %w", d.Event.ID, err)
	case err != nil:
		return fmt.Errorf("idempotent: claim event %s: %w", d.Event.ID, err)
	case state == Completed:
		return nil
	case state != Claimed:
		return fmt.Errorf("idempotent: claim event %s: store returned %s", d.Event.ID, state)
	}
	return c.run(ctx, store, next, d, key, token)
}

// await claims key again and again while another delivery holds it, until
// that one completes it, releases it or its lease runs out, or ctx ends
// (ErrInProgress). It asks the store every twentieth of the lease, at
// least every second.
func (c idempotentConfig) await(ctx context.Context, store IdempotencyStore, key, token string) (ClaimState, error) {
	every := min(max(c.lease/20, 10*time.Millisecond), time.Second)
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: %w", ErrInProgress, context.Cause(ctx))
		case <-t.C:
		}
		state, err := store.Claim(ctx, key, token, c.lease)
		if err != nil || state != InProgress {
			return state, err
		}
		t.Reset(every)
	}
}

// run calls the handler under the claim and records its success. Whatever
// else happens (an error, a panic, a failed Complete) releases the claim,
// so the redelivery need not wait for the lease to run out.
func (c idempotentConfig) run(ctx context.Context, store IdempotencyStore, next herald.Handler, d *herald.Delivery, key, token string) (err error) {
	completed := false
	defer func() {
		if completed {
			return
		}
		sctx, cancel := settleContext(ctx)
		defer cancel()
		if rerr := store.Release(sctx, key, token); rerr != nil {
			err = errors.Join(err, fmt.Errorf("idempotent: release event %s: %w", d.Event.ID, rerr))
		}
	}()
	if err := next(ctx, d); err != nil {
		return err
	}
	sctx, cancel := settleContext(ctx)
	defer cancel()
	if err := store.Complete(sctx, key, c.ttl); err != nil {
		return fmt.Errorf("idempotent: record event %s as handled: %w", d.Event.ID, err)
	}
	completed = true
	return nil
}

// settleContext outlives a cancelled handler context: a handler that
// finished as its deadline passed must still be recorded or released.
func settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
}

// maxKeyLen is the longest key handed to a store as it is; longer ones
// (a very long source) are hashed so that every store can index them.
const maxKeyLen = 256

// idempotencyKey names a delivery's event within its subscription: topic,
// subscription, source and id, each prefixed by its length so that no two
// different tuples give the same key ("a/b"+"c" versus "a"+"b/c").
func idempotencyKey(d *herald.Delivery) string {
	var b strings.Builder
	for _, part := range []string{d.Topic, d.Subscription, d.Event.Source, d.Event.ID} {
		b.WriteString(strconv.Itoa(len(part)))
		b.WriteByte(':')
		b.WriteString(part)
	}
	if b.Len() <= maxKeyLen {
		return b.String()
	}
	// A plain key starts with a digit, so a hashed one cannot equal it.
	sum := sha256.Sum256([]byte(b.String()))
	return "sha256:" + hex.EncodeToString(sum[:])
}
