package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/subscription"
)

// Publish stores a batch of events, all or nothing, and replies once they
// are durable.
func (s *Service) Publish(ctx context.Context, req *connect.Request[heraldv1.PublishRequest]) (*connect.Response[heraldv1.PublishResponse], error) {
	resp, err := s.publish(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(resp), nil
}

// PublishStream publishes each request in the order received and sends one
// response per request, in the same order. The first failing request ends
// the stream with its error; the requests answered before it are durable.
// A server shutting down ends the stream between requests (Unavailable,
// IsServerClosing), so that clients keeping streams open move to a new
// connection: a request it has received by then is answered first; one
// still on its way is not stored, and the client may send it again.
func (s *Service) PublishStream(ctx context.Context, stream *connect.BidiStream[heraldv1.PublishRequest, heraldv1.PublishResponse]) error {
	closing, cancel := s.untilClosing(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	defer close(done)
	reqs, ended := receivePublishes(stream, done)
	answer := func(req *heraldv1.PublishRequest) error {
		resp, err := s.publish(ctx, req)
		if err != nil {
			return err
		}
		return stream.Send(resp)
	}
	for {
		select {
		case req := <-reqs:
			if err := answer(req); err != nil {
				return err
			}
		case err := <-ended:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return receiveError(err) // a request over the read limit, or the client's stream broke
		case <-closing.Done():
			select {
			case req := <-reqs:
				if err := answer(req); err != nil {
					return err
				}
			default:
			}
			return context.Cause(closing)
		}
	}
}

// receivePublishes receives a stream's requests in a goroutine, so that
// the handler can wait for the next one and for the server's shutdown at
// once. The goroutine ends once the handler is done (done closed): then
// connect closes the request body, so a Receive still waiting fails
// (ended is buffered for that last error).
func receivePublishes(stream *connect.BidiStream[heraldv1.PublishRequest, heraldv1.PublishResponse], done <-chan struct{}) (<-chan *heraldv1.PublishRequest, <-chan error) {
	reqs, ended := make(chan *heraldv1.PublishRequest), make(chan error, 1)
	go func() {
		for {
			req, err := stream.Receive()
			if err != nil {
				ended <- err
				return
			}
			select {
			case reqs <- req:
			case <-done:
				return
			}
		}
	}()
	return reqs, ended
}

// publish converts, stores and answers one PublishRequest; its error is a
// *connect.Error.
func (s *Service) publish(ctx context.Context, m *heraldv1.PublishRequest) (*heraldv1.PublishResponse, error) {
	if n, limit := tooManyEvents(m), s.b.Options().MaxBatchEvents; n > limit {
		s.b.CountRejected(ctx, m.GetTopic())
		return nil, toConnect(fmt.Errorf("%w: %d events, the limit is %d", broker.ErrBatchTooLarge, n, limit))
	}
	if s.admit != nil {
		done, err := s.admit(int64(proto.Size(m)))
		if err != nil {
			return nil, overloaded(err)
		}
		defer done()
	}
	events, err := eventsFromProto(m.GetEvents())
	if err != nil {
		s.b.CountRejected(ctx, m.GetTopic())
		return nil, toConnect(err)
	}
	if err := subscription.CheckPublishedDeadLetters(ctx, events); err != nil {
		return nil, toConnect(err)
	}
	results, err := s.b.Publish(ctx, m.GetTopic(), events)
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &heraldv1.PublishResponse{Results: make([]*heraldv1.PublishResult, len(results))}
	for i, r := range results {
		resp.Results[i] = &heraldv1.PublishResult{Id: r.ID, Partition: int32(r.Partition), Offset: r.Offset, Duplicate: r.Duplicate}
	}
	return resp, nil
}

// eventsFromProto converts a batch; a bad event is broker.ErrInvalidEvent
// naming its index and id, as the broker names the events it refuses.
func eventsFromProto(ces []*heraldv1.CloudEvent) ([]*event.Event, error) {
	events := make([]*event.Event, len(ces))
	for i, ce := range ces {
		e, err := EventFromProto(ce)
		if err != nil {
			return nil, invalidEvent(i, ce.GetId(), err)
		}
		events[i] = e
	}
	return events, nil
}
