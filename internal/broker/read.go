package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/storage"
)

// MaxReadBytes bounds the stored bytes one Read returns.
const MaxReadBytes = 8 << 20

// MaxReadLimit is the most events one read over an API (the Go SDK's
// included) asks for.
const MaxReadLimit = 10000

// Read returns up to limit events of one partition from offset on. A read
// at the end offset returns none; before the start or past the end is
// storage.ErrOffsetOutOfRange.
func (b *Broker) Read(ctx context.Context, topic string, partition int, offset int64, limit int) ([]*event.Event, error) {
	if err := checkUserTopic(topic); err != nil {
		return nil, err
	}
	recs, err := b.engine.Read(ctx, topic, partition, offset, limit, MaxReadBytes)
	if err != nil {
		return nil, err
	}
	events := make([]*event.Event, len(recs))
	for i, r := range recs {
		e, err := event.FromKafka(r.Key, r.Value, r.Headers)
		if err != nil {
			return nil, fmt.Errorf("%w: topic %s partition %d offset %d is not an event: %w", storage.ErrCorrupt, topic, partition, r.Offset, err)
		}
		e.Topic, e.Partition, e.Offset, e.StoredAt, e.Stored = topic, partition, r.Offset, r.Timestamp.UTC(), true
		events[i] = e
	}
	return events, nil
}

// OffsetForTime returns the first offset of a partition stored at or after
// t (the end offset when none is).
func (b *Broker) OffsetForTime(ctx context.Context, topic string, partition int, t time.Time) (int64, error) {
	return b.engine.OffsetForTime(ctx, topic, partition, t)
}

// Offsets returns a partition's start offset (its oldest event still
// stored) and end offset (the next event's). Herald's own "__" topics are
// refused, as Read refuses them.
func (b *Broker) Offsets(ctx context.Context, topic string, partition int) (int64, int64, error) {
	if err := checkUserTopic(topic); err != nil {
		return 0, 0, err
	}
	return b.engine.Offsets(ctx, topic, partition)
}

// ReadWait reads like Read; when the partition has nothing at offset yet,
// it waits up to wait for the first event there. Engines that cannot tell
// when a partition grows answer at once.
func (b *Broker) ReadWait(ctx context.Context, topic string, partition int, offset int64, limit int, wait time.Duration) ([]*event.Event, error) {
	events, err := b.Read(ctx, topic, partition, offset, limit)
	if err != nil || len(events) > 0 || wait <= 0 || !b.WaitData(ctx, topic, partition, offset, wait) {
		return events, err
	}
	return b.Read(ctx, topic, partition, offset, limit)
}

// WaitData waits up to d for a partition to hold an event at offset end.
// It reports whether it does (or may); false when the time ran out, ctx
// ended or the engine cannot wait.
func (b *Broker) WaitData(ctx context.Context, topic string, partition int, end int64, d time.Duration) bool {
	wt, ok := b.engine.(interface {
		Wait(topic string, partition int, end int64) (<-chan struct{}, error)
	})
	if !ok {
		return false
	}
	ch, err := wt.Wait(topic, partition, end)
	if err != nil {
		return false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	return false
}
