package server

import (
	"strings"
	"time"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/push"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/subscription"
)

// The JSON bodies of the v1 API. The CLI decodes replies with these types.

// TopicSpec is the body of PUT /v1/topics/{topic}. Every field is
// optional; durations are Go duration strings ("168h", "2m"), and "0" or
// "0s" turns retention (keep forever) or deduplication off.
// SchemaPolicy is none, validate or require.
type TopicSpec struct {
	Partitions     *int    `json:"partitions,omitempty"`
	Retention      *string `json:"retention,omitempty"`
	RetentionBytes *int64  `json:"retentionBytes,omitempty"`
	DedupWindow    *string `json:"dedupWindow,omitempty"`
	SchemaPolicy   *string `json:"schemaPolicy,omitempty"`
}

// Topic describes a topic. Offsets is set only by GET /v1/topics/{topic}.
type Topic struct {
	Name           string             `json:"name"`
	Partitions     int                `json:"partitions"`
	Retention      string             `json:"retention"`
	RetentionBytes int64              `json:"retentionBytes"`
	DedupWindow    string             `json:"dedupWindow"`
	SchemaPolicy   string             `json:"schemaPolicy"`
	CreatedAt      time.Time          `json:"createdAt"`
	Offsets        []PartitionOffsets `json:"offsets,omitempty"`
}

// PartitionOffsets is a partition's first readable offset and its end
// offset (the offset of the next event stored).
type PartitionOffsets struct {
	Partition   int   `json:"partition"`
	StartOffset int64 `json:"startOffset"`
	EndOffset   int64 `json:"endOffset"`
}

// TopicList is the body of GET /v1/topics.
type TopicList struct {
	Topics []Topic `json:"topics"`
}

// PublishReply is the body of a successful POST /v1/topics/{topic}/events:
// one entry per published event, in the order they were sent.
type PublishReply struct {
	Events []broker.Result `json:"events"`
}

// SubscriptionSpec is the body of PUT /v1/topics/{topic}/subscriptions/{name}.
// Every field is optional: on a new subscription a missing field takes its
// default, on an existing one it keeps its value. Durations are Go
// duration strings ("30s", "5m").
type SubscriptionSpec struct {
	Start           *string      `json:"start,omitempty"` // earliest | latest | RFC 3339 time; fixed at creation
	AckTimeout      *string      `json:"ackTimeout,omitempty"`
	MaxAttempts     *int         `json:"maxAttempts,omitempty"`
	Backoff         *BackoffSpec `json:"backoff,omitempty"`
	Ordering        *string      `json:"ordering,omitempty"` // key | partition | none
	Filter          *FilterSpec  `json:"filter,omitempty"`
	DeadLetterTopic *string      `json:"deadLetterTopic,omitempty"`
	// Push makes Herald POST the events to an endpoint; an empty url
	// removes it.
	Push *PushSpec `json:"push,omitempty"`
}

// PushSpec is a subscription's push endpoint. The secret signs every
// request (Herald-Signature); replies never show it. A change of a push
// subscription keeps the fields it leaves out.
type PushSpec struct {
	// URL is where events go; "" turns push off. Left out, a change keeps
	// the URL the subscription has; a pull subscription needs one.
	URL *string `json:"url,omitempty"`
	// Secret signs each push; it is never shown. Left out, a change keeps
	// the secret the subscription has; "" removes it.
	Secret *string `json:"secret,omitempty"`
	// MaxInFlight and Timeout are pointers so that a 0 given is told
	// apart from a missing field, and refused: 0 is not the default.
	MaxInFlight *int    `json:"maxInFlight,omitempty"` // 1 to 1000; default 16
	Timeout     *string `json:"timeout,omitempty"`     // 1s to 5m; default "10s"
}

// PushConfig is a subscription's push endpoint as shown in replies.
type PushConfig struct {
	URL         string `json:"url"`
	Signed      bool   `json:"signed"` // it has a secret (never shown)
	MaxInFlight int    `json:"maxInFlight"`
	Timeout     string `json:"timeout"`
}

// BackoffSpec is the backoff part of a SubscriptionSpec; missing fields
// are left as they are.
type BackoffSpec struct {
	Initial    *string  `json:"initial,omitempty"`
	Max        *string  `json:"max,omitempty"`
	Multiplier *float64 `json:"multiplier,omitempty"`
}

// FilterSpec is the filter part of a SubscriptionSpec. A nil list is
// left as it is; an empty one ([]) clears it.
type FilterSpec struct {
	Types         []string `json:"types,omitempty"`
	Sources       []string `json:"sources,omitempty"`
	SubjectPrefix *string  `json:"subjectPrefix,omitempty"`
}

// Subscription describes a subscription: its settings (every one, with
// the defaults filled in) and its state in each partition of its topic.
type Subscription struct {
	Topic      string                  `json:"topic"`
	Name       string                  `json:"name"`
	Config     SubscriptionConfig      `json:"config"`
	CreatedAt  time.Time               `json:"createdAt"`
	Partitions []SubscriptionPartition `json:"partitions"`
	Redriving  int                     `json:"redriving"` // dead letters redriven and not yet acked or dead again
}

// SubscriptionConfig is a subscription's settings, durations as strings.
type SubscriptionConfig struct {
	Start           string        `json:"start"`
	AckTimeout      string        `json:"ackTimeout"`
	MaxAttempts     int           `json:"maxAttempts"`
	Backoff         BackoffConfig `json:"backoff"`
	Ordering        string        `json:"ordering"`
	Filter          FilterConfig  `json:"filter"`
	DeadLetterTopic string        `json:"deadLetterTopic"`
	Push            *PushConfig   `json:"push,omitempty"`
}

// BackoffConfig is the delay before a redelivery: initial after the first
// failure, times multiplier after each further one, at most max.
type BackoffConfig struct {
	Initial    string  `json:"initial"`
	Max        string  `json:"max"`
	Multiplier float64 `json:"multiplier"`
}

// FilterConfig selects the events a subscription receives.
type FilterConfig struct {
	Types         []string `json:"types"`
	Sources       []string `json:"sources"`
	SubjectPrefix string   `json:"subjectPrefix"`
}

// SubscriptionPartition is a subscription's state in one partition.
// Committed: every event before it is acked or dead-lettered.
type SubscriptionPartition struct {
	Partition            int     `json:"partition"`
	CommittedOffset      int64   `json:"committedOffset"`
	EndOffset            int64   `json:"endOffset"`
	Lag                  int64   `json:"lag"`
	InFlight             int     `json:"inFlight"`
	WaitingRetry         int     `json:"waitingRetry"`
	DeadLettered         int64   `json:"deadLettered"`
	OldestUnackedSeconds float64 `json:"oldestUnackedSeconds"`
}

// SubscriptionList is the body of GET /v1/topics/{topic}/subscriptions.
type SubscriptionList struct {
	Subscriptions []Subscription `json:"subscriptions"`
}

// PullRequest is the body of POST .../subscriptions/{name}/pull.
type PullRequest struct {
	Max  *int    `json:"max,omitempty"`  // 1 to MaxPull; default DefaultPull
	Wait *string `json:"wait,omitempty"` // 0s to 30s; default 0s
}

// PullReply is the reply to a pull.
type PullReply struct {
	Deliveries []Delivery `json:"deliveries"`
}

// Delivery is one event handed to a consumer: ack, nack or extend it with
// AckID. Event is a CloudEvent with its position (topic, partition,
// offset, storedtime).
type Delivery struct {
	AckID   string       `json:"ackId"`
	Attempt int          `json:"attempt"`
	Event   *event.Event `json:"event"`
}

// AckRequest is the body of POST .../ack, NackRequest of .../nack and
// ExtendRequest of .../extend. AckIDs must not be empty.
type AckRequest struct {
	AckIDs []string `json:"ackIds"`
}

// NackRequest gives deliveries back; Delay (default: the subscription's
// backoff) is when they are redelivered.
type NackRequest struct {
	AckIDs []string `json:"ackIds"`
	Delay  *string  `json:"delay,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

// ExtendRequest moves the lease deadline of deliveries to now + Extend
// (default: the subscription's ack timeout).
type ExtendRequest struct {
	AckIDs []string `json:"ackIds"`
	Extend *string  `json:"extend,omitempty"`
}

// AckReply says what became of each ack id: acked (or nacked, or
// extended), stale (its lease had ended: the event was or will be
// delivered again) or unknown (not an ack id of this subscription).
type AckReply struct {
	Acked   []string `json:"acked"`
	Stale   []string `json:"stale"`
	Unknown []string `json:"unknown"`
}

// SeekRequest is the body of POST .../seek: a start position, or the next
// offset to deliver per partition ({"0":12}); not both.
type SeekRequest struct {
	Start   *string       `json:"start,omitempty"`
	Offsets map[int]int64 `json:"offsets,omitempty"`
}

// DeadLetterList is the body of GET .../subscriptions/{name}/deadletters.
type DeadLetterList struct {
	DeadLetters []DeadLetter `json:"deadLetters"`
}

// DeadLetter is one dead letter of a subscription: where it is in the
// dead-letter topic, whether it is being redriven now or was redriven and
// acked (resolved: redriving all leaves it out), and the event with
// the attributes that say why it died (deadreason, deadattempts,
// deadsubscription, deadtopic, deadpartition, deadoffset, deadstoredtime,
// deadtime).
type DeadLetter struct {
	Partition int          `json:"partition"`
	Offset    int64        `json:"offset"`
	Redriving bool         `json:"redriving"`
	Resolved  bool         `json:"resolved"`
	Event     *event.Event `json:"event"`
}

// RedriveRequest is the body of POST .../redrive: every dead letter of the
// subscription (all) or those with the given event ids; not both. Actor
// names who asks, for the audit trail (default: the client's address).
type RedriveRequest struct {
	All   bool     `json:"all,omitempty"`
	IDs   []string `json:"ids,omitempty"`
	Actor string   `json:"actor,omitempty"`
}

// RedriveReply counts what a redrive did: AlreadyResolved counts the dead
// letters a redrive of all left out because they were redriven and acked
// before; NotFound lists the ids that are not dead letters of the
// subscription.
type RedriveReply struct {
	Redriven         int      `json:"redriven"`
	AlreadyRedriving int      `json:"alreadyRedriving"`
	AlreadyResolved  int      `json:"alreadyResolved"`
	NotFound         []string `json:"notFound"`
}

// RedriveLog is the body of GET .../redrives: the audit trail, oldest first.
type RedriveLog struct {
	Redrives []Redrive `json:"redrives"`
}

// Redrive is one redrive: who asked, when, and which events it sent back.
type Redrive struct {
	Actor string    `json:"actor"`
	At    time.Time `json:"at"`
	All   bool      `json:"all"`
	IDs   []string  `json:"ids"`
	Count int       `json:"count"`
}

// Problem is an RFC 9457 problem details body. Code is the stable,
// machine-readable error code; Type is ProblemTypeBase + Code.
type Problem struct {
	Type   string           `json:"type"`
	Title  string           `json:"title"`
	Status int              `json:"status"`
	Detail string           `json:"detail"`
	Code   string           `json:"code"`
	Errors []AttributeError `json:"errors,omitempty"`
	// Violations lists, for schema_violation, how each refused event
	// breaks its schema.
	Violations []Violation `json:"violations,omitempty"`
}

// Violation is one way an event breaks its schema: the event's index in
// the batch and id, its type (the subject) and the version checked
// against, a JSON pointer into its data and what is wrong there.
type Violation = schema.Violation

// AttributeError names an event attribute and the rule it breaks. Index is
// the event's position in a batch (absent outside batch mode).
type AttributeError struct {
	Index     *int   `json:"index,omitempty"`
	Attribute string `json:"attribute"`
	Rule      string `json:"rule"`
}

// topicJSON converts a broker topic to its JSON form.
func topicJSON(t broker.Topic) Topic {
	return Topic{Name: t.Name, Partitions: t.Partitions, Retention: FormatDuration(t.Retention),
		RetentionBytes: t.RetentionBytes, DedupWindow: FormatDuration(t.DedupWindow), SchemaPolicy: string(t.SchemaPolicy),
		CreatedAt: t.CreatedAt}
}

// FormatDuration writes d as a Go duration string without trailing zero
// units: "168h", "2m", "1h30m", "0s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// subscriptionJSON converts a subscription's description to its JSON form.
func subscriptionJSON(info subscription.Info) Subscription {
	c := info.Config
	out := Subscription{Topic: info.Topic, Name: info.Name, CreatedAt: info.CreatedAt,
		Config: SubscriptionConfig{Start: c.Start, AckTimeout: FormatDuration(c.AckTimeout), MaxAttempts: c.MaxAttempts,
			Backoff: BackoffConfig{Initial: FormatDuration(c.Backoff.Initial), Max: FormatDuration(c.Backoff.Max),
				Multiplier: c.Backoff.Multiplier},
			Ordering: string(c.Ordering), DeadLetterTopic: c.DeadLetterTopic,
			Filter: FilterConfig{Types: nonNil(c.Filter.Types), Sources: nonNil(c.Filter.Sources),
				SubjectPrefix: c.Filter.SubjectPrefix}},
		Partitions: make([]SubscriptionPartition, len(info.Partitions)), Redriving: info.Redriving}
	if p := c.Push; p != nil {
		d := push.Config(*p).WithDefaults()
		out.Config.Push = &PushConfig{URL: d.URL, Signed: d.Secret != "", MaxInFlight: d.MaxInFlight, Timeout: FormatDuration(d.Timeout)}
	}
	for i, p := range info.Partitions {
		out.Partitions[i] = SubscriptionPartition{Partition: p.Partition, CommittedOffset: p.Committed, EndOffset: p.End,
			Lag: p.Lag, InFlight: p.InFlight, WaitingRetry: p.WaitingRetry, DeadLettered: p.DeadLettered,
			OldestUnackedSeconds: p.OldestUnackedS}
	}
	return out
}

// nonNil returns s, or an empty slice for nil, so that JSON shows [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
