package subscription

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldevents/herald/internal/storage"
)

// stateTopic keeps every subscription's durable state, as keyed records
// (the latest record of a key wins; a nil value deletes the key), so a
// compacted topic holds it and the Kafka engine carries it unchanged:
//
//	c/<topic>/<sub>                      config: settings, incarnation, start offsets
//	p/<topic>/<sub>/<partition>          cursor: committed and delivered offsets
//	e/<topic>/<sub>/<partition>/<offset> event: attempts, retry time, reason
//	d/<topic>/<sub>/<partition>/<offset> done set: offsets acked out of order by one call, or runs of them
//
// committed: every offset below it is acked or dead-lettered. delivered:
// every offset in [committed, delivered) was delivered at least once, so
// its attempt count is at least 1 without an event record. An event record
// exists only for what the cursor cannot say: a second or later attempt,
// a scheduled retry, or an ack out of order; it is deleted once committed
// passes it. Every record carries the subscription's incarnation, so the
// records of a deleted subscription never leak into a new one of the same
// name.
const stateTopic = "__herald_subscriptions"

type configRecord struct {
	Inc     uint64        `json:"inc"`
	Config  Config        `json:"config"`
	Start   map[int]int64 `json:"start"` // first offset per partition at creation
	Created time.Time     `json:"created"`
}

type cursorRecord struct {
	Inc       uint64 `json:"inc"`
	Committed int64  `json:"committed"`
	Delivered int64  `json:"delivered"`
	Dead      int64  `json:"dead,omitempty"` // events dead-lettered so far
}

// doneRecord lists offsets acked out of order (past committed) by one
// call, or runs of such offsets that merge many calls' sets (donesets.go),
// under the key d/<topic>/<sub>/<partition>/<lowest offset>; it is deleted
// once committed passes its highest offset.
type doneRecord struct {
	Inc     uint64  `json:"inc"`
	Offsets []int64 `json:"offsets,omitempty"`
	Ranges  []run   `json:"ranges,omitempty"` // instead of offsets: the done sets merged (donesets.go)
}

type eventRecord struct {
	Inc      uint64 `json:"inc"`
	Attempts int    `json:"attempts,omitempty"`
	RetryAt  int64  `json:"retryAt,omitempty"` // unix ms
	Reason   string `json:"reason,omitempty"`
	// Done: a redriven dead letter acked (r record), or, in an older
	// Herald, an event acked out of order (e record).
	Done bool   `json:"done,omitempty"`
	ID   string `json:"id,omitempty"` // the dead letter's own id (r record)
	// Seq: a redriven event's place in the order of redrives (r record), so
	// that its key's events come in that order after a restart too.
	Seq uint64 `json:"seq,omitempty"`
}

func configKey(topic, sub string) string { return "c/" + topic + "/" + sub }
func cursorKey(topic, sub string, p int) string {
	return "p/" + topic + "/" + sub + "/" + strconv.Itoa(p)
}
func doneKey(topic, sub string, p int, low int64) string {
	return "d/" + topic + "/" + sub + "/" + strconv.Itoa(p) + "/" + strconv.FormatInt(low, 10)
}

func eventKey(topic, sub string, p int, off int64) string {
	b := make([]byte, 0, 2+len(topic)+1+len(sub)+1+4+1+20)
	b = append(append(append(append(append(b, "e/"...), topic...), '/'), sub...), '/')
	b = strconv.AppendInt(append(strconv.AppendInt(b, int64(p), 10), '/'), off, 10)
	return string(b)
}

// stateLog appends and replays the state topic. Appends go through one
// writer goroutine that takes every batch queued so far, in queue order,
// as one append: one fsync for many pulls and acks of any subscription.
// Callers queue a batch while they hold their subscription's lock (so
// batches are in the order the changes were made) and wait for it after
// releasing the lock. A failed append fails every later one too: the
// state on disk has a hole, so nothing may be acknowledged until a
// restart replays what is really there.
type stateLog struct {
	engine storage.Engine
	queue  chan *pendingWrite
	failed atomic.Pointer[error]
	done   chan struct{} // closed when the writer has exited

	closeMu  sync.RWMutex // held for reading while queueing; close takes it to stop the queue
	closed   bool
	stop     chan struct{} // closed by close: a write waiting for disk space gives up
	stopOnce sync.Once
}

// pendingWrite is a queued batch; done closes once it is durable or failed.
type pendingWrite struct {
	recs []storage.Record
	sync bool // fsynced before it is answered, whatever the engine's sync mode
	err  error
	done chan struct{}
}

func openState(ctx context.Context, e storage.Engine) (*stateLog, error) {
	cfg := storage.TopicConfig{Partitions: 1, Compact: true} // the newest record of a key is the state
	err := e.CreateTopic(ctx, stateTopic, cfg)
	if errors.Is(err, storage.ErrTopicExists) {
		if info, ierr := e.Topic(ctx, stateTopic); ierr == nil && !info.Config.Compact {
			err = e.UpdateTopic(ctx, stateTopic, cfg) // made before compaction existed
		} else {
			err = ierr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("subscription state: %w", err)
	}
	l := &stateLog{engine: e, queue: make(chan *pendingWrite, 4096), done: make(chan struct{}), stop: make(chan struct{})}
	go l.run()
	return l, nil
}

// enqueue queues a batch; nil for an empty one.
func (l *stateLog) enqueue(b *batch) *pendingWrite { return l.enqueueSyncing(b, false) }

// enqueueSyncing is enqueue, with sync: the batch is fsynced before it is
// answered, whatever the engine's sync mode.
func (l *stateLog) enqueueSyncing(b *batch, sync bool) *pendingWrite {
	if len(b.Records) == 0 {
		return nil
	}
	pw := &pendingWrite{recs: b.Records, sync: sync, done: make(chan struct{})}
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		pw.err = fmt.Errorf("subscription state: %w", storage.ErrClosed)
		close(pw.done)
		return pw
	}
	l.queue <- pw
	return pw
}

// wait returns once the batch is durable (or failed). A nil write waits
// for nothing.
func (pw *pendingWrite) wait() error {
	if pw == nil {
		return nil
	}
	<-pw.done
	return pw.err
}

func (l *stateLog) run() {
	defer close(l.done)
	var carry *pendingWrite // taken from the queue, too large for the group before it
	for {
		pw := carry
		carry = nil
		if pw == nil {
			var ok bool
			if pw, ok = <-l.queue; !ok {
				return
			}
		}
		group := []*pendingWrite{pw}
		recs := pw.recs
		size := recordsSize(pw.recs)
		sync := pw.sync
	more:
		for len(recs) < maxGroupRecords {
			select {
			case next, ok := <-l.queue:
				if !ok {
					break more
				}
				n := recordsSize(next.recs)
				if size+n > maxGroupBytes || len(recs)+len(next.recs) > maxGroupRecords {
					carry = next // it starts the next group
					break more
				}
				group = append(group, next)
				recs = append(recs[:len(recs):len(recs)], next.recs...)
				size += n
				sync = sync || next.sync
			default:
				break more
			}
		}
		err := l.append(recs, sync)
		for _, g := range group {
			g.err = err
			close(g.done)
		}
	}
}

// A group of state writes takes no write that would bring it past
// maxGroupRecords records or maxGroupBytes bytes (a write larger than that
// goes alone). One write is at most a settlement of MaxAckIDs records of
// under 2 KiB each (a reason's JSON is at most maxReason bytes; topic and
// subscription names at most 249 bytes each), about 20 MB, far below the
// log's 64 MiB limit on one append: past it the append would fail, and
// with it the writer, for every subscription.
const (
	maxGroupRecords = 50000
	maxGroupBytes   = 8 << 20
)

// recordsSize is about how many bytes records take in a batch.
func recordsSize(recs []storage.Record) int {
	n := 0
	for _, r := range recs {
		n += len(r.Key) + len(r.Value) + 32
	}
	return n
}

// append writes records, waiting out a full disk: the engine stored
// nothing of a write that found no space, so the same records are tried
// again (100ms, doubling to 5s) and the acks waiting for them are answered
// once space returns. With sync, the state topic is then fsynced, for an
// engine whose sync mode did not. Any other failure, or a close while
// waiting, fails the writer for good: the state in memory would no longer
// match the disk.
func (l *stateLog) append(recs []storage.Record, sync bool) error {
	if err := l.err(); err != nil {
		return err
	}
	parts := []storage.PartitionRecords{{Partition: 0, Records: recs}}
	_, err := l.engine.Append(context.Background(), stateTopic, parts)
	for wait := 100 * time.Millisecond; errors.Is(err, storage.ErrNoSpace); wait = min(2*wait, 5*time.Second) {
		select {
		case <-time.After(wait):
			_, err = l.engine.Append(context.Background(), stateTopic, parts)
		case <-l.stop:
			err = fmt.Errorf("closed while waiting for disk space: %w", err)
		}
		if errors.Is(err, storage.ErrNoSpace) && isClosed(l.stop) {
			break
		}
	}
	if syncer, ok := l.engine.(storage.Syncer); ok && sync && err == nil {
		err = syncer.Sync(context.Background(), stateTopic)
	}
	if err != nil {
		err = fmt.Errorf("subscription state (nothing more is acknowledged until a restart): %w", err)
		l.failed.CompareAndSwap(nil, &err)
	}
	return err
}

// err is the error that failed the writer for good, or nil.
func (l *stateLog) err() error {
	if e := l.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// close stops the writer after the queued batches.
func (l *stateLog) close() {
	// First stop a write waiting for disk space: while it waits the queue
	// may be full, and a writer blocked on it holds closeMu for reading.
	l.stopOnce.Do(func() { close(l.stop) })
	l.closeMu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.closeMu.Unlock()
	<-l.done
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// batch collects state records to append together.
type batch = storage.StateRecords

// write appends a batch durably (all or nothing) and waits for it.
func (l *stateLog) write(ctx context.Context, b *batch) error {
	return l.enqueue(b).wait()
}

// writeSynced is write, fsynced whatever the engine's sync mode: for what
// an operator does to a subscription (create, change, delete, seek,
// redrive), which is rare and which what follows depends on: a
// subscription made at the latest position and lost in a power cut would,
// made again, miss the events published meanwhile; a seek or redrive lost
// would not deliver what it said it would, and its audit record would be
// gone.
func (l *stateLog) writeSynced(ctx context.Context, b *batch) error {
	return l.enqueueSyncing(b, true).wait()
}

// replay calls fn for every state record in order.
func (l *stateLog) replay(ctx context.Context, fn func(key string, value []byte) error) error {
	start, end, err := l.engine.Offsets(ctx, stateTopic, 0)
	if err != nil {
		return fmt.Errorf("subscription state: %w", err)
	}
	for off := start; off < end; {
		recs, err := l.engine.Read(ctx, stateTopic, 0, off, 10000, 8<<20)
		if err != nil {
			return fmt.Errorf("subscription state: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if err := fn(string(r.Key), r.Value); err != nil {
				return fmt.Errorf("subscription state at offset %d: %w", r.Offset, err)
			}
		}
		off = recs[len(recs)-1].Offset + 1
	}
	// A read at the end fails when damage (not a torn last write) ends the
	// partition early: the state past it cannot be read, and going on
	// without it would lose it.
	if _, err := l.engine.Read(ctx, stateTopic, 0, end, 1, 1); err != nil {
		return fmt.Errorf("subscription state: %w", err)
	}
	return nil
}

// parseKey splits a state key into its kind and fields.
func parseKey(key string) (kind string, topic, sub string, p int, off int64, err error) {
	f := strings.Split(key, "/")
	if len(f) < 3 {
		return "", "", "", 0, 0, fmt.Errorf("bad state key %q", key)
	}
	kind, topic, sub = f[0], f[1], f[2]
	want := map[string]int{"c": 3, "p": 4, "e": 5, "d": 5, "r": 5, "a": 4}[kind]
	if want == 0 || len(f) != want {
		return "", "", "", 0, 0, fmt.Errorf("bad state key %q", key)
	}
	if len(f) > 3 && kind != "a" { // an audit key ends in time.sequence
		if p, err = strconv.Atoi(f[3]); err != nil {
			return "", "", "", 0, 0, fmt.Errorf("bad state key %q", key)
		}
	}
	if len(f) > 4 {
		if off, err = strconv.ParseInt(f[4], 10, 64); err != nil {
			return "", "", "", 0, 0, fmt.Errorf("bad state key %q", key)
		}
	}
	return kind, topic, sub, p, off, nil
}
