package broker

import (
	"context"
	"errors"
	"sync/atomic"
)

// PublishOutcome is how a publish to an existing topic ended.
type PublishOutcome int

// The outcomes of a publish, as metrics label them.
const (
	PublishOK       PublishOutcome = iota // stored, or found stored already (duplicates)
	PublishRejected                       // its events were refused: invalid, too large, none, or breaking their schemas
	PublishFailed                         // it could not be stored: storage, dedup index, or no schema registry
	PublishCanceled                       // the caller's context ended first
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "rejected", "failed", "canceled"}

func (o PublishOutcome) String() string { return outcomeNames[o] }

// PublishStats counts a topic's publishes since the broker started (or
// the topic was made again after a deletion). Publishes that name no
// existing topic are not counted: the names are the caller's, unbounded.
type PublishStats struct {
	Events     uint64              // events stored
	Duplicates uint64              // events found stored already, so not stored again
	Requests   [numOutcomes]uint64 // publish calls, by PublishOutcome
}

// publishCounters are a topic's PublishStats, counted once per publish
// call (never per event), with atomic adds on the state it already holds.
// They are forgotten with the topic (Broker.drop), after the publishes in
// flight have counted into them.
type publishCounters struct {
	events     atomic.Uint64
	duplicates atomic.Uint64
	requests   [numOutcomes]atomic.Uint64
}

// PublishStats returns the counts of a topic's publishes; zero for a topic
// not published to since the broker started.
func (b *Broker) PublishStats(topic string) PublishStats {
	b.mu.Lock()
	c := b.counts[topic]
	b.mu.Unlock()
	var s PublishStats
	if c == nil {
		return s
	}
	s.Events, s.Duplicates = c.events.Load(), c.duplicates.Load()
	for o := range s.Requests {
		s.Requests[o] = c.requests[o].Load()
	}
	return s
}

// CountRejected counts a publish refused before its topic was looked up,
// if the topic exists: one whose batch broke a limit, or one a server
// refused before its events reached the broker (they could not be read or
// decoded). Only refused publishes pay for the lookup, under mu so that a
// deletion (which forgets the topic's counts after the engine deleted it)
// cannot leave counts behind.
func (b *Broker) CountRejected(ctx context.Context, topic string) {
	b.countRefused(ctx, topic, PublishRejected)
}

// countRefused counts a publish that ended before its topic was looked
// up, as CountRejected does, with its outcome.
func (b *Broker) countRefused(ctx context.Context, topic string, o PublishOutcome) {
	if checkUserTopic(topic) != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.counts[topic]
	if c == nil {
		if _, err := b.engine.Topic(context.WithoutCancel(ctx), topic); err != nil {
			return
		}
		c = &publishCounters{}
		b.counts[topic] = c
	}
	c.requests[o].Add(1)
}

// failedOutcome is the outcome of a publish that failed past its checks.
func failedOutcome(err error) PublishOutcome {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return PublishCanceled
	}
	return PublishFailed
}
