// Package subscription is Herald's queue-style delivery over the log: named
// durable subscriptions on a topic, each receiving every event (fan-out) and
// sharing them among its consumers (competing consumers), with leases,
// per-event ack and nack, redelivery with backoff, dead letters and three
// ordering modes. A subscription's position and every attempt count that
// a crash must not forget are kept in an internal topic (see state.go), so
// an acknowledged event is never delivered again and a poison event that
// crashes its consumer still reaches its dead letter.
package subscription

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
)

// Options configures a Manager. The zero value works.
type Options struct {
	Now    func() time.Time // clock; default time.Now
	Jitter func() float64   // backoff jitter in [0,1); default random
	// CheckPush checks push settings (package push provides it); without
	// it a subscription cannot be given push settings.
	CheckPush func(PushSettings) error
	// MaxSubscriptions bounds the subscriptions of the server; 0: no limit.
	MaxSubscriptions int
}

// Manager owns every subscription of a broker.
type Manager struct {
	broker    *broker.Broker
	state     *stateLog
	now       func() time.Time
	jitter    func() float64
	checkPush func(PushSettings) error
	maxSubs   int // 0: no limit

	// mu guards subs, inc and deleting. It is held only briefly: never
	// while waiting for a subscription's own lock, which a redrive holds
	// for long (a subscription's lock may be held while taking mu).
	mu       sync.Mutex
	subs     map[string]*sub
	deleting map[string]int // topics being deleted, by DeleteTopicAndSubscriptions calls under way
	inc      uint64         // the highest incarnation handed out
}

func subKey(topic, name string) string { return topic + "/" + name }

// New opens the subscriptions of a broker, replaying their state.
func New(ctx context.Context, b *broker.Broker, opts Options) (*Manager, error) {
	st, err := openState(ctx, b.Engine())
	if err != nil {
		return nil, err
	}
	m := &Manager{broker: b, state: st, now: opts.Now, jitter: opts.Jitter, checkPush: opts.CheckPush, maxSubs: opts.MaxSubscriptions, subs: map[string]*sub{},
		deleting: map[string]int{}}
	if m.now == nil {
		m.now = time.Now
	}
	if m.jitter == nil {
		m.jitter = rand.Float64
	}
	if err := m.replay(ctx); err != nil {
		st.close()
		return nil, err
	}
	if err := m.loadRedrives(ctx); err != nil {
		st.close()
		return nil, err
	}
	return m, nil
}

// Info describes a subscription.
type Info struct {
	Topic      string          `json:"topic"`
	Name       string          `json:"name"`
	Config     Config          `json:"config"`
	CreatedAt  time.Time       `json:"createdAt"`
	Partitions []PartitionInfo `json:"partitions"`
	Redriving  int             `json:"redriving"` // dead letters redriven and not yet finished
	// Incarnation tells this subscription from one made before or after
	// it under the same name (see PullRemoteOf).
	Incarnation uint64 `json:"-"`
}

// PartitionInfo is a subscription's state in one partition.
type PartitionInfo struct {
	Partition      int     `json:"partition"`
	Committed      int64   `json:"committedOffset"`
	End            int64   `json:"endOffset"`
	Lag            int64   `json:"lag"`
	InFlight       int     `json:"inFlight"`
	WaitingRetry   int     `json:"waitingRetry"`
	DeadLettered   int64   `json:"deadLettered"`
	OldestUnackedS float64 `json:"oldestUnackedSeconds"`
}

// Put creates a subscription, or changes the settings of an existing one
// (its start position stays). It reports whether it created it.
func (m *Manager) Put(ctx context.Context, topic, name string, cfg Config) (Info, bool, error) {
	if err := CheckName(name); err != nil {
		return Info{}, false, err
	}
	// The settings are checked before the topic is looked up, and the
	// dead-letter topic after.
	if err := cfg.CheckText(); err != nil {
		return Info{}, false, err
	}
	if err := cfg.withDefaults(topic, name).check(); err != nil {
		return Info{}, false, err
	}
	return m.Change(ctx, topic, name, func(Config, bool) (Config, error) { return cfg, nil })
}

// A ChangeFunc gets a subscription's settings (exists false: there is no
// such subscription, and cur is the zero Config) and returns the ones to
// store, or an error to change nothing.
type ChangeFunc func(cur Config, exists bool) (Config, error)

// Change creates a subscription or changes its settings to what change
// makes of the current ones (the start position stays). No other change
// of the subscription runs between the two, so a change that keeps some
// settings keeps them as they are when it is stored. It reports whether
// it created the subscription.
func (m *Manager) Change(ctx context.Context, topic, name string, change ChangeFunc) (Info, bool, error) {
	if err := CheckName(name); err != nil {
		return Info{}, false, err
	}
	t, err := m.broker.Topic(ctx, topic)
	if err != nil {
		return Info{}, false, err
	}
	for {
		m.mu.Lock()
		if m.deleting[topic] > 0 {
			m.mu.Unlock()
			return Info{}, false, fmt.Errorf("%w: %q is being deleted", broker.ErrTopicNotFound, topic)
		}
		s, ok := m.subs[subKey(topic, name)]
		if !ok {
			defer m.mu.Unlock()
			// Again under mu: a DeleteTopicAndSubscriptions may have run to
			// its end since the look-up above.
			if t, err = m.broker.Topic(ctx, topic); err != nil {
				return Info{}, false, err
			}
			cfg, err := m.changed(topic, name, change, Config{}, false)
			if err != nil {
				return Info{}, false, err
			}
			return m.create(ctx, t, name, cfg)
		}
		// Not under mu: s may be busy for long (a redrive), and the calls
		// of every other subscription need mu.
		m.mu.Unlock()
		info, created, err := m.update(ctx, s, change)
		if errors.Is(err, errDeleted) {
			continue // deleted meanwhile, and gone from subs: make it anew
		}
		return info, created, err
	}
}

// changed runs change and checks the settings it returns.
func (m *Manager) changed(topic, name string, change ChangeFunc, cur Config, exists bool) (Config, error) {
	cfg, err := change(cur, exists)
	if err != nil {
		return Config{}, err
	}
	return m.checkConfig(topic, name, cfg)
}

// checkConfig checks a subscription's settings and fills in the defaults.
func (m *Manager) checkConfig(topic, name string, cfg Config) (Config, error) {
	if err := cfg.CheckText(); err != nil {
		return Config{}, err
	}
	cfg = cfg.withDefaults(topic, name)
	if err := cfg.check(); err != nil {
		return Config{}, err
	}
	if err := broker.CheckTopicName(cfg.DeadLetterTopic); err != nil {
		return Config{}, fmt.Errorf("%w: deadLetterTopic: %w", ErrInvalidConfig, err)
	}
	if cfg.DeadLetterTopic == topic {
		return Config{}, fmt.Errorf("%w: deadLetterTopic must not be the subscription's own topic", ErrInvalidConfig)
	}
	if cfg.Push != nil {
		if m.checkPush == nil {
			return Config{}, fmt.Errorf("%w: push delivery is not available here", ErrInvalidConfig)
		}
		if err := m.checkPush(*cfg.Push); err != nil {
			return Config{}, fmt.Errorf("%w: push: %w", ErrInvalidConfig, err)
		}
	}
	return cfg, nil
}

// errDeleted is what update finds when the subscription was deleted while
// it waited for it.
var errDeleted = errors.New("subscription deleted")

func (m *Manager) create(ctx context.Context, t broker.Topic, name string, cfg Config) (Info, bool, error) {
	if m.maxSubs > 0 && len(m.subs) >= m.maxSubs {
		return Info{}, false, fmt.Errorf("%w: the server holds %d subscriptions, its limit (herald serve --max-subscriptions); delete one first", ErrTooMany, len(m.subs))
	}
	if err := checkDeadLetterGrant(ctx, t.Name, name, cfg.DeadLetterTopic); err != nil {
		return Info{}, false, err
	}
	start, err := m.startOffsets(ctx, t, cfg.Start)
	if err != nil {
		return Info{}, false, err
	}
	if _, _, err := m.broker.PutTopic(ctx, cfg.DeadLetterTopic, broker.TopicSpec{}); err != nil {
		return Info{}, false, fmt.Errorf("dead-letter topic %s: %w", cfg.DeadLetterTopic, err)
	}
	// An incarnation is never reused, even after compaction removed every
	// record of an older one: it is the creation time in nanoseconds (and
	// above every incarnation seen).
	m.inc = max(m.inc+1, uint64(time.Now().UnixNano()))
	rec := configRecord{Inc: m.inc, Config: cfg, Start: start, Created: m.now().UTC()}
	var b batch
	b.Put(configKey(t.Name, name), rec)
	for p, off := range start {
		b.Put(cursorKey(t.Name, name, p), cursorRecord{Inc: rec.Inc, Committed: off, Delivered: off})
	}
	if err := m.state.writeSynced(ctx, &b); err != nil {
		return Info{}, false, err
	}
	s := m.install(t.Name, name, rec)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info(ctx), true, nil
}

// startOffsets resolves a start position to an offset per partition.
func (m *Manager) startOffsets(ctx context.Context, t broker.Topic, start string) (map[int]int64, error) {
	offs := map[int]int64{}
	for p := 0; p < t.Partitions; p++ {
		first, end, err := m.broker.Offsets(ctx, t.Name, p)
		if err != nil {
			return nil, err
		}
		switch start {
		case "earliest":
			offs[p] = first
		case "latest":
			offs[p] = end
		default:
			at, _ := event.ParseTime(start)
			if offs[p], err = m.broker.OffsetForTime(ctx, t.Name, p, at); err != nil {
				return nil, err
			}
		}
	}
	return offs, nil
}

func (m *Manager) update(ctx context.Context, s *sub, change ChangeFunc) (Info, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return Info{}, false, errDeleted
	}
	cfg, err := m.changed(s.topic, s.name, change, s.cfg.clone(), true)
	if err != nil {
		return Info{}, false, err
	}
	cfg.Start = s.cfg.Start
	if cfg.Ordering != s.cfg.Ordering && s.pending() > 0 {
		return Info{}, false, fmt.Errorf("%w: ordering of %s can change only when no event is pending (%d are); "+
			"let them finish, or seek to skip them", ErrConflict, s.name, s.pending())
	}
	if cfg.DeadLetterTopic != s.cfg.DeadLetterTopic && s.redriving() > 0 {
		return Info{}, false, fmt.Errorf("%w: %d dead letters of %s are being redriven from %s; change the dead-letter topic once they are done",
			ErrConflict, s.redriving(), s.name, s.cfg.DeadLetterTopic)
	}
	if cfg.DeadLetterTopic != s.cfg.DeadLetterTopic {
		if err := checkDeadLetterGrant(ctx, s.topic, s.name, cfg.DeadLetterTopic); err != nil {
			return Info{}, false, err
		}
		if _, _, err := m.broker.PutTopic(ctx, cfg.DeadLetterTopic, broker.TopicSpec{}); err != nil {
			return Info{}, false, fmt.Errorf("dead-letter topic %s: %w", cfg.DeadLetterTopic, err)
		}
	}
	starts := map[int]int64{}
	for p, c := range s.parts {
		starts[p] = c.committed
	}
	var b batch
	b.Put(configKey(s.topic, s.name), configRecord{Inc: s.inc, Config: cfg, Start: starts, Created: s.created})
	if err := m.state.writeSynced(ctx, &b); err != nil {
		return Info{}, false, err
	}
	s.cfg = cfg
	return s.info(ctx), false, nil
}

// leaseSeed is where a subscription's lease numbers start in this process:
// the wall clock in nanoseconds, past every lease number an earlier
// process handed out (it handed out fewer than one per nanosecond of its
// life). Starting at 0 again, a restarted server would give the same event
// the same ack id as before, and a consumer still holding the old one
// would settle the new consumer's lease instead of being told it is stale.
// Lease numbers live in memory only; ack ids are compared, never ordered.
func leaseSeed() uint64 { return uint64(time.Now().UnixNano()) }

// install makes a subscription live from its config record.
func (m *Manager) install(topic, name string, rec configRecord) *sub {
	s := &sub{m: m, topic: topic, name: name, inc: rec.Inc, cfg: rec.Config, created: rec.Created,
		parts: map[int]*cursor{}, redrives: map[int]*cursor{}, resolved: map[dlqPos]string{}, changed: make(chan struct{}),
		leaseSeq: leaseSeed()}
	for p, off := range rec.Start {
		s.parts[p] = newCursor(p, off)
	}
	m.subs[subKey(topic, name)] = s
	if rec.Inc > m.inc {
		m.inc = rec.Inc
	}
	return s
}

// get returns a live subscription. One that does not exist is
// ErrNotFound, or the topic's error when the topic does not exist either.
func (m *Manager) get(ctx context.Context, topic, name string) (*sub, error) {
	m.mu.Lock()
	s, ok := m.subs[subKey(topic, name)]
	m.mu.Unlock()
	if !ok {
		if _, err := m.broker.Topic(ctx, topic); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s on topic %s", ErrNotFound, name, topic)
	}
	return s, nil
}

// Get describes a subscription with its per-partition state.
func (m *Manager) Get(ctx context.Context, topic, name string) (Info, error) {
	s, err := m.get(ctx, topic, name)
	if err != nil {
		return Info{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return Info{}, fmt.Errorf("%w: %s on topic %s (deleted)", ErrNotFound, name, topic)
	}
	if err := s.expire(ctx, m.now()); err != nil {
		return Info{}, err
	}
	return s.info(ctx), nil
}

// all returns every subscription, as the manager holds them now.
func (m *Manager) all() []*sub {
	m.mu.Lock()
	defer m.mu.Unlock()
	subs := make([]*sub, 0, len(m.subs))
	for _, s := range m.subs {
		subs = append(subs, s)
	}
	return subs
}

// All describes every subscription of every topic.
func (m *Manager) All(ctx context.Context) []Info {
	subs := m.all()
	infos := make([]Info, 0, len(subs))
	for _, s := range subs {
		s.mu.Lock()
		infos = append(infos, Info{Topic: s.topic, Name: s.name, Config: s.cfg, CreatedAt: s.created})
		s.mu.Unlock()
	}
	return infos
}

// List describes the subscriptions of a topic, by name.
func (m *Manager) List(ctx context.Context, topic string) ([]Info, error) {
	if _, err := m.broker.Topic(ctx, topic); err != nil {
		return nil, err
	}
	m.mu.Lock()
	var subs []*sub
	for _, s := range m.subs {
		if s.topic == topic {
			subs = append(subs, s)
		}
	}
	m.mu.Unlock()
	sort.Slice(subs, func(i, j int) bool { return subs[i].name < subs[j].name })
	infos := make([]Info, 0, len(subs))
	for _, s := range subs {
		s.mu.Lock()
		infos = append(infos, s.info(ctx))
		s.mu.Unlock()
	}
	return infos, nil
}

// Delete removes a subscription and its state. Its dead-letter topic stays.
func (m *Manager) Delete(ctx context.Context, topic, name string) error {
	// s is looked up, then waited for without mu: s may be busy for long
	// (a redrive), and the calls of every other subscription need mu.
	s, err := m.get(ctx, topic, name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return fmt.Errorf("%w: %s on topic %s", ErrNotFound, name, topic)
	}
	var b batch
	b.Delete(configKey(topic, name))
	for p, c := range s.parts {
		b.Delete(cursorKey(topic, name, p))
		for off := range c.recorded {
			b.Delete(eventKey(topic, name, p, off))
		}
		for low := range c.doneSets {
			b.Delete(doneKey(topic, name, p, low))
		}
	}
	for _, c := range s.redrives {
		for off := range c.recorded {
			b.Delete(s.recordKey(c, off))
		}
	}
	for pos := range s.resolved {
		b.Delete(redriveKey(topic, name, pos.dp, pos.doff))
	}
	for _, key := range s.auditKeys {
		b.Delete(key)
	}
	if err := m.state.writeSynced(ctx, &b); err != nil {
		return err
	}
	s.deleted = true
	s.signal()
	// Out of subs before s.mu is let go: a Put that waited for s finds it
	// deleted, and then finds no subscription of that name.
	m.mu.Lock()
	if m.subs[subKey(topic, name)] == s {
		delete(m.subs, subKey(topic, name))
	}
	m.mu.Unlock()
	return nil
}

// DeleteTopic deletes every subscription of a topic (the topic is being
// deleted; a topic of the same name made later starts without them).
func (m *Manager) DeleteTopic(ctx context.Context, topic string) error {
	m.mu.Lock()
	var names []string
	for _, s := range m.subs {
		if s.topic == topic {
			names = append(names, s.name)
		}
	}
	m.mu.Unlock()
	for _, name := range names {
		if err := m.Delete(ctx, topic, name); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// DeleteTopicAndSubscriptions deletes a topic's subscriptions, then the
// topic. In that order a crash between the two leaves a topic without
// subscriptions (deleting it again finishes the job), never subscriptions
// whose positions outlive their topic's log: made again, the topic would
// start below them, and they would skip its first events.
// Put refuses the topic while this runs, so that no subscription is made
// on it between the two.
func (m *Manager) DeleteTopicAndSubscriptions(ctx context.Context, topic string) error {
	m.mu.Lock()
	m.deleting[topic]++ // after any Put under way, which holds mu
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.deleting[topic]--; m.deleting[topic] == 0 {
			delete(m.deleting, topic)
		}
	}()
	if err := m.DeleteTopic(ctx, topic); err != nil {
		return err
	}
	return m.broker.DeleteTopic(ctx, topic)
}

// pending counts the events held (read and not finished) in all cursors.
func (s *sub) pending() int {
	n := s.redriving()
	for _, c := range s.parts {
		n += len(c.entries)
	}
	return n
}

// redriving counts redriven dead letters not yet finished.
func (s *sub) redriving() int {
	n := 0
	for _, c := range s.redrives {
		n += len(c.entries)
	}
	return n
}

// info describes s; called with s.mu held.
func (s *sub) info(ctx context.Context) Info {
	info := Info{Topic: s.topic, Name: s.name, Config: s.cfg, CreatedAt: s.created, Incarnation: s.inc}
	now := s.m.now()
	for _, c := range s.sortedParts() {
		pi := PartitionInfo{Partition: c.p, Committed: c.committed, DeadLettered: c.dead}
		if _, end, err := s.m.broker.Offsets(ctx, s.topic, c.p); err == nil {
			pi.End, pi.Lag = end, end-c.committed
		}
		for _, e := range c.entries {
			switch {
			case e.leased:
				pi.InFlight++
			case e.due.After(now):
				pi.WaitingRetry++
			}
		}
		if len(c.order) > 0 {
			if e := c.entries[c.order[0]]; e != nil && !e.ev.StoredAt.IsZero() {
				pi.OldestUnackedS = now.Sub(e.ev.StoredAt).Seconds()
			}
		}
		info.Partitions = append(info.Partitions, pi)
	}
	info.Redriving = s.redriving()
	return info
}

// Pull long-polls for up to max deliveries, waiting at most wait for the
// first one. The attempt counts of the deliveries are on disk before they
// are returned, so an event that crashes its consumer, and Herald with it
// (embedded), still reaches its dead letter: use it for consumers in
// Herald's process.
func (m *Manager) Pull(ctx context.Context, topic, name string, max int, wait time.Duration) ([]Delivery, error) {
	return m.pull(ctx, topic, name, 0, max, wait, true)
}

// PullRemote is Pull for consumers outside Herald's process (HTTP, gRPC,
// push): their crash cannot take Herald down, so the attempt counts are
// written as for Pull but the deliveries go out without waiting for the
// fsync. Only a crash of Herald itself in that moment can forget the
// newest attempt of events in flight (they come again, with the attempt
// number before). An ack of such a delivery is still answered only once
// the attempt's record and the ack are both on disk (they are written in
// order).
func (m *Manager) PullRemote(ctx context.Context, topic, name string, max int, wait time.Duration) ([]Delivery, error) {
	return m.pull(ctx, topic, name, 0, max, wait, false)
}

// PullRemoteOf is PullRemote from one incarnation of the subscription (its
// Info.Incarnation): once it was deleted, and maybe made again under its
// name, it is ErrNotFound. A consumer that stands for one subscription's
// settings (a pusher, with its URL) pulls so.
func (m *Manager) PullRemoteOf(ctx context.Context, topic, name string, inc uint64, max int, wait time.Duration) ([]Delivery, error) {
	return m.pull(ctx, topic, name, inc, max, wait, false)
}

// pull pulls from the subscription topic/name; with inc other than 0, only
// from that incarnation of it.
func (m *Manager) pull(ctx context.Context, topic, name string, inc uint64, max int, wait time.Duration, durable bool) ([]Delivery, error) {
	s, err := m.get(ctx, topic, name)
	if err != nil {
		return nil, err
	}
	if inc != 0 && s.inc != inc {
		return nil, fmt.Errorf("%w: %s on topic %s was deleted (and made again)", ErrNotFound, name, topic)
	}
	if max <= 0 {
		max = 1
	}
	deadline := time.Now().Add(wait)
	for {
		ds, wake, err := s.pullOnce(ctx, max, wait > 0, durable)
		if err != nil || len(ds) > 0 || !time.Now().Before(deadline) {
			return ds, err
		}
		if err := waitFor(ctx, wake, time.Until(deadline)); err != nil {
			return nil, nil // the wait ended: an empty reply, as when nothing comes
		}
	}
}

// pullOnce tries one pull; with nothing to deliver it returns what to wait
// for: new events, an ack or nack, or the next retry or lease deadline.
// durable: the attempts are on disk before anyone sees a delivery.
func (s *sub) pullOnce(ctx context.Context, max int, willWait, durable bool) ([]Delivery, wakeup, error) {
	ds, w, pw, err := s.pullLocked(ctx, max, willWait)
	if err == nil && durable {
		err = pw.wait()
	}
	if err != nil {
		return nil, wakeup{}, err
	}
	return ds, w, nil
}

func (s *sub) pullLocked(ctx context.Context, max int, willWait bool) ([]Delivery, wakeup, *pendingWrite, error) {
	if err := ctx.Err(); err != nil {
		return nil, wakeup{}, nil, err // nobody would receive what we leased
	}
	if err := s.m.state.err(); err != nil {
		return nil, wakeup{}, nil, err // its attempts could not be recorded, nor its acks
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deleted {
		return nil, wakeup{}, nil, fmt.Errorf("%w: %s on topic %s (deleted)", ErrNotFound, s.name, s.topic)
	}
	ds, pw, err := s.pull(ctx, max)
	if err != nil || len(ds) > 0 || !willWait {
		return ds, wakeup{}, pw, err
	}
	w := wakeup{changed: s.changed}
	for _, c := range s.allCursors() {
		if t := c.nextDue(); !t.IsZero() && (w.at.IsZero() || t.Before(w.at)) {
			w.at = t
		}
		if c.isRedrive() || len(c.entries) > window/2 {
			continue // nothing new is read into a full window: waiting for data would spin
		}
		if ch, err := s.m.waitData(s.topic, c.p, c.fetched); err == nil {
			w.data = append(w.data, ch)
		}
	}
	return nil, w, pw, nil
}

// wakeup is what a long poll waits on.
type wakeup struct {
	changed <-chan struct{}
	data    []<-chan struct{}
	at      time.Time // zero: no deadline
}

var errWaitOver = errors.New("wait over")

// waitFor blocks until something in w happens, the time runs out or ctx
// ends (errWaitOver or ctx's error).
func waitFor(ctx context.Context, w wakeup, left time.Duration) error {
	if !w.at.IsZero() {
		left = min(left, time.Until(w.at)+time.Millisecond)
	}
	if left <= 0 {
		return nil
	}
	timer := time.NewTimer(left)
	defer timer.Stop()
	wake := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	for _, ch := range w.data {
		go func() {
			select {
			case <-ch:
				select {
				case wake <- struct{}{}:
				case <-stop:
				}
			case <-stop:
			}
		}()
	}
	select {
	case <-w.changed:
	case <-wake:
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// waitData returns a channel closed when a partition has an event at
// offset end (the cursor's next read).
func (m *Manager) waitData(topic string, p int, end int64) (<-chan struct{}, error) {
	w, ok := m.broker.Engine().(interface {
		Wait(topic string, partition int, end int64) (<-chan struct{}, error)
	})
	if !ok {
		return nil, errors.New("engine cannot wait")
	}
	return w.Wait(topic, p, end) // closed once the partition holds an offset at or past end
}

// Ack acknowledges deliveries; it returns once the acks are durable.
func (m *Manager) Ack(ctx context.Context, topic, name string, ackIDs []string) (AckResult, error) {
	return m.withSub(ctx, topic, name, func(s *sub) (AckResult, *pendingWrite, error) { return s.ack(ctx, ackIDs) })
}

// Nack gives deliveries back: redelivered after delay (0: the backoff), or
// dead-lettered when out of attempts.
func (m *Manager) Nack(ctx context.Context, topic, name string, ackIDs []string, delay time.Duration, reason string) (AckResult, error) {
	return m.withSub(ctx, topic, name, func(s *sub) (AckResult, *pendingWrite, error) {
		return s.nack(ctx, ackIDs, delay, reason)
	})
}

// Reject dead-letters deliveries at once, whatever their attempts: for
// events that can never succeed (a handler's permanent error).
func (m *Manager) Reject(ctx context.Context, topic, name string, ackIDs []string, reason string) (AckResult, error) {
	return m.withSub(ctx, topic, name, func(s *sub) (AckResult, *pendingWrite, error) {
		return s.reject(ctx, ackIDs, reason)
	})
}

// Release gives deliveries back unhandled: deliverable again at once, and
// not counted as an attempt (for a consumer that took them ahead and
// stopped before it started them).
func (m *Manager) Release(ctx context.Context, topic, name string, ackIDs []string) (AckResult, error) {
	return m.withSub(ctx, topic, name, func(s *sub) (AckResult, *pendingWrite, error) { return s.release(ctx, ackIDs) })
}

// Extend gives leased deliveries more time (0: the ack timeout).
func (m *Manager) Extend(ctx context.Context, topic, name string, ackIDs []string, d time.Duration) (AckResult, error) {
	return m.withSub(ctx, topic, name, func(s *sub) (AckResult, *pendingWrite, error) {
		if err := s.expire(ctx, m.now()); err != nil { // a lease past its deadline is over, not extended
			return AckResult{}, nil, err
		}
		return s.extend(ackIDs, d), nil, nil
	})
}

// withSub runs fn under the subscription's lock, then waits for the state
// it queued to be durable before answering.
func (m *Manager) withSub(ctx context.Context, topic, name string, fn func(*sub) (AckResult, *pendingWrite, error)) (AckResult, error) {
	s, err := m.get(ctx, topic, name)
	if err != nil {
		return AckResult{}, err
	}
	s.mu.Lock()
	var res AckResult
	var pw *pendingWrite
	if s.deleted {
		err = fmt.Errorf("%w: %s on topic %s (deleted)", ErrNotFound, name, topic)
	} else {
		res, pw, err = fn(s)
	}
	s.mu.Unlock()
	if werr := pw.wait(); err == nil {
		err = werr
	}
	if err != nil {
		return AckResult{}, err
	}
	return res, nil
}

// Close stops the state writer once everything queued is written. Call it
// before closing the engine.
func (m *Manager) Close() { m.state.close() }
