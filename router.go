package herald

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/heraldevents/herald/internal/subscription"
)

// Router runs handlers for subscriptions: it takes deliveries, calls each
// one's handler (several at once, up to its concurrency; a subscription
// with key ordering never hands out two events of one key together, so
// per-key order holds), and acks, nacks or dead-letters by the handler's
// result. Over a remote client a lost connection is reopened by itself.
type Router struct {
	c    *Client
	opts RouterOptions

	mu        sync.Mutex // guards what follows: registrations against Run
	running   bool       // Run runs: a registration would never run, and a second Run is refused
	refused   []error    // registrations Run refuses: a nil handler, middleware or upcaster
	mw        []Middleware
	routes    []route
	upcasters map[string]map[int]*upcaster // event type -> from version -> upcaster; read-only while Run runs
}

// RouterOptions configures a Router. The zero value works.
type RouterOptions struct {
	Concurrency int // handlers running at once per subscription; default 16
	// Prefetch is how many deliveries a subscription takes ahead of its
	// free handlers, so that the round trip of taking them (a durable
	// write of their attempts, the network) does not leave handlers idle.
	// Their leases are extended while they wait (MaxExtension). Default
	// 4×Concurrency; negative: none.
	Prefetch     int
	DrainTimeout time.Duration // how long Run lets handlers finish after its ctx ends; default 30s
	Logger       *slog.Logger  // where lost connections and dead-lettered events are reported; default slog.Default()
	// MaxExtension is how long after a delivery came the Router goes on
	// extending its lease while it holds it (waiting for a handler, or
	// being handled), so that it does not run out and come again
	// meanwhile; after that the lease runs out, and the event comes
	// again. Default 1 hour; negative: never extend. The ack timeout
	// it goes by is the subscription's when Run starts.
	MaxExtension time.Duration
}

type route struct {
	topic, sub string
	h          Handler
	batch      *batchRoute // set for a batch handler
}

// NewRouter returns a Router over a client.
func NewRouter(c *Client, opts RouterOptions) *Router {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	switch {
	case opts.Prefetch == 0:
		opts.Prefetch = 4 * opts.Concurrency
	case opts.Prefetch < 0:
		opts.Prefetch = 0
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxExtension == 0 {
		opts.MaxExtension = time.Hour
	}
	return &Router{c: c, opts: opts}
}

// Use adds middleware; the first added is the outermost. Middleware
// wraps the handlers of HandleFunc and Handle, not batch handlers. Run
// refuses a nil middleware, and Use panics while Run runs.
func (r *Router) Use(mw ...Middleware) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notRunning("Use")
	for _, m := range mw {
		if m == nil {
			r.refused = append(r.refused, errors.New("herald: router: Use was given a nil middleware"))
		}
	}
	r.mw = append(r.mw, mw...)
}

// HandleFunc registers an untyped handler for a subscription. Run refuses
// a nil handler, and a second handler for the subscription; HandleFunc
// (as every registration) panics while Run runs: the handler would never
// run.
func (r *Router) HandleFunc(topic, subscription string, h Handler) {
	r.addRoute(route{topic: topic, sub: subscription, h: h}, h == nil)
}

// addRoute registers a route; nilHandler says its handler is nil, which
// Run refuses.
func (r *Router) addRoute(rt route, nilHandler bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notRunning("a handler's registration")
	if nilHandler {
		r.refused = append(r.refused, fmt.Errorf("herald: router: a nil handler for subscription %q on topic %q", rt.sub, rt.topic))
	}
	r.routes = append(r.routes, rt)
}

// notRunning panics while Run runs: what is registered then would never
// run (Run reads the registrations as it starts). Called with r.mu held.
func (r *Router) notRunning(what string) {
	if r.running {
		panic(fmt.Sprintf("herald: router: %s while Run runs, which it would never reach: register before Run, or after it returned", what))
	}
}

// Run handles deliveries until ctx ends (or its client is closed: it
// then returns ErrClientClosed), then stops taking more, lets the
// handlers in flight finish within DrainTimeout, and nacks those that do
// not (their context is cancelled). It returns once every subscription
// has stopped, nil after a clean shutdown. A handler that ignores its
// cancelled context is not waited for beyond a second more: Run then
// returns an error saying so (the handler's result is dropped when it
// comes). It fails at once, running nothing, when a subscription does not
// exist, may not be consumed with the client's token (ErrForbidden) or has
// two handlers, a handler, middleware or upcaster is nil, a type has
// two upcasters from one version or a chain of upcasters that does not
// follow on, or the Router is running
// already; once Run has returned, the Router may run again.
func (r *Router) Run(ctx context.Context) error {
	routes, err := r.start()
	if err != nil {
		return err
	}
	defer r.stopped()
	ackTimeouts := make([]time.Duration, len(routes))
	for i, rt := range routes {
		info, err := r.c.Subscription(ctx, rt.topic, rt.sub)
		switch {
		case errors.Is(err, ErrSubscriptionNotFound): // the error names both
			return fmt.Errorf("herald: router: %w (create it with PutSubscription first)", err)
		case err != nil:
			return fmt.Errorf("herald: router: subscription %q on topic %q: %w", rt.sub, rt.topic, err)
		}
		// Looking at a subscription takes any grant on its topic; its
		// deliveries take consume, as a read does. Without it every
		// stream would be refused, to be opened again until ctx ends.
		if _, err := r.c.Read(ctx, rt.topic, 0, 0, 1); errors.Is(err, ErrForbidden) {
			return fmt.Errorf("herald: router: subscription %q on topic %q: %w (the client's token needs the consume grant)", rt.sub, rt.topic, err)
		}
		ackTimeouts[i] = info.Config.AckTimeout
	}
	var wg sync.WaitGroup
	errs := make([]error, len(routes))
	for i, rt := range routes {
		wg.Go(func() { errs[i] = r.runRoute(ctx, rt, ackTimeouts[i]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// start marks the Router running and returns its routes, their handlers
// wrapped in the middleware; it refuses a Router that is running already
// or whose registrations cannot run.
func (r *Router) start() ([]route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.running:
		return nil, errors.New("herald: router: Run is already running; a Router runs once at a time")
	case r.c == nil:
		return nil, errors.New("herald: router: NewRouter was given a nil client")
	case len(r.refused) > 0:
		return nil, errors.Join(r.refused...)
	}
	if err := r.checkUpcasters(); err != nil {
		return nil, err
	}
	routes := slices.Clone(r.routes)
	seen := map[[2]string]bool{}
	for i, rt := range routes {
		if seen[[2]string{rt.topic, rt.sub}] {
			return nil, fmt.Errorf("herald: router: two handlers for subscription %q on topic %q: they would split its events between them", rt.sub, rt.topic)
		}
		seen[[2]string{rt.topic, rt.sub}] = true
		for j := len(r.mw) - 1; j >= 0 && rt.batch == nil; j-- {
			if routes[i].h = r.mw[j](routes[i].h); routes[i].h == nil {
				return nil, fmt.Errorf("herald: router: middleware %d (in the order of Use) returned a nil handler", j+1)
			}
		}
	}
	r.running = true
	return routes, nil
}

// stopped marks the Router no longer running.
func (r *Router) stopped() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running = false
}

// runner is one subscription's delivery loop and its handlers in flight.
type runner struct {
	r        *Router
	rt       route
	keep     *leaseKeeper // extends the leases of the deliveries held
	slots    chan struct{}
	mu       sync.Mutex // guards inflight
	inflight map[string]feed
	wg       sync.WaitGroup
	// settles is the context of the handlers' settlements, cancelled as
	// Run returns: one going as Settle calls (its feed broke) while the
	// server is down retries until then, not for 30 seconds after.
	settles context.Context
}

func (r *Router) runRoute(ctx context.Context, rt route, ackTimeout time.Duration) error {
	ru := &runner{r: r, rt: rt, keep: newLeaseKeeper(ackTimeout, r.opts.MaxExtension),
		slots: make(chan struct{}, r.opts.Concurrency), inflight: map[string]feed{}}
	defer ru.keep.close() // last: the drain's handlers keep their leases
	settles, endSettles := context.WithCancel(context.Background())
	defer endSettles()
	ru.settles = settles
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	var f feed
	var closing sync.WaitGroup // closes of broken feeds
	defer closing.Wait()
	retry := newRetryDelay()
	for ctx.Err() == nil && !r.c.closed.Load() {
		if f == nil {
			var err error
			raw, err := r.c.b.feed(ctx, rt.topic, rt.sub, ru.keep)
			if err != nil {
				ru.lost(ctx, err, retry)
				continue
			}
			f = withBatchedSettles(raw)
		}
		if !ru.waitSlot(ctx) {
			break
		}
		var err error
		if rt.batch != nil {
			err = ru.nextBatch(ctx, hctx, f)
		} else {
			err = ru.next(ctx, hctx, f)
		}
		if err != nil && ctx.Err() == nil {
			broken := f // its queued settlements are applied as it closes, within feedCloseTimeout
			closing.Go(func() {
				cctx, cancel := context.WithTimeout(context.Background(), feedCloseTimeout)
				defer cancel()
				broken.close(cctx)
			})
			f = nil
			ru.lost(ctx, err, retry)
			continue
		}
		retry.reset()
	}
	err := ru.drain(cancelHandlers)
	if ctx.Err() == nil { // the client was closed under Run
		err = errors.Join(fmt.Errorf("herald: router: topic %s, subscription %s: %w (stop routers before closing their client)", rt.topic, rt.sub, ErrClientClosed), err)
	}
	if f != nil {
		cctx, cancel := context.WithTimeout(context.Background(), feedCloseTimeout)
		defer cancel()
		if cerr := f.close(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("herald: router: topic %s, subscription %s: settling at shutdown: %w (events whose results were not applied come again)", rt.topic, rt.sub, cerr)
		}
	}
	return err
}

// waitSlot waits until a handler slot is free; false when ctx ended.
func (ru *runner) waitSlot(ctx context.Context) bool {
	select {
	case ru.slots <- struct{}{}:
		<-ru.slots
		return true
	case <-ctx.Done():
		return false
	}
}

// next takes deliveries for the free slots and the prefetch, and starts
// their handlers (waiting for slots as they free).
func (ru *runner) next(ctx, hctx context.Context, f feed) error {
	ds, err := f.next(ctx, cap(ru.slots)-len(ru.slots)+ru.r.opts.Prefetch)
	for i, d := range ds {
		if !ru.start(ctx, hctx, f, []*Delivery{d}) {
			ru.release(f, ds[i:])
			break
		}
	}
	return err
}

// release gives back deliveries taken and never started: they come again
// at once, their attempt not counted.
func (ru *runner) release(f feed, ds []*Delivery) {
	ru.keep.drop(ds)
	f.settle(context.Background(), settlement{kind: settleRelease, ackIDs: ackIDs(ds)})
}

// lost reports a broken feed and waits before it is reopened.
func (ru *runner) lost(ctx context.Context, err error, retry *retryDelay) {
	if ctx.Err() != nil || ru.r.c.closed.Load() {
		return
	}
	d := retry.next()
	ru.r.opts.Logger.Warn("herald: router: subscription feed lost; reopening", "topic", ru.rt.topic,
		"subscription", ru.rt.sub, "error", err, "retry_in", d)
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// start runs a handler for deliveries (one, or a batch) in a slot, once
// one is free; false, running nothing, when ctx (Run's) ends first.
func (ru *runner) start(ctx, hctx context.Context, f feed, ds []*Delivery) bool {
	select {
	case ru.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	ru.mu.Lock()
	for _, d := range ds {
		ru.inflight[d.AckID] = f
	}
	ru.mu.Unlock()
	ru.wg.Go(func() {
		defer func() { <-ru.slots }()
		// Settled in a defer, so that a handler that ends its goroutine
		// (runtime.Goexit, as t.FailNow does) still has its deliveries
		// nacked rather than held until MaxExtension.
		errs := sameError(len(ds), errHandlerExited)
		defer func() {
			ids := ru.finish(ds) // empty for those a drain that timed out nacked already
			ru.logDeadLetters(ds, ids, errs)
			for _, st := range settlements(ids, errs) {
				f.settle(ru.settles, st)
			}
		}()
		errs = ru.call(hctx, ds)
	})
	return true
}

// logDeadLetters reports, at Warn, the deliveries a handler sends to the
// dead letters now (a Permanent error, data that does not decode): that is
// the end of their handling, which nothing else would show. Failures that
// come again are not logged here (middleware.Log logs every one).
func (ru *runner) logDeadLetters(ds []*Delivery, ids []string, errs []error) {
	for i, err := range errs {
		if ids[i] != "" && IsPermanent(err) {
			e := ds[i].Event
			ru.r.opts.Logger.Warn("herald: router: event dead-lettered", "topic", ru.rt.topic, "subscription", ru.rt.sub,
				"event_id", e.ID, "type", e.Type, "attempt", ds[i].Attempt, "error", err)
		}
	}
}

// errHandlerExited is the nack reason of a handler that ended its
// goroutine instead of returning.
var errHandlerExited = errors.New("handler exited without returning (runtime.Goexit, as t.FailNow does)")

// finish takes deliveries out of the in-flight set; the ack ids of those
// that were no longer there (a drain settled them) come back empty.
func (ru *runner) finish(ds []*Delivery) []string {
	ru.keep.drop(ds)
	ru.mu.Lock()
	defer ru.mu.Unlock()
	ids := make([]string, len(ds))
	for i, d := range ds {
		if _, ok := ru.inflight[d.AckID]; ok {
			delete(ru.inflight, d.AckID)
			ids[i] = d.AckID
		}
	}
	return ids
}

// call runs the handler, one result per delivery, turning a panic into an
// error with its stack, and an error that panics as it is read into one
// that says so.
func (ru *runner) call(ctx context.Context, ds []*Delivery) (errs []error) {
	defer func() {
		if p := recover(); p != nil {
			errs = sameError(len(ds), panicError(p))
		}
	}()
	if ru.rt.batch != nil {
		errs = ru.rt.batch.h(ctx, ds)
	} else {
		errs = []error{ru.rt.h(withCause(ctx, ds[0].Event), ds[0])}
	}
	for i, err := range errs {
		errs[i] = readable(err)
	}
	return errs
}

// readable returns err, or, when reading it as settling does (its Error
// method, IsPermanent) panics, as a nil *T returned as an error does, an
// error saying so: settling it would panic outside the handler's recover,
// and crash the program.
func readable(err error) (out error) {
	if err == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			out = fmt.Errorf("the handler returned a %T that panicked as it was read (a nil pointer returned as an error?): %v", err, p)
		}
	}()
	_, _ = err.Error(), IsPermanent(err)
	return err
}

// panicError is the nack reason of a handler that panicked: the panic
// and its stack.
func panicError(p any) error {
	return fmt.Errorf("handler panicked: %v\n%s", p, debug.Stack())
}

// settlements groups results into one ack of every success and one nack
// or reject per failure (each keeps its own reason); empty ids are skipped.
func settlements(ids []string, errs []error) []settlement {
	var out []settlement
	var acks []string
	for i, id := range ids {
		switch {
		case id == "":
		case errs[i] == nil:
			acks = append(acks, id)
		default:
			out = append(out, settlementFor(errs[i], []string{id}))
		}
	}
	if len(acks) > 0 {
		out = append(out, settlement{kind: settleAck, ackIDs: acks})
	}
	return out
}

// settlementFor turns a handler's result into an ack, a nack with the
// error as reason, or a reject (dead letter now) for a Permanent error.
func settlementFor(err error, ids []string) settlement {
	switch {
	case err == nil:
		return settlement{kind: settleAck, ackIDs: ids}
	case IsPermanent(err):
		return settlement{kind: settleReject, ackIDs: ids, reason: err.Error()}
	default:
		return settlement{kind: settleNack, ackIDs: ids, reason: err.Error()}
	}
}

// drain waits for the handlers in flight up to DrainTimeout; then it
// cancels their context, nacks what is still running, and gives the
// handlers a moment (drainGrace) to return. A handler that ignores its
// cancelled context is left running: Run does not wait for it, and its
// result, when it comes, is dropped (its delivery was nacked already).
func (ru *runner) drain(cancel context.CancelFunc) error {
	done := make(chan struct{})
	go func() {
		ru.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(ru.r.opts.DrainTimeout):
	}
	cancel()
	ru.mu.Lock()
	left := ru.inflight
	ru.inflight = map[string]feed{}
	ru.mu.Unlock()
	reason := fmt.Errorf("the handler did not finish within the drain timeout (%s) of a shutdown", ru.r.opts.DrainTimeout)
	nackLeft(left, reason)
	select {
	case <-done:
		return nil
	case <-time.After(drainGrace):
		if len(left) == 0 { // the handlers returned; their settlements (by Settle calls) did not
			return fmt.Errorf("herald: router: %s on topic %s: the results of handlers could not be settled within the drain timeout (%s); "+
				"Run returned without them, and their events come again", ru.rt.sub, ru.rt.topic, ru.r.opts.DrainTimeout)
		}
		return fmt.Errorf("herald: router: %s on topic %s: %d deliveries' handlers did not return within the drain timeout (%s) nor once their context was cancelled; "+
			"their deliveries were nacked and Run returned without them", ru.rt.sub, ru.rt.topic, len(left), ru.r.opts.DrainTimeout)
	}
}

// nackLeft nacks deliveries (ack id to the feed that leased it) with one
// reason: in settlements of at most subscription.MaxAckIDs per feed, the
// feeds' at once, within feedCloseTimeout. A broken feed's go as Settle
// calls, which retry while the server cannot be reached.
func nackLeft(left map[string]feed, reason error) {
	byFeed := map[feed][]string{}
	for id, f := range left {
		byFeed[f] = append(byFeed[f], id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), feedCloseTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for f, ids := range byFeed {
		for len(ids) > 0 {
			st := settlementFor(reason, ids[:min(len(ids), subscription.MaxAckIDs)])
			ids = ids[len(st.ackIDs):]
			wg.Go(func() { f.settle(ctx, st) })
		}
	}
	wg.Wait()
}

// feedCloseTimeout bounds the close of a feed: applying the settlements
// queued on it, then ending it.
var feedCloseTimeout = 30 * time.Second // a var for tests

// drainGrace is how long a drain waits, after cancelling the handlers
// still running at its timeout, for them to return.
const drainGrace = time.Second

// retryDelay is the wait before reopening a lost feed: 100ms doubling to
// at most 5s, back to 100ms once a feed works.
type retryDelay struct{ d time.Duration }

func newRetryDelay() *retryDelay { return &retryDelay{d: 100 * time.Millisecond} }

func (r *retryDelay) next() time.Duration {
	d := r.d
	r.d = min(2*r.d, 5*time.Second)
	return d
}

func (r *retryDelay) reset() { r.d = 100 * time.Millisecond }
