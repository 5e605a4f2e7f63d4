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
		// Only the codec reads what the handler returns: ours sends an
		// allow answer as the bytes the handler wrote.
		form := asWireMessage
		if w.codec {
			form = asEncoded
		}
		return s.checkWire(ctx, w, form), nil
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: authv3.Authorization_Check_FullMethodName}
	return interceptor(ctx, w, info, func(ctx context.Context, req any) (any, error) {
		switch req := req.(type) {
		case *wireRequest:
			// An interceptor may read the response: a message, always.
			return s.checkWire(ctx, req, asWireMessage), nil
		case *authv3.CheckRequest:
			return s.Check(ctx, req)
		}
		return nil, fmt.Errorf("extauthz: Check: an interceptor passed a %T", req)
	})
}

// checkWire decides a request that the codec read from the wire, or that
// it decoded into w's CheckRequest, and answers in form: a
// *authv3.CheckResponse, or with asEncoded maybe a wireResponse.
func (s *Server) checkWire(ctx context.Context, w *wireRequest, form answerForm) any {
	var resp *authv3.CheckResponse
	var encoded *wireResponse
	if w.parsed {
		resp, encoded = s.serve(ctx, nil, &w.facts, form)
	} else {
		resp, encoded = s.serve(ctx, &w.CheckRequest, nil, form)
	}
	if encoded != nil {
		return encoded
	}
	return resp
}
