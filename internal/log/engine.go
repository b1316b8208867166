package log

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
)

// Engine is the embedded storage engine. It is safe for concurrent use.
type Engine struct {
	dir  string
	opts Options

	mu     sync.RWMutex // guards topics and closed
	topics map[string]*topic
	closed bool

	deleteMu sync.Mutex // serializes topic creation and deletion on disk

	lock io.Closer // the data directory's lock, when the file system has one

	stop chan struct{}
	wg   sync.WaitGroup // background goroutines (retention and compaction)
}

var (
	_ storage.Engine = (*Engine)(nil)
	_ storage.Sizer  = (*Engine)(nil)
	_ storage.Syncer = (*Engine)(nil)
)

const (
	topicsDir     = "topics"
	topicMetaFile = "topic.json"
	deletedPrefix = ".deleted-"
	lockFile      = "LOCK"
)

// validName: Kafka's topic name rule (letters, digits, '.', '_', '-', at
// most 249), except that Herald also refuses a leading '.', which it keeps
// for its own files.
var validName = regexp.MustCompile(`^[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,248}$`)

// ValidTopicName reports whether name can be a topic's name.
func ValidTopicName(name string) bool { return validName.MatchString(name) }

// Open opens (creating if needed) the engine's data directory and recovers
// every topic in it.
func Open(dir string, opts Options) (*Engine, error) {
	e := &Engine{dir: dir, opts: opts.withDefaults(), topics: map[string]*topic{}, stop: make(chan struct{})}
	root := filepath.Join(dir, topicsDir)
	if err := e.opts.FS.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("open data directory: %w", err)
	}
	if err := e.takeLock(); err != nil {
		return nil, err
	}
	// MkdirAll may have made the directories: their entries must be
	// durable before a topic in them is.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := e.opts.FS.SyncDir(d); err != nil {
			e.releaseLock()
			return nil, fmt.Errorf("open data directory: sync %s: %w", d, err)
		}
	}
	if err := e.loadTopics(root); err != nil {
		e.closeTopics()
		e.releaseLock()
		return nil, err
	}
	if e.opts.RetentionInterval > 0 {
		e.wg.Add(1)
		go e.retentionLoop()
	}
	return e, nil
}

// takeLock locks the data directory so that no second engine, in this
// process or another, writes the same log.
func (e *Engine) takeLock() error {
	l, ok := e.opts.FS.(vfs.Locker)
	if !ok {
		return nil
	}
	lock, err := l.Lock(filepath.Join(e.dir, lockFile))
	if errors.Is(err, vfs.ErrLocked) {
		return fmt.Errorf("data directory %s is in use by another Herald (stop it, or give this one another directory): %w", e.dir, err)
	}
	if err != nil {
		return fmt.Errorf("lock data directory: %w", err)
	}
	e.lock = lock
	return nil
}

func (e *Engine) releaseLock() error {
	if e.lock == nil {
		return nil
	}
	return e.lock.Close()
}

func (e *Engine) loadTopics(root string) error {
	entries, err := e.opts.FS.ReadDir(root)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, ent := range entries {
		path := filepath.Join(root, ent.Name())
		if strings.HasPrefix(ent.Name(), deletedPrefix) {
			if err := e.opts.FS.RemoveAll(path); err != nil {
				return fmt.Errorf("finish deleting %s: %w", ent.Name(), err)
			}
			continue
		}
		if err := e.loadTopic(path); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) loadTopic(dir string) error {
	info, err := readTopicMeta(e.opts.FS, dir)
	if errors.Is(err, os.ErrNotExist) {
		return e.removeUnfinishedTopic(dir)
	}
	if err != nil {
		return fmt.Errorf("%w (%s)", err, repairHint)
	}
	t := newTopic(dir, info, &e.opts)
	e.topics[info.Name] = t
	if err := t.openPartitions(info.Config.Partitions, false); err != nil {
		return err
	}
	t.start()
	return nil
}

// repairHint ends errors about damage that stops the engine from opening.
const repairHint = "run herald check for a full report and herald repair to set the damage aside"

// removeUnfinishedTopic removes a topic directory without topic.json: a
// creation that crashed before its metadata was durable, which nothing
// was ever appended to. A directory holding records lost its topic.json
// to damage instead, and is refused rather than deleted.
func (e *Engine) removeUnfinishedTopic(dir string) error {
	data, err := holdsData(e.opts.FS, dir)
	if err != nil {
		return err
	}
	if data != "" {
		return fmt.Errorf("%w: %s is missing but %s holds records (%s)", storage.ErrCorrupt,
			filepath.Join(dir, topicMetaFile), data, repairHint)
	}
	return e.opts.FS.RemoveAll(dir)
}

// holdsData returns the first non-empty segment file under a topic
// directory, or "".
func holdsData(fsys vfs.FS, dir string) (string, error) {
	parts, err := fsys.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("list %s: %w", dir, err)
	}
	for _, p := range parts {
		if !p.IsDir() {
			continue
		}
		files, err := fsys.ReadDir(filepath.Join(dir, p.Name()))
		if err != nil {
			return "", fmt.Errorf("list %s: %w", filepath.Join(dir, p.Name()), err)
		}
		for _, f := range files {
			if !strings.HasSuffix(f.Name(), ".log") {
				continue
			}
			path := filepath.Join(dir, p.Name(), f.Name())
			if st, err := fsys.Stat(path); err != nil || st.Size() > 0 {
				return path, nil
			}
		}
	}
	return "", nil
}

func (e *Engine) topic(name string) (*topic, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, storage.ErrClosed
	}
	t, ok := e.topics[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", storage.ErrUnknownTopic, name)
	}
	return t, nil
}

// topicNamedAlike returns the name of a topic whose name differs from name
// only in case. Topic names are ASCII.
func (e *Engine) topicNamedAlike(name string) (string, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for other := range e.topics {
		if strings.EqualFold(other, name) {
			return other, true
		}
	}
	return "", false
}

func checkConfig(cfg storage.TopicConfig) error {
	switch {
	case cfg.Partitions < 1:
		return fmt.Errorf("%w: partitions must be at least 1, got %d", storage.ErrInvalidConfig, cfg.Partitions)
	case cfg.Partitions > 10000:
		return fmt.Errorf("%w: partitions must be at most 10000, got %d", storage.ErrInvalidConfig, cfg.Partitions)
	case cfg.RetentionAge < 0:
		return fmt.Errorf("%w: retention age must not be negative", storage.ErrInvalidConfig)
	case cfg.RetentionBytes < 0:
		return fmt.Errorf("%w: retention bytes must not be negative", storage.ErrInvalidConfig)
	case cfg.TombstoneRetention < 0:
		return fmt.Errorf("%w: tombstone retention must not be negative", storage.ErrInvalidConfig)
	}
	return nil
}

// CreateTopic implements storage.Engine.
func (e *Engine) CreateTopic(ctx context.Context, name string, cfg storage.TopicConfig) error {
	if !ValidTopicName(name) {
		return fmt.Errorf("%w: topic name %q: use 1 to 249 letters, digits, '.', '_' or '-', not starting with '.'", storage.ErrInvalidConfig, name)
	}
	if err := checkConfig(cfg); err != nil {
		return err
	}
	e.deleteMu.Lock()
	defer e.deleteMu.Unlock()
	if _, err := e.topic(name); err == nil {
		return fmt.Errorf("%w: %q", storage.ErrTopicExists, name)
	} else if !errors.Is(err, storage.ErrUnknownTopic) {
		return err
	}
	if other, ok := e.topicNamedAlike(name); ok {
		return fmt.Errorf("%w: %q differs from topic %q only in case, and a file system that ignores case would keep both in one directory", storage.ErrTopicExists, name, other)
	}
	info := storage.TopicInfo{Name: name, Config: cloneConfig(cfg), CreatedAt: e.opts.Now().UTC()}
	dir := filepath.Join(e.dir, topicsDir, name)
	t := newTopic(dir, info, &e.opts)
	if err := e.createOnDisk(t); err != nil {
		t.close()
		e.discardCreation(dir, name)
		return unavailable(fmt.Sprintf("create topic %s", name), err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		t.close()
		return storage.ErrClosed
	}
	t.start()
	e.topics[name] = t
	return nil
}

// discardCreation removes what a creation that failed left in dir. Its
// topic.json may be on disk already, so the directory is first moved
// aside as a deletion moves it: a power cut while its files are removed
// then leaves a directory that Open finishes deleting, never a topic.json
// without its partitions.
func (e *Engine) discardCreation(dir, name string) {
	root := filepath.Join(e.dir, topicsDir)
	grave := filepath.Join(root, fmt.Sprintf("%s%d-%s", deletedPrefix, time.Now().UnixNano(), name))
	if err := e.opts.FS.Rename(dir, grave); err == nil {
		dir = grave
		if err := e.opts.FS.SyncDir(root); err != nil {
			e.opts.Logger.Warn("a failed topic creation's files are moved aside, but not durably", "topic", name, "err", err)
		}
	}
	e.opts.FS.RemoveAll(dir)
}

// createOnDisk makes the topic's directory and partitions, then writes its
// metadata last: a topic exists once topic.json is durable.
func (e *Engine) createOnDisk(t *topic) error {
	if err := e.opts.FS.MkdirAll(t.dir, 0o755); err != nil {
		return err
	}
	if err := t.openPartitions(t.info.Config.Partitions, true); err != nil {
		return err
	}
	if err := e.opts.FS.SyncDir(t.dir); err != nil {
		return err
	}
	if err := writeTopicMeta(e.opts.FS, t.dir, t.info); err != nil {
		return err
	}
	return e.opts.FS.SyncDir(filepath.Join(e.dir, topicsDir))
}

// UpdateTopic implements storage.Engine.
func (e *Engine) UpdateTopic(ctx context.Context, name string, cfg storage.TopicConfig) error {
	if err := checkConfig(cfg); err != nil {
		return err
	}
	e.deleteMu.Lock()
	defer e.deleteMu.Unlock()
	t, err := e.topic(name)
	if err != nil {
		return err
	}
	old := t.config()
	if cfg.Partitions < old.Config.Partitions {
		return fmt.Errorf("%w: partitions can grow but not shrink (%d to %d)", storage.ErrInvalidConfig, old.Config.Partitions, cfg.Partitions)
	}
	info := old
	info.Config = cloneConfig(cfg)
	t.wmu.Lock()
	defer t.wmu.Unlock()
	n := len(t.partitions())
	if err := t.openPartitions(cfg.Partitions, true); err != nil {
		t.dropPartitionsFrom(n)
		return unavailable(fmt.Sprintf("update topic %s", name), err)
	}
	if err := writeTopicMeta(e.opts.FS, t.dir, info); err != nil {
		t.dropPartitionsFrom(n)
		return unavailable(fmt.Sprintf("update topic %s", name), err)
	}
	t.mu.Lock()
	t.info = info
	t.mu.Unlock()
	return nil
}

// DeleteTopic implements storage.Engine. The directory is renamed first
// (one durable step), then removed; a crash in between finishes the
// removal on the next Open.
func (e *Engine) DeleteTopic(ctx context.Context, name string) error {
	e.deleteMu.Lock()
	defer e.deleteMu.Unlock()
	t, err := e.topic(name)
	if err != nil {
		return err
	}
	root := filepath.Join(e.dir, topicsDir)
	grave := filepath.Join(root, fmt.Sprintf("%s%d-%s", deletedPrefix, time.Now().UnixNano(), name))
	if err := e.buryTopic(t, root, grave); err != nil {
		return fmt.Errorf("%w: delete topic %s: %w", storage.ErrUnavailable, name, err)
	}
	e.mu.Lock()
	delete(e.topics, name)
	e.mu.Unlock()
	if err := t.closeAs(fmt.Errorf("%w: %q was deleted", storage.ErrUnknownTopic, name)); err != nil {
		e.opts.Logger.Warn("closing deleted topic", "topic", name, "err", err)
	}
	if err := e.opts.FS.RemoveAll(grave); err != nil {
		e.opts.Logger.Warn("removing deleted topic's files", "topic", name, "err", err)
	}
	return nil
}

// buryTopic renames a topic's directory out of the way, durably: the one
// step that deletes it. It holds the topic's write lock, so no group is
// being written meanwhile, and each partition's markMu, which the mode
// always tick writes marks under without the write lock; once the rename
// holds, no mark is written to the old path. If it fails, the topic is
// untouched.
func (e *Engine) buryTopic(t *topic, root, grave string) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	parts := t.partitions()
	for _, p := range parts {
		p.markMu.Lock()
		defer p.markMu.Unlock()
	}
	if err := e.opts.FS.Rename(t.dir, grave); err != nil {
		return err
	}
	if err := e.opts.FS.SyncDir(root); err != nil {
		// The rename may or may not be durable: put the directory back.
		if rerr := e.opts.FS.Rename(grave, t.dir); rerr != nil {
			return errors.Join(err, rerr)
		}
		return errors.Join(err, e.opts.FS.SyncDir(root))
	}
	for _, p := range parts {
		p.buried = true
	}
	return nil
}

// Topic implements storage.Engine.
func (e *Engine) Topic(ctx context.Context, name string) (storage.TopicInfo, error) {
	t, err := e.topic(name)
	if err != nil {
		return storage.TopicInfo{}, err
	}
	info := t.config()
	info.Config = cloneConfig(info.Config)
	return info, nil
}

// Topics implements storage.Engine.
func (e *Engine) Topics(ctx context.Context) ([]storage.TopicInfo, error) {
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return nil, storage.ErrClosed
	}
	infos := make([]storage.TopicInfo, 0, len(e.topics))
	for _, t := range e.topics {
		info := t.config()
		info.Config = cloneConfig(info.Config)
		infos = append(infos, info)
	}
	e.mu.RUnlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, nil
}

func cloneConfig(c storage.TopicConfig) storage.TopicConfig {
	if c.Labels != nil {
		labels := make(map[string]string, len(c.Labels))
		for k, v := range c.Labels {
			labels[k] = v
		}
		c.Labels = labels
	}
	return c
}

// Close implements storage.Engine: it stops background work, fsyncs and
// closes every topic. Appends waiting in a group finish first.
func (e *Engine) Close() error {
	e.deleteMu.Lock() // let a topic creation or deletion in progress finish
	defer e.deleteMu.Unlock()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	close(e.stop)
	e.wg.Wait()
	return errors.Join(e.closeTopics(), e.releaseLock())
}

func (e *Engine) closeTopics() error {
	var errs []error
	for _, t := range e.topics {
		errs = append(errs, t.close())
	}
	return errors.Join(errs...)
}

// dropPartitionsFrom closes and unlists the partitions from n on (an
// UpdateTopic that failed before its metadata was written).
func (t *topic) dropPartitionsFrom(n int) {
	t.mu.Lock()
	extra := t.parts[n:]
	t.parts = t.parts[:n:n]
	t.mu.Unlock()
	for _, p := range extra {
		p.closeFiles(fmt.Errorf("%w: topic %s has no partition %d (adding it failed)", storage.ErrUnknownPartition, t.name, p.id))
	}
}
