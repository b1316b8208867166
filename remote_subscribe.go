package herald

import (
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/heraldevents/herald/internal/rpc"
	"github.com/heraldevents/herald/internal/rpc/heraldv1"
	"github.com/heraldevents/herald/internal/rpc/heraldv1/heraldv1connect"
)

// The remote client reads Subscribe's messages straight into deliveries
// (rpc.DecodeDeliveries) instead of into protobuf messages it would then
// convert: about half the CPU and a seventh of the allocations per
// delivery. It does so with a client of its own for Subscribe whose
// response type is wireDeliveries and whose codec decodes that type
// directly; everything else is protobuf's binary format, as the generated
// client sends it.

// wireDeliveries is one SubscribeResponse, decoded.
type wireDeliveries struct{ ds []rpc.WireDelivery }

type subscribeStream = connect.BidiStreamForClient[heraldv1.SubscribeRequest, wireDeliveries]

// newSubscribeClient makes the Subscribe client as the generated one would,
// but for its codec.
func newSubscribeClient(hc *http.Client, base string, opts ...connect.ClientOption) *connect.Client[heraldv1.SubscribeRequest, wireDeliveries] {
	method := heraldv1.File_herald_v1_herald_proto.Services().ByName("HeraldService").Methods().ByName("Subscribe")
	return connect.NewClient[heraldv1.SubscribeRequest, wireDeliveries](hc,
		strings.TrimRight(base, "/")+heraldv1connect.HeraldServiceSubscribeProcedure,
		connect.WithSchema(method), connect.WithClientOptions(opts...), connect.WithCodec(deliveriesCodec{}))
}

// deliveriesCodec is protobuf's binary codec, but for wireDeliveries.
type deliveriesCodec struct{ rpc.ProtoCodec }

func (deliveriesCodec) Unmarshal(b []byte, v any) error {
	switch m := v.(type) {
	case *wireDeliveries:
		ds, err := rpc.DecodeDeliveries(b)
		m.ds = ds
		return err
	case proto.Message:
		return proto.Unmarshal(b, m)
	}
	return fmt.Errorf("herald: cannot decode into %T", v)
}
