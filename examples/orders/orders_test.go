package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/internal/testserver"
)

func TestMain(m *testing.M) {
	runMainIfAsked()
	goleak.VerifyTestMain(m)
}

// env is a shop on embedded Herald in a test's temporary directory.
type env struct {
	t    *testing.T
	c    *herald.Client
	shop *Shop
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvLogging(t, slog.New(slog.DiscardHandler))
}

// newEnvLogging is newEnv with the shop logging to log.
func newEnvLogging(t *testing.T, log *slog.Logger) *env {
	t.Helper()
	c, err := herald.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	shop := NewShop(c, log)
	t.Cleanup(func() {
		shop.Close()
		c.Close()
	})
	if err := shop.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, c: c, shop: shop}
}

// testOrders returns n orders named prefix-0…; every third one is over the
// card limit.
func testOrders(prefix string, n int) []Order {
	var orders []Order
	for i := range n {
		price := int64(1000 + 100*i)
		if i%3 == 2 {
			price = CardLimitCents + 1
		}
		orders = append(orders, Order{ID: fmt.Sprintf("%s-%d", prefix, i), Customer: fmt.Sprintf("customer-%d@example.com", i),
			Items: []Item{{ProductID: "prod-001", Quantity: 1, PriceCents: price}}})
	}
	return orders
}

func paid(o Order) bool { return o.Total() <= CardLimitCents }

// place places orders and returns their OrderPlaced events by order id.
func (e *env) place(orders []Order) map[string]*herald.CloudEvent {
	e.t.Helper()
	placed := map[string]*herald.CloudEvent{}
	for _, o := range orders {
		ev, err := e.shop.PlaceOrder(context.Background(), o)
		if err != nil {
			e.t.Fatal(err)
		}
		placed[o.ID] = ev
	}
	return placed
}

func (e *env) waitDone(orders ...Order) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.shop.WaitDone(ctx, ids(orders)...); err != nil {
		e.t.Fatalf("waiting for the orders: %v", err)
	}
}

// eventually waits until cond holds, for at most 10 seconds.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitUntil(ctx, cond); err != nil {
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
}

func ids(orders []Order) []string {
	var s []string
	for _, o := range orders {
		s = append(s, o.ID)
	}
	return s
}

// logByOrder reads every topic of the flow and groups the events by the
// orderId in their data, then by type.
func (e *env) logByOrder() map[string]map[string][]*herald.CloudEvent {
	e.t.Helper()
	byOrder := map[string]map[string][]*herald.CloudEvent{}
	for _, topic := range topics {
		events, err := readTopic(context.Background(), e.c, topic)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range events {
			var d struct {
				OrderID string `json:"orderId"`
			}
			if err := json.Unmarshal(ev.Data, &d); err != nil || d.OrderID == "" {
				e.t.Fatalf("%s %s in %s has no order id (%v): %s", ev.Type, ev.ID, topic, err, ev.Data)
			}
			if byOrder[d.OrderID] == nil {
				byOrder[d.OrderID] = map[string][]*herald.CloudEvent{}
			}
			byOrder[d.OrderID][ev.Type] = append(byOrder[d.OrderID][ev.Type], ev)
		}
	}
	return byOrder
}

// lag is how many events of a subscription are not yet acknowledged.
func (e *env) lag(topic, sub string) int64 {
	e.t.Helper()
	info, err := e.c.Subscription(context.Background(), topic, sub)
	if err != nil {
		e.t.Fatal(err)
	}
	var n int64
	for _, p := range info.Partitions {
		n += p.Lag
	}
	return n
}

// checkChain checks that an order's log holds exactly the chain the flow
// promises: OrderPlaced → StockReserved → PaymentCompleted →
// ShipmentScheduled for a paid order, OrderPlaced → StockReserved →
// PaymentFailed for a declined one, each event caused by the one before
// and all correlated with the OrderPlaced. It returns the chain.
func checkChain(t *testing.T, o Order, root *herald.CloudEvent, got map[string][]*herald.CloudEvent) []*herald.CloudEvent {
	t.Helper()
	want := []string{TypeOrderPlaced, TypeStockReserved, TypePaymentCompleted, TypeShipmentScheduled}
	if !paid(o) {
		want = []string{TypeOrderPlaced, TypeStockReserved, TypePaymentFailed}
	}
	n := 0
	for _, evs := range got {
		n += len(evs)
	}
	if n != len(want) {
		t.Fatalf("order %s (%s): %d events in the log, want %v: %v", o.ID, money(o.Total()), n, want, types(got))
	}
	var chain []*herald.CloudEvent
	for i, typ := range want {
		if len(got[typ]) != 1 {
			t.Fatalf("order %s: want one %s, got %v", o.ID, typ, types(got))
		}
		ev := got[typ][0]
		if i == 0 {
			if ev.ID != root.ID || ev.CausationID != "" || ev.CorrelationID != "" {
				t.Fatalf("order %s: OrderPlaced %s (causation %q, correlation %q), want the root %s with neither",
					o.ID, ev.ID, ev.CausationID, ev.CorrelationID, root.ID)
			}
		} else {
			parent := chain[i-1]
			if ev.CausationID != parent.ID {
				t.Errorf("order %s: %s has causationid %q, want its cause %s %s", o.ID, typ, ev.CausationID, parent.Type, parent.ID)
			}
			if ev.CorrelationID != root.ID {
				t.Errorf("order %s: %s has correlationid %q, want the OrderPlaced id %s", o.ID, typ, ev.CorrelationID, root.ID)
			}
		}
		if ev.PartitionKey != o.ID {
			t.Errorf("order %s: %s has partition key %q", o.ID, typ, ev.PartitionKey)
		}
		chain = append(chain, ev)
	}
	return chain
}

func types(got map[string][]*herald.CloudEvent) map[string]int {
	m := map[string]int{}
	for typ, evs := range got {
		m[typ] = len(evs)
	}
	return m
}

func TestOrders_EveryOrderHasItsFullCausationChain(t *testing.T) {
	e := newEnv(t)
	if err := e.shop.StartAll(); err != nil {
		t.Fatal(err)
	}
	orders := testOrders("ord", 9)
	placed := e.place(orders)
	e.waitDone(orders...)

	log := e.logByOrder()
	var wantStats Stats
	for _, o := range orders {
		chain := checkChain(t, o, placed[o.ID], log[o.ID])
		// The tree LoadChain builds is the same chain, and nothing else.
		tree, err := LoadChain(context.Background(), e.c, placed[o.ID].ID, topics...)
		if err != nil {
			t.Fatal(err)
		}
		var walked []string
		tree.Walk(func(n, parent *Node) { walked = append(walked, n.Event.ID) })
		if len(walked) != len(chain) {
			t.Fatalf("order %s: LoadChain walked %d events, want %d:\n%v", o.ID, len(walked), len(chain), walked)
		}
		for i, ev := range chain {
			if walked[i] != ev.ID {
				t.Fatalf("order %s: LoadChain's event %d is %s, want %s %s", o.ID, i, walked[i], ev.Type, ev.ID)
			}
		}

		mails := map[string]bool{}
		for _, m := range e.shop.Email.Outbox() {
			if m.OrderID == o.ID {
				mails[m.Kind] = true
			}
		}
		wantMails := map[string]bool{EmailConfirmation: true, EmailShipped: paid(o), EmailDeclined: !paid(o)}
		for kind, want := range wantMails {
			if mails[kind] != want {
				t.Errorf("order %s: %s mail sent %v, want %v", o.ID, kind, mails[kind], want)
			}
		}
		// Analytics counts orders and payments on two subscriptions, so in
		// either order.
		if saw := e.shop.Analytics.Saw(o.ID); len(saw) != 2 || !slices.Contains(saw, TypeOrderPlaced) {
			t.Errorf("order %s: analytics counted %v, want OrderPlaced and its payment", o.ID, saw)
		}
		wantStats.Orders++
		wantStats.PlacedCents += o.Total()
		if paid(o) {
			wantStats.Paid++
			wantStats.CollectedCents += o.Total()
		} else {
			wantStats.Declined++
		}
	}
	if got := e.shop.Analytics.Stats(); got != wantStats {
		t.Errorf("analytics: %+v, want %+v", got, wantStats)
	}
	if got := e.shop.Inventory.ReservedUnits("prod-001"); got != len(orders) {
		t.Errorf("inventory reserved %d units of prod-001, want one per order (%d)", got, len(orders))
	}
	if n := len(e.shop.Email.Outbox()); n != 2*len(orders) {
		t.Errorf("%d mails sent, want two per order (%d)", n, 2*len(orders))
	}
}

func TestOrders_StoppedShippingCatchesUpWhereItLeftOff(t *testing.T) {
	e := newEnv(t)
	if err := e.shop.StartAll(); err != nil {
		t.Fatal(err)
	}
	before := testOrders("before", 6)
	placed := e.place(before)
	e.waitDone(before...)
	// Shipping also went past the declined payments its filter skips.
	e.eventually("shipping to reach the end of payments", func() bool { return e.lag(TopicPayments, "shipping") == 0 })

	// Shipping goes down while orders flow: some are placed before it
	// stops, some after.
	during, after := testOrders("during", 3), testOrders("after", 6)
	for id, ev := range e.place(during) {
		placed[id] = ev
	}
	e.shop.Stop("shipping")
	for id, ev := range e.place(after) {
		placed[id] = ev
	}
	missed := slices.Concat(during, after)

	// Every other service finishes its part of every order.
	e.eventually("the other services to finish", func() bool {
		for _, o := range missed {
			p := e.shop.Progress(o.ID)
			if !p.Reserved || !p.PaymentTried || !p.Confirmed || !p.Counted || (!p.Paid && !p.Notified) {
				return false
			}
		}
		return true
	})
	log := e.logByOrder()
	for _, o := range after {
		if n := e.shop.Shipping.Handled(o.ID); n != 0 || len(log[o.ID][TypeShipmentScheduled]) != 0 {
			t.Fatalf("order %s was shipped (handled %d times) while shipping was stopped", o.ID, n)
		}
		if paid(o) && e.shop.Email.Sent(o.ID, EmailShipped) {
			t.Fatalf("order %s: shipped mail sent while shipping was stopped", o.ID)
		}
	}
	// Shipping's subscription holds its position: every payment since it
	// stopped waits for it.
	if lag := e.lag(TopicPayments, "shipping"); lag < int64(len(after)) {
		t.Fatalf("shipping's lag on payments is %d, want at least the %d payments made while it was stopped", lag, len(after))
	}

	if err := e.shop.Start("shipping"); err != nil {
		t.Fatal(err)
	}
	all := slices.Concat(before, missed)
	e.waitDone(all...)
	e.eventually("shipping to catch up", func() bool { return e.lag(TopicPayments, "shipping") == 0 })
	log = e.logByOrder()
	for _, o := range all {
		checkChain(t, o, placed[o.ID], log[o.ID])
		want := 0
		if paid(o) {
			want = 1 // once: not missed, and not done again after the restart
		}
		if n := e.shop.Shipping.Handled(o.ID); n != want {
			t.Errorf("order %s: shipping handled its payment %d times, want %d", o.ID, n, want)
		}
	}
}

// lockedBuffer is a bytes.Buffer that handlers may write to at once.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An OrderPlaced whose data is not an order cannot be handled by any
// retry: inventory dead-letters it, and the shop's log (the command's
// stderr) says so, naming the service, rather than a logger of its own.
func TestOrders_ADeadLetteredEventIsReportedInTheShopsLog(t *testing.T) {
	var buf lockedBuffer
	e := newEnvLogging(t, slog.New(slog.NewTextHandler(&buf, nil)))
	if err := e.shop.Start("inventory"); err != nil {
		t.Fatal(err)
	}
	bad := herald.MustNewEvent(TypeOrderPlaced, "not an order", herald.WithSource("/shop/orders"), herald.WithKey("ord-bad"))
	if _, err := e.c.Publish(context.Background(), TopicOrders, bad); err != nil {
		t.Fatal(err)
	}
	e.eventually("the report of the dead letter", func() bool {
		return strings.Contains(buf.String(), "dead-lettered") && strings.Contains(buf.String(), bad.ID)
	})
	if !strings.Contains(buf.String(), "service=inventory") {
		t.Errorf("the report does not name the service:\n%s", buf.String())
	}
}

// chainLine is one line of the printed chain: tree branch, type, id,
// topic/partition@offset and time.
var chainLine = regexp.MustCompile(`^([ │├└─]*)(\w+)\s+([0-9a-f]{32})\s+(\w+)/(\d+)@(\d+)\s+(\S+)$`)

func TestRun_PlacesOrdersAndPrintsTheFirstOrdersChain(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-data", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"all 4 orders went through", "3 paid ($268.94 collected), 1 declined", "email: 8 sent"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	_, tail, ok := strings.Cut(out, "causation chain of order ")
	if !ok {
		t.Fatalf("no causation chain printed:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(tail), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[1], "EVENT") {
		t.Fatalf("want a title, a header and four events:\n%s", out)
	}
	root := regexp.MustCompile(`\(correlation id ([0-9a-f]{32})\)`).FindStringSubmatch(lines[0])
	if root == nil {
		t.Fatalf("title without a correlation id: %q", lines[0])
	}

	// What was printed is what the log holds.
	c, err := herald.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	byID := map[string]*herald.CloudEvent{}
	for _, topic := range topics {
		evs, err := readTopic(context.Background(), c, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			byID[ev.ID] = ev
		}
	}
	want := []struct{ branch, typ, topic string }{
		{"", TypeOrderPlaced, TopicOrders},
		{"└─ ", TypeStockReserved, TopicInventory},
		{"   └─ ", TypePaymentCompleted, TopicPayments},
		{"      └─ ", TypeShipmentScheduled, TopicShipping},
	}
	parent := ""
	for i, w := range want {
		m := chainLine.FindStringSubmatch(lines[2+i])
		if m == nil || m[1] != w.branch || m[2] != w.typ || m[4] != w.topic {
			t.Fatalf("line %d is %q, want %q%s in %s", i, lines[2+i], w.branch, w.typ, w.topic)
		}
		ev := byID[m[3]]
		switch {
		case ev == nil:
			t.Fatalf("printed %s %s is not in the log", w.typ, m[3])
		case ev.Type != w.typ || ev.Topic != w.topic || fmt.Sprint(ev.Partition) != m[5] || fmt.Sprint(ev.Offset) != m[6]:
			t.Fatalf("printed %q, but the log has %s at %s/%d@%d", lines[2+i], ev.Type, ev.Topic, ev.Partition, ev.Offset)
		case ev.CausationID != parent:
			t.Fatalf("printed %s under %q, but its causationid is %q", w.typ, parent, ev.CausationID)
		case i > 0 && ev.CorrelationID != root[1]:
			t.Fatalf("%s has correlationid %q, want %s", w.typ, ev.CorrelationID, root[1])
		}
		if _, err := time.Parse(time.RFC3339, m[7]); err != nil {
			t.Errorf("line %d: time %q: %v", i, m[7], err)
		}
		parent = ev.ID
	}
	if parent == "" || root[1] != byID[chainLine.FindStringSubmatch(lines[2])[3]].ID {
		t.Fatalf("the title's correlation id %s is not the printed OrderPlaced", root[1])
	}
}

// The orders topic of the README's first steps already holds an
// order.placed event of another shape: the services take only their own
// event types, so the summary counts the four orders placed, not it.
func TestRun_EventsOfOtherTypesOnItsTopicsAreLeftAlone(t *testing.T) {
	dir := t.TempDir()
	c, err := herald.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := herald.MustNewEvent("order.placed", map[string]any{"order": 42, "total": 99.5},
		herald.WithKey("order-42"), herald.WithSource("/shop"))
	if _, err := c.Publish(context.Background(), TopicOrders, e); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-data", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	for _, want := range []string{"analytics: 4 orders placed for $1567.94; 3 paid ($268.94 collected), 1 declined", "email: 8 sent"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}

// Topics that exist already, such as the orders topic of the README's
// first steps on a server, keep their partitions: the flow neither grows
// nor (failing) shrinks them.
func TestRun_LeavesTheTopicsItFindsAsTheyAre(t *testing.T) {
	dir := t.TempDir()
	c, err := herald.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{TopicOrders: 8, TopicPayments: 2}
	for topic, n := range want {
		if _, _, err := c.PutTopic(context.Background(), topic, herald.TopicSpec{Partitions: &n}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-data", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	if c, err = herald.Open(dir); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for topic, n := range want {
		got, err := c.Topic(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		if got.Partitions != n {
			t.Errorf("topic %s has %d partitions after the run, want the %d it had", topic, got.Partitions, n)
		}
	}
}

func TestRun_WithoutDataUsesATemporaryDirectoryAndRemovesIt(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), nil, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "ShipmentScheduled") {
		t.Fatalf("no chain printed:\n%s", stdout.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("left behind in the temporary directory: %v", left)
	}
}

func TestRun_RefusesBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"data and server", []string{"-data", "x", "-server", "127.0.0.1:7440"}, "exclude each other"},
		{"stray argument", []string{"now"}, "unexpected arguments"},
		{"unknown flag", []string{"-orders", "3"}, "flag provided but not defined"},
		{"zero timeout", []string{"-timeout", "0s"}, "-timeout 0s: want a positive duration"},
		{"negative timeout", []string{"-timeout", "-1s"}, "-timeout -1s: want a positive duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Refused before anything is stored: the data directory
			// stays empty.
			dir := t.TempDir()
			args := tc.args
			if !slices.Contains(args, "-data") {
				args = append([]string{"-data", dir}, args...)
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %v, want an error saying %q", args, err, tc.want)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("run(%q) left %v in the data directory", args, left)
			}
			if stdout.Len() != 0 {
				t.Fatalf("run(%q) printed:\n%s", args, stdout.String())
			}
		})
	}
}

// The same flow through a Herald server: the shop reaches it with the
// SDK's remote client (-server) and prints the same summary.
func TestRun_AgainstAServerThroughTheRemoteClient(t *testing.T) {
	ts := testserver.Start(t, t.TempDir())
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-server", ts.Addr}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	for _, want := range []string{"all 4 orders went through", "3 paid ($268.94 collected), 1 declined", "causation chain of order "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}
