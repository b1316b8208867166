package subscription

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/auth"
)

// Errors of the subscription layer.
var (
	ErrNotFound      = errors.New("unknown subscription")
	ErrInvalidConfig = errors.New("invalid subscription setting")
	ErrInvalidName   = errors.New("invalid subscription name")
	ErrConflict      = errors.New("conflicting subscription settings")
	ErrTooMany       = errors.New("too many subscriptions")
)

// Ordering says which events of a subscription may be in flight together.
type Ordering string

const (
	// OrderKey: events with the same partition key one at a time, in order;
	// different keys, and events without a key, in parallel. The default.
	OrderKey Ordering = "key"
	// OrderPartition: one event at a time per partition, in order.
	OrderPartition Ordering = "partition"
	// OrderNone: any number in flight, in any order.
	OrderNone Ordering = "none"
)

// Backoff is the delay before a redelivery: Initial after the first
// failure, times Multiplier after each further one, at most Max, with up
// to 20% random jitter.
type Backoff struct {
	Initial    time.Duration `json:"initial"`
	Max        time.Duration `json:"max"`
	Multiplier float64       `json:"multiplier"`
}

// Filter selects the events a subscription receives; an empty filter
// takes every event. Types may end in or contain '*' (any characters).
type Filter struct {
	Types         []string `json:"types,omitempty"`
	Sources       []string `json:"sources,omitempty"`
	SubjectPrefix string   `json:"subjectPrefix,omitempty"`
}

// PushSettings makes Herald POST the subscription's events to an endpoint
// instead of waiting for pulls (package push does the delivering; its
// Config has the same fields and the rules).
type PushSettings struct {
	URL         string        `json:"url"`
	Secret      string        `json:"secret,omitempty"`
	MaxInFlight int           `json:"maxInFlight,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
}

// Config is a subscription's settings. Zero fields take the defaults.
type Config struct {
	Start           string        `json:"start,omitempty"` // earliest | latest | RFC 3339 time; used on create
	AckTimeout      time.Duration `json:"ackTimeout,omitempty"`
	MaxAttempts     int           `json:"maxAttempts,omitempty"`
	Backoff         Backoff       `json:"backoff"`
	Ordering        Ordering      `json:"ordering,omitempty"`
	Filter          Filter        `json:"filter"`
	DeadLetterTopic string        `json:"deadLetterTopic,omitempty"`
	Push            *PushSettings `json:"push,omitempty"`
}

// clone returns a copy of c that shares nothing with it.
func (c Config) clone() Config {
	c.Filter.Types = slices.Clone(c.Filter.Types)
	c.Filter.Sources = slices.Clone(c.Filter.Sources)
	if c.Push != nil {
		push := *c.Push
		c.Push = &push
	}
	return c
}

// withDefaults fills unset fields for a subscription of topic named name.
func (c Config) withDefaults(topic, name string) Config {
	if c.Start == "" {
		c.Start = "latest"
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 30 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.Backoff.Initial == 0 {
		c.Backoff.Initial = time.Second
	}
	if c.Backoff.Max == 0 {
		c.Backoff.Max = 5 * time.Minute
	}
	if c.Backoff.Multiplier == 0 {
		c.Backoff.Multiplier = 2
	}
	if c.Ordering == "" {
		c.Ordering = OrderKey
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = defaultDeadLetterTopic(topic, name)
	}
	return c
}

func defaultDeadLetterTopic(topic, name string) string { return topic + "." + name + ".dlq" }

// checkDeadLetterGrant refuses a dead-letter topic that the caller (the
// principal in ctx, when the server checks tokens) may not administer:
// Herald creates that topic and writes into it for the subscription. The
// default one, named after the subscription's topic, goes with the
// permission to make the subscription when the name has no dot: only then
// is {topic}.{name}.dlq no other subscription's default ("a.x.s.dlq" is
// that of x.s on a and of s on a.x).
func checkDeadLetterGrant(ctx context.Context, topic, name, dlq string) error {
	if dlq == defaultDeadLetterTopic(topic, name) && !strings.Contains(name, ".") {
		return nil
	}
	if err := auth.Check(ctx, auth.Admin, dlq); err != nil {
		return fmt.Errorf("deadLetterTopic: %w", err)
	}
	return nil
}

// check returns a clear error for a setting that cannot work.
func (c Config) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Start != "earliest" && c.Start != "latest" && !isTime(c.Start):
		return bad("start must be earliest, latest or an RFC 3339 time, got %q", c.Start)
	case c.AckTimeout < time.Second || c.AckTimeout > 12*time.Hour:
		return bad("ackTimeout must be between 1s and 12h, got %s", c.AckTimeout)
	case c.MaxAttempts < 1 || c.MaxAttempts > 1000:
		return bad("maxAttempts must be between 1 and 1000, got %d", c.MaxAttempts)
	case c.Backoff.Initial < 0 || c.Backoff.Max < c.Backoff.Initial:
		return bad("backoff needs 0 <= initial <= max, got initial %s max %s", c.Backoff.Initial, c.Backoff.Max)
	case c.Backoff.Max > MaxBackoff:
		return bad("backoff max must be at most %s (a year), got %s", MaxBackoff, c.Backoff.Max)
	case !(c.Backoff.Multiplier >= 1 && c.Backoff.Multiplier <= 100): // NaN too
		return bad("backoff multiplier must be between 1 and 100, got %g", c.Backoff.Multiplier)
	case c.Ordering != OrderKey && c.Ordering != OrderPartition && c.Ordering != OrderNone:
		return bad("ordering must be key, partition or none, got %q", c.Ordering)
	case slices.Contains(c.Filter.Types, ""):
		return bad(`filter.types holds an empty pattern, which matches no event: give a pattern such as "order.*", or [] to take every event`)
	case slices.Contains(c.Filter.Sources, ""):
		return bad(`filter.sources holds an empty pattern, which matches no event: give a pattern such as "/shop", or [] to take every event`)
	}
	return nil
}

// CheckText refuses settings whose text is not UTF-8: no event's
// attributes are such text, so a filter of it would take nothing, and
// neither a request nor the stored settings can carry it.
func (c Config) CheckText() error {
	texts := [][2]string{{"start", c.Start}, {"ordering", string(c.Ordering)}, {"deadLetterTopic", c.DeadLetterTopic},
		{"filter.subjectPrefix", c.Filter.SubjectPrefix}}
	for _, t := range c.Filter.Types {
		texts = append(texts, [2]string{"filter.types", t})
	}
	for _, s := range c.Filter.Sources {
		texts = append(texts, [2]string{"filter.sources", s})
	}
	for _, t := range texts {
		if !utf8.ValidString(t[1]) {
			return fmt.Errorf("%w: %s %q is not UTF-8", ErrInvalidConfig, t[0], t[1])
		}
	}
	return nil
}

func isTime(s string) bool {
	_, err := event.ParseTime(s)
	return err == nil
}

// CheckName returns a clear error for a name that cannot be a
// subscription's (the topic name rules, without a leading "__").
func CheckName(name string) error {
	if name == "" || len(name) > 249 || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "__") {
		return fmt.Errorf("%w: %q: use 1 to 249 letters, digits, '.', '_' or '-', not starting with '.' or '__'", ErrInvalidName, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: %q: use letters, digits, '.', '_' or '-'", ErrInvalidName, name)
		}
	}
	return nil
}

// match reports whether the filter takes an event.
func (f Filter) match(e *event.Event) bool {
	if len(f.Types) > 0 && !anyGlob(f.Types, e.Type) {
		return false
	}
	if len(f.Sources) > 0 && !anyGlob(f.Sources, e.Source) {
		return false
	}
	return strings.HasPrefix(e.Subject, f.SubjectPrefix)
}

func anyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if glob(p, s) {
			return true
		}
	}
	return false
}

// glob matches s against a pattern where '*' stands for any characters.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// MaxBackoff is the longest backoff.max: a year, far from where a delay
// with its jitter would overflow a time.Duration (292 years).
const MaxBackoff = 365 * 24 * time.Hour

// delay returns the backoff before the next delivery after attempts
// failed deliveries; jitter in [0,1) adds up to 20%. An older Herald took
// a max beyond MaxBackoff, whose delay with the jitter may pass the
// longest time.Duration: it stops there rather than wrap around to a
// delay in the past.
func (b Backoff) delay(attempts int, jitter float64) time.Duration {
	d := float64(b.Initial)
	for i := 1; i < attempts && d < float64(b.Max); i++ {
		d *= b.Multiplier
	}
	d = min(d, float64(b.Max)) * (1 + 0.2*jitter)
	if d >= math.MaxInt64 { // float64(math.MaxInt64) is 2^63, one past it
		return math.MaxInt64
	}
	return time.Duration(d)
}

// Limits of the delivery calls, the same over every API.
const (
	MaxPull   = 1000           // most deliveries per pull
	MaxAckIDs = 10000          // most ack ids per ack, nack, reject or extend
	MaxDelay  = 12 * time.Hour // longest nack delay or lease extension
	MaxWait   = 30 * time.Second
)
