package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/internal/server"
)

func (a *app) subsSeekCmd() *cobra.Command {
	var to string
	var offsets []string
	cmd := &cobra.Command{
		Use:   "seek TOPIC NAME (--to earliest|latest|TIME | --offset P=O...)",
		Short: "Move a subscription to replay or skip events",
		Long: "Move a subscription: to the earliest or latest event, to the first event stored at or\n" +
			"after a time, or to an offset in given partitions. Deliveries in flight become stale and\n" +
			"pending retries are forgotten.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := seekRequest(cmd, to, offsets)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var s server.Subscription
			if _, err := c.sendJSON(cmd.Context(), http.MethodPost, subPath(args[0], args[1], "/seek"), req, &s); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "moved subscription %s on %s\n", s.Name, s.Topic)
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			writePartitionRows(tw, s.Partitions)
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", `"earliest", "latest" or an RFC 3339 time`)
	f.StringArrayVar(&offsets, "offset", nil, "PARTITION=OFFSET: the next offset to deliver in a partition; repeat for more")
	return cmd
}

func seekRequest(cmd *cobra.Command, to string, offsets []string) (server.SeekRequest, error) {
	switch {
	case cmd.Flags().Changed("to") && len(offsets) > 0:
		return server.SeekRequest{}, fmt.Errorf("give --to or --offset, not both")
	case cmd.Flags().Changed("to"):
		return server.SeekRequest{Start: &to}, nil
	case len(offsets) == 0:
		return server.SeekRequest{}, fmt.Errorf("give --to earliest|latest|TIME or --offset PARTITION=OFFSET")
	}
	req := server.SeekRequest{Offsets: map[int]int64{}}
	for _, o := range offsets {
		p, off, ok := strings.Cut(o, "=")
		pn, perr := strconv.Atoi(p)
		on, oerr := strconv.ParseInt(off, 10, 64)
		if !ok || perr != nil || oerr != nil {
			return req, fmt.Errorf("--offset %q: want PARTITION=OFFSET, such as 0=42", o)
		}
		if _, dup := req.Offsets[pn]; dup {
			return req, fmt.Errorf("--offset %q: partition %d is given more than once", o, pn)
		}
		req.Offsets[pn] = on
	}
	return req, nil
}

func (a *app) subsDeadLettersCmd() *cobra.Command {
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "deadletters TOPIC NAME",
		Short: "List a subscription's dead letters, with why each one died",
		Long: "List a subscription's dead letters, partition by partition of the dead-letter topic and\n" +
			"in offset order within each (oldest first with one partition): JSON lines (partition, offset,\n" +
			"redriving, event) when standard output is not a terminal or --json is given, else a table.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var list server.DeadLetterList
			path := subPath(args[0], args[1], "/deadletters?limit="+strconv.Itoa(limit))
			if err := c.getJSON(cmd.Context(), path, &list); err != nil {
				return err
			}
			if asJSON || !isTerminal(a.stdout) {
				return writeJSONLines(a.stdout, list.DeadLetters)
			}
			return writeDeadLetterTable(a.stdout, list.DeadLetters)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "list at most this many (1 to 10000)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON lines even on a terminal")
	return cmd
}

func writeDeadLetterTable(w io.Writer, dls []server.DeadLetter) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tOFFSET\tID\tTYPE\tFROM\tATTEMPTS\tDIED\tSTATE\tREASON")
	for _, d := range dls {
		x := d.Event.Extensions
		state := "dead"
		switch {
		case d.Redriving:
			state = "redriving"
		case d.Resolved:
			state = "resolved"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Partition, d.Offset, cell(d.Event.ID), cell(d.Event.Type),
			cell(x["deadtopic"]+"/"+x["deadpartition"]+"@"+x["deadoffset"]), cell(x["deadattempts"]), cell(x["deadtime"]),
			state, cell(x["deadreason"]))
	}
	return tw.Flush()
}

func (a *app) subsRedriveCmd() *cobra.Command {
	var req server.RedriveRequest
	cmd := &cobra.Command{
		Use:   "redrive TOPIC NAME (--all | --id ID...)",
		Short: "Send dead letters back to the subscription they died in",
		Long: "Send dead letters back to the subscription they died in (and to no other), starting\n" +
			"again at attempt 1. --id takes the event's id or the dead letter's (ID@TOPIC/NAME, as\n" +
			"listed). Each redrive is recorded with who asked (see `subs redrives`). A redrive that\n" +
			"sends nothing back fails, saying why.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case req.All && len(req.IDs) > 0:
				return fmt.Errorf("give --all or --id, not both")
			case !req.All && len(req.IDs) == 0:
				return fmt.Errorf("give --all or --id ID (one or more)")
			}
			if req.Actor == "" {
				req.Actor = a.getenv("USER")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var res server.RedriveReply
			if _, err := c.sendJSON(cmd.Context(), http.MethodPost, subPath(args[0], args[1], "/redrive"), req, &res); err != nil {
				return err
			}
			return a.printRedrive(args[0], args[1], req.All, res)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&req.All, "all", false, "redrive every dead letter of the subscription")
	f.StringArrayVar(&req.IDs, "id", nil, "redrive the dead letter with this event id; repeat for more")
	f.StringVar(&req.Actor, "actor", "", "who asks, for the audit trail (default $USER)")
	return cmd
}

// printRedrive prints what a redrive did, naming the ids that are not dead
// letters; a redrive of ids that sent nothing back is an error saying why.
// A redrive of all that finds none to send is not: a scheduled one runs
// whether or not anything died.
func (a *app) printRedrive(topic, sub string, all bool, res server.RedriveReply) error {
	notFound := ""
	if len(res.NotFound) > 0 {
		notFound = fmt.Sprintf("not dead letters of %s: %s", sub, strings.Join(res.NotFound, ", "))
	}
	if res.Redriven == 0 && !all {
		var why []string
		if res.AlreadyRedriving > 0 {
			why = append(why, fmt.Sprintf("%d already being redriven", res.AlreadyRedriving))
		}
		if res.AlreadyResolved > 0 {
			why = append(why, fmt.Sprintf("%d resolved before (redriven and acked; --id redrives one again)", res.AlreadyResolved))
		}
		if notFound != "" {
			why = append(why, notFound)
		}
		return fmt.Errorf("redrove no dead letters to %s on %s: %s", sub, topic, strings.Join(why, "; "))
	}
	fmt.Fprintf(a.stdout, "redrove %s to %s on %s (%d already being redriven, %d resolved before)\n",
		plural(res.Redriven, "dead letter"), sub, topic, res.AlreadyRedriving, res.AlreadyResolved)
	if notFound != "" {
		fmt.Fprintf(a.stderr, "herald: %s\n", notFound)
	}
	return nil
}

func (a *app) subsRedrivesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "redrives TOPIC NAME",
		Short: "Show who redrove a subscription's dead letters, and when",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var audit server.RedriveLog
			if err := c.getJSON(cmd.Context(), subPath(args[0], args[1], "/redrives"), &audit); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tACTOR\tCOUNT\tEVENTS")
			for _, r := range audit.Redrives {
				what := strings.Join(r.IDs, ",")
				if r.All {
					what = "all: " + what
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", r.At.Local().Format(time.DateTime), cell(r.Actor), r.Count, cell(what))
			}
			return tw.Flush()
		},
	}
}

// plural writes "1 dead letter", "2 dead letters".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
