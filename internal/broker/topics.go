package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldevents/herald/internal/auth"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/storage"
)

// Storage labels that keep a topic's platform settings.
const (
	labelDedupWindow  = "herald.dedup.window"
	labelSchemaPolicy = "herald.schema.policy"
)

// SchemaPolicy says which events published to a topic are validated
// against the schemas of their types (the broker's Validator does it).
type SchemaPolicy string

// The schema policies.
const (
	SchemaPolicyNone     SchemaPolicy = "none"     // no validation (the default)
	SchemaPolicyValidate SchemaPolicy = "validate" // events whose type has a schema are validated
	SchemaPolicyRequire  SchemaPolicy = "require"  // every event's type must have a schema, and is validated
)

// ParseSchemaPolicy parses a policy name; "" is none.
func ParseSchemaPolicy(s string) (SchemaPolicy, error) {
	switch p := SchemaPolicy(s); p {
	case "":
		return SchemaPolicyNone, nil
	case SchemaPolicyNone, SchemaPolicyValidate, SchemaPolicyRequire:
		return p, nil
	}
	return "", fmt.Errorf("%w: schemaPolicy %q: use none, validate or require", ErrInvalidSetting, s)
}

// TopicSpec is a request to create or change a topic; nil fields take the
// current value (or the default, on create).
type TopicSpec struct {
	Partitions     *int
	Retention      *time.Duration // 0: keep forever
	RetentionBytes *int64         // per partition; 0: no limit
	DedupWindow    *time.Duration // 0: no deduplication
	SchemaPolicy   *SchemaPolicy
}

// Topic is a topic's resolved settings.
type Topic struct {
	Name           string
	Partitions     int
	Retention      time.Duration
	RetentionBytes int64
	DedupWindow    time.Duration
	SchemaPolicy   SchemaPolicy
	CreatedAt      time.Time
}

func topicFromInfo(info storage.TopicInfo) Topic {
	w, _ := time.ParseDuration(info.Config.Labels[labelDedupWindow])
	policy, err := ParseSchemaPolicy(info.Config.Labels[labelSchemaPolicy])
	if err != nil {
		policy = SchemaPolicyRequire // a label this version does not know: refuse rather than let events through unchecked
	}
	return Topic{Name: info.Name, Partitions: info.Config.Partitions, Retention: info.Config.RetentionAge,
		RetentionBytes: info.Config.RetentionBytes, DedupWindow: w, SchemaPolicy: policy, CreatedAt: info.CreatedAt}
}

func (t Topic) config() storage.TopicConfig {
	labels := map[string]string{labelDedupWindow: t.DedupWindow.String()}
	if t.SchemaPolicy != SchemaPolicyNone && t.SchemaPolicy != "" {
		labels[labelSchemaPolicy] = string(t.SchemaPolicy)
	}
	return storage.TopicConfig{Partitions: t.Partitions, RetentionAge: t.Retention, RetentionBytes: t.RetentionBytes, Labels: labels}
}

// apply overlays spec on t and checks the result.
func (spec TopicSpec) apply(t Topic) (Topic, error) {
	if spec.Partitions != nil {
		t.Partitions = *spec.Partitions
	}
	if spec.Retention != nil {
		t.Retention = *spec.Retention
	}
	if spec.RetentionBytes != nil {
		t.RetentionBytes = *spec.RetentionBytes
	}
	if spec.DedupWindow != nil {
		t.DedupWindow = *spec.DedupWindow
	}
	if spec.SchemaPolicy != nil {
		p, err := ParseSchemaPolicy(string(*spec.SchemaPolicy))
		if err != nil {
			return t, err
		}
		t.SchemaPolicy = p
	}
	switch {
	case t.Partitions < 1 || t.Partitions > 10000:
		return t, fmt.Errorf("%w: partitions must be between 1 and 10000, got %d", ErrInvalidSetting, t.Partitions)
	case t.Retention < 0:
		return t, fmt.Errorf("%w: retention must not be negative", ErrInvalidSetting)
	case t.RetentionBytes < 0:
		return t, fmt.Errorf("%w: retentionBytes must not be negative", ErrInvalidSetting)
	case t.DedupWindow < 0:
		return t, fmt.Errorf("%w: dedupWindow must not be negative", ErrInvalidSetting)
	}
	return t, nil
}

// CheckTopicName returns a clear error for a name that cannot be a user
// topic.
func CheckTopicName(name string) error {
	if err := checkUserTopic(name); err != nil {
		return err
	}
	if !log.ValidTopicName(name) {
		return fmt.Errorf("%w: %q: use 1 to 249 letters, digits, '.', '_' or '-', not starting with '.'", ErrInvalidTopic, name)
	}
	return nil
}

// PutTopic creates a topic or changes an existing one. It reports whether
// it created the topic. Partitions may grow but never shrink (that would
// move keys between partitions): a smaller count is ErrTopicConflict.
func (b *Broker) PutTopic(ctx context.Context, name string, spec TopicSpec) (Topic, bool, error) {
	if err := CheckTopicName(name); err != nil {
		return Topic{}, false, err
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	info, err := b.engine.Topic(ctx, name)
	if errors.Is(err, storage.ErrUnknownTopic) {
		t, err := b.createTopic(ctx, name, spec)
		return t, err == nil, err
	}
	if err != nil {
		return Topic{}, false, err
	}
	old := topicFromInfo(info)
	t, err := spec.apply(old)
	if err != nil {
		return Topic{}, false, err
	}
	if t.Partitions < old.Partitions {
		return Topic{}, false, fmt.Errorf("%w: topic %q has %d partitions and cannot shrink to %d", ErrTopicConflict, name, old.Partitions, t.Partitions)
	}
	if err := b.engine.UpdateTopic(ctx, name, t.config()); err != nil {
		return Topic{}, false, err
	}
	b.applyDedupWindow(ctx, t)
	return t, false, nil
}

// applyDedupWindow brings the topic's dedup index, if the broker holds
// one, to the topic's window. A wider window (or one turned on) holds the
// events of the log that the index let go, as a rebuild at start would;
// publishes wait while they are read. Should that reading fail, the state
// is dropped for the next publish to rebuild, and the publishes that waited
// start over with it (dropFilled). Without a state there is
// nothing to do: the next publish rebuilds it with the new settings.
func (b *Broker) applyDedupWindow(ctx context.Context, t Topic) {
	b.mu.Lock()
	_, held := b.states[t.Name]
	b.mu.Unlock()
	if !held {
		return
	}
	st, err := b.loadedState(ctx, t)
	if err != nil {
		return // dropped
	}
	f, kept := st.dedup.widen(t.DedupWindow)
	if f == nil {
		return // not wider: set
	}
	now := b.opts.Now()
	until := time.Time{}
	if kept > 0 {
		until = now.Add(-kept) // the index holds every event since
	}
	if _, err := b.fillDedup(context.WithoutCancel(ctx), t, st.dedup, now.Add(-t.DedupWindow), until); err != nil {
		b.dropFilled(t.Name, st, f)
		return
	}
	st.dedup.endFill(f)
}

// dropFilled drops st, whose fill f failed, for the next publish to
// rebuild from the log. The publishes waiting for the fill find its index
// closed and start over; the state goes once the publishes under way
// (which reserved their events before the fill began) have ended, so the
// rebuild reads a log that holds their events, and a retry of one finds
// it rather than being stored beside it.
func (b *Broker) dropFilled(name string, st *topicState, f *flight) {
	st.dedup.close()
	st.dedup.endFill(f)
	st.use.Lock()
	defer st.use.Unlock()
	st.dropped = true
	b.forgetState(name, st)
}

func (b *Broker) createTopic(ctx context.Context, name string, spec TopicSpec) (Topic, error) {
	topics, err := b.Topics(ctx)
	if err != nil {
		return Topic{}, err
	}
	for _, t := range topics {
		if strings.EqualFold(t.Name, name) {
			return Topic{}, fmt.Errorf("%w: %q differs from topic %q only in case, and a file system that ignores case would keep both in one directory", ErrTopicConflict, name, t.Name)
		}
	}
	if b.opts.MaxTopics > 0 && len(topics) >= b.opts.MaxTopics {
		return Topic{}, fmt.Errorf("%w: the server holds %d topics, its limit (herald serve --max-topics); delete one first", ErrTooManyTopics, len(topics))
	}
	t, err := spec.apply(b.opts.newTopic(name))
	if err != nil {
		return Topic{}, err
	}
	// A fresh topic has a fresh dedup index: a state left of a topic of
	// this name goes before the topic exists, as a publish that finds the
	// new topic may be holding reservations in its state already.
	b.forget(name)
	if err := b.engine.CreateTopic(ctx, name, t.config()); err != nil {
		return Topic{}, err
	}
	return b.Topic(ctx, name) // as stored, creation time included
}

// checkUserTopic refuses Herald's internal topics ("__" names), which are
// not reachable through the platform API.
func checkUserTopic(name string) error {
	if strings.HasPrefix(name, "__") {
		return fmt.Errorf("%w: %q", ErrReservedTopic, name)
	}
	return nil
}

// Topic describes one topic.
func (b *Broker) Topic(ctx context.Context, name string) (Topic, error) {
	if err := checkUserTopic(name); err != nil {
		return Topic{}, err
	}
	info, err := b.engine.Topic(ctx, name)
	if err != nil {
		return Topic{}, err
	}
	return topicFromInfo(info), nil
}

// Topics lists user topics (not Herald's internal ones).
func (b *Broker) Topics(ctx context.Context) ([]Topic, error) {
	infos, err := b.engine.Topics(ctx)
	if err != nil {
		return nil, err
	}
	topics := make([]Topic, 0, len(infos))
	for _, info := range infos {
		if !strings.HasPrefix(info.Name, "__") {
			topics = append(topics, topicFromInfo(info))
		}
	}
	return topics, nil
}

// DeleteTopic deletes a topic and its events.
func (b *Broker) DeleteTopic(ctx context.Context, name string) error {
	if err := checkUserTopic(name); err != nil {
		return err
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	st := b.state(name)
	st.use.Lock() // publishes in flight end first
	defer st.use.Unlock()
	err := b.engine.DeleteTopic(ctx, name)
	if err == nil || errors.Is(err, storage.ErrUnknownTopic) {
		b.drop(name, st)
	}
	return err
}

// ensureTopic returns the topic, creating it with defaults when automatic
// creation is on and the caller may create it: creating a topic takes the
// admin grant on it, however it is created.
func (b *Broker) ensureTopic(ctx context.Context, name string) (Topic, error) {
	t, err := b.Topic(ctx, name)
	if !errors.Is(err, storage.ErrUnknownTopic) {
		return t, err
	}
	if err := CheckTopicName(name); err != nil {
		return Topic{}, err // no topic can have it, whether created automatically or not
	}
	if b.opts.DisableAutoCreate {
		return Topic{}, fmt.Errorf("%w: %q", ErrAutoCreateOff, name)
	}
	if err := auth.Check(ctx, auth.Admin, name); err != nil {
		return Topic{}, fmt.Errorf("topic %q does not exist, and creating it on a first publish needs the admin grant on it: %w", name, err)
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if t, err := b.Topic(ctx, name); err == nil {
		return t, nil // created meanwhile
	}
	return b.createTopic(ctx, name, TopicSpec{})
}
