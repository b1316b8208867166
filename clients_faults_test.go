package herald_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/testserver"
	"github.com/heraldevents/herald/internal/vfs"
	"github.com/heraldevents/herald/internal/vfs/faultfs"
)

// A full disk fails a publish with ErrUnavailable (a later try may
// succeed), embedded and remote alike, and publishing resumes once space
// is freed. Remote, the error matched no sentinel of the client's.
func TestClient_AFullDiskIsErrUnavailable(t *testing.T) {
	for _, kind := range []string{"embedded", "remote"} {
		t.Run(kind, func(t *testing.T) {
			var full atomic.Bool
			fsys := faultfs.Wrap(vfs.OS, func(op faultfs.Op, path string) error {
				if full.Load() && op == faultfs.OpWrite && strings.Contains(path, "orders") {
					return faultfs.NoSpaceError(op, path)
				}
				return nil
			})
			var c *herald.Client
			if kind == "embedded" {
				var err error
				if c, err = herald.Open(t.TempDir(), herald.WithFS(fsys)); err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			} else {
				c = testserver.StartWith(t, t.TempDir(), testserver.Options{FS: fsys}).Connect(t)
			}
			ctx := context.Background()
			if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
				t.Fatal(err)
			}
			e := herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop"))
			full.Store(true)
			if res, err := c.Publish(ctx, "orders", e); !errors.Is(err, herald.ErrUnavailable) {
				t.Fatalf("publish to a full disk: %v, %v; want ErrUnavailable", res, err)
			}
			full.Store(false)
			if _, err := c.Publish(ctx, "orders", e); err != nil {
				t.Fatalf("publish once space is freed: %v", err)
			}
		})
	}
}
