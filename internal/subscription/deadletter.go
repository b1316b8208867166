package subscription

import (
	"context"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/auth"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/storage"
)

// Extension attributes a dead letter carries: why it died and where it came
// from. A dead letter's id is the event's id followed by "@<topic>/<sub>",
// unique to the subscription (several subscriptions may share a
// dead-letter topic), and the same every time, so dead-lettering it twice
// (a crash between the dead-letter write and the state write) stores it
// once: the dead-letter topic deduplicates. ExtID keeps the event's own id.
const (
	ExtID           = "deadid"
	ExtReason       = "deadreason"
	ExtAttempts     = "deadattempts"
	ExtSubscription = "deadsubscription"
	ExtTopic        = "deadtopic"
	ExtPartition    = "deadpartition"
	ExtOffset       = "deadoffset"
	ExtStoredTime   = "deadstoredtime"
	ExtTime         = "deadtime"
)

// CheckPublishedDeadLetters refuses events that say they are dead letters
// of a subscription on a topic (ExtTopic) to a caller (the principal in
// ctx, when the server checks tokens) that may not publish on that topic:
// a redrive of the subscription would deliver them to its consumers as
// events of that topic, so a token that may publish only into a
// dead-letter topic could put events before them.
func CheckPublishedDeadLetters(ctx context.Context, evs []*event.Event) error {
	for i, ev := range evs {
		topic, ok := ev.Extensions[ExtTopic]
		if !ok {
			continue
		}
		if err := auth.Check(ctx, auth.Publish, topic); err != nil {
			return fmt.Errorf("%w; event %d (%s) is a dead letter of that topic by its %s attribute, which needs publish there too", err, i, ev.ID, ExtTopic)
		}
	}
	return nil
}

// deadLetter stores the event in the dead-letter topic, durably, and only
// then counts it done for this subscription. Durably in every fsync mode:
// with one that lets an append return before its fsync, the dead-letter
// topic is fsynced before the record that the event is done is written, as
// that record could otherwise reach the disk first and outlive the dead
// letter in a power cut. If the dead letter cannot be
// stored (the topic is gone, the disk is full, the event with its reasons
// is over the size limit), only this event waits: it is tried again after
// its backoff, and every other key goes on. The error is always nil; it
// stays in the signature for callers that pass it on.
func (s *sub) deadLetter(ctx context.Context, c *cursor, e *entry, now time.Time, b *batch) error {
	dl := deadLetterEvent(e.ev, s.topic, s.name, e, now)
	// The dead letter is larger than the event by its attributes; the event
	// was accepted, so its dead letter may pass the size limit by that much.
	extra := dl.Size() - e.ev.Size()
	// Herald's own write, not the consumer's: the subscription's admin
	// chose the topic (checkDeadLetterGrant), so a deleted one is made
	// again whoever's request this is.
	res, err := s.m.broker.PublishOver(auth.AsHerald(ctx), s.cfg.DeadLetterTopic, []*event.Event{dl}, extra)
	if syncer, ok := s.m.broker.Engine().(storage.Syncer); ok && err == nil && len(res) == 1 {
		err = syncer.Sync(ctx, s.cfg.DeadLetterTopic, res[0].Partition) // only its: another may have failed
	}
	if err != nil {
		e.leased = false
		e.due = now.Add(s.cfg.Backoff.delay(e.attempts, 0))
		e.attempts = max(e.attempts, s.cfg.MaxAttempts) // dead-letter it, not deliver it, next time
		rec := s.eventRecord(e)
		rec.RetryAt = e.due.UnixMilli()
		rec.Reason = limitReason(fmt.Sprintf("%s (storing the dead letter in %s failed: %v)", e.reason, s.cfg.DeadLetterTopic, err))
		b.Put(s.recordKey(c, e.off), rec)
		c.recorded[e.off] = true
		return nil
	}
	s.unresolve(res, b)
	s.countDead(c, e, b)
	s.finish(c, e, b)
	return nil
}

// unresolve drops the resolved mark of a dead letter that its event went
// into again: within the dead-letter topic's dedup window the event's
// first dead letter stands for the new one, and once more it is a dead
// letter to redrive, not one that was redriven and acked.
func (s *sub) unresolve(res []broker.Result, b *batch) {
	if len(res) != 1 || !res[0].Duplicate {
		return
	}
	pos := dlqPos{res[0].Partition, res[0].Offset}
	if _, ok := s.resolved[pos]; !ok {
		return
	}
	delete(s.resolved, pos)
	b.Delete(redriveKey(s.topic, s.name, pos.dp, pos.doff))
}

// countDead counts a stored dead letter in the cursor of its event's
// partition. A redriven event that dies again is counted there too, with
// that cursor's record, since a redrive cursor keeps no count.
func (s *sub) countDead(c *cursor, e *entry, b *batch) {
	if !c.isRedrive() {
		c.dead++
		return
	}
	if pc := s.parts[e.ev.Partition]; pc != nil {
		pc.dead++
		b.Put(cursorKey(s.topic, s.name, pc.p), s.cursorRecord(pc))
	}
}

// maxReason bounds a reason kept with an event or a dead letter.
const maxReason = 1024

// limitReason makes a reason a CloudEvents String (it goes into the dead
// letter's deadreason attribute: a reason with a line break, such as a
// stack trace, would make every try to store the dead letter fail) and
// bounds it to maxReason bytes as JSON encodes it (the state records are
// JSON, which writes <, >, &, quotes and backslashes as up to six bytes
// each), cut between characters. Bounding the encoded size is what keeps a
// settlement of MaxAckIDs records within one state write.
func limitReason(r string) string {
	r = event.MakeString(r)
	cost, cut := 0, -1
	for i, c := range r {
		cost += jsonCost(c)
		if cut < 0 && cost > maxReason-3 {
			cut = i
		}
		if cost > maxReason {
			return r[:cut] + "..."
		}
	}
	return r
}

// jsonCost is at most how many bytes encoding/json writes for c in a string.
func jsonCost(c rune) int {
	switch {
	case c < 0x20, c == '<', c == '>', c == '&', c == '\u2028', c == '\u2029':
		return 6 // \u00XX
	case c == '"', c == '\\':
		return 2
	}
	return utf8.RuneLen(c)
}

// deadLetterEvent copies an event for the dead-letter topic with the
// reasons it died.
func deadLetterEvent(ev *event.Event, topic, sub string, e *entry, now time.Time) *event.Event {
	dl := *ev
	dl.Topic, dl.Partition, dl.Offset, dl.StoredAt, dl.Stored = "", 0, 0, time.Time{}, false
	dl.Extensions = make(map[string]string, len(ev.Extensions)+8)
	for k, v := range ev.Extensions {
		dl.Extensions[k] = v
	}
	dl.ID = ev.ID + "@" + topic + "/" + sub
	dl.Extensions[ExtID] = ev.ID
	dl.Extensions[ExtReason] = limitReason(e.reason)
	dl.Extensions[ExtAttempts] = strconv.Itoa(e.attempts)
	dl.Extensions[ExtSubscription] = sub
	dl.Extensions[ExtTopic] = topic
	dl.Extensions[ExtPartition] = strconv.Itoa(ev.Partition)
	dl.Extensions[ExtOffset] = strconv.FormatInt(ev.Offset, 10)
	dl.Extensions[ExtStoredTime] = ev.StoredAt.UTC().Format(time.RFC3339Nano)
	dl.Extensions[ExtTime] = now.UTC().Format(time.RFC3339Nano)
	return &dl
}
