package log

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/heraldevents/herald/internal/storage"
	"github.com/heraldevents/herald/internal/vfs"
)

// foldFS is a file system that ignores case below root but keeps the case
// a name was first given, as macOS's and Windows's usually do.
type foldFS struct {
	vfs.FS
	root  string
	mu    *sync.Mutex
	names map[string]string // path below root, lower case: as made
}

func newFoldFS(root string) foldFS {
	return foldFS{FS: vfs.OS, root: root, mu: new(sync.Mutex), names: map[string]string{}}
}

func (f foldFS) fold(name string) string {
	rest, ok := strings.CutPrefix(name, f.root)
	if !ok {
		return name
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	path := ""
	for _, c := range strings.Split(strings.TrimPrefix(rest, "/"), "/") {
		p, ok := f.names[strings.ToLower(path+"/"+c)]
		if !ok {
			p = path + "/" + c
			f.names[strings.ToLower(p)] = p
		}
		path = p
	}
	return f.root + path
}

// forget drops what is known of name and everything below it.
func (f foldFS) forget(name string) {
	rest, _ := strings.CutPrefix(name, f.root)
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.names {
		if k == strings.ToLower(rest) || strings.HasPrefix(k, strings.ToLower(rest)+"/") {
			delete(f.names, k)
		}
	}
}

func (f foldFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	return f.FS.OpenFile(f.fold(name), flag, perm)
}
func (f foldFS) Remove(name string) error {
	defer f.forget(name)
	return f.FS.Remove(f.fold(name))
}
func (f foldFS) RemoveAll(name string) error {
	defer f.forget(name)
	return f.FS.RemoveAll(f.fold(name))
}
func (f foldFS) Rename(oldname, newname string) error {
	defer f.forget(oldname)
	return f.FS.Rename(f.fold(oldname), f.fold(newname))
}
func (f foldFS) MkdirAll(name string, perm os.FileMode) error {
	return f.FS.MkdirAll(f.fold(name), perm)
}
func (f foldFS) ReadDir(name string) ([]fs.DirEntry, error) { return f.FS.ReadDir(f.fold(name)) }
func (f foldFS) Stat(name string) (fs.FileInfo, error)      { return f.FS.Stat(f.fold(name)) }
func (f foldFS) SyncDir(name string) error                  { return f.FS.SyncDir(f.fold(name)) }

func TestCreateTopic_ANameThatDiffersOnlyInCaseIsRefusedAndTheOtherTopicKeepsItsEvents(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	opts := Options{FS: newFoldFS(dir), RetentionInterval: -1}
	e, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CreateTopic(ctx, "Orders", storage.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Append(ctx, "Orders", []storage.PartitionRecords{{Records: []storage.Record{rec("k", "placed")}}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"orders", "ORDERS", "oRdErS"} {
		err := e.CreateTopic(ctx, name, storage.TopicConfig{Partitions: 2})
		if !errors.Is(err, storage.ErrTopicExists) || !strings.Contains(err.Error(), `"Orders"`) {
			t.Fatalf("create %s beside Orders: got %v, want ErrTopicExists naming Orders", name, err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	infos, err := e.Topics(ctx)
	if err != nil || len(infos) != 1 || infos[0].Name != "Orders" || infos[0].Config.Partitions != 1 {
		t.Fatalf("topics after reopening: %+v %v, want Orders alone with 1 partition", infos, err)
	}
	recs, err := e.Read(ctx, "Orders", 0, 0, 10, 1<<20)
	if err != nil || len(recs) != 1 || string(recs[0].Value) != "placed" {
		t.Fatalf("Orders after reopening: %v %v, want its one event", recs, err)
	}
	// Once Orders is gone, orders can be made.
	if err := e.DeleteTopic(ctx, "Orders"); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateTopic(ctx, "orders", storage.TopicConfig{Partitions: 1}); err != nil {
		t.Fatalf("create orders after deleting Orders: %v", err)
	}
}
