package herald_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/auth"
	"github.com/heraldevents/herald/internal/testserver"
)

// selfSigned returns a server TLS config for 127.0.0.1 and a client one
// that trusts it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herald test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{"h2", "http/1.1"}}
	return server, &tls.Config{RootCAs: pool}
}

func TestConnect_TLSAndTokenAuth(t *testing.T) {
	srvTLS, cliTLS := selfSigned(t)
	ts := testserver.StartWith(t, t.TempDir(), testserver.Options{Tokens: []string{"s3cret"}, TLS: srvTLS})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := herald.Connect(ctx, ts.Addr, herald.WithTLS(cliTLS)); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("connect without a token: %v, want unauthenticated", err)
	}
	if _, err := herald.Connect(ctx, ts.Addr, herald.WithTLS(cliTLS), herald.WithToken("guess")); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("connect with a wrong token: %v, want unauthenticated", err)
	}
	if _, err := herald.Connect(ctx, ts.Addr, herald.WithTLS(&tls.Config{}), herald.WithToken("s3cret")); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("connect trusting nothing: %v, want a certificate error", err)
	}
	if _, err := herald.Connect(ctx, ts.Addr, herald.WithToken("s3cret")); err == nil {
		t.Fatal("a cleartext client reached a TLS server")
	}
	c := ts.Connect(t, herald.WithTLS(cliTLS), herald.WithToken("s3cret"))
	res, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`), herald.WithSource("/shop")))
	if err != nil || len(res) != 1 {
		t.Fatalf("publish over TLS with the token: %v %v", res, err)
	}
	if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	r := herald.NewRouter(c, herald.RouterOptions{})
	r.HandleFunc("orders", "billing", func(ctx context.Context, d *herald.Delivery) error {
		got <- d.Event.ID
		return nil
	})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	select {
	case id := <-got:
		if id != res[0].ID {
			t.Fatalf("handled %s, want %s", id, res[0].ID)
		}
	case <-ctx.Done():
		t.Fatal("no delivery over the TLS stream")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A server that takes only requests with a token refuses Connect with an
// error that says how to give one, or that the one given is not accepted.
func TestConnect_ARefusedTokenSaysHowToGiveOne(t *testing.T) {
	ts := testserver.StartWith(t, t.TempDir(), testserver.Options{Tokens: []string{"s3cret"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		opts []herald.ConnectOption
		want string
	}{
		{"no token", nil, "give one with herald.WithToken"},
		{"a wrong token", []herald.ConnectOption{herald.WithToken("guess")}, "does not accept the token given with herald.WithToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := herald.Connect(ctx, ts.Addr, tc.opts...)
			if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("connect: %v, want unauthenticated saying %q", err, tc.want)
			}
		})
	}
}

func TestConnect_RefusesAnUnreachableServerAndABadAddress(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	if _, err := herald.Connect(ctx, addr); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("connect to nothing: %v, want an error naming the address", err)
	}
	if _, err := herald.Connect(ctx, "ftp://"+addr); err == nil {
		t.Fatal("an ftp:// address was accepted")
	}
	if _, err := herald.Connect(ctx, "http://"+addr, herald.WithTLS(nil)); err == nil {
		t.Fatal("WithTLS with an http:// address was accepted")
	}
}

// With the server's access log at debug level every response goes through
// its logging writer; streams must still flush each message.
func TestConnect_StreamsWorkWithTheDebugAccessLog(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := testserver.StartWith(t, t.TempDir(), testserver.Options{Logger: logger})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := herald.Connect(ctx, ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSubscription(ctx, "orders", "billing", herald.SubscriptionConfig{Start: "earliest"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", map[string]int{"total": 12})); err != nil {
		t.Fatalf("publish (a PublishStream call): %v", err)
	}
	got := make(chan *herald.Delivery, 1)
	r := herald.NewRouter(c, herald.RouterOptions{})
	r.HandleFunc("orders", "billing", func(_ context.Context, d *herald.Delivery) error {
		select {
		case got <- d:
		default:
		}
		return nil
	})
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- r.Run(rctx) }()
	select {
	case d := <-got:
		if d.Event.Type != "order.placed" {
			t.Errorf("delivered %q, want order.placed", d.Event.Type)
		}
	case err := <-ran:
		t.Fatalf("the router stopped: %v", err)
	case <-ctx.Done():
		t.Fatal("no delivery on the Subscribe stream within 20 s")
	}
	stop()
	<-ran
}

// A token without the grant a call needs is ErrForbidden, and the call
// changes nothing.
func TestConnect_ATokenWithoutTheGrantIsErrForbidden(t *testing.T) {
	sum := sha256.Sum256([]byte("reader"))
	file := filepath.Join(t.TempDir(), "auth.json")
	body := `{"tokens": [{"name": "reader", "sha256": "` + hex.EncodeToString(sum[:]) + `", "grants": [{"topics": "orders", "actions": ["consume"]}]}]}`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := &auth.Keyring{}
	if err := keys.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	ts := testserver.StartWith(t, t.TempDir(), testserver.Options{Keys: keys})
	c := ts.Connect(t, herald.WithToken("reader"))
	ctx := context.Background()
	if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", nil)); !errors.Is(err, herald.ErrForbidden) {
		t.Fatalf("publish with a consume-only token: %v, want ErrForbidden", err)
	}
	if _, _, err := c.PutTopic(ctx, "orders", herald.TopicSpec{}); !errors.Is(err, herald.ErrForbidden) {
		t.Fatalf("PutTopic with a consume-only token: %v, want ErrForbidden", err)
	}
	if _, err := c.Read(ctx, "orders", 0, 0, 10); !errors.Is(err, herald.ErrTopicNotFound) {
		t.Fatalf("read of the topic the refused calls would have made: %v, want ErrTopicNotFound", err)
	}
}

// A server that cannot be reached is ErrUnavailable, as a server whose
// storage cannot write is: either way the call may succeed later, and a
// caller retries on one sentinel.
func TestConnect_AServerThatIsDownIsErrUnavailable(t *testing.T) {
	ts := testserver.Start(t, t.TempDir())
	c := ts.Connect(t)
	ctx := context.Background()
	if _, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	ts.Stop()
	_, err := c.Publish(ctx, "orders", herald.MustNewEvent("order.placed", []byte(`{}`)))
	if !errors.Is(err, herald.ErrUnavailable) {
		t.Errorf("publish to a stopped server: %v, want ErrUnavailable", err)
	}
	if _, err := c.Topics(ctx); !errors.Is(err, herald.ErrUnavailable) {
		t.Errorf("list topics of a stopped server: %v, want ErrUnavailable", err)
	}
	if _, err := herald.Connect(ctx, ts.Addr); !errors.Is(err, herald.ErrUnavailable) || !strings.Contains(err.Error(), ts.Addr) {
		t.Errorf("connect to a stopped server: %v, want ErrUnavailable naming the address", err)
	}
}

// An address no request can be sent to, or a token no header can carry,
// is refused by Connect saying what is wrong, and is not ErrUnavailable,
// on which a caller retries: it never comes right (it was "unavailable:
// no Host in request URL" or "invalid header field value").
func TestConnect_ABadAddressOrTokenIsNotErrUnavailable(t *testing.T) {
	ts := testserver.Start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct {
		addr, token, want string
	}{
		{"", "", "address"},
		{"http://", "", "address"},
		{"https://", "", "address"},
		{ts.Addr + " ", "", "address"},
		{"http://" + ts.Addr + "\n", "", "address"},
		{ts.Addr, "s3cret\n", "token"},
		{ts.Addr, "s3\x00cret", "token"},
	} {
		c, err := herald.Connect(ctx, tc.addr, herald.WithToken(tc.token))
		if err == nil {
			c.Close()
			t.Errorf("Connect(%q) with token %q took it", tc.addr, tc.token)
			continue
		}
		if errors.Is(err, herald.ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Connect(%q) with token %q: %v; want an error naming the %s, not ErrUnavailable", tc.addr, tc.token, err, tc.want)
		}
	}
}
