package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/heraldevents/herald"
)

// Node is an event and the events it caused.
type Node struct {
	Event    *herald.CloudEvent
	Children []*Node
}

// LoadChain reads every event of topics and returns the causation tree
// under the event rootID: each event's children are the events whose
// causationid names it, oldest first.
func LoadChain(ctx context.Context, c *herald.Client, rootID string, topics ...string) (*Node, error) {
	byID := map[string]*herald.CloudEvent{}
	caused := map[string][]*herald.CloudEvent{}
	for _, t := range topics {
		events, err := readTopic(ctx, c, t)
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			byID[e.ID] = e
			if e.CausationID != "" {
				caused[e.CausationID] = append(caused[e.CausationID], e)
			}
		}
	}
	root, ok := byID[rootID]
	if !ok {
		return nil, fmt.Errorf("event %s is in none of the topics %v", rootID, topics)
	}
	return tree(root, caused), nil
}

func tree(e *herald.CloudEvent, caused map[string][]*herald.CloudEvent) *Node {
	n := &Node{Event: e}
	kids := caused[e.ID]
	sort.SliceStable(kids, func(i, j int) bool { return kids[i].StoredAt.Before(kids[j].StoredAt) })
	for _, k := range kids {
		n.Children = append(n.Children, tree(k, caused))
	}
	return n
}

// readTopic reads every event a topic still holds, partition by
// partition, each from its start offset: retention may have deleted the
// oldest events of a data directory used for days.
func readTopic(ctx context.Context, c *herald.Client, topic string) ([]*herald.CloudEvent, error) {
	t, err := c.Topic(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("reading topic %s: %w", topic, err)
	}
	var all []*herald.CloudEvent
	for p := 0; p < t.Partitions; p++ {
		start, _, err := c.Offsets(ctx, topic, p)
		if err != nil {
			return nil, fmt.Errorf("reading topic %s partition %d: %w", topic, p, err)
		}
		for off := start; ; {
			page, err := c.Read(ctx, topic, p, off, 500)
			if err != nil {
				return nil, fmt.Errorf("reading topic %s partition %d at offset %d: %w", topic, p, off, err)
			}
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			off = page[len(page)-1].Offset + 1
		}
	}
	return all, nil
}

// Walk calls fn for every node of the tree, parents before children, with
// the node's parent (nil for the root).
func (n *Node) Walk(fn func(n, parent *Node)) { n.walk(nil, fn) }

func (n *Node) walk(parent *Node, fn func(n, parent *Node)) {
	fn(n, parent)
	for _, k := range n.Children {
		k.walk(n, fn)
	}
}

// Print writes the tree, one event a line: its type (indented under its
// cause), id, topic with partition and offset, and time.
func (n *Node) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tID\tTOPIC\tTIME")
	n.print(tw, "", "")
	return tw.Flush()
}

// print writes n after first (its branch) and its children after rest
// (the lines that continue above them).
func (n *Node) print(w io.Writer, first, rest string) {
	e := n.Event
	fmt.Fprintf(w, "%s%s\t%s\t%s/%d@%d\t%s\n", first, e.Type, e.ID, e.Topic, e.Partition, e.Offset,
		e.Time.Format("2006-01-02T15:04:05.000Z07:00"))
	for i, k := range n.Children {
		if i == len(n.Children)-1 {
			k.print(w, rest+"└─ ", rest+"   ")
		} else {
			k.print(w, rest+"├─ ", rest+"│  ")
		}
	}
}
