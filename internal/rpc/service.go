// Package rpc serves Herald's protobuf API (proto/herald/v1/herald.proto)
// with connectrpc.com/connect. Its handler is a plain http.Handler that
// speaks gRPC, gRPC-Web and the Connect protocol, so it shares Herald's one
// HTTP port with the JSON API and the console. gRPC needs HTTP/2: over TLS,
// or over cleartext with h2c (http.Server.Protocols with
// SetUnencryptedHTTP2).
//
// Files: service.go (the Service and topic administration), publish.go
// (Publish and PublishStream), read.go (Read and GetOffsets), subscriptions.go
// (subscription administration), deliver.go (Pull and Settle),
// subscribe.go (the Subscribe stream), schemas.go (RegisterSchema),
// convert.go (CloudEvent <-> event.Event), errors.go (the table from
// Herald errors to connect codes, and the schema error details),
// limits.go (the read limit of request messages and its error). The generated
// code in heraldv1 and heraldv1/heraldv1connect is committed; proto/gen.sh
// regenerates it and gen_test.go fails when it has drifted.
package rpc

import (
	"context"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/subscription"
)

// Service implements HeraldService over a broker, its subscriptions and
// its schema registry.
type Service struct {
	b       *broker.Broker
	subs    *subscription.Manager // nil: the subscription calls answer NOT_FOUND
	schemas *schema.Registry      // nil: RegisterSchema answers UNIMPLEMENTED (not_found)

	closing   <-chan struct{} // closed when the server shuts down: streams and long polls end
	admit     func(n int64) (done func(), err error)
	admitWait func() (done func(), err error)
}

var _ heraldv1connect.HeraldServiceHandler = (*Service)(nil)

// NewService returns a Service over b, subs (a manager over b, or nil to
// serve no subscriptions) and schemas (the registry that validates b's
// publishes, or nil).
func NewService(b *broker.Broker, subs *subscription.Manager, schemas *schema.Registry) *Service {
	return &Service{b: b, subs: subs, schemas: schemas}
}

// Config is what a HeraldService handler serves.
type Config struct {
	Broker        *broker.Broker
	Subscriptions *subscription.Manager // nil: the subscription calls answer NOT_FOUND
	Schemas       *schema.Registry      // nil: RegisterSchema answers UNIMPLEMENTED (not_found, as the HTTP API's registry paths)
	// Closing, once closed (the server is shutting down), ends Subscribe
	// streams and long polls with UNAVAILABLE, so clients reconnect.
	Closing <-chan struct{}
	// Admit takes n bytes of a decoded publish from the server's publish
	// budget, or refuses it (RESOURCE_EXHAUSTED: retry later); done gives
	// them back. Nil: no budget.
	Admit func(n int64) (done func(), err error)
	// Interceptors wrap every call outside the authorization check, first
	// outermost (the server's metrics, which count refused calls too).
	Interceptors []connect.Interceptor
	// AdmitWait takes one of the server's places for requests that wait
	// (Pull and Read with a wait, Subscribe streams), the places its HTTP
	// long polls and streams take, or refuses the call (RESOURCE_EXHAUSTED,
	// overloaded: retry later); done gives it back. Nil: no bound.
	AdmitWait func() (done func(), err error)
}

// NewHandler returns the path prefix to mount and the handler of
// HeraldService. Request messages are limited to what a batch the broker
// takes may encode to (readLimit); one over it is refused as
// batch_too_large. Every response announces the broker's event size
// limit (MaxEventBytesKey).
func NewHandler(cfg Config, opts ...connect.HandlerOption) (path string, h http.Handler) {
	bopts := cfg.Broker.Options()
	limit := readLimit(bopts.MaxBatchBytes)
	svc := NewService(cfg.Broker, cfg.Subscriptions, cfg.Schemas)
	svc.closing, svc.admit, svc.admitWait = cfg.Closing, cfg.Admit, cfg.AdmitWait
	guard := connect.WithInterceptors(append(slices.Clone(cfg.Interceptors), authorizer{})...)
	codecs := connect.WithHandlerOptions(connect.WithCodec(serverCodec{maxEvents: bopts.MaxBatchEvents}),
		connect.WithCodec(serverJSONCodec{name: "json", maxEvents: bopts.MaxBatchEvents}),
		connect.WithCodec(serverJSONCodec{name: "json; charset=utf-8", maxEvents: bopts.MaxBatchEvents}))
	path, h = heraldv1connect.NewHeraldServiceHandler(svc, append([]connect.HandlerOption{connect.WithReadMaxBytes(limit), codecs, guard}, opts...)...)
	return path, withResponseController(JoinEnvelopeWrites(announceLimits(guardPublishSize(h, limit), bopts.MaxEventBytes)))
}

// PutTopic creates or changes a topic.
func (s *Service) PutTopic(ctx context.Context, req *connect.Request[heraldv1.PutTopicRequest]) (*connect.Response[heraldv1.PutTopicResponse], error) {
	spec, err := topicSpec(req.Msg)
	if err != nil {
		return nil, toConnect(err)
	}
	t, created, err := s.b.PutTopic(ctx, req.Msg.GetName(), spec)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&heraldv1.PutTopicResponse{Topic: topicProto(t), Created: created}), nil
}

// GetTopic describes a topic.
func (s *Service) GetTopic(ctx context.Context, req *connect.Request[heraldv1.GetTopicRequest]) (*connect.Response[heraldv1.GetTopicResponse], error) {
	t, err := s.b.Topic(ctx, req.Msg.GetName())
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&heraldv1.GetTopicResponse{Topic: topicProto(t)}), nil
}

// ListTopics lists the user topics.
func (s *Service) ListTopics(ctx context.Context, _ *connect.Request[heraldv1.ListTopicsRequest]) (*connect.Response[heraldv1.ListTopicsResponse], error) {
	topics, err := s.b.Topics(ctx)
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &heraldv1.ListTopicsResponse{Topics: make([]*heraldv1.Topic, len(topics))}
	for i, t := range topics {
		resp.Topics[i] = topicProto(t)
	}
	return connect.NewResponse(resp), nil
}

// DeleteTopic deletes a topic and its events.
func (s *Service) DeleteTopic(ctx context.Context, req *connect.Request[heraldv1.DeleteTopicRequest]) (*connect.Response[heraldv1.DeleteTopicResponse], error) {
	var err error
	if s.subs != nil {
		err = s.subs.DeleteTopicAndSubscriptions(ctx, req.Msg.GetName()) // its subscriptions go with it
	} else {
		err = s.b.DeleteTopic(ctx, req.Msg.GetName())
	}
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&heraldv1.DeleteTopicResponse{}), nil
}

// topicSpec converts a PutTopicRequest; unset fields stay nil.
func topicSpec(m *heraldv1.PutTopicRequest) (broker.TopicSpec, error) {
	var spec broker.TopicSpec
	if m.Partitions != nil {
		p := int(m.GetPartitions())
		spec.Partitions = &p
	}
	if m.RetentionBytes != nil {
		n := m.GetRetentionBytes()
		spec.RetentionBytes = &n
	}
	if m.SchemaPolicy != nil {
		p, err := broker.ParseSchemaPolicy(m.GetSchemaPolicy())
		if err != nil {
			return spec, err
		}
		spec.SchemaPolicy = &p
	}
	var err error
	if spec.Retention, err = duration("retention", m.GetRetention()); err != nil {
		return spec, err
	}
	spec.DedupWindow, err = duration("dedup_window", m.GetDedupWindow())
	return spec, err
}

// duration converts an optional Duration field; nil stays nil.
func duration(field string, d *durationpb.Duration) (*time.Duration, error) {
	if d == nil {
		return nil, nil
	}
	if err := d.CheckValid(); err != nil {
		return nil, settingError(field, err)
	}
	v := d.AsDuration()
	return &v, nil
}

func topicProto(t broker.Topic) *heraldv1.Topic {
	return &heraldv1.Topic{
		Name:           t.Name,
		Partitions:     int32(t.Partitions),
		Retention:      durationpb.New(t.Retention),
		RetentionBytes: t.RetentionBytes,
		DedupWindow:    durationpb.New(t.DedupWindow),
		CreatedTime:    timestamppb.New(t.CreatedAt),
		SchemaPolicy:   string(t.SchemaPolicy),
	}
}
