package rpc

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/schema"
	"github.com/heraldevents/herald/internal/schema/compat"
)

// RegisterSchema adds a schema to a subject.
func (s *Service) RegisterSchema(ctx context.Context, req *connect.Request[heraldv1.RegisterSchemaRequest]) (*connect.Response[heraldv1.RegisterSchemaResponse], error) {
	if s.schemas == nil {
		return nil, toConnect(errNoRegistry)
	}
	v, created, err := s.schemas.Register(ctx, req.Msg.GetSubject(), []byte(req.Msg.GetSchema()))
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&heraldv1.RegisterSchemaResponse{Id: int32(v.ID), Version: int32(v.Version), Created: created}), nil
}

// errNoRegistry answers RegisterSchema on a server without a schema
// registry, whose HTTP API then has no registry paths (404 not_found).
var errNoRegistry = errors.New("this server has no schema registry")

// addSchemaDetail attaches the violations of a refused publish, or the
// breaking changes of a refused schema, to the error.
func addSchemaDetail(ce *connect.Error, err error) {
	var verr *schema.ViolationError
	if errors.As(err, &verr) {
		m := &heraldv1.SchemaViolations{Events: int32(verr.Events), Total: int32(verr.Total)}
		for _, v := range verr.Violations {
			m.Violations = append(m.Violations, &heraldv1.SchemaViolation{Index: int32(v.Index), Id: v.ID, Subject: v.Subject,
				Version: int32(v.Version), Pointer: v.Pointer, Keyword: v.Keyword, Message: v.Message})
		}
		addDetail(ce, m)
	}
	var ierr *schema.IncompatibleError
	if errors.As(err, &ierr) {
		m := &heraldv1.SchemaChanges{Subject: ierr.Subject, Compatibility: string(ierr.Mode)}
		for _, c := range ierr.Changes {
			m.Changes = append(m.Changes, &heraldv1.SchemaChange{Path: c.Path, Rule: c.Rule, Message: c.Message,
				Version: int32(c.Version), Direction: c.Direction})
		}
		addDetail(ce, m)
	}
}

func addDetail(ce *connect.Error, m proto.Message) {
	if d, err := connect.NewErrorDetail(m); err == nil {
		ce.AddDetail(d)
	}
}

// schemaErrorFromDetails rebuilds a *schema.ViolationError or
// *schema.IncompatibleError from a server's error details; nil when it
// has none.
func schemaErrorFromDetails(ce *connect.Error) error {
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			continue
		}
		switch m := v.(type) {
		case *heraldv1.SchemaViolations:
			out := &schema.ViolationError{Events: int(m.GetEvents()), Total: int(m.GetTotal())}
			for _, x := range m.GetViolations() {
				out.Violations = append(out.Violations, schema.Violation{Index: int(x.GetIndex()), ID: x.GetId(),
					Subject: x.GetSubject(), Version: int(x.GetVersion()), Pointer: x.GetPointer(), Keyword: x.GetKeyword(),
					Message: x.GetMessage()})
			}
			return out
		case *heraldv1.SchemaChanges:
			out := &schema.IncompatibleError{Subject: m.GetSubject(), Mode: compat.Mode(m.GetCompatibility())}
			for _, x := range m.GetChanges() {
				out.Changes = append(out.Changes, compat.Change{Path: x.GetPath(), Rule: x.GetRule(), Message: x.GetMessage(),
					Version: int(x.GetVersion()), Direction: x.GetDirection()})
			}
			return out
		}
	}
	return nil
}
