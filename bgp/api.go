package bgp

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// apiServerOptions returns the GoBGP options that serve its gRPC API on
// addr (already validated as loopback), read-only.
//
// GoBGP opens the listener in a goroutine and calls Fatal when that fails,
// which our log adapter turns into a panic that would take the resolver
// down with it. Binding the address once here first turns the common
// failure (port taken) into an error from Run; only a race with another
// process binding it in between remains.
func apiServerOptions(addr string) ([]server.ServerOption, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gobgp api on %s: %w", addr, err)
	}
	l.Close()
	return []server.ServerOption{
		server.GrpcListenAddress(addr),
		server.GrpcOption([]grpc.ServerOption{
			grpc.UnaryInterceptor(readOnlyUnary),
			grpc.StreamInterceptor(readOnlyStream),
		}),
	}, nil
}

// readOnlyMethod reports whether a gRPC method only reads. The API is there
// so an operator can inspect the speaker with the `gobgp` CLI; a write
// (AddPath, DeletePeer, StopBgp, ...) would bypass the node's state machine,
// which must stay the only one deciding what is announced.
func readOnlyMethod(fullMethod string) bool {
	// "/apipb.GobgpApi/ListPeer"
	name := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	for _, p := range []string{"Get", "List", "Watch"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func readOnlyUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if !readOnlyMethod(info.FullMethod) {
		return nil, status.Errorf(codes.PermissionDenied, "%s: anycastd serves the GoBGP API read-only; use anycastctl to change what is announced", info.FullMethod)
	}
	return h(ctx, req)
}

func readOnlyStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if !readOnlyMethod(info.FullMethod) {
		return status.Errorf(codes.PermissionDenied, "%s: anycastd serves the GoBGP API read-only; use anycastctl to change what is announced", info.FullMethod)
	}
	return h(srv, ss)
}
