package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/redis/go-redis/v9"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// serveConfig is what a server sub-command is told.
type serveConfig struct {
	addr     string
	redisURL string
}

// serveMain parses a server sub-command's flags and runs serve until ctx
// ends (SIGTERM from botbench).
func serveMain(ctx context.Context, name string, args []string, stderr io.Writer,
	serve func(context.Context, *serveConfig, *slog.Logger) error) int {
	c := &serveConfig{}
	fs := flag.NewFlagSet("botbench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "listen address")
	fs.StringVar(&c.redisURL, "redis", "", "serve-noop: do one INCR per Check on this Redis (redis://… or redis+cluster://host:port,…)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := serve(ctx, c, log); err != nil {
		log.Error(name+" failed", "err", err)
		return 1
	}
	return 0
}

// noop is the floor of the gRPC modes: a Check that answers an empty OK and
// does nothing else.
type noop struct{}

func (noop) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{Status: &status.Status{Code: 0}}, nil
}

// incrKeys is how many keys noopIncr spreads its INCRs over: about as many as
// the pool has clients, and each its own hash tag, so that on a cluster they
// fall on every node.
const incrKeys = 10000

// noopIncr is the floor of the Redis modes: noop plus one unpipelined INCR.
type noopIncr struct {
	client redis.UniversalClient
	keys   []string
	next   atomic.Uint64
}

func newNoopIncr(client redis.UniversalClient) *noopIncr {
	n := &noopIncr{client: client, keys: make([]string, incrKeys)}
	for i := range n.keys {
		// Built once: the floor should spend nothing on key text.
		n.keys[i] = "botbench:incr:{" + strconv.Itoa(i) + "}"
	}
	return n
}

func (n *noopIncr) Check(ctx context.Context, _ *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	key := n.keys[n.next.Add(1)%incrKeys]
	if err := n.client.Incr(ctx, key).Err(); err != nil {
		// An error, not an OK: a floor that skips Redis when it fails
		// would be a faster floor, and the load generator counts errors.
		return nil, grpcstatus.Errorf(codes.Unavailable, "INCR %s: %v", key, err)
	}
	return &authv3.CheckResponse{Status: &status.Status{Code: 0}}, nil
}

// newRedisClient is a go-redis client with the library's default options:
// a *redis.ClusterClient for redis+cluster://host:port,host:port,…, else a
// *redis.Client for what redis.ParseURL reads.
func newRedisClient(rawURL string) (redis.UniversalClient, error) {
	if rest, ok := strings.CutPrefix(rawURL, "redis+cluster://"); ok {
		addrs := strings.Split(strings.TrimSuffix(rest, "/"), ",")
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}), nil
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	return redis.NewClient(opts), nil
}

// serveNoop runs the no-op (or, with -redis, the no-op+INCR) ext_authz
// server: grpc.NewServer() with default options, no interceptors, nothing
// registered but the Authorization service.
func serveNoop(ctx context.Context, c *serveConfig, log *slog.Logger) error {
	var h authv3.AuthorizationServer = noop{}
	if c.redisURL != "" {
		client, err := newRedisClient(c.redisURL)
		if err != nil {
			return err
		}
		defer client.Close()
		h = newNoopIncr(client)
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, h)
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		srv.Stop()
	}()
	log.Info("serving", "addr", ln.Addr().String(), "incr", c.redisURL != "")
	err = srv.Serve(ln)
	cancel()
	<-stopped
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// upstreamBody is the upstream's whole answer: small, so the envoy mode
// measures the proxy and not the page.
const upstreamBody = "ok\n"

// serveUpstream runs the envoy mode's upstream application: 200 and a few
// bytes for every request, over HTTP/1.1 keep-alive as Envoy connects.
func serveUpstream(ctx context.Context, c *serveConfig, log *slog.Logger) error {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", strconv.Itoa(len(upstreamBody)))
			_, _ = io.WriteString(w, upstreamBody)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("serving", "addr", ln.Addr().String())
	err = srv.Serve(ln)
	cancel()
	<-stopped
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
