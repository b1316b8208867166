package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/internal/server"
)

func (a *app) subsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "subs", Aliases: []string{"subscriptions"},
		Short: "Create, list, describe, move and delete subscriptions; inspect and redrive their dead letters"}
	cmd.AddCommand(a.subsCreateCmd(), a.subsListCmd(), a.subsDescribeCmd(), a.subsDeleteCmd(),
		a.subsSeekCmd(), a.subsDeadLettersCmd(), a.subsRedriveCmd(), a.subsRedrivesCmd())
	return cmd
}

// subPath is the API path of a subscription, with the names escaped.
func subPath(topic, name string, rest ...string) string {
	return topicPath(topic, "/subscriptions/"+pathSegment(name)+strings.Join(rest, ""))
}

// subFlags are the settings flags of subs create; only the flags given
// are sent, so the command also changes an existing subscription.
type subFlags struct {
	start, ackTimeout, ordering, deadLetter string
	backoffInitial, backoffMax, prefix      string
	maxAttempts                             int
	multiplier                              float64
	types, sources                          []string
}

func (a *app) subsCreateCmd() *cobra.Command {
	var sf subFlags
	cmd := &cobra.Command{
		Use:   "create TOPIC NAME",
		Short: "Create a subscription, or change the given settings of an existing one",
		Long: "Create a subscription: it receives every event of TOPIC (that its filter takes) from its\n" +
			"start position on, and shares them among the consumers that pull from it. Given an existing\n" +
			"subscription, change the settings whose flags are given (the start position stays).",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if math.IsNaN(sf.multiplier) || math.IsInf(sf.multiplier, 0) { // JSON has no such numbers
				return fmt.Errorf("--backoff-multiplier %q: want a finite number, such as 2", cmd.Flags().Lookup("backoff-multiplier").Value)
			}
			return a.createSub(cmd, args[0], args[1], sf.spec(cmd))
		},
	}
	f := cmd.Flags()
	f.StringVar(&sf.start, "start", "latest", `where a new subscription starts: "earliest", "latest" or an RFC 3339 time`)
	f.StringVar(&sf.ackTimeout, "ack-timeout", "30s", "how long a consumer has to ack a delivery before it is redelivered")
	f.IntVar(&sf.maxAttempts, "max-attempts", 5, "deliveries of an event before it goes to the dead-letter topic")
	f.StringVar(&sf.backoffInitial, "backoff-initial", "1s", "delay before the first redelivery")
	f.StringVar(&sf.backoffMax, "backoff-max", "5m", "longest delay before a redelivery")
	f.Float64Var(&sf.multiplier, "backoff-multiplier", 2, "factor the delay grows by after each failed delivery")
	f.StringVar(&sf.ordering, "ordering", "key", `"key" (one event per partition key at a time), "partition" (one per partition) or "none"`)
	f.StringArrayVar(&sf.types, "type", nil, "receive only events of this type; '*' matches any characters; repeat for more")
	f.StringArrayVar(&sf.sources, "source", nil, "receive only events from this source; '*' matches any characters; repeat for more")
	f.StringVar(&sf.prefix, "subject-prefix", "", "receive only events whose subject starts with this")
	f.StringVar(&sf.deadLetter, "dead-letter-topic", "", "topic for events out of attempts (default TOPIC.NAME.dlq)")
	return cmd
}

// spec builds the PUT body from the flags given.
func (sf *subFlags) spec(cmd *cobra.Command) server.SubscriptionSpec {
	f := cmd.Flags()
	str := func(name string, v *string) *string {
		if f.Changed(name) {
			return v
		}
		return nil
	}
	spec := server.SubscriptionSpec{Start: str("start", &sf.start), AckTimeout: str("ack-timeout", &sf.ackTimeout),
		Ordering: str("ordering", &sf.ordering), DeadLetterTopic: str("dead-letter-topic", &sf.deadLetter)}
	if f.Changed("max-attempts") {
		spec.MaxAttempts = &sf.maxAttempts
	}
	if f.Changed("backoff-initial") || f.Changed("backoff-max") || f.Changed("backoff-multiplier") {
		spec.Backoff = &server.BackoffSpec{Initial: str("backoff-initial", &sf.backoffInitial), Max: str("backoff-max", &sf.backoffMax)}
		if f.Changed("backoff-multiplier") {
			spec.Backoff.Multiplier = &sf.multiplier
		}
	}
	if f.Changed("type") || f.Changed("source") || f.Changed("subject-prefix") {
		spec.Filter = &server.FilterSpec{Types: sf.types, Sources: sf.sources, SubjectPrefix: str("subject-prefix", &sf.prefix)}
	}
	return spec
}

func (a *app) createSub(cmd *cobra.Command, topic, name string, spec server.SubscriptionSpec) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var s server.Subscription
	resp, err := c.sendJSON(cmd.Context(), http.MethodPut, subPath(topic, name), spec, &s)
	if err != nil {
		return err
	}
	verb := "updated"
	if resp.status == http.StatusCreated {
		verb = "created"
	}
	cfg := s.Config
	_, err = fmt.Fprintf(a.stdout, "%s subscription %s on %s: start %s, ack timeout %s, max attempts %d, backoff %s, "+
		"ordering %s, filter %s, dead letters to %s\n", verb, s.Name, s.Topic, cfg.Start, cfg.AckTimeout, cfg.MaxAttempts,
		backoffText(cfg.Backoff), cfg.Ordering, filterText(cfg.Filter), cfg.DeadLetterTopic)
	return err
}

func backoffText(b server.BackoffConfig) string {
	return fmt.Sprintf("%s x%g up to %s", b.Initial, b.Multiplier, b.Max)
}

func filterText(f server.FilterConfig) string {
	var parts []string
	if len(f.Types) > 0 {
		parts = append(parts, "types "+strings.Join(f.Types, ","))
	}
	if len(f.Sources) > 0 {
		parts = append(parts, "sources "+strings.Join(f.Sources, ","))
	}
	if f.SubjectPrefix != "" {
		parts = append(parts, "subject prefix "+f.SubjectPrefix)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func (a *app) subsListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list TOPIC",
		Short: "List the subscriptions of a topic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var list server.SubscriptionList
			if err := c.getJSON(cmd.Context(), topicPath(args[0], "/subscriptions"), &list); err != nil {
				return err
			}
			if asJSON {
				return writeJSONLines(a.stdout, list.Subscriptions)
			}
			return writeSubTable(a.stdout, list.Subscriptions)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per subscription instead of a table")
	return cmd
}

func writeSubTable(w io.Writer, subs []server.Subscription) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tORDERING\tACK TIMEOUT\tMAX ATTEMPTS\tLAG\tIN FLIGHT\tWAITING RETRY\tDEAD LETTERED\tDEAD-LETTER TOPIC")
	for _, s := range subs {
		var t server.SubscriptionPartition
		for _, p := range s.Partitions {
			t.Lag, t.InFlight, t.WaitingRetry, t.DeadLettered = t.Lag+p.Lag, t.InFlight+p.InFlight,
				t.WaitingRetry+p.WaitingRetry, t.DeadLettered+p.DeadLettered
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.Config.Ordering, s.Config.AckTimeout,
			s.Config.MaxAttempts, t.Lag, t.InFlight, t.WaitingRetry, t.DeadLettered, s.Config.DeadLetterTopic)
	}
	return tw.Flush()
}

func (a *app) subsDescribeCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "describe TOPIC NAME",
		Short: "Show a subscription's settings and its state in each partition",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var s server.Subscription
			if err := c.getJSON(cmd.Context(), subPath(args[0], args[1]), &s); err != nil {
				return err
			}
			if asJSON {
				return writeJSONLines(a.stdout, []server.Subscription{s})
			}
			return writeSub(a.stdout, s)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the subscription as JSON")
	return cmd
}

func writeSub(w io.Writer, s server.Subscription) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	c := s.Config
	fmt.Fprintf(tw, "topic:\t%s\nname:\t%s\nstart:\t%s\nack timeout:\t%s\nmax attempts:\t%d\nbackoff:\t%s\n"+
		"ordering:\t%s\nfilter:\t%s\ndead-letter topic:\t%s\ncreated:\t%s\nredriving:\t%d\n\n",
		s.Topic, s.Name, c.Start, c.AckTimeout, c.MaxAttempts, backoffText(c.Backoff), c.Ordering, filterText(c.Filter),
		c.DeadLetterTopic, s.CreatedAt.Local().Format(time.RFC3339), s.Redriving)
	writePartitionRows(tw, s.Partitions)
	return tw.Flush()
}

// writePartitionRows writes a subscription's partition table.
func writePartitionRows(tw io.Writer, parts []server.SubscriptionPartition) {
	fmt.Fprintln(tw, "PARTITION\tCOMMITTED\tEND\tLAG\tIN FLIGHT\tWAITING RETRY\tDEAD LETTERED\tOLDEST UNACKED")
	for _, p := range parts {
		oldest := "-"
		if p.OldestUnackedSeconds > 0 {
			oldest = (time.Duration(p.OldestUnackedSeconds*1000) * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", p.Partition, p.CommittedOffset, p.EndOffset, p.Lag,
			p.InFlight, p.WaitingRetry, p.DeadLettered, oldest)
	}
}

func (a *app) subsDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete TOPIC NAME",
		Short: "Delete a subscription and its position (its dead-letter topic stays)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if _, err := c.do(cmd.Context(), http.MethodDelete, subPath(args[0], args[1]), nil, nil); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "deleted subscription %s on %s\n", args[1], args[0])
			return err
		},
	}
}
