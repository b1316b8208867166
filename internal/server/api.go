package server

import (
	"strings"
	"time"

	"github.com/heraldevents/herald/internal/broker"
)

// The JSON bodies of the v1 API. The CLI decodes replies with these types.

// TopicSpec is the body of PUT /v1/topics/{topic}. Every field is
// optional; durations are Go duration strings ("168h", "2m"), and "0" or
// "0s" turns retention (keep forever) or deduplication off.
type TopicSpec struct {
	Partitions     *int    `json:"partitions,omitempty"`
	Retention      *string `json:"retention,omitempty"`
	RetentionBytes *int64  `json:"retentionBytes,omitempty"`
	DedupWindow    *string `json:"dedupWindow,omitempty"`
}

// Topic describes a topic. Offsets is set only by GET /v1/topics/{topic}.
type Topic struct {
	Name           string             `json:"name"`
	Partitions     int                `json:"partitions"`
	Retention      string             `json:"retention"`
	RetentionBytes int64              `json:"retentionBytes"`
	DedupWindow    string             `json:"dedupWindow"`
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

// Problem is an RFC 9457 problem details body. Code is the stable,
// machine-readable error code; Type is ProblemTypeBase + Code.
type Problem struct {
	Type   string           `json:"type"`
	Title  string           `json:"title"`
	Status int              `json:"status"`
	Detail string           `json:"detail"`
	Code   string           `json:"code"`
	Errors []AttributeError `json:"errors,omitempty"`
}

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
		RetentionBytes: t.RetentionBytes, DedupWindow: FormatDuration(t.DedupWindow), CreatedAt: t.CreatedAt}
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
