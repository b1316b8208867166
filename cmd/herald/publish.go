package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/server"
)

func (a *app) publishCmd() *cobra.Command {
	e := &event.Event{SpecVersion: event.SpecVersion}
	var schemaVersion int
	cmd := &cobra.Command{
		Use:   "publish TOPIC [DATA | @FILE | -]",
		Short: "Publish one event (CloudEvents HTTP binary mode)",
		Long: "Publish one event. Its data is the DATA argument, the contents of FILE for @FILE,\n" +
			"standard input for -, or nothing. The event id is a new UUID unless --id is given;\n" +
			"publishing the same source and id again within the topic's dedup window is a no-op.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("schema-version") && schemaVersion < 1 {
				return fmt.Errorf("--schema-version %d: versions start at 1", schemaVersion)
			}
			if event.IsFormat(e.DataContentType) {
				return fmt.Errorf("--content-type %q is a CloudEvents format: the server would take the data for whole events, "+
					"not this event's data; give the data's own media type", e.DataContentType)
			}
			data, err := a.eventData(args[1:], e.DataContentType)
			if err != nil {
				return err
			}
			e.Data = data
			if len(data) == 0 && !cmd.Flags().Changed("content-type") {
				e.DataContentType = "" // no data, so no data content type
			}
			if e.ID == "" {
				e.ID = uuid.NewString()
			}
			if schemaVersion > 0 {
				if e.DataSchema != "" {
					return errors.New("give --dataschema or --schema-version, not both")
				}
				e.DataSchema = schema.URI(e.Type, schemaVersion)
			}
			return a.publish(cmd, args[0], e)
		},
	}
	f := cmd.Flags()
	f.StringVar(&e.Type, "type", "", "event type, e.g. com.example.order.placed (required)")
	f.StringVar(&e.Source, "source", "", "event source, a URI reference such as /orders (required)")
	f.StringVar(&e.PartitionKey, "key", "", "partition key: events with the same key keep their order")
	f.StringVar(&e.ID, "id", "", "event id (default: a new UUID)")
	f.StringVar(&e.Subject, "subject", "", "event subject")
	f.StringVar(&e.DataContentType, "content-type", "application/json", "media type of the data")
	f.StringVar(&e.DataSchema, "dataschema", "", "URI of the schema the data follows")
	f.IntVar(&schemaVersion, "schema-version", 0, "the version of the --type's registered schema the data follows (sets the dataschema)")
	_ = cmd.MarkFlagRequired("type")
	_ = cmd.MarkFlagRequired("source")
	return cmd
}

// eventData reads the data argument: literal text, @file, - for stdin, or
// none. JSON content types must carry valid JSON, which empty input is
// not. Input larger than any server takes in one event is refused once
// that much is read.
func (a *app) eventData(args []string, contentType string) ([]byte, error) {
	if len(args) == 0 {
		return nil, nil
	}
	var data []byte
	var err error
	from := "standard input"
	switch arg := args[0]; {
	case arg == "-":
		data, err = readData(a.stdin, from)
	case strings.HasPrefix(arg, "@"):
		from = arg[1:]
		data, err = readDataFile(from)
	default:
		data = []byte(arg)
	}
	if err != nil {
		return nil, fmt.Errorf("read event data: %w", err)
	}
	if isJSON(contentType) && (len(data) == 0 || !json.Valid(data)) {
		empty := ""
		if len(data) == 0 {
			empty = from + " is empty, and "
		}
		return nil, fmt.Errorf("%sthe data is not valid JSON but --content-type is %s: fix the JSON, or pass --content-type text/plain", empty, contentType)
	}
	return data, nil
}

// readDataFile reads event data from the file at path.
func readDataFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readData(f, path)
}

// readData reads event data from r (named from).
func readData(r io.Reader, from string) ([]byte, error) {
	return readLimited(r, from, maxEventBytesLimit, "32 MiB, more than a Herald server takes in one event")
}

// readLimited reads r (named from), refusing more than limit bytes
// (described by what) without reading further.
func readLimited(r io.Reader, from string, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s holds more than %s", from, what)
	}
	return b, err
}

// inParens writes " (s)", or nothing for "".
func inParens(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// orTop names the place a JSON pointer points to.
func orTop(pointer string) string {
	if pointer == "" {
		return "(the data)"
	}
	return pointer
}

// isJSON reports whether a media type is JSON (*/json or */*+json).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (strings.HasSuffix(mt, "/json") || strings.HasSuffix(mt, "+json"))
}

func (a *app) publish(cmd *cobra.Command, topic string, e *event.Event) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	header := http.Header{}
	body := event.ToHTTP(e, header)
	resp, err := c.do(cmd.Context(), http.MethodPost, topicPath(topic, "/events"), header, body)
	var p *problemError
	if errors.As(err, &p) {
		for _, v := range p.Violations { // how the event breaks its schema, one line each
			fmt.Fprintf(a.stdout, "  %s: %s%s\n", orTop(v.Pointer), v.Message, inParens(v.Keyword))
		}
	}
	if err != nil {
		return err
	}
	var reply server.PublishReply
	if err := decodeReply(resp.body, &reply); err != nil {
		return err
	}
	if len(reply.Events) != 1 {
		return fmt.Errorf("unexpected reply from the server: %d results for one event", len(reply.Events))
	}
	r := reply.Events[0]
	dup := ""
	if r.Duplicate {
		dup = " (duplicate)"
	}
	_, err = fmt.Fprintf(a.stdout, "partition %d offset %d%s\n", r.Partition, r.Offset, dup)
	return err
}
