package rpc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/log"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
	"github.com/heraldevents/herald/internal/schema"
)

const (
	orderSchema = `{"type":"object","properties":{"order":{"type":"string"},"total":{"type":"number","minimum":0}},"required":["order"]}`
	// brokenSchema makes order an integer: incompatible whatever the rules' details.
	brokenSchema = `{"type":"object","properties":{"order":{"type":"integer"},"total":{"type":"number","minimum":0}},"required":["order"]}`
)

// schemaFixture is a broker with a schema registry behind the handler,
// as herald serve composes them.
type schemaFixture struct {
	b   *broker.Broker
	reg *schema.Registry
	srv *httptest.Server
}

func newSchemaFixture(t *testing.T) *schemaFixture {
	t.Helper()
	e, err := log.Open(t.TempDir(), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	reg, err := schema.Open(context.Background(), e, schema.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(e, broker.Options{Validator: reg.Validate})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(NewHandler(Config{Broker: b, Schemas: reg}))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &schemaFixture{b: b, reg: reg, srv: srv}
}

func eachSchemaProtocol(t *testing.T, fn func(t *testing.T, f *schemaFixture, c heraldv1connect.HeraldServiceClient)) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			f := newSchemaFixture(t)
			fn(t, f, heraldv1connect.NewHeraldServiceClient(f.srv.Client(), f.srv.URL, p.opts...))
		})
	}
}

func orderWith(id, data string) *heraldv1.CloudEvent {
	e := orderEvent(id)
	e.Data = &heraldv1.CloudEvent_TextData{TextData: data}
	return e
}

func TestService_RegisterSchema(t *testing.T) {
	eachSchemaProtocol(t, func(t *testing.T, f *schemaFixture, c heraldv1connect.HeraldServiceClient) {
		ctx := context.Background()
		resp, err := c.RegisterSchema(ctx, connect.NewRequest(&heraldv1.RegisterSchemaRequest{Subject: "OrderPlaced", Schema: orderSchema}))
		if err != nil || resp.Msg.GetId() != 1 || resp.Msg.GetVersion() != 1 || !resp.Msg.GetCreated() {
			t.Fatalf("register: %v %v", resp, err)
		}
		resp, err = c.RegisterSchema(ctx, connect.NewRequest(&heraldv1.RegisterSchemaRequest{Subject: "OrderPlaced", Schema: orderSchema}))
		if err != nil || resp.Msg.GetVersion() != 1 || resp.Msg.GetCreated() {
			t.Fatalf("register again: %v %v", resp, err)
		}
		_, err = c.RegisterSchema(ctx, connect.NewRequest(&heraldv1.RegisterSchemaRequest{Subject: "OrderPlaced", Schema: brokenSchema}))
		wantCode(t, err, connect.CodeFailedPrecondition, "incompatible_schema", "BACKWARD")
		var ierr *schema.IncompatibleError
		if back := FromConnect(err); !errors.As(back, &ierr) || !errors.Is(back, schema.ErrIncompatible) || len(ierr.Changes) == 0 ||
			ierr.Subject != "OrderPlaced" || ierr.Changes[0].Version != 1 {
			t.Fatalf("the client's error: %#v", back)
		}
		_, err = c.RegisterSchema(ctx, connect.NewRequest(&heraldv1.RegisterSchemaRequest{Subject: "OrderPlaced", Schema: `{"type":`}))
		wantCode(t, err, connect.CodeInvalidArgument, "invalid_schema", "not JSON")
	})
}

func TestService_PublishValidatesBySchemaPolicy(t *testing.T) {
	eachSchemaProtocol(t, func(t *testing.T, f *schemaFixture, c heraldv1connect.HeraldServiceClient) {
		ctx := context.Background()
		if _, _, err := f.reg.Register(ctx, "OrderPlaced", []byte(orderSchema)); err != nil {
			t.Fatal(err)
		}
		policy := "validate"
		put, err := c.PutTopic(ctx, connect.NewRequest(&heraldv1.PutTopicRequest{Name: "orders", SchemaPolicy: &policy}))
		if err != nil || put.Msg.GetTopic().GetSchemaPolicy() != "validate" {
			t.Fatalf("put topic: %v %v", put, err)
		}
		bad := "strict"
		_, err = c.PutTopic(ctx, connect.NewRequest(&heraldv1.PutTopicRequest{Name: "orders", SchemaPolicy: &bad}))
		wantCode(t, err, connect.CodeInvalidArgument, "invalid_topic_setting", "none, validate or require")

		publish(t, c, "orders", orderWith("1", `{"order":"1","total":3}`))
		_, err = c.Publish(ctx, connect.NewRequest(&heraldv1.PublishRequest{Topic: "orders", Events: []*heraldv1.CloudEvent{
			orderWith("2", `{"order":"2"}`), orderWith("3", `{"order":3,"total":-1}`)}}))
		wantCode(t, err, connect.CodeInvalidArgument, "schema_violation", `event 1 (id "3")`)
		var verr *schema.ViolationError
		if back := FromConnect(err); !errors.As(back, &verr) || !errors.Is(back, schema.ErrViolation) || len(verr.Violations) != 2 || verr.Events != 1 {
			t.Fatalf("the client's error: %#v", back)
		}
		for _, v := range verr.Violations {
			if v.Index != 1 || v.ID != "3" || v.Version != 1 || (v.Pointer != "/order" && v.Pointer != "/total") || v.Keyword == "" {
				t.Errorf("violation %+v", v)
			}
		}
		if _, end, _ := f.b.Offsets(ctx, "orders", 0); end != 1 {
			t.Fatalf("end offset %d, want 1: nothing of the refused batch is stored", end)
		}
		got, err := c.GetTopic(ctx, connect.NewRequest(&heraldv1.GetTopicRequest{Name: "orders"}))
		if err != nil || got.Msg.GetTopic().GetSchemaPolicy() != "validate" {
			t.Fatalf("get topic: %v %v", got, err)
		}
		if tp := TopicFromProto(got.Msg.GetTopic()); tp.SchemaPolicy != broker.SchemaPolicyValidate {
			t.Fatalf("converted: %+v", tp)
		}
	})
}

func TestService_RegisterSchemaWithoutARegistry(t *testing.T) {
	f := newFixture(t, broker.Options{})
	_, err := f.client(nil).RegisterSchema(context.Background(), connect.NewRequest(&heraldv1.RegisterSchemaRequest{Subject: "s", Schema: "{}"}))
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeUnimplemented || !strings.Contains(ce.Message(), "no schema registry") {
		t.Fatalf("register: %v", err)
	}
	// A topic that asks for validation on a broker without a registry refuses publishes.
	policy := "validate"
	if _, err := f.client(nil).PutTopic(context.Background(), connect.NewRequest(&heraldv1.PutTopicRequest{Name: "t", SchemaPolicy: &policy})); err != nil {
		t.Fatal(err)
	}
	_, err = f.client(nil).Publish(context.Background(), connect.NewRequest(&heraldv1.PublishRequest{Topic: "t", Events: []*heraldv1.CloudEvent{orderEvent("1")}}))
	wantCode(t, err, connect.CodeUnavailable, "no_schema_registry", "no schema registry")
}

// A server without a schema registry answers RegisterSchema as the HTTP
// API answers its registry paths then: the call is not there
// (UNIMPLEMENTED, gRPC's answer to a method a server lacks) with the
// HTTP API's code for a path it lacks, not_found.
func TestService_RegisterSchemaWithoutARegistryIsNotFound(t *testing.T) {
	eachProtocol(t, broker.Options{}, func(t *testing.T, f *fixture, c heraldv1connect.HeraldServiceClient) {
		_, err := c.RegisterSchema(context.Background(), connect.NewRequest(&heraldv1.RegisterSchemaRequest{Subject: "OrderPlaced", Schema: orderSchema}))
		wantCode(t, err, connect.CodeUnimplemented, "not_found", "no schema registry")
	})
}
