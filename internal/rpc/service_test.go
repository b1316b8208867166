package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
)

// fixture is a real log engine and broker behind an HTTP/2 TLS test server
// serving the connect handler.
type fixture struct {
	b   *broker.Broker
	srv *httptest.Server
}

func newFixture(t *testing.T, opts broker.Options) *fixture {
	t.Helper()
	return newFixtureClosing(t, opts, nil)
}

// newFixtureClosing is newFixture for a server whose shutdown is closing
// closing.
func newFixtureClosing(t *testing.T, opts broker.Options, closing <-chan struct{}) *fixture {
	t.Helper()
	e, err := log.Open(t.TempDir(), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	b, err := broker.New(e, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(NewHandler(Config{Broker: b, Closing: closing}))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &fixture{b: b, srv: srv}
}

// protocols are the client protocols every test runs with.
var protocols = []struct {
	name string
	opts []connect.ClientOption
}{
	{"grpc", []connect.ClientOption{connect.WithGRPC()}},
	{"connect", nil},
}

func (f *fixture) client(opts []connect.ClientOption) heraldv1connect.HeraldServiceClient {
	return heraldv1connect.NewHeraldServiceClient(f.srv.Client(), f.srv.URL, opts...)
}

// eachProtocol runs fn with a fresh fixture and a client of each protocol.
func eachProtocol(t *testing.T, opts broker.Options, fn func(t *testing.T, f *fixture, c heraldv1connect.HeraldServiceClient)) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			f := newFixture(t, opts)
			fn(t, f, f.client(p.opts))
		})
	}
}

func str(s string) *heraldv1.CloudEventAttributeValue {
	return &heraldv1.CloudEventAttributeValue{Attr: &heraldv1.CloudEventAttributeValue_CeString{CeString: s}}
}

func orderEvent(id string) *heraldv1.CloudEvent {
	return &heraldv1.CloudEvent{Id: id, Source: "/orders", SpecVersion: "1.0", Type: "OrderPlaced",
		Attributes: map[string]*heraldv1.CloudEventAttributeValue{
			"datacontenttype": str("application/json"),
			"partitionkey":    str("order-" + id),
		},
		Data: &heraldv1.CloudEvent_TextData{TextData: `{"order":"` + id + `"}`}}
}

func publish(t *testing.T, c heraldv1connect.HeraldServiceClient, topic string, events ...*heraldv1.CloudEvent) []*heraldv1.PublishResult {
	t.Helper()
	resp, err := c.Publish(context.Background(), connect.NewRequest(&heraldv1.PublishRequest{Topic: topic, Events: events}))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return resp.Msg.GetResults()
}

// wantCode checks err's connect code, Herald code and message.
func wantCode(t *testing.T, err error, code connect.Code, herald, msgPart string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *connect.Error", err)
	}
	if ce.Code() != code || ce.Meta().Get(ErrorCodeKey) != herald || !strings.Contains(ce.Message(), msgPart) {
		t.Fatalf("got %v (code %v, %s %q), want code %v, %s %q and a message with %q",
			err, ce.Code(), ErrorCodeKey, ce.Meta().Get(ErrorCodeKey), code, ErrorCodeKey, herald, msgPart)
	}
}

func TestService_TopicAdministration(t *testing.T) {
	eachProtocol(t, broker.Options{}, func(t *testing.T, f *fixture, c heraldv1connect.HeraldServiceClient) {
		ctx := context.Background()
		parts := int32(3)
		put, err := c.PutTopic(ctx, connect.NewRequest(&heraldv1.PutTopicRequest{Name: "orders", Partitions: &parts,
			Retention: durationpb.New(time.Hour), DedupWindow: durationpb.New(5 * time.Minute)}))
		if err != nil {
			t.Fatal(err)
		}
		tp := put.Msg.GetTopic()
		if !put.Msg.GetCreated() || tp.GetPartitions() != 3 || tp.GetRetention().AsDuration() != time.Hour ||
			tp.GetDedupWindow().AsDuration() != 5*time.Minute || tp.GetCreatedTime().AsTime().IsZero() {
			t.Fatalf("PutTopic = %v", put.Msg)
		}

		// An update keeps unset fields.
		n := int64(1 << 20)
		put, err = c.PutTopic(ctx, connect.NewRequest(&heraldv1.PutTopicRequest{Name: "orders", RetentionBytes: &n}))
		if err != nil {
			t.Fatal(err)
		}
		if tp := put.Msg.GetTopic(); put.Msg.GetCreated() || tp.GetPartitions() != 3 || tp.GetRetentionBytes() != n || tp.GetRetention().AsDuration() != time.Hour {
			t.Fatalf("update PutTopic = %v", put.Msg)
		}

		got, err := c.GetTopic(ctx, connect.NewRequest(&heraldv1.GetTopicRequest{Name: "orders"}))
		if err != nil || got.Msg.GetTopic().GetRetentionBytes() != n {
			t.Fatalf("GetTopic = %v, %v", got, err)
		}
		list, err := c.ListTopics(ctx, connect.NewRequest(&heraldv1.ListTopicsRequest{}))
		if err != nil || len(list.Msg.GetTopics()) != 1 || list.Msg.GetTopics()[0].GetName() != "orders" {
			t.Fatalf("ListTopics = %v, %v", list, err)
		}
		if _, err := c.DeleteTopic(ctx, connect.NewRequest(&heraldv1.DeleteTopicRequest{Name: "orders"})); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetTopic(ctx, connect.NewRequest(&heraldv1.GetTopicRequest{Name: "orders"}))
		wantCode(t, err, connect.CodeNotFound, "unknown_topic", "orders")
	})
}

func TestService_TopicErrors(t *testing.T) {
	eachProtocol(t, broker.Options{}, func(t *testing.T, f *fixture, c heraldv1connect.HeraldServiceClient) {
		ctx := context.Background()
		p := func(n int32) *int32 { return &n }
		_, err := c.PutTopic(ctx, connect.NewRequest(&heraldv1.PutTopicRequest{Name: "orders", Partitions: p(0)}))
		wantCode(t, err, connect.CodeInvalidArgument, "invalid_topic_setting", "partitions must be between 1 and 10000")
		_, err = c.PutTopic(ctx, connect.NewRequest(&heraldv1.PutTopicRequest{Name: "orders", Retention: &durationpb.Duration{Seconds: 1, Nanos: -1}}))
		wantCode(t, err, connect.CodeInvalidArgument, "invalid_topic_setting", "retention")
		_, err = c.PutTopic(ctx, connect.NewRequest(&heraldv1.PutTopicRequest{Name: "bad/name"}))
		wantCode(t, err, connect.CodeInvalidArgument, "invalid_topic_name", "bad/name")
		_, err = c.PutTopic(ctx, connect.NewRequest(&heraldv1.PutTopicRequest{Name: "__internal"}))
		wantCode(t, err, connect.CodeInvalidArgument, "reserved_topic_name", "reserved")

		if _, err := c.PutTopic(ctx, connect.NewRequest(&heraldv1.PutTopicRequest{Name: "orders", Partitions: p(4)})); err != nil {
			t.Fatal(err)
		}
		_, err = c.PutTopic(ctx, connect.NewRequest(&heraldv1.PutTopicRequest{Name: "orders", Partitions: p(2)}))
		wantCode(t, err, connect.CodeFailedPrecondition, "topic_conflict", "cannot shrink")
	})
}

func TestService_PublishThenReadBack(t *testing.T) {
	eachProtocol(t, broker.Options{}, func(t *testing.T, f *fixture, c heraldv1connect.HeraldServiceClient) {
		at := time.Date(2025, 3, 1, 12, 30, 0, 123456789, time.UTC)
		full := &heraldv1.CloudEvent{Id: "e1", Source: "/orders", SpecVersion: "1.0", Type: "OrderPlaced",
			Attributes: map[string]*heraldv1.CloudEventAttributeValue{
				"time":            {Attr: &heraldv1.CloudEventAttributeValue_CeTimestamp{CeTimestamp: timestamppb.New(at)}},
				"subject":         str("order-1"),
				"datacontenttype": str("application/json"),
				"dataschema":      {Attr: &heraldv1.CloudEventAttributeValue_CeUri{CeUri: "https://schemas.example/order.json"}},
				"partitionkey":    str("customer-7"),
				"traceparent":     str("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
				"tracestate":      str("congo=t61rcWkgMzE"),
				"correlationid":   str("corr-1"),
				"causationid":     str("cause-1"),
				"region":          str("eu"),
				"priority":        {Attr: &heraldv1.CloudEventAttributeValue_CeInteger{CeInteger: 5}},
				"urgent":          {Attr: &heraldv1.CloudEventAttributeValue_CeBoolean{CeBoolean: true}},
				"blob":            {Attr: &heraldv1.CloudEventAttributeValue_CeBytes{CeBytes: []byte{1, 2, 3}}},
			},
			Data: &heraldv1.CloudEvent_TextData{TextData: `{"total":42}`}}
		bin := &heraldv1.CloudEvent{Id: "e2", Source: "/orders", SpecVersion: "1.0", Type: "OrderBlob",
			Attributes: map[string]*heraldv1.CloudEventAttributeValue{"datacontenttype": str("application/octet-stream")},
			Data:       &heraldv1.CloudEvent_BinaryData{BinaryData: []byte{0, 0xff, 7}}}
		pb := &heraldv1.CloudEvent{Id: "e3", Source: "/orders", SpecVersion: "1.0", Type: "OrderProto",
			Data: &heraldv1.CloudEvent_ProtoData{ProtoData: &anypb.Any{TypeUrl: "type.googleapis.com/shop.v1.Order", Value: []byte{8, 42}}}}

		results := publish(t, c, "orders", full, bin, pb)
		if len(results) != 3 {
			t.Fatalf("results = %v", results)
		}
		for i, r := range results {
			if r.GetId() != []string{"e1", "e2", "e3"}[i] || r.GetDuplicate() || r.GetPartition() != 0 || r.GetOffset() != int64(i) {
				t.Fatalf("result %d = %v", i, r)
			}
		}

		got, err := f.b.Read(context.Background(), "orders", 0, 0, 10)
		if err != nil || len(got) != 3 {
			t.Fatalf("Read = %v, %v", got, err)
		}
		e := got[0]
		want := event.Event{ID: "e1", Source: "/orders", SpecVersion: "1.0", Type: "OrderPlaced", Subject: "order-1",
			DataContentType: "application/json", DataSchema: "https://schemas.example/order.json",
			PartitionKey: "customer-7", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
			TraceState: "congo=t61rcWkgMzE", CorrelationID: "corr-1", CausationID: "cause-1"}
		if e.ID != want.ID || e.Source != want.Source || e.Type != want.Type || e.SpecVersion != want.SpecVersion ||
			e.Subject != want.Subject || e.DataContentType != want.DataContentType || e.DataSchema != want.DataSchema ||
			e.PartitionKey != want.PartitionKey || e.TraceParent != want.TraceParent || e.TraceState != want.TraceState ||
			e.CorrelationID != want.CorrelationID || e.CausationID != want.CausationID || !e.Time.Equal(at) {
			t.Fatalf("read back %+v, want %+v with time %v", e, want, at)
		}
		wantExt := map[string]string{"region": "eu", "priority": "5", "urgent": "true", "blob": "AQID"}
		if len(e.Extensions) != len(wantExt) {
			t.Fatalf("extensions = %v, want %v", e.Extensions, wantExt)
		}
		for k, v := range wantExt {
			if e.Extensions[k] != v {
				t.Fatalf("extensions = %v, want %v", e.Extensions, wantExt)
			}
		}
		if string(e.Data) != `{"total":42}` {
			t.Fatalf("data = %q", e.Data)
		}
		if string(got[1].Data) != "\x00\xff\x07" || got[1].DataContentType != "application/octet-stream" {
			t.Fatalf("binary event read back as %+v", got[1])
		}
		if string(got[2].Data) != "\x08\x2a" || got[2].DataContentType != ProtobufContentType ||
			got[2].DataSchema != "https://type.googleapis.com/shop.v1.Order" {
			t.Fatalf("proto event read back as %+v", got[2])
		}
	})
}

func TestService_DuplicatePublishReturnsOriginalPosition(t *testing.T) {
	eachProtocol(t, broker.Options{}, func(t *testing.T, f *fixture, c heraldv1connect.HeraldServiceClient) {
		first := publish(t, c, "orders", orderEvent("a"), orderEvent("b"))
		again := publish(t, c, "orders", orderEvent("b"), orderEvent("c"))
		if !again[0].GetDuplicate() || again[0].GetPartition() != first[1].GetPartition() || again[0].GetOffset() != first[1].GetOffset() {
			t.Fatalf("republished b = %v, want duplicate of %v", again[0], first[1])
		}
		if again[1].GetDuplicate() || again[1].GetOffset() != 2 {
			t.Fatalf("new event c = %v, want stored at offset 2", again[1])
		}
	})
}

func TestService_PublishErrors(t *testing.T) {
	eachProtocol(t, broker.Options{DisableAutoCreate: true, MaxEventBytes: 1024}, func(t *testing.T, f *fixture, c heraldv1connect.HeraldServiceClient) {
		ctx := context.Background()
		if _, err := c.PutTopic(ctx, connect.NewRequest(&heraldv1.PutTopicRequest{Name: "orders"})); err != nil {
			t.Fatal(err)
		}
		pub := func(topic string, events ...*heraldv1.CloudEvent) error {
			_, err := c.Publish(ctx, connect.NewRequest(&heraldv1.PublishRequest{Topic: topic, Events: events}))
			return err
		}
		noType := orderEvent("x")
		noType.Type = ""
		wantCode(t, pub("orders", orderEvent("ok"), noType), connect.CodeInvalidArgument, "invalid_event", `event 1 (id "x"): attribute "type"`)

		badSchema := orderEvent("y")
		badSchema.Attributes["dataschema"] = str("relative/path")
		wantCode(t, pub("orders", badSchema), connect.CodeInvalidArgument, "invalid_event", `attribute "dataschema"`)

		noValue := orderEvent("z")
		noValue.Attributes["region"] = &heraldv1.CloudEventAttributeValue{}
		wantCode(t, pub("orders", noValue), connect.CodeInvalidArgument, "invalid_event", `attribute "region": has no value`)

		big := orderEvent("big")
		big.Data = &heraldv1.CloudEvent_BinaryData{BinaryData: make([]byte, 2048)}
		wantCode(t, pub("orders", big), connect.CodeInvalidArgument, "event_too_large", "limit is 1024")

		wantCode(t, pub("orders"), connect.CodeInvalidArgument, "empty_batch", "no events")
		wantCode(t, pub("missing", orderEvent("m")), connect.CodeNotFound, "auto_create_disabled", `"missing"`)
		if err := FromConnect(pub("missing", orderEvent("m"))); !errors.Is(err, broker.ErrAutoCreateOff) || !errors.Is(err, broker.ErrTopicNotFound) {
			t.Fatalf("a client reads %v; want it to be ErrAutoCreateOff and ErrTopicNotFound", err)
		}

		// All or nothing: the batch with a bad event stored nothing.
		if _, end, err := f.b.Offsets(ctx, "orders", 0); err != nil || end != 0 {
			t.Fatalf("end offset after refused publishes = %d, %v; want 0", end, err)
		}
	})
}

func TestService_PublishStreamAnswersEachRequestInOrder(t *testing.T) {
	eachProtocol(t, broker.Options{}, func(t *testing.T, f *fixture, c heraldv1connect.HeraldServiceClient) {
		stream := c.PublishStream(context.Background())
		const requests = 5
		for i := range requests {
			id := string(rune('a' + i))
			events := []*heraldv1.CloudEvent{orderEvent(id + "1"), orderEvent(id + "2")}
			if err := stream.Send(&heraldv1.PublishRequest{Topic: "orders", Events: events}); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		if err := stream.CloseRequest(); err != nil {
			t.Fatal(err)
		}
		for i := range requests {
			resp, err := stream.Receive()
			if err != nil {
				t.Fatalf("receive %d: %v", i, err)
			}
			id := string(rune('a' + i))
			r := resp.GetResults()
			if len(r) != 2 || r[0].GetId() != id+"1" || r[1].GetId() != id+"2" || r[0].GetOffset() != int64(2*i) || r[1].GetOffset() != int64(2*i+1) {
				t.Fatalf("response %d = %v", i, resp)
			}
		}
		if _, err := stream.Receive(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last response: %v, want io.EOF", err)
		}
		if err := stream.CloseResponse(); err != nil {
			t.Fatal(err)
		}
	})
}

// A stream kept open between requests ends with UNAVAILABLE when the
// server shuts down, so that a client opens its next one on a new
// connection; what it was sent before is answered.
func TestService_PublishStreamKeptOpenEndsWhenTheServerShutsDown(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			closing := make(chan struct{})
			f := newFixtureClosing(t, broker.Options{}, closing)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stream := f.client(p.opts).PublishStream(ctx)
			defer stream.CloseResponse()
			if err := stream.Send(&heraldv1.PublishRequest{Topic: "orders", Events: []*heraldv1.CloudEvent{orderEvent("a")}}); err != nil {
				t.Fatal(err)
			}
			if resp, err := stream.Receive(); err != nil || len(resp.GetResults()) != 1 {
				t.Fatalf("answer before the shutdown: %v, %v", resp, err)
			}
			close(closing)
			ended := make(chan error, 1)
			go func() {
				_, err := stream.Receive()
				ended <- err
			}()
			select {
			case err := <-ended:
				wantCode(t, err, connect.CodeUnavailable, "", "shutting down")
				if !IsServerClosing(err) {
					t.Fatalf("%v does not say the server is closing (%s)", err, ClosingKey)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the stream is still open 5s after the server began shutting down")
			}
		})
	}
}

func TestService_PublishStreamEndsWithTheFirstError(t *testing.T) {
	eachProtocol(t, broker.Options{}, func(t *testing.T, f *fixture, c heraldv1connect.HeraldServiceClient) {
		stream := c.PublishStream(context.Background())
		bad := orderEvent("bad")
		bad.SpecVersion = "0.3"
		for _, events := range [][]*heraldv1.CloudEvent{{orderEvent("a")}, {bad}, {orderEvent("c")}} {
			if err := stream.Send(&heraldv1.PublishRequest{Topic: "orders", Events: events}); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
		}
		stream.CloseRequest()
		if resp, err := stream.Receive(); err != nil || resp.GetResults()[0].GetId() != "a" {
			t.Fatalf("first response = %v, %v", resp, err)
		}
		_, err := stream.Receive()
		wantCode(t, err, connect.CodeInvalidArgument, "invalid_event", `attribute "specversion"`)
		stream.CloseResponse()
		if _, end, err := f.b.Offsets(context.Background(), "orders", 0); err != nil || end != 1 {
			t.Fatalf("end offset = %d, %v; want 1 (only the request before the error)", end, err)
		}
	})
}

// A request message over the read limit is refused as batch_too_large,
// a unary Publish as a message of PublishStream: connect's own refusal
// names no Herald code.
func TestService_ARequestOverTheReadLimitIsBatchTooLarge(t *testing.T) {
	const maxBatch = 64 << 10 // a read limit of 1 MiB and 144 KiB
	eachProtocol(t, broker.Options{MaxBatchBytes: maxBatch}, func(t *testing.T, f *fixture, c heraldv1connect.HeraldServiceClient) {
		ctx := context.Background()
		var events []*heraldv1.CloudEvent
		for _, id := range []string{"a", "b"} {
			e := orderEvent(id)
			e.Data = &heraldv1.CloudEvent_BinaryData{BinaryData: make([]byte, 700<<10)}
			events = append(events, e)
		}
		req := &heraldv1.PublishRequest{Topic: "orders", Events: events}
		_, err := c.Publish(ctx, connect.NewRequest(req))
		wantCode(t, err, connect.CodeInvalidArgument, "batch_too_large", "read limit")

		stream := c.PublishStream(ctx)
		if err := stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		stream.CloseRequest()
		_, err = stream.Receive()
		wantCode(t, err, connect.CodeInvalidArgument, "batch_too_large", "read limit")
		stream.CloseResponse()
		if _, err := f.b.Topic(ctx, "orders"); !errors.Is(err, broker.ErrTopicNotFound) {
			t.Fatalf("a refused request created its topic: %v", err)
		}
	})
}

// A request of more events than a publish takes is refused before its
// events are decoded (an empty event is two bytes in protobuf and a
// hundred and more in memory), as batch_too_large, unary or streamed.
func TestService_ARequestOfTooManyEventsIsRefusedBeforeItsEventsAreMade(t *testing.T) {
	eachProtocol(t, broker.Options{MaxBatchEvents: 10}, func(t *testing.T, f *fixture, c heraldv1connect.HeraldServiceClient) {
		ctx := context.Background()
		req := &heraldv1.PublishRequest{Topic: "orders", Events: make([]*heraldv1.CloudEvent, 200000)}
		for i := range req.Events {
			req.Events[i] = &heraldv1.CloudEvent{}
		}
		allocated := func(fn func()) uint64 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			fn()
			runtime.ReadMemStats(&after)
			return after.TotalAlloc - before.TotalAlloc
		}
		var err error
		if n := allocated(func() { _, err = c.Publish(ctx, connect.NewRequest(req)) }); n > 16<<20 {
			t.Errorf("a unary Publish of 200,000 empty events allocated %d MiB", n>>20)
		}
		wantCode(t, err, connect.CodeInvalidArgument, "batch_too_large", "200000 events, the limit is 10")
		if !errors.Is(FromConnect(err), broker.ErrBatchTooLarge) {
			t.Fatalf("a client reads %v; want it to be ErrBatchTooLarge", FromConnect(err))
		}

		n := allocated(func() {
			stream := c.PublishStream(ctx)
			if err := stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			stream.CloseRequest()
			_, err = stream.Receive()
			stream.CloseResponse()
		})
		wantCode(t, err, connect.CodeInvalidArgument, "batch_too_large", "the limit is 10")
		if n > 16<<20 {
			t.Errorf("PublishStream of 200,000 empty events allocated %d MiB", n>>20)
		}
	})
}

// The read limit holds every batch of valid events the broker takes, as
// the Go client encodes it, so that the broker's check decides: no event
// is more than 9/4 of its stored size in protobuf, the worst being one of
// extensions with one-letter names and empty values.
func TestReadLimit_HoldsEveryBatchTheBrokerTakes(t *testing.T) {
	const maxBatch = 1 << 20
	letters := "abcdefghijklmnopqrstuvwxyz0123456789"
	extensions := func(value string) map[string]string {
		m := map[string]string{}
		for _, c := range letters {
			m[string(c)] = value
		}
		return m
	}
	shapes := map[string]func(id string) *event.Event{
		"one-letter extensions with empty values": func(id string) *event.Event {
			return &event.Event{ID: id, Source: "/", SpecVersion: "1.0", Type: "t", Extensions: extensions("")}
		},
		"extensions with short values": func(id string) *event.Event {
			return &event.Event{ID: id, Source: "/", SpecVersion: "1.0", Type: "t", Extensions: extensions("v")}
		},
		"extensions with long values": func(id string) *event.Event {
			return &event.Event{ID: id, Source: "/", SpecVersion: "1.0", Type: "t", Extensions: extensions(strings.Repeat("v", 200))}
		},
		"no attributes but the required": func(id string) *event.Event {
			return &event.Event{ID: id, Source: "/", SpecVersion: "1.0", Type: "t"}
		},
		"every attribute and data": func(id string) *event.Event {
			return &event.Event{ID: id, Source: "/shop", SpecVersion: "1.0", Type: "order.placed", Time: time.Now(),
				Subject: "s", DataContentType: "application/json", DataSchema: "https://example.com/s", PartitionKey: "k",
				TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceState: "a=b",
				CorrelationID: "c", CausationID: "d", Data: []byte(`{"order":1}`)}
		},
		"large data": func(id string) *event.Event {
			return &event.Event{ID: id, Source: "/", SpecVersion: "1.0", Type: "t", DataContentType: "application/octet-stream",
				Data: make([]byte, 200<<10)}
		},
	}
	topic := strings.Repeat("t", 249) // the longest topic name
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			req := &heraldv1.PublishRequest{Topic: topic}
			stored := 0
			for i := 0; ; i++ {
				e := shape(strconv.Itoa(i))
				if err := e.Validate(); err != nil {
					t.Fatal(err)
				}
				if stored+e.Size() > maxBatch {
					break
				}
				stored += e.Size()
				req.Events = append(req.Events, EventToProto(e))
			}
			encoded := proto.Size(req)
			if encoded > stored/4*9+len(topic)+3 || encoded > readLimit(maxBatch) {
				t.Fatalf("%d events of %d bytes stored are %d bytes in protobuf (%.2f times), over 9/4", len(req.Events), stored, encoded, float64(encoded)/float64(stored))
			}
			t.Logf("%d events of %d bytes stored: %d bytes in protobuf (%.2f times)", len(req.Events), stored, encoded, float64(encoded)/float64(stored))
		})
	}
}

// Every response announces the broker's event size limit, which a
// client batching events keeps to.
func TestService_AResponseAnnouncesTheEventLimit(t *testing.T) {
	eachProtocol(t, broker.Options{MaxEventBytes: 1234}, func(t *testing.T, f *fixture, c heraldv1connect.HeraldServiceClient) {
		resp, err := c.ListTopics(context.Background(), connect.NewRequest(&heraldv1.ListTopicsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if got := MaxEventBytes(resp.Header()); got != 1234 {
			t.Fatalf("announced limit %d (%s: %q), want 1234", got, MaxEventBytesKey, resp.Header().Get(MaxEventBytesKey))
		}
	})
}

// A publish the server's budget refuses is RESOURCE_EXHAUSTED with the
// code the HTTP API gives it, overloaded, unary or streamed.
func TestService_APublishOverTheBudgetIsOverloaded(t *testing.T) {
	busy := func(int64) (func(), error) {
		return nil, errors.New("server overloaded: 300 of 256 publish bytes in use; retry in a moment")
	}
	f := newSubFixture(t, Config{Admit: busy})
	ctx := context.Background()
	req := &heraldv1.PublishRequest{Topic: "orders", Events: []*heraldv1.CloudEvent{orderEvent("a")}}
	_, err := f.c.Publish(ctx, connect.NewRequest(req))
	wantCode(t, err, connect.CodeResourceExhausted, "overloaded", "retry in a moment")

	stream := f.c.PublishStream(ctx)
	if err := stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	stream.CloseRequest()
	_, err = stream.Receive()
	stream.CloseResponse()
	wantCode(t, err, connect.CodeResourceExhausted, "overloaded", "retry in a moment")
	if _, err := f.b.Topic(ctx, "orders"); !errors.Is(err, broker.ErrTopicNotFound) {
		t.Fatalf("a refused publish created its topic: %v", err)
	}
}

// A request in JSON of more events than a publish takes is refused before
// its events are decoded too: an empty event is three bytes in JSON and
// a hundred and more in memory.
func TestService_AJSONRequestOfTooManyEventsIsRefusedBeforeItsEventsAreMade(t *testing.T) {
	f := newFixture(t, broker.Options{MaxBatchEvents: 10})
	msg := []byte(`{"topic":"orders","events":[` + strings.Repeat(`{},`, 199999) + `{}]}`)
	envelope := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	for _, tc := range []struct {
		name, procedure, contentType string
		body                         []byte
	}{
		{"unary", heraldv1connect.HeraldServicePublishProcedure, "application/json", msg},
		{"unary utf-8", heraldv1connect.HeraldServicePublishProcedure, "application/json; charset=utf-8", msg},
		{"stream", heraldv1connect.HeraldServicePublishStreamProcedure, "application/connect+json", append(envelope, msg...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			resp, err := f.srv.Client().Post(f.srv.URL+tc.procedure, tc.contentType, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Errorf("a publish of 200,000 empty events in JSON allocated %d MiB", n>>20)
			}
			code := resp.Header.Get(ErrorCodeKey)
			if tc.name == "stream" && strings.Contains(string(body), `"batch_too_large"`) {
				code = "batch_too_large" // in the end of the stream's metadata
			}
			if code != "batch_too_large" || !strings.Contains(string(body), "200000 events, the limit is 10") {
				t.Fatalf("got %d %s (%s %q), want batch_too_large saying 200000 events, the limit is 10", resp.StatusCode, body, ErrorCodeKey, code)
			}
		})
	}
	// Requests of as many events as a publish takes are decoded as before.
	c := f.client([]connect.ClientOption{connect.WithProtoJSON()})
	events := make([]*heraldv1.CloudEvent, 10)
	for i := range events {
		events[i] = orderEvent(strconv.Itoa(i))
	}
	if got := publish(t, c, "orders", events...); len(got) != 10 {
		t.Fatalf("a publish of 10 events in JSON answered %d results", len(got))
	}
}
