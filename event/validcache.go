package event

import (
	"sync"
	"sync/atomic"
)

// okCache remembers strings already found valid: sources, media types and
// schema URIs repeat across events, so most events skip parsing them
// (parsing was a tenth of a publish's CPU). Each cache keeps at most
// okCacheMax strings of at most okCacheLen bytes; others are parsed every
// time.
type okCache struct {
	m sync.Map // string -> struct{}
	n atomic.Int64
}

const (
	okCacheMax = 4096
	okCacheLen = 256
)

var (
	okSources      okCache
	okContentTypes okCache
	okDataSchemas  okCache
)

func (c *okCache) known(s string) bool {
	_, ok := c.m.Load(s)
	return ok
}

func (c *okCache) remember(s string) {
	if len(s) > okCacheLen || c.n.Load() >= okCacheMax {
		return
	}
	if _, loaded := c.m.LoadOrStore(s, struct{}{}); !loaded {
		c.n.Add(1)
	}
}
