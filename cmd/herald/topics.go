package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/internal/server"
)

func (a *app) topicsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "topics", Short: "Create, list, describe and delete topics"}
	cmd.AddCommand(a.topicsCreateCmd(), a.topicsListCmd(), a.topicsDescribeCmd(), a.topicsDeleteCmd())
	return cmd
}

func (a *app) topicsCreateCmd() *cobra.Command {
	var spec server.TopicSpec
	var partitions int
	var retentionBytes int64
	var retention, dedup, policy string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic, or change the given settings of an existing one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			if f.Changed("partitions") {
				spec.Partitions = &partitions
			}
			if f.Changed("retention") {
				spec.Retention = &retention
			}
			if f.Changed("retention-bytes") {
				spec.RetentionBytes = &retentionBytes
			}
			if f.Changed("dedup-window") {
				spec.DedupWindow = &dedup
			}
			if f.Changed("schema-policy") {
				spec.SchemaPolicy = &policy
			}
			return a.createTopic(cmd, args[0], spec)
		},
	}
	f := cmd.Flags()
	f.IntVar(&partitions, "partitions", 1, "number of partitions (may grow later, never shrink)")
	f.StringVar(&retention, "retention", "168h", "how long events are kept, as a duration; 0 keeps them forever")
	f.Int64Var(&retentionBytes, "retention-bytes", 0, "bytes kept per partition; 0 means no limit")
	f.StringVar(&dedup, "dedup-window", "2m", "how long a repeated event id is recognised as a duplicate; 0 turns it off")
	f.StringVar(&policy, "schema-policy", "none", `validate events against their type's schema: "none", "validate" (events whose type has one) or "require" (every event's type must have one)`)
	return cmd
}

func (a *app) createTopic(cmd *cobra.Command, name string, spec server.TopicSpec) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var t server.Topic
	resp, err := c.sendJSON(cmd.Context(), http.MethodPut, topicPath(name), spec, &t)
	if err != nil {
		return err
	}
	verb := "updated"
	if resp.status == http.StatusCreated {
		verb = "created"
	}
	_, err = fmt.Fprintf(a.stdout, "%s topic %s: %d partitions, retention %s, retention bytes %s, dedup window %s%s\n",
		verb, t.Name, t.Partitions, t.Retention, retentionBytes(t.RetentionBytes), t.DedupWindow, policyNote(t.SchemaPolicy))
	return err
}

// policyNote mentions a schema policy other than none.
func policyNote(p string) string {
	if p == "" || p == "none" {
		return ""
	}
	return ", schema policy " + p
}

func retentionBytes(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func (a *app) topicsListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var list server.TopicList
			if err := c.getJSON(cmd.Context(), "/v1/topics", &list); err != nil {
				return err
			}
			if asJSON {
				return writeJSONLines(a.stdout, list.Topics)
			}
			return writeTopicTable(a.stdout, list.Topics)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per topic instead of a table")
	return cmd
}

func writeJSONLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	return nil
}

func writeTopicTable(w io.Writer, topics []server.Topic) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPARTITIONS\tRETENTION\tRETENTION BYTES\tDEDUP WINDOW\tSCHEMA POLICY\tCREATED")
	for _, t := range topics {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Partitions, t.Retention,
			retentionBytes(t.RetentionBytes), t.DedupWindow, t.SchemaPolicy, t.CreatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func (a *app) topicsDescribeCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's settings and its partitions' offsets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var t server.Topic
			if err := c.getJSON(cmd.Context(), topicPath(args[0]), &t); err != nil {
				return err
			}
			if asJSON {
				return writeJSONLines(a.stdout, []server.Topic{t})
			}
			return writeTopic(a.stdout, t)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the topic as JSON")
	return cmd
}

func writeTopic(w io.Writer, t server.Topic) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\npartitions:\t%d\nretention:\t%s\nretention bytes:\t%s\ndedup window:\t%s\nschema policy:\t%s\ncreated:\t%s\n\n",
		t.Name, t.Partitions, t.Retention, retentionBytes(t.RetentionBytes), t.DedupWindow, t.SchemaPolicy, t.CreatedAt.Local().Format(time.RFC3339))
	fmt.Fprintln(tw, "PARTITION\tSTART OFFSET\tEND OFFSET\tEVENTS")
	for _, p := range t.Offsets {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\n", p.Partition, p.StartOffset, p.EndOffset, p.EndOffset-p.StartOffset)
	}
	return tw.Flush()
}

func (a *app) topicsDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a topic and all its events",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if _, err := c.do(cmd.Context(), http.MethodDelete, topicPath(args[0]), nil, nil); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "deleted topic %s\n", args[0])
			return err
		},
	}
}
