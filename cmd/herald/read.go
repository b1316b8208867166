package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/server"
)

// Page sizes of read requests.
const (
	readPage   = 1000
	followWait = 25 * time.Second // below the server's 30s maximum
)

// reader reads one partition page by page.
type reader struct {
	c         *client
	topic     string
	partition int
	offset    int64  // next offset to read; -1 before the first event
	since     string // RFC 3339 time to start from, until the first event
	limit     int    // events left to print; 0: no limit
	follow    bool
	out       eventWriter
}

func (a *app) readCmd() *cobra.Command {
	r := &reader{}
	var from string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "read TOPIC",
		Short: "Print the events of a topic's partition",
		Long: "Print the events of one partition: JSON lines (one structured CloudEvent per line)\n" +
			"when standard output is not a terminal or --json is given, else a table.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			r.c, r.topic = c, args[0]
			r.out = newEventWriter(a.stdout, asJSON || !isTerminal(a.stdout))
			if err := r.start(cmd.Context(), from); err != nil {
				return err
			}
			return r.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.IntVar(&r.partition, "partition", 0, "partition to read (0 when not given)")
	f.StringVar(&from, "from", "start", `where to start: an offset, an RFC 3339 time, "start" or "end"`)
	f.IntVar(&r.limit, "limit", 0, "stop after this many events (0: no limit)")
	f.BoolVarP(&r.follow, "follow", "f", false, "keep waiting for new events until interrupted")
	f.BoolVar(&asJSON, "json", false, "print JSON lines even on a terminal")
	return cmd
}

// start resolves --from.
func (r *reader) start(ctx context.Context, from string) error {
	r.offset = -1
	if r.limit < 0 {
		return fmt.Errorf("--limit %d: must not be negative", r.limit)
	}
	switch from {
	case "start", "":
		return nil
	case "end":
		return r.startAtEnd(ctx)
	}
	if n, err := strconv.ParseInt(from, 10, 64); err == nil {
		if n < 0 {
			return fmt.Errorf("--from %d: offsets start at 0", n)
		}
		r.offset = n
		return nil
	}
	if _, err := time.Parse(time.RFC3339Nano, from); err == nil {
		r.since = from
		return nil
	}
	return fmt.Errorf(`--from %q: want an offset, an RFC 3339 time such as 2024-05-01T12:00:00Z, "start" or "end"`, from)
}

func (r *reader) startAtEnd(ctx context.Context) error {
	var t server.Topic
	if err := r.c.getJSON(ctx, topicPath(r.topic), &t); err != nil {
		return err
	}
	for _, p := range t.Offsets {
		if p.Partition == r.partition {
			r.offset = p.EndOffset
			return nil
		}
	}
	return fmt.Errorf("topic %s has no partition %d (it has %d)", r.topic, r.partition, t.Partitions)
}

// run prints pages until the end of the partition, the limit, or, with
// --follow, until ctx is canceled.
func (r *reader) run(ctx context.Context) error {
	printed := 0
	for r.limit == 0 || printed < r.limit {
		events, err := r.page(ctx, printed)
		if err != nil {
			if r.follow && errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return nil // interrupted: the normal end of --follow
			}
			return err
		}
		if err := r.out.write(events); err != nil {
			return err
		}
		printed += len(events)
		if len(events) > 0 {
			r.offset, r.since = events[len(events)-1].Offset+1, ""
		} else if !r.follow {
			return nil
		}
	}
	return nil
}

// page reads the next page of events.
func (r *reader) page(ctx context.Context, printed int) ([]*event.Event, error) {
	n := readPage
	if r.limit > 0 {
		n = min(n, r.limit-printed)
	}
	q := url.Values{"partition": {strconv.Itoa(r.partition)}, "limit": {strconv.Itoa(n)}}
	switch {
	case r.offset >= 0:
		q.Set("offset", strconv.FormatInt(r.offset, 10))
	case r.since != "":
		q.Set("since", r.since)
	}
	if r.follow {
		q.Set("wait", followWait.String())
	}
	resp, err := r.c.do(ctx, http.MethodGet, topicPath(r.topic, "/events?"+q.Encode()), nil, nil)
	if err != nil {
		return nil, err
	}
	events, err := event.DecodeBatch(resp.body)
	if err != nil {
		return nil, fmt.Errorf("unexpected reply from the server: %w", err)
	}
	return events, nil
}
