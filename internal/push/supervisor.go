package push

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/heraldevents/herald/internal/subscription"
)

// CheckSettings checks a subscription's push settings; give it to
// subscription.Options.CheckPush.
func CheckSettings(s subscription.PushSettings) error { return Config(s).Check() }

// Supervisor runs one Pusher for each subscription that has push
// settings, starting, restarting (when its settings change) and stopping
// them as subscriptions change. It owns its goroutine and the pushers.
type Supervisor struct {
	m     *subscription.Manager
	opts  Options
	every time.Duration

	mu      sync.Mutex // guards running
	running map[string]*supervised

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	hurry    context.Context    // ends with Stop's ctx: a pusher being restarted stops waiting for its requests
	hurryUp  context.CancelFunc // ends hurry
}

type supervised struct {
	cfg Config
	inc uint64 // the subscription's incarnation
	p   *Pusher
}

// Supervise starts a Supervisor that looks at the subscriptions every
// interval (default 1s).
func Supervise(m *subscription.Manager, every time.Duration, opts Options) *Supervisor {
	if every <= 0 {
		every = time.Second
	}
	s := &Supervisor{m: m, opts: opts, every: every, running: map[string]*supervised{},
		stop: make(chan struct{}), done: make(chan struct{})}
	s.hurry, s.hurryUp = context.WithCancel(context.Background())
	go s.run()
	return s
}

func (s *Supervisor) run() {
	defer close(s.done)
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for {
		s.reconcile()
		select {
		case <-tick.C:
		case <-s.stop:
			return
		}
	}
}

// reconcile makes the running pushers match the subscriptions' settings.
func (s *Supervisor) reconcile() {
	want := map[string]subscription.Info{}
	for _, info := range s.m.All(context.Background()) {
		if info.Config.Push != nil {
			want[info.Topic+"/"+info.Name] = info
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var stopping []*supervised
	for key, r := range s.running {
		info, ok := want[key]
		if ok && Config(*info.Config.Push) == r.cfg && info.Incarnation == r.inc && r.p.Err() == nil {
			delete(want, key) // running as it should
			continue
		}
		r.p.halt() // none starts a request while another's are waited for
		stopping = append(stopping, r)
		delete(s.running, key)
	}
	for _, r := range stopping {
		s.stopOne(r)
	}
	select {
	case <-s.stop:
		return // stopping: start nothing that Stop would abort at once
	default:
	}
	for key, info := range want {
		cfg := Config(*info.Config.Push)
		if cfg.Check() != nil {
			continue // refused when the subscription was set; nothing to run
		}
		s.running[key] = &supervised{cfg: cfg, inc: info.Incarnation, p: Start(s.m, info, cfg, s.opts)}
	}
}

func (s *Supervisor) stopOne(r *supervised) {
	ctx, cancel := context.WithTimeout(s.hurry, 30*time.Second)
	defer cancel()
	r.p.Stop(ctx)
}

// Stop stops looking and stops every pusher, waiting for their requests in
// flight until ctx ends; then it aborts them (each is nacked) and returns
// ctx's error. When Stop returns, no pusher runs. Calling it again is
// harmless.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	select {
	case <-s.done:
	case <-ctx.Done():
		s.hurryUp() // the look in progress may be stopping a pusher
		<-s.done
	}
	defer s.hurryUp()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.running {
		r.p.halt() // none starts a request while Stop waits for another's
	}
	var errs []error
	for key, r := range s.running {
		errs = append(errs, r.p.Stop(ctx))
		delete(s.running, key)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}
