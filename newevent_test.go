package herald_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/heraldevents/herald"
	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/rpc"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
)

func TestNewEvent_FillsIDSourceTimeAndContentType(t *testing.T) {
	before := time.Now()
	e, err := herald.NewEvent("order.placed", OrderPlaced{Order: 42, Total: 9.5})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(e.ID) {
		t.Errorf("id %q, want 32 hex digits", e.ID)
	}
	if other := herald.MustNewEvent("order.placed", nil); other.ID == e.ID {
		t.Errorf("two events share the id %q", e.ID)
	}
	if want := "/" + filepath.Base(os.Args[0]); e.Source != want {
		t.Errorf("source %q, want the program's name %q", e.Source, want)
	}
	if e.Time.Location() != time.UTC || e.Time.Before(before) || e.Time.After(time.Now()) {
		t.Errorf("time %v, want now in UTC", e.Time)
	}
	if e.Type != "order.placed" || e.SpecVersion != "1.0" || e.DataContentType != "application/json" {
		t.Errorf("type %q specversion %q datacontenttype %q", e.Type, e.SpecVersion, e.DataContentType)
	}
	if string(e.Data) != `{"order":42,"total":9.5}` {
		t.Errorf("data %s", e.Data)
	}
	if err := e.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestNewEvent_OptionsSetTheirAttribute(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name  string
		opt   herald.EventOption
		check func(e *herald.CloudEvent) bool
	}{
		{"WithSource", herald.WithSource("urn:shop:orders"), func(e *herald.CloudEvent) bool { return e.Source == "urn:shop:orders" }},
		{"WithSubject", herald.WithSubject("order-42"), func(e *herald.CloudEvent) bool { return e.Subject == "order-42" }},
		{"WithKey", herald.WithKey("customer-7"), func(e *herald.CloudEvent) bool { return e.PartitionKey == "customer-7" }},
		{"WithID", herald.WithID("order-42-placed"), func(e *herald.CloudEvent) bool { return e.ID == "order-42-placed" }},
		{"WithTime", herald.WithTime(at), func(e *herald.CloudEvent) bool { return e.Time.Equal(at) }},
		{"WithTime zero", herald.WithTime(time.Time{}), func(e *herald.CloudEvent) bool { return e.Time.IsZero() }},
		{"WithExtension", herald.WithExtension("tenant", "acme"), func(e *herald.CloudEvent) bool { return e.Extensions["tenant"] == "acme" }},
		{"WithDataSchema", herald.WithDataSchema("https://schemas.example.com/order/v2"), func(e *herald.CloudEvent) bool {
			return e.DataSchema == "https://schemas.example.com/order/v2"
		}},
		{"WithContentType", herald.WithContentType("application/vnd.shop.order+json"), func(e *herald.CloudEvent) bool {
			return e.DataContentType == "application/vnd.shop.order+json" && string(e.Data) == `{"order":1,"total":0}`
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := herald.NewEvent("order.placed", OrderPlaced{Order: 1}, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(e) {
				t.Fatalf("%s not applied: %+v", tt.name, e)
			}
			if err := e.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestNewEvent_EncodesDataByItsType(t *testing.T) {
	tests := []struct {
		name     string
		data     any
		opts     []herald.EventOption
		wantData string
		wantCT   string
	}{
		{"a struct as JSON", OrderPlaced{Order: 7}, nil, `{"order":7,"total":0}`, "application/json"},
		{"a map as JSON", map[string]int{"order": 7}, nil, `{"order":7}`, "application/json"},
		{"a string as a JSON string", "hello", nil, `"hello"`, "application/json"},
		{"bytes as encoded JSON", []byte(`{"order": 7}`), nil, `{"order": 7}`, "application/json"},
		{"json.RawMessage as encoded JSON", json.RawMessage(`[1,2]`), nil, `[1,2]`, "application/json"},
		{"bytes of another content type", []byte("a,b\n1,2\n"), []herald.EventOption{herald.WithContentType("text/csv")}, "a,b\n1,2\n", "text/csv"},
		{"nil as no data", nil, nil, "", ""},
		{"empty bytes as no data", []byte{}, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := herald.NewEvent("t", tt.data, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if string(e.Data) != tt.wantData || e.DataContentType != tt.wantCT {
				t.Fatalf("data %q datacontenttype %q, want %q %q", e.Data, e.DataContentType, tt.wantData, tt.wantCT)
			}
			if tt.wantData == "" && e.Data != nil {
				t.Fatalf("data %v, want nil", e.Data)
			}
		})
	}
}

func TestNewEvent_EncodesProtoMessagesAsProtobuf(t *testing.T) {
	msg := wrapperspb.String("order 42")
	e, err := herald.NewEvent("order.placed", msg)
	if err != nil {
		t.Fatal(err)
	}
	if e.DataContentType != "application/protobuf" || e.DataSchema != "https://type.googleapis.com/google.protobuf.StringValue" {
		t.Fatalf("datacontenttype %q dataschema %q", e.DataContentType, e.DataSchema)
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var got wrapperspb.StringValue
	if err := herald.DecodeProto(e, &got); err != nil || got.GetValue() != "order 42" {
		t.Fatalf("DecodeProto = %q, %v", got.GetValue(), err)
	}
}

// The gRPC API maps proto_data (a google.protobuf.Any) to datacontenttype
// and dataschema; NewEvent must map a message the same way, so that an
// event reads the same whichever way it was published.
func TestNewEvent_ProtoDataMatchesTheGRPCMapping(t *testing.T) {
	msg := timestamppb.New(time.Unix(1700000000, 0))
	local := herald.MustNewEvent("t", msg)
	packed, err := anypb.New(msg)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := rpc.EventFromProto(&heraldv1.CloudEvent{Id: "1", Source: "/s", SpecVersion: "1.0", Type: "t",
		Data: &heraldv1.CloudEvent_ProtoData{ProtoData: packed}})
	if err != nil {
		t.Fatal(err)
	}
	if local.DataContentType != remote.DataContentType || local.DataSchema != remote.DataSchema {
		t.Fatalf("NewEvent: %q %q; gRPC: %q %q", local.DataContentType, local.DataSchema, remote.DataContentType, remote.DataSchema)
	}
	var got timestamppb.Timestamp
	if err := herald.DecodeProto(remote, &got); err != nil || !proto.Equal(&got, msg) {
		t.Fatalf("DecodeProto of the gRPC event = %v, %v", &got, err)
	}
}

func TestDecodeProto_RefusesOtherDataAndOtherMessages(t *testing.T) {
	stringValue := herald.MustNewEvent("t", wrapperspb.String("x"))
	tests := []struct {
		name string
		e    *herald.CloudEvent
		want string
	}{
		{"JSON data", herald.MustNewEvent("t", OrderPlaced{}), `data is "application/json", not protobuf`},
		{"another message type", stringValue, "data is a google.protobuf.StringValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := herald.DecodeProto(tt.e, &timestamppb.Timestamp{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeProto = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewEvent_ReportsDataThatDoesNotEncode(t *testing.T) {
	tests := []struct {
		name string
		data any
		opts []herald.EventOption
		want string
	}{
		{"a value JSON cannot encode", math.Inf(1), nil, "encode data as JSON: json: unsupported value: +Inf"},
		{"a channel", make(chan int), nil, "encode data as JSON: json: unsupported type: chan int"},
		{"bytes that are not JSON", []byte("not json"), nil, "not valid JSON"},
		{"a struct with a non-JSON content type", OrderPlaced{}, []herald.EventOption{herald.WithContentType("text/plain")},
			"is encoded as JSON, not as text/plain"},
		{"a proto message with a JSON content type", wrapperspb.String("x"), []herald.EventOption{herald.WithContentType("application/json")},
			"is encoded as protobuf, not as application/json"},
		// DecodeProto and a typed handler would refuse these, as the gRPC
		// API refuses proto_data with another datacontenttype or dataschema.
		{"a proto message with a content type that is not protobuf's", wrapperspb.String("x"),
			[]herald.EventOption{herald.WithContentType("application/octet-stream")}, "is encoded as protobuf, not as application/octet-stream"},
		{"a proto message with another dataschema", wrapperspb.String("x"),
			[]herald.EventOption{herald.WithDataSchema("https://schemas.example.com/label")},
			`its dataschema is its type URL "https://type.googleapis.com/google.protobuf.StringValue", not "https://schemas.example.com/label"`},
		{"a proto message with a schema version", wrapperspb.String("x"),
			[]herald.EventOption{herald.WithSchemaVersion(2)}, `not "herald:schemas/order.placed/versions/2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := herald.NewEvent("order.placed", tt.data, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || e != nil {
				t.Fatalf("NewEvent = %v, %v; want no event and an error containing %q", e, err, tt.want)
			}
		})
	}
}

func TestNewEvent_ReportsAttributesThatBreakTheRules(t *testing.T) {
	tests := []struct {
		name, attr string
		typ        string
		opt        herald.EventOption
	}{
		{"no type", "type", "", herald.WithSubject("x")},
		{"an empty source", "source", "t", herald.WithSource("")},
		{"an empty id", "id", "t", herald.WithID("")},
		{"a relative dataschema", "dataschema", "t", herald.WithDataSchema("schemas/order")},
		// A server would refuse these on a topic that validates schemas.
		{"a schema version below 1", "dataschema", "t", herald.WithSchemaVersion(0)},
		{"a schema of another type", "dataschema", "t", herald.WithDataSchema("herald:schemas/other/versions/1")},
		{"an uppercase extension name", "Tenant", "t", herald.WithExtension("Tenant", "acme")},
		{"an extension Herald has a field for", "partitionkey", "t", herald.WithExtension("partitionkey", "k")},
		{"a content type that is no media type", "datacontenttype", "t", herald.WithContentType("json")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := herald.NewEvent(tt.typ, []byte(`{}`), tt.opt)
			var verr *event.ValidationError
			if !errors.As(err, &verr) || verr.Attribute != tt.attr {
				t.Fatalf("NewEvent = %v, want a ValidationError of attribute %q", err, tt.attr)
			}
		})
	}
}

// A dataschema URL of another registry, shaped like a Herald one, is the
// event's to carry: NewEvent leaves it to the server.
func TestNewEvent_TakesTheSchemaURLOfAnotherRegistry(t *testing.T) {
	url := "https://registry.example/schema-registry/subjects/orders-value/versions/3"
	e, err := herald.NewEvent("order.placed", []byte(`{}`), herald.WithDataSchema(url))
	if err != nil || e.DataSchema != url {
		t.Fatalf("NewEvent = %v, %v; want the event with its dataschema", e, err)
	}
}

func TestMustNewEvent_PanicsOnError(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustNewEvent did not panic")
		}
	}()
	herald.MustNewEvent("t", make(chan int))
}
