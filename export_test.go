package herald

import "net/http"

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
