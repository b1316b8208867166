package herald

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/rpc"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/subscription"
)

// remote reaches a Herald server over gRPC (HTTP/2; cleartext h2c, or TLS
// with WithTLS).
type remote struct {
	svc       heraldv1connect.HeraldServiceClient
	subscribe *connect.Client[heraldv1.SubscribeRequest, wireDeliveries] // Subscribe, decoded directly (remote_subscribe.go)
	transport *http.Transport
	http      *http.Client   // the calls' client, around transport
	lanes     publishLanes   // Publish calls in flight and waiting, by topic (remote_publish.go)
	pubs      publishStreams // the streams that carry Publish requests (remote_pubstream.go)
	calls     unaryCalls     // the other calls in flight, which Close ends
	maxEvent  int            // the server's event size limit, as it announced it when the client connected
}

// defaultMaxEventBytes is the event size limit of a server that does not
// announce one: herald serve's default.
const defaultMaxEventBytes = 1 << 20

var _ backend = (*remote)(nil)

// WithToken sends an API token with every call (Authorization: Bearer).
func WithToken(token string) ConnectOption {
	return connectOption(func(c *connectConfig) { c.token = token })
}

// WithTLS connects over TLS with cfg (nil: the system's roots). An address
// that starts with https:// turns TLS on by itself.
func WithTLS(cfg *tls.Config) ConnectOption {
	return connectOption(func(c *connectConfig) {
		if cfg == nil {
			cfg = &tls.Config{}
		}
		c.tls = cfg
	})
}

type connectOption func(*connectConfig)

func (o connectOption) applyConnect(c *connectConfig) { o(c) }

// maxReadFrameSize is the largest HTTP/2 frame the client takes. Go's
// transport asks for 16 KiB frames unless told otherwise, and the server
// then cut a message of a hundred 1 KiB deliveries into nine frames, each
// a write of its own; with 256 KiB it goes in one. Larger frames would
// hold other streams of the connection back longer on a slow link.
const maxReadFrameSize = 256 << 10

// healthCheck is how the client finds a connection that died without a
// word (the server's host lost, a network partition, a NAT entry dropped):
// after idle without a frame from the server it sends a ping, and closes
// the connection when no answer comes within timeout, failing what was in
// flight on it; the next call dials again. Without it such a connection
// holds calls, streams and the Router's feeds for the kernel's TCP
// timeouts, minutes to a quarter of an hour.
var healthCheck = struct{ idle, timeout time.Duration }{15 * time.Second, 10 * time.Second}

// Connect returns a client of the Herald server at addr ("host:port", or a
// URL such as http://127.0.0.1:7440). It checks that the server answers
// (and takes the token) before it returns.
func Connect(ctx context.Context, addr string, opts ...ConnectOption) (*Client, error) {
	var c connectConfig
	for _, o := range opts {
		o.applyConnect(&c)
	}
	if err := c.clientConfig.check(); err != nil {
		return nil, err
	}
	if strings.ContainsFunc(c.token, unicode.IsControl) {
		return nil, errors.New("herald: connect: the token given with WithToken holds a control character, which no request can carry: give the token alone")
	}
	base, err := baseURL(addr, c.tls != nil)
	if err != nil {
		return nil, err
	}
	t := &http.Transport{Protocols: new(http.Protocols), TLSClientConfig: c.tls, IdleConnTimeout: 90 * time.Second,
		HTTP2: &http.HTTP2Config{MaxReadFrameSize: maxReadFrameSize, SendPingTimeout: healthCheck.idle, PingTimeout: healthCheck.timeout}}
	if strings.HasPrefix(base, "https://") {
		t.Protocols.SetHTTP2(true)
	} else {
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	hc := &http.Client{Transport: roundTripper(t, c.token)}
	// No gzip: on the networks Herald runs on, compressing every reply
	// costs more CPU than it saves time (it was 6% of a publish profile).
	noGzip := connect.WithAcceptCompression("gzip", nil, nil)
	r := &remote{svc: heraldv1connect.NewHeraldServiceClient(hc, base, connect.WithGRPC(), noGzip),
		subscribe: newSubscribeClient(hc, base, connect.WithGRPC(), noGzip), transport: t, http: hc}
	r.pubs.svc = r.svc
	resp, err := r.svc.ListTopics(ctx, connect.NewRequest(&heraldv1.ListTopicsRequest{}))
	if err != nil {
		t.CloseIdleConnections()
		return nil, fmt.Errorf("herald: connect to %s: %w%s", base, rpc.FromConnect(err), tokenHint(err, c.token))
	}
	r.maxEvent = rpc.MaxEventBytes(resp.Header())
	if r.maxEvent == 0 {
		r.maxEvent = defaultMaxEventBytes
	}
	client, err := newClient(r, c.clientConfig)
	if err != nil {
		return nil, errors.Join(err, r.close())
	}
	return client, nil
}

// tokenHint says how to fix a Connect that the server refused for its
// token; "" for any other error.
func tokenHint(err error, token string) string {
	switch {
	case connect.CodeOf(err) != connect.CodeUnauthenticated:
		return ""
	case token == "":
		return " (the server takes only requests with one of its API tokens: give one with herald.WithToken)"
	}
	return " (the server does not accept the token given with herald.WithToken)"
}

// baseURL makes a URL of addr, refusing a scheme that does not match tls
// and an address no request could be sent to.
func baseURL(addr string, tls bool) (string, error) {
	base, err := schemeURL(addr, tls)
	if err != nil {
		return "", err
	}
	if u, err := url.Parse(base); err != nil || u.Host == "" {
		return "", fmt.Errorf("herald: connect to %q: not an address (give host:port or an http:// or https:// URL)", addr)
	}
	return base, nil
}

// schemeURL makes a URL of addr, refusing a scheme that does not match tls.
func schemeURL(addr string, tls bool) (string, error) {
	switch {
	case strings.HasPrefix(addr, "https://"):
		return strings.TrimSuffix(addr, "/"), nil
	case strings.HasPrefix(addr, "http://"):
		if tls {
			return "", fmt.Errorf("herald: connect to %s: WithTLS needs an https:// address or host:port", addr)
		}
		return strings.TrimSuffix(addr, "/"), nil
	case strings.Contains(addr, "://"):
		return "", fmt.Errorf("herald: connect to %s: the address must be host:port or an http:// or https:// URL", addr)
	case tls:
		return "https://" + addr, nil
	}
	return "http://" + addr, nil
}

// roundTripper adds the token to every request and joins the messages
// of streaming requests to their prefixes (rpc.JoinEnvelopeReads).
func roundTripper(t http.RoundTripper, token string) http.RoundTripper {
	tt := clientTransport{t: t}
	if token != "" {
		tt.auth = "Bearer " + token
	}
	return tt
}

type clientTransport struct {
	t    http.RoundTripper
	auth string // the Authorization header, if any
}

func (tt clientTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	stream := req.Body != nil && req.ContentLength < 0 // a stream's pipe
	if tt.auth == "" && !stream {
		return tt.t.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	if tt.auth != "" {
		req.Header.Set("Authorization", tt.auth)
	}
	if stream {
		req.Body = rpc.JoinEnvelopeReads(req.Body)
	}
	return tt.t.RoundTrip(req)
}

// call runs a unary call of r and converts its error back to Herald's:
// ErrClientClosed when r was closed while it ran (done on the server or
// not, as a call cut short by its ctx).
func call[Req, Resp any](ctx context.Context, r *remote, fn func(context.Context, *connect.Request[Req]) (*connect.Response[Resp], error), req *Req) (*Resp, error) {
	ctx, done, err := r.calls.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	resp, err := fn(ctx, connect.NewRequest(req))
	if err != nil {
		if errors.Is(context.Cause(ctx), ErrClientClosed) {
			return nil, ErrClientClosed
		}
		return nil, rpc.FromConnect(err)
	}
	return resp.Msg, nil
}

// unaryCalls are a remote client's unary calls in flight. Close ends
// them at once: a long poll would wait on for its whole wait, holding the
// connection Close releases.
type unaryCalls struct {
	mu      sync.Mutex // guards closed and closing against wg.Add
	closed  bool
	closing context.Context    // ended by close; made by the first call
	end     context.CancelFunc // ends closing
	wg      sync.WaitGroup     // calls in flight
}

// begin counts a call in, with a ctx that ends, its cause ErrClientClosed,
// when the client closes; done counts it out.
func (u *unaryCalls) begin(ctx context.Context) (_ context.Context, done func(), _ error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, nil, ErrClientClosed
	}
	if u.closing == nil {
		u.closing, u.end = context.WithCancel(context.Background())
	}
	u.wg.Add(1)
	ctx, cancel := context.WithCancelCause(ctx)
	unhook := context.AfterFunc(u.closing, func() { cancel(ErrClientClosed) })
	return ctx, func() { unhook(); cancel(nil); u.wg.Done() }, nil
}

// close ends the calls in flight and waits for them to return.
func (u *unaryCalls) close() {
	u.mu.Lock()
	u.closed = true
	if u.end != nil {
		u.end()
	}
	u.mu.Unlock()
	u.wg.Wait()
}

func (r *remote) maxEventBytes() int { return r.maxEvent }

// A request cannot carry text that is not UTF-8 (a protobuf string must
// be), and no topic, subscription or ack id is such text: for a name of
// it the remote client answers as the embedded engine does, without a
// call.

// lookupTopic is the error of looking up a topic whose name is not UTF-8.
func lookupTopic(name string) error {
	if err := broker.CheckTopicName(name); errors.Is(err, broker.ErrReservedTopic) {
		return err
	}
	return fmt.Errorf("%w: %q", broker.ErrTopicNotFound, name)
}

// lookupSubscription is the error of looking up a subscription when its
// name or its topic's is not UTF-8 (the topic's error first, as for a
// topic that does not exist); nil when both are.
func lookupSubscription(topic, name string) error {
	switch {
	case !utf8.ValidString(topic):
		return lookupTopic(topic)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %s on topic %s", subscription.ErrNotFound, name, topic)
	}
	return nil
}

func (r *remote) registerSchema(ctx context.Context, subject string, text []byte) (int, error) {
	// Refused as the registry refuses them: the request could not carry
	// text that is not UTF-8.
	if err := schema.CheckSubject(subject); err != nil {
		return 0, err
	}
	if err := schema.CheckText(text); err != nil {
		return 0, err
	}
	resp, err := call(ctx, r, r.svc.RegisterSchema, &heraldv1.RegisterSchemaRequest{Subject: subject, Schema: string(text)})
	if err != nil {
		return 0, err
	}
	return int(resp.GetVersion()), nil
}

func (r *remote) read(ctx context.Context, topic string, partition int, offset int64, limit int, wait time.Duration) ([]*CloudEvent, error) {
	if !utf8.ValidString(topic) {
		return nil, lookupTopic(topic)
	}
	// Limit 0 reads one event, as the engine takes it; unset, the server
	// would read its default.
	req := &heraldv1.ReadRequest{Topic: topic, Partition: rpc.Int32(partition), Offset: offset, Limit: rpc.Int32(max(limit, 1))}
	if wait > 0 {
		req.Wait = durationpb.New(wait)
	}
	resp, err := call(ctx, r, r.svc.Read, req)
	if err != nil {
		return nil, err
	}
	events := make([]*CloudEvent, len(resp.GetEvents()))
	for i, m := range resp.GetEvents() {
		if events[i], err = rpc.StoredEventFromProto(m); err != nil {
			return nil, fmt.Errorf("herald: read %s/%d: the server sent an event that does not convert: %w", topic, partition, err)
		}
	}
	return events, nil
}

func (r *remote) offsets(ctx context.Context, topic string, partition int) (int64, int64, error) {
	if !utf8.ValidString(topic) {
		return 0, 0, lookupTopic(topic)
	}
	resp, err := call(ctx, r, r.svc.GetOffsets, &heraldv1.GetOffsetsRequest{Topic: topic, Partition: rpc.Int32(partition)})
	if err != nil {
		return 0, 0, err
	}
	return resp.GetStartOffset(), resp.GetEndOffset(), nil
}

func (r *remote) putTopic(ctx context.Context, name string, spec TopicSpec) (Topic, bool, error) {
	if !utf8.ValidString(name) {
		return Topic{}, false, broker.CheckTopicName(name)
	}
	if spec.SchemaPolicy != nil && !utf8.ValidString(string(*spec.SchemaPolicy)) {
		_, err := broker.ParseSchemaPolicy(string(*spec.SchemaPolicy))
		return Topic{}, false, err
	}
	resp, err := call(ctx, r, r.svc.PutTopic, rpc.TopicSpecToProto(name, spec))
	if err != nil {
		return Topic{}, false, err
	}
	return rpc.TopicFromProto(resp.GetTopic()), resp.GetCreated(), nil
}

func (r *remote) topic(ctx context.Context, name string) (Topic, error) {
	if !utf8.ValidString(name) {
		return Topic{}, lookupTopic(name)
	}
	resp, err := call(ctx, r, r.svc.GetTopic, &heraldv1.GetTopicRequest{Name: name})
	if err != nil {
		return Topic{}, err
	}
	return rpc.TopicFromProto(resp.GetTopic()), nil
}

func (r *remote) topics(ctx context.Context) ([]Topic, error) {
	resp, err := call(ctx, r, r.svc.ListTopics, &heraldv1.ListTopicsRequest{})
	if err != nil {
		return nil, err
	}
	topics := make([]Topic, len(resp.GetTopics()))
	for i, m := range resp.GetTopics() {
		topics[i] = rpc.TopicFromProto(m)
	}
	return topics, nil
}

func (r *remote) deleteTopic(ctx context.Context, name string) error {
	if !utf8.ValidString(name) {
		return lookupTopic(name)
	}
	_, err := call(ctx, r, r.svc.DeleteTopic, &heraldv1.DeleteTopicRequest{Name: name})
	return err
}

func (r *remote) putSubscription(ctx context.Context, topic, name string, cfg SubscriptionConfig) (SubscriptionInfo, bool, error) {
	if cfg.Push != nil {
		return SubscriptionInfo{}, false, fmt.Errorf("%w: push settings are set over the HTTP API, not through a remote client", subscription.ErrInvalidConfig)
	}
	if !utf8.ValidString(name) {
		return SubscriptionInfo{}, false, subscription.CheckName(name)
	}
	if err := cfg.CheckText(); err != nil {
		return SubscriptionInfo{}, false, err
	}
	if !utf8.ValidString(topic) {
		return SubscriptionInfo{}, false, lookupTopic(topic)
	}
	resp, err := call(ctx, r, r.svc.PutSubscription, &heraldv1.PutSubscriptionRequest{Topic: topic, Name: name, Config: rpc.ConfigToProto(cfg)})
	if err != nil {
		return SubscriptionInfo{}, false, err
	}
	info, err := rpc.InfoFromProto(resp.GetSubscription())
	return info, resp.GetCreated(), err
}

func (r *remote) subscription(ctx context.Context, topic, name string) (SubscriptionInfo, error) {
	if err := lookupSubscription(topic, name); err != nil {
		return SubscriptionInfo{}, err
	}
	resp, err := call(ctx, r, r.svc.GetSubscription, &heraldv1.GetSubscriptionRequest{Topic: topic, Name: name})
	if err != nil {
		return SubscriptionInfo{}, err
	}
	return rpc.InfoFromProto(resp.GetSubscription())
}

func (r *remote) subscriptions(ctx context.Context, topic string) ([]SubscriptionInfo, error) {
	if !utf8.ValidString(topic) {
		return nil, lookupTopic(topic)
	}
	resp, err := call(ctx, r, r.svc.ListSubscriptions, &heraldv1.ListSubscriptionsRequest{Topic: topic})
	if err != nil {
		return nil, err
	}
	infos := make([]SubscriptionInfo, len(resp.GetSubscriptions()))
	for i, m := range resp.GetSubscriptions() {
		if infos[i], err = rpc.InfoFromProto(m); err != nil {
			return nil, err
		}
	}
	return infos, nil
}

func (r *remote) deleteSubscription(ctx context.Context, topic, name string) error {
	if err := lookupSubscription(topic, name); err != nil {
		return err
	}
	_, err := call(ctx, r, r.svc.DeleteSubscription, &heraldv1.DeleteSubscriptionRequest{Topic: topic, Name: name})
	return err
}

func (r *remote) seek(ctx context.Context, topic, name string, pos SeekPosition) (SubscriptionInfo, error) {
	if err := lookupSubscription(topic, name); err != nil {
		return SubscriptionInfo{}, err
	}
	if !utf8.ValidString(pos.Start) {
		return SubscriptionInfo{}, fmt.Errorf("%w: seek to earliest, latest, an RFC 3339 time or offsets, got %q", subscription.ErrInvalidConfig, pos.Start)
	}
	req := &heraldv1.SeekRequest{Topic: topic, Name: name, Start: pos.Start}
	if len(pos.Offsets) > 0 {
		req.Offsets = map[int32]int64{}
		for p, off := range pos.Offsets {
			req.Offsets[rpc.Int32(p)] = off
		}
	}
	resp, err := call(ctx, r, r.svc.Seek, req)
	if err != nil {
		return SubscriptionInfo{}, err
	}
	return rpc.InfoFromProto(resp.GetSubscription())
}

func (r *remote) pull(ctx context.Context, topic, name string, max int, wait time.Duration) ([]*Delivery, error) {
	if err := lookupSubscription(topic, name); err != nil {
		return nil, err
	}
	req := &heraldv1.PullRequest{Topic: topic, Subscription: name, Max: rpc.Int32(max)}
	if wait > 0 {
		req.Wait = durationpb.New(wait)
	}
	resp, err := call(ctx, r, r.svc.Pull, req)
	if err != nil {
		return nil, err
	}
	return deliveriesFromProto(topic, name, resp.GetDeliveries())
}

func deliveriesFromProto(topic, name string, ms []*heraldv1.Delivery) ([]*Delivery, error) {
	ds := make([]*Delivery, len(ms))
	for i, m := range ms {
		e, err := rpc.StoredEventFromProto(m.GetEvent())
		if err != nil {
			return nil, fmt.Errorf("herald: the server delivered an event that does not convert: %w", err)
		}
		ds[i] = &Delivery{AckID: m.GetAckId(), Event: e, Attempt: int(m.GetAttempt()), Topic: topic, Subscription: name}
	}
	return ds, nil
}

// deliveriesFromWire makes the deliveries of one Subscribe message.
func deliveriesFromWire(topic, name string, ws []rpc.WireDelivery) []*Delivery {
	ds := make([]*Delivery, len(ws))
	for i, w := range ws { // each on its own: a delivery kept keeps no other alive
		ds[i] = &Delivery{AckID: w.AckID, Event: w.Event, Attempt: w.Attempt, Topic: topic, Subscription: name}
	}
	return ds
}

func (r *remote) settle(ctx context.Context, topic, name string, st settlement) (AckResult, error) {
	if err := lookupSubscription(topic, name); err != nil {
		return AckResult{}, err
	}
	ids := st.ackIDs
	st.ackIDs = sendableAckIDs(ids)
	resp, err := call(ctx, r, r.svc.Settle, &heraldv1.SettleRequest{Topic: topic, Subscription: name,
		Settlements: []*heraldv1.Settlement{settlementProto(st)}})
	if err != nil {
		return AckResult{}, err
	}
	if len(resp.GetResults()) != 1 {
		return AckResult{}, fmt.Errorf("herald: settle: the server answered %d results for 1 settlement", len(resp.GetResults()))
	}
	m := resp.GetResults()[0]
	return AckResult{Acked: m.GetAcked(), Stale: m.GetStale(), Unknown: restoreAckIDs(ids, m.GetUnknown())}, nil
}

// sendableAckIDs returns ids with those that are not UTF-8 made "", which
// is no ack id either: the server answers them unknown, in their place.
func sendableAckIDs(ids []string) []string {
	i := slices.IndexFunc(ids, func(id string) bool { return !utf8.ValidString(id) })
	if i < 0 {
		return ids
	}
	out := slices.Clone(ids)
	for ; i < len(out); i++ {
		if !utf8.ValidString(out[i]) {
			out[i] = ""
		}
	}
	return out
}

// restoreAckIDs puts back, in the unknown ids the server answered, the
// ids sendableAckIDs made "": the server keeps their order.
func restoreAckIDs(ids, unknown []string) []string {
	next := 0 // the ids after the last one restored
	for i, u := range unknown {
		if u != "" {
			continue
		}
		for next < len(ids) && ids[next] != "" && utf8.ValidString(ids[next]) {
			next++
		}
		if next == len(ids) {
			break
		}
		unknown[i] = ids[next]
		next++
	}
	return unknown
}

var settleKinds = map[settleKind]heraldv1.Settlement_Kind{
	settleAck: heraldv1.Settlement_KIND_ACK, settleNack: heraldv1.Settlement_KIND_NACK,
	settleReject: heraldv1.Settlement_KIND_REJECT, settleExtend: heraldv1.Settlement_KIND_EXTEND,
	settleRelease: heraldv1.Settlement_KIND_RELEASE,
}

// settlementProto converts a settlement. Its reason is made a CloudEvents
// String, as the server would make it: a protobuf string must be UTF-8,
// and a handler's error need not be.
func settlementProto(st settlement) *heraldv1.Settlement {
	m := &heraldv1.Settlement{Kind: settleKinds[st.kind], AckIds: st.ackIDs, Reason: event.MakeString(st.reason)}
	if st.delay > 0 {
		m.Delay = durationpb.New(st.delay)
	}
	return m
}

func (r *remote) close() error {
	r.calls.close()
	r.pubs.close()
	r.transport.CloseIdleConnections()
	return nil
}
