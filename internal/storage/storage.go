// Package storage is Herald's storage port: the one small interface that the
// platform layer (topics, publish, subscriptions) uses to keep events, and
// that every storage engine implements. The embedded engine (internal/log) is
// the default; a Kafka engine implements the same interface.
//
// Events reach the port already mapped to Kafka records (the CloudEvents
// Kafka protocol binding, binary mode), so every engine stores exactly the
// same bytes. The suite in storagetest is the contract: an engine is correct
// when it passes it.
package storage

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors returned by engines. Callers compare with errors.Is; engines wrap
// them with context ("topic orders partition 2: ...").
var (
	// ErrUnknownTopic: the topic does not exist.
	ErrUnknownTopic = errors.New("unknown topic")
	// ErrTopicExists: CreateTopic of a name already in use.
	ErrTopicExists = errors.New("topic already exists")
	// ErrInvalidConfig: a topic configuration that cannot be applied
	// (no partitions, fewer partitions than before, negative retention).
	ErrInvalidConfig = errors.New("invalid topic configuration")
	// ErrUnknownPartition: a partition number outside [0, Partitions).
	ErrUnknownPartition = errors.New("unknown partition")
	// ErrOffsetOutOfRange: a read before the partition's start offset or
	// past its end offset.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrCorrupt: stored data failed its checksum or framing checks. The
	// error message names the file and byte position.
	ErrCorrupt = errors.New("corrupt data")
	// ErrUnavailable: the engine cannot write (an I/O or fsync error made it
	// fail closed, the disk is full, or the engine is closed).
	ErrUnavailable = errors.New("storage unavailable")
	// ErrNoSpace: a write found the disk (or the user's quota) full. Nothing
	// of the failed append was stored or acknowledged, and the engine takes
	// writes again once space is freed. Engines return it together with
	// ErrUnavailable, so errors.Is holds for both.
	ErrNoSpace = errors.New("no space left on the storage device")
	// ErrClosed: the engine was closed.
	ErrClosed = errors.New("storage closed")
)

// Record is one stored record: a Kafka v2 record with its absolute offset and
// timestamp. Headers use franz-go's kmsg.Header so that records map one to
// one onto the Kafka wire format.
type Record struct {
	Offset    int64
	Timestamp time.Time // millisecond precision, as in Kafka
	Key       []byte
	Value     []byte
	Headers   []kmsg.Header
}

// TopicConfig is what an engine keeps about a topic. Labels carry platform
// settings (such as the dedup window) that the engine stores with the topic
// and returns unchanged but does not interpret; a Kafka engine maps them to
// topic configs.
type TopicConfig struct {
	Partitions     int           `json:"partitions"`
	RetentionAge   time.Duration `json:"retentionAge,omitempty"`   // 0: keep forever
	RetentionBytes int64         `json:"retentionBytes,omitempty"` // per partition; 0: no limit
	// Compact keeps the newest record of each key, like Kafka's
	// cleanup.policy=compact: the engine rewrites the partition's sealed
	// segments (never the one being appended to) without the records that
	// a newer record with the same key supersedes. Offsets never change:
	// the records removed leave gaps (the start and end offsets stay), and
	// a read at an offset in a gap returns the records after it. A record
	// with a nil Value is a tombstone: it supersedes the key's older
	// records and is itself removed once its timestamp is older than
	// TombstoneRetention, so that a reader that was behind still sees the
	// deletion first. Records with a nil Key are never compacted; they are
	// kept as they are (an empty, non-nil key is a key like any other).
	// Retention by age and size still applies to a compacted topic.
	Compact bool `json:"compact,omitempty"`
	// TombstoneRetention is how long a tombstone of a compacted topic is
	// kept after its timestamp (Kafka's delete.retention.ms); 0 means the
	// engine's default, 24 hours in the embedded engine.
	TombstoneRetention time.Duration     `json:"tombstoneRetention,omitempty"`
	Labels             map[string]string `json:"labels,omitempty"`
}

// TopicInfo describes a stored topic.
type TopicInfo struct {
	Name      string      `json:"name"`
	Config    TopicConfig `json:"config"`
	CreatedAt time.Time   `json:"createdAt"`
}

// PartitionRecords is the part of an append that goes to one partition.
// Offsets and timestamps in Records are ignored on append: the engine assigns
// contiguous offsets and stores Timestamp as given (zero means now).
type PartitionRecords struct {
	Partition int
	Records   []Record
}

// Engine is the storage port.
//
// Durability: Append returns only once the records are as durable as the
// engine's sync policy promises (the embedded engine's default is fsync
// before returning). Records are visible to Read only after that point.
type Engine interface {
	// CreateTopic creates a topic; ErrTopicExists if the name is taken.
	CreateTopic(ctx context.Context, name string, cfg TopicConfig) error
	// UpdateTopic replaces a topic's configuration. Partitions may grow,
	// never shrink.
	UpdateTopic(ctx context.Context, name string, cfg TopicConfig) error
	// DeleteTopic removes a topic and all its records.
	DeleteTopic(ctx context.Context, name string) error
	// Topic describes one topic.
	Topic(ctx context.Context, name string) (TopicInfo, error)
	// Topics lists all topics sorted by name.
	Topics(ctx context.Context) ([]TopicInfo, error)

	// Append stores records in one or more partitions of a topic, all or
	// nothing: on error none of them is visible. It returns, for each
	// element of parts, the offset given to its first record.
	Append(ctx context.Context, topic string, parts []PartitionRecords) ([]int64, error)
	// Read returns records from offset onwards, at most max records and
	// about maxBytes bytes (at least one record when any is available).
	// Reading at the end offset returns no records and no error; reading
	// before the start or past the end is ErrOffsetOutOfRange.
	Read(ctx context.Context, topic string, partition int, offset int64, max int, maxBytes int) ([]Record, error)
	// OffsetForTime returns the first offset whose record timestamp is at or
	// after t, or the end offset when there is none.
	OffsetForTime(ctx context.Context, topic string, partition int, t time.Time) (int64, error)
	// Offsets returns the first readable offset and the end offset (the
	// offset the next appended record will get).
	Offsets(ctx context.Context, topic string, partition int) (start, end int64, err error)
	// Close flushes and releases everything. Calls after Close return ErrClosed.
	Close() error
}

// Syncer is implemented by engines whose sync policy may let Append return
// before its records are durable. Sync makes every record appended to the
// given partitions of the topic (every partition when none is given)
// before it was called durable, so that a write that depends on them (a
// subscription's record that an event is done, which depends on its dead
// letter) never outlives them in a power cut. Name the partitions written
// to: another partition that stopped taking writes fails the Sync of
// every partition. Engines without it are taken to make each append
// durable before it returns.
type Syncer interface {
	Sync(ctx context.Context, topic string, partitions ...int) error
}

// Sizer is implemented by engines that can tell, without touching the
// disk, how many bytes a partition's records take in storage. It is
// optional: the server's metrics leave the size out for engines without it.
type Sizer interface {
	// PartitionBytes returns the bytes a partition's readable records take
	// in storage (for the embedded engine, its segment files without their
	// indexes).
	PartitionBytes(topic string, partition int) (int64, error)
}
