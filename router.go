package herald

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// Router runs handlers for subscriptions: it pulls, calls each delivery's
// handler (several at once, up to its concurrency; a subscription with key
// ordering never hands out two events of one key together, so per-key order
// holds), and acks, nacks or dead-letters by the handler's result.
type Router struct {
	c      *Client
	mw     []Middleware
	routes []route
	opts   RouterOptions
}

// RouterOptions configures a Router. The zero value works.
type RouterOptions struct {
	Concurrency  int           // handlers running at once per subscription; default 16
	DrainTimeout time.Duration // how long Run lets handlers finish after its ctx ends; default 30s
}

type route struct {
	topic, sub string
	h          Handler
}

// NewRouter returns a Router over a client.
func NewRouter(c *Client, opts RouterOptions) *Router {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	return &Router{c: c, opts: opts}
}

// Use adds middleware; the first added is the outermost.
func (r *Router) Use(mw ...Middleware) { r.mw = append(r.mw, mw...) }

// HandleFunc registers an untyped handler for a subscription.
func (r *Router) HandleFunc(topic, subscription string, h Handler) {
	r.routes = append(r.routes, route{topic: topic, sub: subscription, h: h})
}

// Run handles deliveries until ctx ends, then stops pulling, lets the
// handlers in flight finish within DrainTimeout, and nacks those that do
// not (their context is cancelled). It returns once every subscription
// has stopped.
func (r *Router) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, rt := range r.routes {
		h := rt.h
		for i := len(r.mw) - 1; i >= 0; i-- {
			h = r.mw[i](h)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runRoute(ctx, rt, h)
		}()
	}
	wg.Wait()
	return nil
}

// runner is one subscription's pull loop and its deliveries in flight.
type runner struct {
	r        *Router
	rt       route
	h        Handler
	slots    chan struct{}
	mu       sync.Mutex // guards inflight
	inflight map[string]bool
	wg       sync.WaitGroup
}

func (r *Router) runRoute(ctx context.Context, rt route, h Handler) {
	ru := &runner{r: r, rt: rt, h: h, slots: make(chan struct{}, r.opts.Concurrency), inflight: map[string]bool{}}
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	for ctx.Err() == nil {
		free := cap(ru.slots) - len(ru.slots)
		if free == 0 {
			select { // wait for a handler to finish
			case ru.slots <- struct{}{}:
				<-ru.slots
			case <-ctx.Done():
			}
			continue
		}
		ds, err := r.c.subs.Pull(ctx, rt.topic, rt.sub, free, time.Second)
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond) // the subscription may not exist yet
			}
			continue
		}
		for _, d := range ds {
			ru.start(hctx, d.AckID, &Delivery{Event: d.Event, Attempt: d.Attempt, Topic: rt.topic, Subscription: rt.sub})
		}
	}
	ru.drain(cancelHandlers)
}

func (ru *runner) start(ctx context.Context, ackID string, d *Delivery) {
	ru.slots <- struct{}{}
	ru.mu.Lock()
	ru.inflight[ackID] = true
	ru.mu.Unlock()
	ru.wg.Add(1)
	go func() {
		defer ru.wg.Done()
		defer func() { <-ru.slots }()
		err := ru.call(ctx, d)
		ru.mu.Lock()
		mine := ru.inflight[ackID]
		delete(ru.inflight, ackID)
		ru.mu.Unlock()
		if mine { // not already nacked by a drain that timed out
			ru.settle(ackID, err)
		}
	}()
}

// call runs the handler, turning a panic into an error with its stack.
func (ru *runner) call(ctx context.Context, d *Delivery) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return ru.h(withCause(ctx, d.Event), d)
}

// settle acks, nacks or dead-letters a finished delivery. It uses its own
// context: a result must reach Herald even while Run is stopping.
func (ru *runner) settle(ackID string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	subs, t, s := ru.r.c.subs, ru.rt.topic, ru.rt.sub
	switch {
	case err == nil:
		subs.Ack(ctx, t, s, []string{ackID})
	case IsPermanent(err):
		subs.Reject(ctx, t, s, []string{ackID}, err.Error())
	default:
		subs.Nack(ctx, t, s, []string{ackID}, 0, err.Error())
	}
}

// drain waits for the handlers in flight up to DrainTimeout; then it
// cancels their context and nacks what is still running.
func (ru *runner) drain(cancel context.CancelFunc) {
	done := make(chan struct{})
	go func() {
		ru.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(ru.r.opts.DrainTimeout):
	}
	cancel()
	ru.mu.Lock()
	left := make([]string, 0, len(ru.inflight))
	for id := range ru.inflight {
		left = append(left, id)
		delete(ru.inflight, id)
	}
	ru.mu.Unlock()
	for _, id := range left {
		ru.settle(id, fmt.Errorf("the handler did not finish within the drain timeout (%s) of a shutdown", ru.r.opts.DrainTimeout))
	}
	<-done
}
