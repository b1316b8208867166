package rpc

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/heraldevents/herald/event"
	"github.com/heraldevents/herald/internal/broker"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
)

// Read limits, as the HTTP API has them.
const (
	defaultReadLimit = 100
	maxReadLimit     = broker.MaxReadLimit
	maxWait          = 30 // seconds a long poll may wait
)

// Read returns events of one partition from an offset on.
func (s *Service) Read(ctx context.Context, req *connect.Request[heraldv1.ReadRequest]) (*connect.Response[heraldv1.ReadResponse], error) {
	m := req.Msg
	limit := int(m.GetLimit())
	if limit == 0 {
		limit = defaultReadLimit
	}
	if limit < 0 || limit > maxReadLimit {
		return nil, toConnect(settingError("limit", fmt.Errorf("must be between 1 and %d, got %d", maxReadLimit, limit)))
	}
	wait, err := waitOf(m.GetWait())
	if err != nil {
		return nil, toConnect(err)
	}
	events, err := s.readWait(ctx, m, limit, wait)
	if err != nil {
		return nil, err
	}
	resp := &heraldv1.ReadResponse{Events: make([]*heraldv1.StoredEvent, len(events))}
	for i, e := range events {
		resp.Events[i] = StoredEventToProto(e)
	}
	return connect.NewResponse(resp), nil
}

// GetOffsets returns where a partition starts and ends.
func (s *Service) GetOffsets(ctx context.Context, req *connect.Request[heraldv1.GetOffsetsRequest]) (*connect.Response[heraldv1.GetOffsetsResponse], error) {
	start, end, err := s.b.Offsets(ctx, req.Msg.GetTopic(), int(req.Msg.GetPartition()))
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&heraldv1.GetOffsetsResponse{StartOffset: start, EndOffset: end}), nil
}

// readWait reads, and waits for events only when there are none yet: then,
// as an HTTP read, it takes one of the places for requests that wait. Its
// error is a *connect.Error.
func (s *Service) readWait(ctx context.Context, m *heraldv1.ReadRequest, limit int, wait time.Duration) ([]*event.Event, error) {
	events, err := s.b.Read(ctx, m.GetTopic(), int(m.GetPartition()), m.GetOffset(), limit)
	if err != nil {
		return nil, toConnect(err)
	}
	if len(events) > 0 || wait <= 0 {
		return events, nil
	}
	done, err := s.waitPlace()
	if err != nil {
		return nil, err
	}
	defer done()
	ctx, cancel := s.untilClosing(ctx)
	defer cancel(nil)
	if events, err = s.b.ReadWait(ctx, m.GetTopic(), int(m.GetPartition()), m.GetOffset(), limit, wait); err != nil {
		return nil, toConnect(err)
	}
	return events, nil
}

// StoredEventToProto converts an event read from the log, with its place.
// Its text data shares e.Data's bytes, which a stored event never changes.
func StoredEventToProto(e *event.Event) *heraldv1.StoredEvent {
	m := new(storedEventProto)
	m.fill(e)
	return &m.stored
}

// storedEventProto holds the messages of one stored event, allocated
// together.
type storedEventProto struct {
	stored heraldv1.StoredEvent
	event  heraldv1.CloudEvent
	known  heraldv1.KnownAttributes
	time   timestamppb.Timestamp
}

func (m *storedEventProto) fill(e *event.Event) {
	eventToProto(&m.event, &m.known, e)
	m.time = timestamppb.Timestamp{Seconds: e.StoredAt.Unix(), Nanos: int32(e.StoredAt.Nanosecond())}
	m.stored = heraldv1.StoredEvent{Event: &m.event, Topic: e.Topic, Partition: int32(e.Partition), Offset: e.Offset, StoredTime: &m.time}
}

// StoredEventFromProto converts a StoredEvent back, its place included.
func StoredEventFromProto(m *heraldv1.StoredEvent) (*event.Event, error) {
	e, err := EventFromProto(m.GetEvent())
	if err != nil {
		return nil, err
	}
	e.Topic, e.Partition, e.Offset = m.GetTopic(), int(m.GetPartition()), m.GetOffset()
	e.StoredAt, e.Stored = m.GetStoredTime().AsTime(), true
	return e, nil
}
