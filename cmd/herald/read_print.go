package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heraldevents/herald/event"
)

// eventWriter prints events as JSON lines or as a table.
type eventWriter struct {
	w      io.Writer
	lines  bool // JSON lines, else a table
	header bool // the table header is printed
}

func newEventWriter(w io.Writer, jsonLines bool) eventWriter {
	return eventWriter{w: w, lines: jsonLines}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (ew *eventWriter) write(events []*event.Event) error {
	if ew.lines {
		return ew.writeLines(events)
	}
	return ew.writeTable(events)
}

func (ew *eventWriter) writeLines(events []*event.Event) error {
	for _, e := range events {
		b, err := e.MarshalJSON()
		if err != nil {
			return fmt.Errorf("event at offset %d: %w", e.Offset, err)
		}
		if _, err := ew.w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// writeTable prints one page as a table. Columns are aligned per page.
func (ew *eventWriter) writeTable(events []*event.Event) error {
	if len(events) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(ew.w, 0, 4, 2, ' ', 0)
	if !ew.header {
		fmt.Fprintln(tw, "OFFSET\tTIME\tTYPE\tSOURCE\tID\tKEY\tDATA")
		ew.header = true
	}
	for _, e := range events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Offset, eventTime(e).Local().Format("2006-01-02 15:04:05.000"),
			cell(e.Type), cell(e.Source), cell(e.ID), cell(e.PartitionKey), preview(e.Data))
	}
	return tw.Flush()
}

// eventTime is the event's time, or when it was stored if it has none.
func eventTime(e *event.Event) time.Time {
	if !e.Time.IsZero() {
		return e.Time
	}
	return e.StoredAt
}

// cell keeps a value on one table cell, printable on a terminal: tabs
// and line breaks become spaces, other control characters (which begin
// terminal escape sequences) U+FFFD.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r):
			return utf8.RuneError
		}
		return r
	}, s)
}

// previewRunes is how much of the data the table shows.
const previewRunes = 60

func preview(data []byte) string {
	if len(data) == 0 {
		return "-"
	}
	if !utf8.Valid(data) {
		return fmt.Sprintf("<%d bytes>", len(data))
	}
	s := cell(strings.Join(strings.Fields(string(data)), " "))
	if utf8.RuneCountInString(s) > previewRunes {
		s = string([]rune(s)[:previewRunes]) + "…"
	}
	return s
}
