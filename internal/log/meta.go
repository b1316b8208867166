package log

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
)

// readTopicMeta reads a topic's topic.json.
func readTopicMeta(fsys vfs.FS, dir string) (storage.TopicInfo, error) {
	var info storage.TopicInfo
	path := filepath.Join(dir, topicMetaFile)
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return info, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return info, fmt.Errorf("stat %s: %w", path, err)
	}
	buf := make([]byte, st.Size())
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return info, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(buf, &info); err != nil {
		return info, fmt.Errorf("%w: %s: %w", storage.ErrCorrupt, path, err)
	}
	if info.Name != filepath.Base(dir) || checkConfig(info.Config) != nil {
		return info, fmt.Errorf("%w: %s does not describe topic %s", storage.ErrCorrupt, path, filepath.Base(dir))
	}
	return info, nil
}

// writeTopicMeta replaces topic.json atomically: write a temporary file,
// fsync it, rename it over the old one, fsync the directory.
func writeTopicMeta(fsys vfs.FS, dir string, info storage.TopicInfo) error {
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, topicMetaFile+".tmp")
	f, err := writeSynced(fsys, tmp, data)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, filepath.Join(dir, topicMetaFile)); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}
