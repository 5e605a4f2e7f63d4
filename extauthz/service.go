package extauthz

import (
	"context"
	"fmt"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
)

// Register registers s as Envoy's Authorization service on r, with the
// fast request path: the Check's facts are read from the wire by the
// server's Codec (install it with grpc.ForceServerCodecV2) instead of from
// a decoded CheckRequest. Under another codec Checks still work, decoded
// as usual. It replaces authv3.RegisterAuthorizationServer; the service,
// its method and its messages are the same.
func Register(r grpc.ServiceRegistrar, s *Server) {
	desc := grpc.ServiceDesc{
		ServiceName: authv3.Authorization_ServiceDesc.ServiceName,
		HandlerType: (*authv3.AuthorizationServer)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Check",
			Handler:    checkHandler,
		}},
		Metadata: authv3.Authorization_ServiceDesc.Metadata,
	}
	r.RegisterService(&desc, s)
}

// checkHandler is the Check method's gRPC handler: as the generated one,
// except that the request is a pooled *wireRequest.
func checkHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	s := srv.(*Server)
	w := s.wires.Get().(*wireRequest)
	defer func() {
		w.reset()
		s.wires.Put(w)
	}()
	if err := dec(w); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return s.checkWire(ctx, w), nil
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: authv3.Authorization_Check_FullMethodName}
	return interceptor(ctx, w, info, func(ctx context.Context, req any) (any, error) {
		switch req := req.(type) {
		case *wireRequest:
			return s.checkWire(ctx, req), nil
		case *authv3.CheckRequest:
			return s.Check(ctx, req)
		}
		return nil, fmt.Errorf("extauthz: Check: an interceptor passed a %T", req)
	})
}

// checkWire decides a request that the codec read from the wire, or that
// it decoded into w's CheckRequest.
func (s *Server) checkWire(ctx context.Context, w *wireRequest) *authv3.CheckResponse {
	if w.parsed {
		return s.serve(ctx, nil, &w.facts, true)
	}
	return s.serve(ctx, &w.CheckRequest, nil, true)
}
