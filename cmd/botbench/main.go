// Command botbench is the load harness of botauthz: it puts botauthz and a
// reference server that does nothing (the floor) under the same load, in the
// same run, alternating, and prints what botauthz costs over the floor.
//
// Each server is its own process, so its CPU time (utime+stime in
// /proc/PID/stat) and its resident memory (VmRSS in /proc/PID/status) are its
// own. The load generator speaks ext_authz gRPC as Envoy does (several
// connections, Envoy's metadata, header_map), from a pool of requests built
// in advance: many client addresses, browsers and automation, three routes,
// some with session cookies. It runs closed loop (a fixed number of callers,
// each sending as soon as its last answer came: capacity) and open loop (a
// fixed rate; latency measured from each request's intended send time, so a
// slow server cannot slow the generator down and hide its own queueing).
//
// Modes (-mode, comma-separated, or all):
//
//	memory   botauthz (in-memory counters)     vs  noop
//	redis    botauthz -redis (one redis-server) vs  noop+incr
//	cluster  botauthz -redis redis+cluster://… (3 masters) vs noop+incr on the cluster
//	envoy    HTTPS through the real Envoy (envoy/front-proxy.yaml): routes with
//	         ext_authz, pointed at botauthz  vs  the same routes with ext_authz disabled
//	envoy-noop  the same Envoy and routes: ext_authz pointed at botauthz  vs  at noop
//
// With -perf DIR, each measured run of each server is recorded with
// `perf record -g`; then
//
//	botbench perf-breakdown -ref DIR/memory-closed-noop-noop-1.perf.data -ref-us 40 \
//	    -subject DIR/memory-closed-botauthz-botauthz-1.perf.data -subject-us 55
//
// files each sample under a category by the frames on its stack (GC, stack
// growth, the Check's parts, protobuf, syscalls, gRPC's transport, …) and
// prints µs per request per category for both, with the difference.
//
// The references are defined exactly: noop is a gRPC server with default
// options and no interceptors whose Check answers an empty OK; noop+incr is
// the same doing one unpipelined Redis INCR (go-redis, default options) per
// Check. botbench runs them itself as hidden sub-commands:
//
//	botbench serve-noop -addr 127.0.0.1:PORT [-redis URL]
//	botbench serve-upstream -addr 127.0.0.1:PORT
//
// Usage:
//
//	botbench [flags]
//	make bench-load MODE=memory
//
// See BENCHMARKS.md for the method, the machine and the numbers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	// go-redis's logger is process-wide: set it once, here. Its dial
	// failures would land in the middle of the report.
	redis.SetLogger(quietRedis{})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		// The first Ctrl-C stops the servers and prints nothing more; a
		// second one stops at once (the servers die with botbench).
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// quietRedis replaces go-redis's process-wide logger.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// The hidden sub-commands: the servers botbench starts as processes of
// their own.
const (
	cmdServeNoop     = "serve-noop"
	cmdServeUpstream = "serve-upstream"
)

// Modes.
const (
	modeMemory  = "memory"
	modeRedis   = "redis"
	modeCluster = "cluster"
	modeEnvoy   = "envoy"
	// modeEnvoyNoop: through the same Envoy, ext_authz pointed at botauthz
	// vs at the no-op, which parts Envoy's own ext_authz cost from what
	// botauthz's answers cost (Envoy included).
	modeEnvoyNoop = "envoy-noop"
)

// allModes lists the modes in the order -mode all runs them.
func allModes() []string {
	return []string{modeMemory, modeRedis, modeCluster, modeEnvoy, modeEnvoyNoop}
}

// Header encodings of a CheckRequest, as Envoy's encode_raw_headers chooses.
const (
	encodingHeaderMap = "header_map"
	encodingHeaders   = "headers"
)

// config is one botbench run's settings.
type config struct {
	modes       []string
	duration    time.Duration
	warmup      time.Duration
	reps        int
	conns       int
	concurrency int
	rate        float64
	rateShare   float64
	waitLoad    float64
	maxOther    float64
	retries     int
	timeout     time.Duration
	clients     int
	clients6    int
	encoding    string
	seed        uint64
	phases      []string

	botauthzBin string
	policyFile  string
	serverBin   string
	redisServer string
	redisCLI    string
	redisURL    string
	clusterURL  string
	envoyBin    string
	envoyConfig string
	httpConns   int

	jsonOut string
	perfDir string
	// command is the command line, for the report.
	command string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{command: strings.Join(append([]string{"botbench"}, args...), " ")}
	fs := flag.NewFlagSet("botbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var modes, phases string
	fs.StringVar(&modes, "mode", modeMemory, "modes to run, comma-separated: memory, redis, cluster, envoy, envoy-noop, or all")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of each measured run")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured load before each measured run, on the fresh server")
	fs.IntVar(&c.reps, "reps", 3, "repetitions of each server; runs alternate reference, botauthz, reference, …")
	fs.IntVar(&c.conns, "conns", 8, "gRPC connections to the server under test (Envoy opens one per worker and upstream host)")
	fs.IntVar(&c.concurrency, "concurrency", 32, "closed loop: concurrent callers")
	fs.Float64Var(&c.rate, "rate", 0, "open loop: requests per second; 0 derives it from the reference's closed-loop capacity in the same run (-rate-share)")
	// A quarter, not the half: open-loop requests cost both sides
	// more than closed-loop ones (no batching), so half the closed-loop
	// capacity overloaded both servers on a 2-core machine (BENCHMARKS.md).
	fs.Float64Var(&c.rateShare, "rate-share", 0.25, "open loop without -rate: this share of the reference's median closed-loop capacity (0.5 is the issue's method)")
	fs.Float64Var(&c.maxOther, "max-other-cores", 0.25, "a run during which the rest of the machine used more CPU than this (cores) is repeated, -retries times at most, then kept and flagged noisy; 0 never repeats")
	fs.IntVar(&c.retries, "retries", 3, "how often a noisy run is repeated at most")
	fs.Float64Var(&c.waitLoad, "wait-load", 0, "before starting, wait until the 1-minute load average is at most this (polled every 30 s, 10 minutes at most); 0 does not wait")
	fs.DurationVar(&c.timeout, "timeout", time.Second, "deadline of each request (sent as grpc-timeout); a request past it counts as an error")
	fs.IntVar(&c.clients, "clients", 10000, "distinct IPv4 client addresses in the request pool")
	fs.IntVar(&c.clients6, "ipv6-clients", 500, "distinct IPv6 client addresses in the request pool")
	fs.StringVar(&c.encoding, "encoding", encodingHeaderMap, "how CheckRequests carry the headers: header_map (encode_raw_headers: true, as envoy/front-proxy.yaml ships) or headers")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the request pool (the same seed builds the same pool)")
	fs.StringVar(&phases, "phases", "closed,open", "phases to run, comma-separated: closed (capacity), open (latency at a fixed rate)")
	fs.StringVar(&c.botauthzBin, "botauthz", "", "botauthz binary; empty builds ./cmd/botauthz with go build into a temporary directory")
	fs.StringVar(&c.policyFile, "config", "", "botauthz policy file (-config); empty uses botauthz's embedded defaults")
	fs.StringVar(&c.serverBin, "server-bin", "", "binary that has botbench's serve-noop and serve-upstream sub-commands; empty is this executable")
	fs.StringVar(&c.redisServer, "redis-server", "", "redis-server binary; empty is $BOTAUTHZ_REDIS_SERVER, else redis-server on PATH")
	fs.StringVar(&c.redisCLI, "redis-cli", "", "redis-cli binary (creates the cluster); empty is $BOTAUTHZ_REDIS_CLI, else on PATH or next to redis-server")
	fs.StringVar(&c.redisURL, "redis", "", "redis mode: use this Redis (redis://host:port/db) instead of starting one; it is never flushed")
	fs.StringVar(&c.clusterURL, "redis-cluster", "", "cluster mode: use this Redis Cluster (redis+cluster://host:port,…) instead of starting one; it is never flushed")
	fs.StringVar(&c.envoyBin, "envoy", "", "Envoy binary; empty is $BOTAUTHZ_ENVOY, else .tools/envoy/envoy/_bin/envoy, else envoy on PATH")
	fs.StringVar(&c.envoyConfig, "envoy-config", "envoy/front-proxy.yaml", "envoy mode: the bootstrap to run, with its ports and certificate paths rewritten")
	fs.IntVar(&c.httpConns, "http-conns", 64, "envoy mode: most keep-alive TLS connections to Envoy's listener")
	fs.StringVar(&c.jsonOut, "json", "", "also write every run and the summaries as JSON to this file")
	fs.StringVar(&c.perfDir, "perf", "", "record each measured run of each server with `perf record -g` into this directory")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var err error
	if c.modes, err = parseList(modes, allModes(), "-mode"); err != nil {
		return nil, err
	}
	if c.phases, err = parseList(phases, []string{phaseClosed, phaseOpen}, "-phases"); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"-duration", c.duration}, {"-timeout", c.timeout}} {
		if d.v <= 0 {
			return nil, fmt.Errorf("%s: %s must be positive", d.name, d.v)
		}
	}
	if c.warmup < 0 {
		return nil, fmt.Errorf("-warmup: %s must not be negative", c.warmup)
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"-reps", c.reps}, {"-conns", c.conns}, {"-concurrency", c.concurrency}, {"-http-conns", c.httpConns}} {
		if n.v < 1 {
			return nil, fmt.Errorf("%s: %d must be at least 1", n.name, n.v)
		}
	}
	if c.clients < 1 || c.clients6 < 0 {
		return nil, fmt.Errorf("-clients %d, -ipv6-clients %d: need at least one IPv4 client and no negative count", c.clients, c.clients6)
	}
	if c.rate < 0 {
		return nil, fmt.Errorf("-rate: %g must not be negative", c.rate)
	}
	if c.rateShare <= 0 || c.rateShare > 1 {
		return nil, fmt.Errorf("-rate-share: %g out of range (0, 1]", c.rateShare)
	}
	if c.maxOther < 0 || c.retries < 0 {
		return nil, fmt.Errorf("-max-other-cores %g, -retries %d: must not be negative", c.maxOther, c.retries)
	}
	if c.waitLoad < 0 {
		return nil, fmt.Errorf("-wait-load: %g must not be negative", c.waitLoad)
	}
	if c.encoding != encodingHeaderMap && c.encoding != encodingHeaders {
		return nil, fmt.Errorf("-encoding: %q is not header_map or headers", c.encoding)
	}
	return c, nil
}

// parseList splits a comma-separated list and checks each item against
// known; "all" is every known item.
func parseList(s string, known []string, flagName string) ([]string, error) {
	if s == "all" {
		return known, nil
	}
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		found := false
		for _, k := range known {
			found = found || k == item
		}
		if !found {
			return nil, fmt.Errorf("%s: %q is not one of %s", flagName, item, strings.Join(known, ", "))
		}
		out = append(out, item)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case cmdServeNoop:
			return serveMain(ctx, args[0], args[1:], stderr, serveNoop)
		case cmdServeUpstream:
			return serveMain(ctx, args[0], args[1:], stderr, serveUpstream)
		case cmdPerfBreakdown:
			return perfBreakdownMain(ctx, args[1:], stdout, stderr)
		}
	}
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "botbench: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if _, err := runBench(ctx, c, log, stdout); err != nil {
		log.Error("botbench failed", "err", err)
		return 1
	}
	return 0
}
