package middleware_test

import (
	"testing"
	"time"

	"github.com/heraldevents/herald/middleware"
	"github.com/heraldevents/herald/middleware/idemtest"
)

func TestMemoryStore_Conformance(t *testing.T) {
	idemtest.Run(t, func(t *testing.T, now func() time.Time) idemtest.Store {
		return middleware.NewMemoryStore(middleware.MemoryStoreClock(now))
	})
}
