package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/internal/server"
)

// settleTimeout bounds the ack or nack of what was printed; it runs even
// after an interrupt, so that printed deliveries are not delivered again.
const settleTimeout = 30 * time.Second

// consumer pulls deliveries of a subscription, prints them and settles
// them (ack, or nack with --nack).
type consumer struct {
	c      *client
	path   string // the subscription's API path
	max    int
	wait   string // --wait: how long a pull waits for the first delivery
	follow bool
	nack   bool
	reason string
	delay  string
	out    deliveryWriter
	stderr io.Writer
}

func (a *app) consumeCmd() *cobra.Command {
	cs := &consumer{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "consume TOPIC SUBSCRIPTION",
		Short: "Pull, print and acknowledge (or nack) the events of a subscription",
		Long: "Pull deliveries of a subscription, print them, then ack them (or nack them with --nack,\n" +
			"to simulate a failing consumer). Without --follow it stops when a pull returns nothing;\n" +
			"with --follow it waits for more until interrupted. It prints JSON lines\n" +
			`({"ackId","attempt","event"}) when standard output is not a terminal or --json is given,` + "\n" +
			"else a table.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			cs.c, cs.path, cs.stderr = c, subPath(args[0], args[1]), a.stderr
			cs.out = deliveryWriter{w: a.stdout, lines: asJSON || !isTerminal(a.stdout)}
			if cs.follow && !cmd.Flags().Changed("wait") {
				cs.wait = followWait.String()
			}
			if d, err := time.ParseDuration(cs.wait); cs.follow && err == nil && d <= 0 {
				return fmt.Errorf("--follow needs a --wait above 0s, such as 25s (the default)")
			}
			if !cs.nack && (cmd.Flags().Changed("reason") || cmd.Flags().Changed("delay")) {
				return fmt.Errorf("--reason and --delay go with --nack")
			}
			if cmd.Flags().Changed("delay") {
				if err := checkDelay(cs.delay); err != nil {
					return err
				}
			}
			return cs.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.IntVar(&cs.max, "max", 10, "deliveries per pull (1 to 1000)")
	f.BoolVarP(&cs.follow, "follow", "f", false, "keep waiting for new deliveries until interrupted")
	f.StringVar(&cs.wait, "wait", "0s", "how long each pull waits for a delivery (up to 30s; default 25s with --follow)")
	f.BoolVar(&cs.nack, "nack", false, "nack what is printed instead of acking it: it is delivered again after the backoff, or dead-lettered")
	f.StringVar(&cs.reason, "reason", "nacked by herald consume", "with --nack: why, kept with a dead letter")
	f.StringVar(&cs.delay, "delay", "", "with --nack: redeliver after this long instead of the subscription's backoff")
	f.BoolVar(&asJSON, "json", false, "print JSON lines even on a terminal")
	return cmd
}

// checkDelay refuses a --delay the server would refuse, before the first
// pull: a pull leases its events, using up an attempt of each.
func checkDelay(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > server.MaxDelay {
		return fmt.Errorf("--delay %q: want a duration above 0s and up to %s, such as 30s (leave it out for the subscription's backoff)",
			s, server.FormatDuration(server.MaxDelay))
	}
	return nil
}

// run pulls, prints and settles until a pull returns nothing or, with
// --follow, until ctx ends. An interrupt is a normal end.
func (cs *consumer) run(ctx context.Context) error {
	for {
		ds, err := cs.pull(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(ds) == 0 {
			if !cs.follow {
				return nil
			}
			continue
		}
		if err := cs.out.write(ds); err != nil {
			return err // not acked: they are delivered again after the ack timeout
		}
		if err := cs.settle(ctx, ds); err != nil {
			return err
		}
	}
}

func (cs *consumer) pull(ctx context.Context) ([]server.Delivery, error) {
	req := server.PullRequest{Max: &cs.max, Wait: &cs.wait}
	var reply server.PullReply
	if _, err := cs.c.sendJSON(ctx, http.MethodPost, cs.path+"/pull", req, &reply); err != nil {
		return nil, err
	}
	return reply.Deliveries, nil
}

// settle acks (or nacks) what was printed, even after an interrupt.
func (cs *consumer) settle(ctx context.Context, ds []server.Delivery) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.AckID
	}
	var req any = server.AckRequest{AckIDs: ids}
	action := "ack"
	if cs.nack {
		nr := server.NackRequest{AckIDs: ids, Reason: cs.reason}
		if cs.delay != "" {
			nr.Delay = &cs.delay
		}
		req, action = nr, "nack"
	}
	var res server.AckReply
	if _, err := cs.c.sendJSON(ctx, http.MethodPost, cs.path+"/"+action, req, &res); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	if len(res.Stale) > 0 {
		fmt.Fprintf(cs.stderr, "herald: too late to %s %d deliveries (their lease ended; they will be delivered again): %s\n",
			action, len(res.Stale), strings.Join(res.Stale, ", "))
	}
	return nil
}
