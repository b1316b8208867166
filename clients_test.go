package herald_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/testserver"
)

// clientKind is one way to reach Herald; every conformance test runs on each.
type clientKind struct {
	name string
	open func(t *testing.T, dir string) *herald.Client // over the data directory dir
}

var clientKinds = []clientKind{
	{"embedded", func(t *testing.T, dir string) *herald.Client {
		c, err := herald.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}},
	{"remote", func(t *testing.T, dir string) *herald.Client {
		return testserver.Start(t, dir).Connect(t)
	}},
}

// forEachClient runs a test on an embedded and on a remote client.
func forEachClient(t *testing.T, test func(t *testing.T, c *herald.Client)) {
	forEachClientOver(t, func(*testing.T, string) {}, test)
}

// forEachClientOver runs a test on an embedded and on a remote client
// over a data directory that prepare filled first (with no client open).
func forEachClientOver(t *testing.T, prepare func(t *testing.T, dir string), test func(t *testing.T, c *herald.Client)) {
	for _, k := range clientKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last, after the client and server are closed
			dir := t.TempDir()
			prepare(t, dir)
			test(t, k.open(t, dir))
		})
	}
}
