package log

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldevents/herald/internal/vfs"
)

// SyncMode says when appended data is fsynced relative to acknowledging it.
type SyncMode int

const (
	// SyncAlways fsyncs every group commit before any append in it returns:
	// an acknowledged append survives power loss. The default.
	SyncAlways SyncMode = iota
	// SyncInterval acknowledges after the write reaches the OS and fsyncs
	// every SyncInterval: a power cut can lose up to one interval of
	// acknowledged appends (a process crash loses nothing).
	SyncInterval
	// SyncNone never fsyncs except on segment roll and Close: a power cut
	// can lose any acknowledged append the OS had not written back.
	SyncNone
)

// ParseSyncMode reads "always", "interval" or "none".
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "always", "":
		return SyncAlways, nil
	case "interval":
		return SyncInterval, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("unknown fsync mode %q (want always, interval or none)", s)
}

func (m SyncMode) String() string {
	return [...]string{"always", "interval", "none"}[m]
}

// Options configures an Engine. The zero value is the safe default.
type Options struct {
	FS                vfs.FS        // file system; default the operating system's
	Sync              SyncMode      // default SyncAlways
	SyncInterval      time.Duration // for SyncInterval; default 1s
	SegmentBytes      int64         // a segment rolls once it reaches this size; default 128 MiB
	SegmentAge        time.Duration // a segment rolls once its first batch is this old; default 24h
	IndexInterval     int           // bytes of log between index entries; default 4096
	RetentionInterval time.Duration // how often retention and compaction run; default 1m; negative: never in background
	MaxGroupBytes     int           // upper bound of one group commit; default 8 MiB
	Now               func() time.Time
	Logger            *slog.Logger
}

// withDefaults returns a copy of o with every unset field defaulted.
func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = time.Second
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 128 << 20
	}
	if o.SegmentAge <= 0 {
		o.SegmentAge = 24 * time.Hour
	}
	if o.IndexInterval <= 0 {
		o.IndexInterval = 4096
	}
	if o.RetentionInterval == 0 {
		o.RetentionInterval = time.Minute
	}
	if o.MaxGroupBytes <= 0 {
		o.MaxGroupBytes = 8 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
