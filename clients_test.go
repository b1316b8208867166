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
	open func(t *testing.T) *herald.Client
}

var clientKinds = []clientKind{
	{"embedded", func(t *testing.T) *herald.Client {
		c, err := herald.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}},
	{"remote", func(t *testing.T) *herald.Client {
		return testserver.Start(t, t.TempDir()).Connect(t)
	}},
}

// forEachClient runs a test on an embedded and on a remote client.
func forEachClient(t *testing.T, test func(t *testing.T, c *herald.Client)) {
	for _, k := range clientKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last, after the client and server are closed
			test(t, k.open(t))
		})
	}
}
