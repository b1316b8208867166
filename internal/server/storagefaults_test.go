package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/subscription"
	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// What a client of the HTTP API sees when the disk fails under the
// server: a full disk is 507 storage_full and publishing resumes by
// itself once space is freed; a failed fsync is 503 storage_unavailable
// for that partition until a restart; a segment that cannot be read fails
// only the reads that need it, naming the file.

// diskSwitch fails one kind of file operation on matching paths while set.
type diskSwitch struct {
	mu    sync.Mutex
	op    faultfs.Op
	match string // a path fragment
	err   error
}

func (d *diskSwitch) set(op faultfs.Op, match string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.op, d.match, d.err = op, match, err
}

func (d *diskSwitch) inject(op faultfs.Op, path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil && op == d.op && strings.Contains(path, d.match) {
		return d.err
	}
	return nil
}

// newFaultyEnv is newEnv over real files through a diskSwitch.
func newFaultyEnv(t *testing.T) (*testEnv, *diskSwitch) {
	t.Helper()
	sw := &diskSwitch{}
	eng, err := log.Open(t.TempDir(), log.Options{FS: faultfs.Wrap(vfs.OS, sw.inject), SegmentBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(eng, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	subs, err := subscription.New(context.Background(), b, subscription.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(b, Options{Subscriptions: subs})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		sw.set(0, "", nil)
		srv.Close()
		hs.Close()
		subs.Close()
		eng.Close()
	})
	env := &testEnv{t: t, url: hs.URL, srv: srv, broker: b, subs: subs}
	env.createTopic("orders", `{"partitions": 1}`)
	env.createTopic("audit", `{"partitions": 1}`)
	return env, sw
}

func (e *testEnv) publishOne(id string) reply {
	return e.do("POST", "/v1/topics/orders/events", structured(id), "Content-Type", "application/cloudevents+json")
}

func (e *testEnv) ids(t *testing.T, query string) string {
	t.Helper()
	var ids []string
	for _, ev := range e.readEvents(t, query) {
		ids = append(ids, ev.ID)
	}
	return strings.Join(ids, ",")
}

func TestStorageFaults_DiskFullIs507AndPublishingResumesBySelf(t *testing.T) {
	env, disk := newFaultyEnv(t)
	env.publishOne("a").publishResults(t)
	disk.set(faultfs.OpWrite, "/orders/0/", syscall.ENOSPC)
	p := env.publishOne("refused").wantProblem(t, http.StatusInsufficientStorage, "storage_full")
	if !strings.Contains(p.Detail, "no space") {
		t.Fatalf("detail %q does not say the disk is full", p.Detail)
	}
	if got := env.ids(t, "partition=0&offset=0"); got != "a" {
		t.Fatalf("orders holds %s while the disk is full, want a", got)
	}
	env.do("GET", "/healthz", "").wantStatus(t, http.StatusOK, mediaJSON, nil)

	disk.set(0, "", nil) // space is freed; no restart
	env.publishOne("b").publishResults(t)
	if got := env.ids(t, "partition=0&offset=0"); got != "a,b" {
		t.Fatalf("orders holds %s once space is freed, want a,b", got)
	}
}

func TestStorageFaults_FailedFsyncIs503UntilRestartAndReadsGoOn(t *testing.T) {
	env, disk := newFaultyEnv(t)
	env.publishOne("a").publishResults(t)
	disk.set(faultfs.OpSync, "/orders/0/", syscall.EIO)
	env.publishOne("unsure").wantProblem(t, http.StatusServiceUnavailable, "storage_unavailable")
	disk.set(0, "", nil)
	p := env.publishOne("after").wantProblem(t, http.StatusServiceUnavailable, "storage_unavailable")
	if !strings.Contains(p.Detail, "fsync failed") {
		t.Fatalf("detail %q does not say why the partition stopped", p.Detail)
	}
	if got := env.ids(t, "partition=0&offset=0"); got != "a" {
		t.Fatalf("orders reads %s, want a", got)
	}
	env.do("POST", "/v1/topics/audit/events", structured("x"), "Content-Type", "application/cloudevents+json").publishResults(t)
}

func TestStorageFaults_UnreadableSegmentFailsOnlyItsReads(t *testing.T) {
	env, disk := newFaultyEnv(t)
	for i := 0; i < 20; i++ {
		env.publishOne("e" + itoa(i)).publishResults(t)
	}
	env.do("POST", "/v1/topics/audit/events", structured("x"), "Content-Type", "application/cloudevents+json").publishResults(t)
	disk.set(faultfs.OpRead, "/orders/0/00000000000000000000.log", syscall.EIO)
	p := env.do("GET", "/v1/topics/orders/events?partition=0&offset=0", "").wantProblem(t, http.StatusServiceUnavailable, "storage_unavailable")
	if !strings.Contains(p.Detail, "00000000000000000000.log") {
		t.Fatalf("detail %q does not name the file", p.Detail)
	}
	if got := env.ids(t, "partition=0&offset=19"); got != "e19" {
		t.Fatalf("a later segment reads %q", got)
	}
	r := env.do("GET", "/v1/topics/audit/events?partition=0&offset=0", "")
	r.wantStatus(t, http.StatusOK, "application/cloudevents-batch+json", nil)
	env.publishOne("e20").publishResults(t)
	env.do("GET", "/healthz", "").wantStatus(t, http.StatusOK, mediaJSON, nil)
	disk.set(0, "", nil)
	if got := env.ids(t, "partition=0&offset=0&limit=2"); got != "e00,e01" {
		t.Fatalf("once the disk reads again: %q", got)
	}
}
