// Command orders runs the e-commerce order flow on Herald: an order is
// placed, inventory reserves its stock, payment charges it, shipping
// schedules the paid ones, and email and analytics watch it all. Each
// service runs its own Router on its own subscriptions; every event a
// service publishes while handling another names it as its cause.
//
// It places a few orders, waits until every service has done its part,
// and prints the causation chain of the first order.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/heraldevents/herald"
)

// stopSignals end a run as Ctrl-C does: the services finish what they
// hold and the temporary data directory is removed. SIGTERM is what kill,
// timeout, systemd and docker stop send.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

// config is what the command line sets.
type config struct {
	data    string        // data directory of embedded Herald; empty: a temporary one
	server  string        // address of a Herald server; empty: embedded
	timeout time.Duration // how long the orders may take
	verbose bool          // log every handled event
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("orders", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.data, "data", "", "run Herald embedded with its data in `DIR` (default: a temporary directory, removed at exit)")
	fs.StringVar(&cfg.server, "server", "", "use the Herald server at `ADDR` instead of embedded Herald")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "how long the orders may take to go through")
	fs.BoolVar(&cfg.verbose, "v", false, "log every handled event")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q (see -h)", fs.Args())
	}
	if cfg.timeout <= 0 {
		return cfg, fmt.Errorf("-timeout %s: want a positive duration, such as 30s", cfg.timeout)
	}
	if cfg.server != "" && cfg.data != "" {
		return cfg, errors.New("-data and -server exclude each other: -data runs Herald embedded")
	}
	return cfg, nil
}

// connect returns the client the shop runs on: embedded Herald in
// cfg.data, or the server at cfg.server. Everything after it is the same
// either way.
func connect(ctx context.Context, cfg config) (*herald.Client, error) {
	if cfg.server != "" {
		return herald.Connect(ctx, cfg.server)
	}
	return herald.Open(cfg.data)
}

// run is the whole command: it places the orders, waits for them, and
// prints a summary and the first order's causation chain to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.server == "" && cfg.data == "" {
		if cfg.data, err = os.MkdirTemp("", "herald-orders-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.data)
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	c, err := connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	shop := NewShop(c, log)
	defer shop.Close() // before c.Close: routers stop first
	return placeAndReport(ctx, shop, c, cfg.timeout, stdout)
}

// placeAndReport runs the shop, places sampleOrders and reports on them.
func placeAndReport(ctx context.Context, shop *Shop, c *herald.Client, timeout time.Duration, stdout io.Writer) error {
	if err := shop.Setup(ctx); err != nil {
		return err
	}
	if err := shop.StartAll(); err != nil {
		return err
	}
	start := time.Now()
	orders := sampleOrders()
	ids := make([]string, len(orders))
	var roots []*herald.CloudEvent
	for i, o := range orders {
		ev, err := shop.PlaceOrder(ctx, o)
		if err != nil {
			return err
		}
		ids[i], roots = o.ID, append(roots, ev)
		fmt.Fprintf(stdout, "placed order %s for %s: %s\n", o.ID, o.Customer, money(o.Total()))
	}
	wctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("the orders did not go through within %s", timeout))
	defer cancel()
	if err := shop.WaitDone(wctx, ids...); err != nil {
		return err
	}
	st := shop.Analytics.Stats()
	fmt.Fprintf(stdout, "\nall %d orders went through in %s\n", len(orders), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "analytics: %d orders placed for %s; %d paid (%s collected), %d declined\n",
		st.Orders, money(st.PlacedCents), st.Paid, money(st.CollectedCents), st.Declined)
	fmt.Fprintf(stdout, "email: %d sent\n", len(shop.Email.Outbox()))
	chain, err := LoadChain(ctx, c, roots[0].ID, topics...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ncausation chain of order %s (correlation id %s):\n", ids[0], roots[0].ID)
	return chain.Print(stdout)
}

// sampleOrders returns the orders the command places: the first is paid
// and shipped, the last is over the card limit and declined.
func sampleOrders() []Order {
	run := randomID()[:6] // order ids differ from one run to the next
	id := func(n int) string { return fmt.Sprintf("ord-%s-%d", run, n) }
	return []Order{
		{ID: id(1), Customer: "alice@example.com", Items: []Item{{ProductID: "prod-001", Quantity: 2, PriceCents: 2999}}},
		{ID: id(2), Customer: "bob@example.com", Items: []Item{{ProductID: "prod-002", Quantity: 1, PriceCents: 14900},
			{ProductID: "prod-001", Quantity: 1, PriceCents: 2999}}},
		{ID: id(3), Customer: "carol@example.com", Items: []Item{{ProductID: "prod-003", Quantity: 3, PriceCents: 999}}},
		{ID: id(4), Customer: "dave@example.com", Items: []Item{{ProductID: "prod-004", Quantity: 1, PriceCents: 129900}}},
	}
}
