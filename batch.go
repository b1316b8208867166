package herald

import (
	"context"
	"slices"
	"time"
)

// BatchHandler handles deliveries together, for consumers that write in
// bulk: nil acks them all, an error nacks them all, and an error wrapped
// by Permanent dead-letters them all. Router middleware does not wrap it.
// The slice is the handler's: it may filter or sort it in place.
type BatchHandler func(ctx context.Context, ds []*Delivery) error

// BatchOptions sizes the batches of a batch handler. The zero value works.
type BatchOptions struct {
	MaxSize int           // most deliveries per call; default 100, at most 1000
	MaxWait time.Duration // longest wait to fill a batch after its first delivery; default 100ms
}

// batchRoute is a subscription handled in batches. Its handler answers per
// delivery (nil: ack), so events that cannot even be decoded can be
// dead-lettered without failing the rest.
type batchRoute struct {
	opts BatchOptions
	h    func(ctx context.Context, ds []*Delivery) []error
}

// HandleBatchFunc registers an untyped batch handler for a subscription.
func (r *Router) HandleBatchFunc(topic, subscription string, opts BatchOptions, h BatchHandler) {
	if h == nil {
		r.addBatch(topic, subscription, opts, nil)
		return
	}
	r.addBatch(topic, subscription, opts, func(ctx context.Context, ds []*Delivery) []error {
		return sameError(len(ds), h(ctx, slices.Clone(ds))) // the handler's to change: the Router settles ds
	})
}

// HandleBatch registers a typed batch handler: each event's data is decoded
// from JSON into T; events whose data does not decode are dead-lettered at
// once, one whose upcaster panics is nacked alone, and the rest go to fn
// together.
func HandleBatch[T any](r *Router, topic, subscription string, opts BatchOptions, fn func(ctx context.Context, es []Event[T]) error) {
	if fn == nil {
		r.addBatch(topic, subscription, opts, nil)
		return
	}
	r.addBatch(topic, subscription, opts, func(ctx context.Context, ds []*Delivery) []error {
		errs := make([]error, len(ds))
		var good []Event[T]
		var at []int
		for i, d := range ds {
			e, err := decodeOne[T](r, d)
			if err != nil {
				errs[i] = err
				continue
			}
			good, at = append(good, e), append(at, i)
		}
		if len(good) > 0 {
			err := callBatch(ctx, fn, good)
			for _, i := range at {
				errs[i] = err
			}
		}
		return errs
	})
}

// decodeOne is decodeEvent with a panic (an upcaster's, or a data type's
// UnmarshalJSON) turned into the error of that event, as the Router
// turns a handler's: it fails that event alone, not its whole batch.
func decodeOne[T any](r *Router, d *Delivery) (e Event[T], err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicError(p)
		}
	}()
	return decodeEvent[T](r, d)
}

// callBatch calls a typed batch handler, turning a panic into an error
// as the Router does: it fails only the events fn was given, not those
// that did not decode.
func callBatch[T any](ctx context.Context, fn func(context.Context, []Event[T]) error, es []Event[T]) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicError(p)
		}
	}()
	return fn(ctx, es)
}

func (r *Router) addBatch(topic, subscription string, opts BatchOptions, h func(context.Context, []*Delivery) []error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = 100
	}
	opts.MaxSize = min(opts.MaxSize, 1000)
	if opts.MaxWait <= 0 {
		opts.MaxWait = 100 * time.Millisecond
	}
	r.addRoute(route{topic: topic, sub: subscription, batch: &batchRoute{opts: opts, h: h}}, h == nil)
}

func sameError(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// nextBatch fills a batch, waiting up to MaxWait after its first delivery,
// and starts its handler.
func (ru *runner) nextBatch(ctx, hctx context.Context, f feed) error {
	opts := ru.rt.batch.opts
	var ds []*Delivery
	var deadline time.Time
	for len(ds) < opts.MaxSize {
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if len(ds) > 0 {
			wctx, cancel = context.WithDeadline(ctx, deadline)
		}
		got, err := f.next(wctx, opts.MaxSize-len(ds))
		waited := wctx.Err() != nil && ctx.Err() == nil // MaxWait passed; read before cancel makes wctx done anyway
		cancel()
		ds = append(ds, got...)
		if err != nil && !waited { // the feed broke, or Run is ending
			if len(ds) > 0 && !ru.start(ctx, hctx, f, ds) {
				ru.release(f, ds)
			}
			return err
		}
		if len(ds) == 0 {
			return nil // nothing came within a poll
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(opts.MaxWait)
		}
		if err != nil || !time.Now().Before(deadline) {
			break
		}
	}
	if !ru.start(ctx, hctx, f, ds) {
		ru.release(f, ds)
	}
	return nil
}
