package rpc

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	"github.com/heraldevents/herald/internal/auth"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
)

// authorizer checks every call, and every message of a stream, against
// the permission it needs on the topic it names; the principal comes from
// the server's authentication (no principal: authentication is off).
type authorizer struct{}

var _ connect.Interceptor = authorizer{}

func (authorizer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := permit(ctx, req.Any()); err != nil {
			return nil, toConnect(err)
		}
		return next(ctx, req)
	}
}

func (authorizer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (authorizer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, &checkedConn{StreamingHandlerConn: conn, ctx: ctx})
	}
}

// checkedConn checks each message a stream receives.
type checkedConn struct {
	connect.StreamingHandlerConn
	ctx context.Context
}

func (c *checkedConn) Receive(msg any) error {
	if err := c.StreamingHandlerConn.Receive(msg); err != nil {
		return err
	}
	if err := permit(c.ctx, msg); err != nil {
		return toConnect(err)
	}
	return nil
}

// permit is the one table from request messages to the permission they
// need. A message it does not know is refused, so a new call cannot be
// left unguarded: the authorization test calls every method of the
// service.
func permit(ctx context.Context, msg any) error {
	switch m := msg.(type) {
	case *heraldv1.ListTopicsRequest:
		return nil // any valid token
	case *heraldv1.GetTopicRequest:
		return auth.CheckAny(ctx, m.GetName())
	case *heraldv1.PutTopicRequest:
		return auth.Check(ctx, auth.Admin, m.GetName())
	case *heraldv1.DeleteTopicRequest:
		return auth.Check(ctx, auth.Admin, m.GetName())
	case *heraldv1.PublishRequest:
		return auth.Check(ctx, auth.Publish, m.GetTopic())
	case *heraldv1.ReadRequest:
		return auth.Check(ctx, auth.Consume, m.GetTopic())
	case *heraldv1.GetOffsetsRequest:
		return auth.Check(ctx, auth.Consume, m.GetTopic())
	case *heraldv1.PutSubscriptionRequest:
		return auth.Check(ctx, auth.Admin, m.GetTopic())
	case *heraldv1.DeleteSubscriptionRequest:
		return auth.Check(ctx, auth.Admin, m.GetTopic())
	case *heraldv1.SeekRequest:
		return auth.Check(ctx, auth.Admin, m.GetTopic())
	case *heraldv1.GetSubscriptionRequest:
		return auth.CheckAny(ctx, m.GetTopic())
	case *heraldv1.ListSubscriptionsRequest:
		return auth.CheckAny(ctx, m.GetTopic())
	case *heraldv1.PullRequest:
		return auth.Check(ctx, auth.Consume, m.GetTopic())
	case *heraldv1.SettleRequest:
		return auth.Check(ctx, auth.Consume, m.GetTopic())
	case *heraldv1.SubscribeRequest:
		if start := m.GetStart(); start != nil { // later messages belong to the started subscription
			return auth.Check(ctx, auth.Consume, start.GetTopic())
		}
		return nil
	case *heraldv1.RegisterSchemaRequest:
		return auth.Check(ctx, auth.Admin, "*")
	}
	return fmt.Errorf("%w: no permission is defined for %T", auth.ErrForbidden, msg)
}
