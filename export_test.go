package herald

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/heraldevents/herald/internal/vfs"
)

// WithFS makes an embedded Herald keep its log on fsys, so that tests can
// fail its disk.
func WithFS(fsys vfs.FS) OpenOption {
	return openOption(func(c *openConfig) { c.engine.FS = fsys })
}

// SetHealthCheck sets how long remote clients connected from now on wait
// before pinging an idle connection, and for the answer; the returned func
// restores the defaults.
func SetHealthCheck(idle, timeout time.Duration) (restore func()) {
	saved := healthCheck
	healthCheck.idle, healthCheck.timeout = idle, timeout
	return func() { healthCheck = saved }
}

// SetFeedCloseTimeout sets how long a Router waits for a feed's
// settlements as it closes the feed; the returned func restores it.
func SetFeedCloseTimeout(d time.Duration) (restore func()) {
	saved := feedCloseTimeout
	feedCloseTimeout = d
	return func() { feedCloseTimeout = saved }
}

// WrapRemoteTransport puts wrap around the transport of a remote client's
// calls, so that tests can watch or hold requests on their way.
func WrapRemoteTransport(c *Client, wrap func(http.RoundTripper) http.RoundTripper) {
	r := c.b.(*remote)
	r.http.Transport = wrap(r.http.Transport)
}

// QueuedPublishCalls is how many Publish calls of a remote client wait for
// a request to topic.
func QueuedPublishCalls(c *Client, topic string) int {
	r := c.b.(*remote)
	r.lanes.mu.Lock()
	defer r.lanes.mu.Unlock()
	if ln := r.lanes.lanes[topic]; ln != nil {
		return len(ln.queue)
	}
	return 0
}

// CloseFeedGivenUp opens a remote client's feed of a subscription, takes
// its first deliveries, and closes it with a context already done while a
// send holds the stream (as one stuck in HTTP/2 flow control would). It
// fails when the close waits for that send.
func CloseFeedGivenUp(ctx context.Context, c *Client, topic, sub string) error {
	f, err := c.b.(*remote).feed(ctx, topic, sub, nil)
	if err != nil {
		return err
	}
	sf := f.(*streamFeed)
	if _, err := sf.next(ctx, 10); err != nil {
		return err
	}
	sf.lockSend(ctx)
	defer sf.unlockSend()
	given, cancel := context.WithCancel(ctx)
	cancel()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		sf.close(given)
	}()
	select {
	case <-closed:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("the close waited for the send holding the stream")
	}
}
