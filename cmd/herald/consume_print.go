package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/heraldevents/herald/internal/server"
)

// deliveryWriter prints deliveries as JSON lines or as a table.
type deliveryWriter struct {
	w      io.Writer
	lines  bool // JSON lines, else a table
	header bool // the table header is printed
}

func (dw *deliveryWriter) write(ds []server.Delivery) error {
	if dw.lines {
		return dw.writeLines(ds)
	}
	return dw.writeTable(ds)
}

// writeLines prints one {"ackId","attempt","event"} object per line.
func (dw *deliveryWriter) writeLines(ds []server.Delivery) error {
	for _, d := range ds {
		b, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("delivery %s: %w", d.AckID, err)
		}
		if _, err := dw.w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// writeTable prints one pull as a table. Columns are aligned per pull.
func (dw *deliveryWriter) writeTable(ds []server.Delivery) error {
	tw := tabwriter.NewWriter(dw.w, 0, 4, 2, ' ', 0)
	if !dw.header {
		fmt.Fprintln(tw, "ATTEMPT\tPARTITION\tOFFSET\tTIME\tTYPE\tSOURCE\tID\tKEY\tDATA")
		dw.header = true
	}
	for _, d := range ds {
		e := d.Event
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Attempt, e.Partition, e.Offset,
			eventTime(e).Local().Format("2006-01-02 15:04:05.000"), cell(e.Type), cell(e.Source), cell(e.ID),
			cell(e.PartitionKey), preview(e.Data))
	}
	return tw.Flush()
}
