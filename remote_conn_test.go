package herald_test

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
	"github.com/heraldevents/herald/internal/testserver"
)

// rawClient speaks the gRPC service directly, as a client in another
// language would.
func rawClient(addr string) heraldv1connect.HeraldServiceClient {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return heraldv1connect.NewHeraldServiceClient(&http.Client{Transport: tr}, "http://"+addr, connect.WithGRPC())
}

// blackHole forwards TCP to a server until it goes silent: from then on,
// the connections open at that moment forward nothing and are never
// closed, as when the server's host is lost or a NAT entry is dropped;
// connections opened later forward as before.
type blackHole struct {
	ln     net.Listener
	mu     sync.Mutex
	silent chan struct{} // closed by goSilent, for the connections open then
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startBlackHole(t *testing.T, addr string) *blackHole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{ln: ln, silent: make(chan struct{})}
	b.wg.Add(1)
	go b.accept(addr)
	t.Cleanup(func() {
		ln.Close()
		b.cut()
		b.wg.Wait()
	})
	return b
}

// cut closes every connection, so that nothing waits on them any more.
func (b *blackHole) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
}

func (b *blackHole) accept(addr string) {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", addr)
		if err != nil {
			c.Close()
			continue
		}
		b.mu.Lock()
		b.conns = append(b.conns, c, s)
		silent := b.silent
		b.mu.Unlock()
		b.wg.Add(2)
		go b.pipe(s, c, silent)
		go b.pipe(c, s, silent)
	}
}

// pipe copies src to dst until silent; then it reads and drops, so that
// neither side sees the connection end.
func (b *blackHole) pipe(dst, src net.Conn, silent chan struct{}) {
	defer b.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		select {
		case <-silent:
		default:
			dst.Write(buf[:n])
		}
	}
}

func (b *blackHole) goSilent() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.silent)
	b.silent = make(chan struct{})
}

// A call on a connection that died without a word fails once the server
// does not answer a ping, instead of waiting for the kernel's TCP timeouts,
// and the next call goes on a new connection.
func TestRemote_ACallOnAConnectionThatDiedSilentlyFailsAndTheNextReconnects(t *testing.T) {
	defer herald.SetHealthCheck(200*time.Millisecond, 300*time.Millisecond)()
	ts := testserver.Start(t, t.TempDir())
	hole := startBlackHole(t, ts.Addr)
	ctx := context.Background()
	c, err := herald.Connect(ctx, hole.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	hole.goSilent()
	done := make(chan error, 1)
	go func() {
		_, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`))) // no deadline
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a publish on a connection that forwards nothing succeeded")
		}
	case <-time.After(10 * time.Second):
		hole.cut() // let the client close
		t.Fatal("a publish on a dead connection still waits after 10s; the ping should have closed it within about 0.5s")
	}
	if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`))); err != nil {
		t.Fatalf("the publish after the dead connection was closed: %v", err)
	}
}

// A Settle request with one settlement that is not valid is refused whole:
// the valid settlements before it are not applied.
func TestRemote_ASettleRequestWithABadSettlementChangesNothing(t *testing.T) {
	ts := testserver.Start(t, t.TempDir())
	c := ts.Connect(t)
	ctx := context.Background()
	if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Pull(ctx, "orders", "billing", 1, 0)
	if err != nil || len(ds) != 1 {
		t.Fatalf("pull: %v, %v", ds, err)
	}
	raw := rawClient(ts.Addr)
	_, err = raw.Settle(ctx, connect.NewRequest(&heraldv1.SettleRequest{Topic: "orders", Subscription: "billing",
		Settlements: []*heraldv1.Settlement{
			{Kind: heraldv1.Settlement_KIND_ACK, AckIds: []string{ds[0].AckID}},
			{Kind: heraldv1.Settlement_KIND_UNSPECIFIED, AckIds: []string{ds[0].AckID}},
		}}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("settle: %v, want invalid_argument", err)
	}
	res, err := c.Ack(ctx, "orders", "billing", ds[0].AckID)
	if err != nil || len(res.Acked) != 1 {
		t.Fatalf("ack after the refused request: %+v, %v; want the delivery still leased, not acked by the refused request", res, err)
	}
}

// A Subscribe stream whose client never sends start does not hold the
// server's graceful shutdown.
func TestRemote_ASubscribeStreamWithoutStartDoesNotHoldShutdown(t *testing.T) {
	ts := testserver.Start(t, t.TempDir())
	raw := rawClient(ts.Addr)
	stream := raw.Subscribe(context.Background())
	defer stream.CloseResponse()
	if err := stream.Send(nil); err != nil { // the headers, no message
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the server is waiting for start
	start := time.Now()
	ts.Stop() // fails the test if the graceful shutdown times out (10s)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
	if _, err := stream.Receive(); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("the stream ended with %v, want the server's unavailable (shutting down)", err)
	}
}
