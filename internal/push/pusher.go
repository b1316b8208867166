package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/heraldevents/herald/internal/subscription"
)

const (
	pullWait       = 5 * time.Second        // long poll of the loop
	leaseMargin    = 10 * time.Second       // lease held past Config.Timeout for the ack or nack
	minPullBackoff = 100 * time.Millisecond // first pause after a failed pull
	maxPullBackoff = 10 * time.Second
)

// Options configures a Pusher. The zero value works.
type Options struct {
	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // signature timestamps; default time.Now
}

// Pusher pushes the events of one subscription to a URL. It owns its
// goroutines: the pull loop and one per POST in flight.
type Pusher struct {
	m           *subscription.Manager
	topic, name string
	inc         uint64 // the incarnation of the subscription: it pulls from no other
	cfg         Config
	log         *slog.Logger
	now         func() time.Time
	client      *http.Client
	transport   *http.Transport // the client's own, closed by Stop

	slots      chan struct{}      // one token per POST that may start
	stopPull   context.CancelFunc // ends the pull loop
	sendCtx    context.Context    // POSTs run in it
	abortSends context.CancelFunc // ends POSTs in flight (Stop's ctx ended)
	wg         sync.WaitGroup     // the pull loop and every delivery goroutine
	stopOnce   sync.Once

	mu  sync.Mutex // guards err
	err error      // why the loop ended by itself
}

// Start pushes the events of a subscription, as info describes it, to
// cfg.URL until Stop, or until the subscription is deleted: it pushes
// nothing of one made again under its name. cfg must pass Check (Start
// panics otherwise: check it where the setting comes in, to answer with
// the error).
func Start(m *subscription.Manager, info subscription.Info, cfg Config, opts Options) *Pusher {
	topic, name := info.Topic, info.Name
	if err := cfg.Check(); err != nil {
		panic(fmt.Sprintf("push.Start(%s/%s): %v", topic, name, err))
	}
	cfg = cfg.WithDefaults()
	p := &Pusher{m: m, topic: topic, name: name, inc: info.Incarnation, cfg: cfg, log: opts.Logger, now: opts.Now,
		slots: make(chan struct{}, cfg.MaxInFlight)}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("topic", topic, "subscription", name)
	if p.now == nil {
		p.now = time.Now
	}
	p.transport = http.DefaultTransport.(*http.Transport).Clone()
	p.transport.MaxIdleConnsPerHost = cfg.MaxInFlight
	p.client = &http.Client{Transport: p.transport, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for range cfg.MaxInFlight {
		p.slots <- struct{}{}
	}
	pullCtx, stopPull := context.WithCancel(context.Background())
	p.stopPull = stopPull
	p.sendCtx, p.abortSends = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.run(pullCtx)
	return p
}

// Stop stops pulling and waits for the POSTs in flight to end and be acked
// or nacked. If ctx ends first, it aborts them (each is nacked: "push:
// stopped before the receiver replied"), waits for that, and returns ctx's
// error. When Stop returns, no goroutine of the Pusher runs. Stop may be
// called more than once.
func (p *Pusher) Stop(ctx context.Context) error {
	p.halt()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		p.abortSends()
		<-done
		err = ctx.Err()
	}
	p.abortSends()
	p.transport.CloseIdleConnections()
	return err
}

// halt stops pulling: no POST starts after it but those of deliveries
// already pulled. Stop waits for them.
func (p *Pusher) halt() { p.stopOnce.Do(p.stopPull) }

// Err reports why the Pusher stopped by itself (its subscription was
// deleted), or nil.
func (p *Pusher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// run is the pull loop: it long-polls for as many deliveries as there are
// free slots and starts a POST for each.
func (p *Pusher) run(ctx context.Context) {
	defer p.wg.Done()
	backoff := time.Duration(0)
	for {
		n, ok := p.acquire(ctx)
		if !ok {
			return
		}
		ds, err := p.m.PullRemoteOf(ctx, p.topic, p.name, p.inc, n, pullWait)
		p.release(n - len(ds))
		if err != nil {
			if !p.pause(ctx, err, &backoff) {
				return
			}
			continue
		}
		backoff = 0
		p.dispatch(ds)
	}
}

// dispatch holds the leases of deliveries for as long as a POST may take
// and starts one POST each. Deliveries a pull returned as Stop began are
// pushed too: they are leased already.
func (p *Pusher) dispatch(ds []subscription.Delivery) {
	if len(ds) == 0 {
		return
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.AckID
	}
	if _, err := p.m.Extend(context.Background(), p.topic, p.name, ids, p.cfg.Timeout+leaseMargin); err != nil {
		p.log.Warn("push: cannot extend leases; the ack timeout applies", "error", err)
	}
	for _, d := range ds {
		p.wg.Add(1)
		go p.deliver(d)
	}
}

// pause waits after a failed pull, longer each time; it reports false when
// the loop should end (Stop, or the subscription is gone).
func (p *Pusher) pause(ctx context.Context, err error, backoff *time.Duration) bool {
	if errors.Is(err, subscription.ErrNotFound) {
		p.mu.Lock()
		p.err = fmt.Errorf("push %s/%s stopped: %w", p.topic, p.name, err)
		p.mu.Unlock()
		p.log.Warn("push: subscription gone; pusher stopped", "error", err)
		return false
	}
	*backoff = min(max(2**backoff, minPullBackoff), maxPullBackoff)
	p.log.Warn("push: pull failed; retrying", "error", err, "in", *backoff)
	t := time.NewTimer(*backoff)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// acquire waits for at least one free slot and takes every free one.
func (p *Pusher) acquire(ctx context.Context) (int, bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	select {
	case <-p.slots:
	case <-ctx.Done():
		return 0, false
	}
	n := 1
	for {
		select {
		case <-p.slots:
			n++
		default:
			return n, true
		}
	}
}

func (p *Pusher) release(n int) {
	for range n {
		p.slots <- struct{}{}
	}
}
