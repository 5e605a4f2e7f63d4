package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
)

// outcome is how one request ended.
type outcome uint8

const (
	// outOK: answered and allowed (a Check with status OK; a 200 through Envoy).
	outOK outcome = iota
	// outDegraded: allowed, marked x-bot-degraded (decided without velocity).
	outDegraded
	// outNotOK: answered, not allowed (a denial, challenge or rate limit;
	// a non-200 through Envoy).
	outNotOK
	// outError: no answer (transport error, deadline, gRPC error).
	outError
)

// target sends requests to what is under test.
type target interface {
	// send sends r, on lane's connection where the target has several, and
	// classifies the answer; the error says why for outError.
	send(ctx context.Context, lane int, r *request) (outcome, error)
	close() error
}

// checkMethod is the ext_authz gRPC method.
const checkMethod = "/envoy.service.auth.v3.Authorization/Check"

// rawCodec sends the pool's CheckRequests as they were encoded once and
// reads only what it needs of the answers (checkAnswer), so that the
// generator spends as little CPU as it can on the cores it shares with the
// server.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot send %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	a, ok := v.(*checkAnswer)
	if !ok {
		return fmt.Errorf("rawCodec: cannot decode into %T", v)
	}
	if len(data) == 1 {
		return readAnswer(data[0].ReadOnlyData(), a)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return readAnswer(buf.ReadOnlyData(), a)
}

// Name is grpc's proto codec's: the content type stays application/grpc+proto.
func (rawCodec) Name() string { return "proto" }

// envoyMetadata is the gRPC metadata Envoy 1.40 sends with a Check from
// envoy/front-proxy.yaml (besides grpc-timeout, which the request's
// deadline sets): its span context, its own address and the timeout.
func envoyMetadata() metadata.MD {
	return metadata.Pairs(
		"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
		"tracestate", "",
		"x-forwarded-for", "127.0.0.1",
		"x-envoy-internal", "true",
		"x-envoy-expected-rq-timeout-ms", "250",
	)
}

// grpcTarget sends Checks over several connections, as Envoy does (one per
// worker thread).
type grpcTarget struct {
	conns []*grpc.ClientConn
	md    metadata.MD
}

func dialGRPC(addr string, n int) (*grpcTarget, error) {
	g := &grpcTarget{md: envoyMetadata()}
	for range n {
		// Each ClientConn is its own HTTP/2 connection.
		conn, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithAuthority("botauthz_grpc"), // Envoy's cluster name
			grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})),
		)
		if err != nil {
			_ = g.close()
			return nil, fmt.Errorf("grpc client for %s: %w", addr, err)
		}
		conn.Connect()
		g.conns = append(g.conns, conn)
	}
	return g, nil
}

func (g *grpcTarget) send(ctx context.Context, lane int, r *request) (outcome, error) {
	ctx = metadata.NewOutgoingContext(ctx, g.md)
	var a checkAnswer
	if err := g.conns[lane%len(g.conns)].Invoke(ctx, checkMethod, &r.check, &a); err != nil {
		return outError, err
	}
	return a.outcome(), nil
}

func (g *grpcTarget) close() error {
	var errs []error
	for _, c := range g.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// httpTarget sends the pool's requests as HTTPS to Envoy's listener over
// kept-alive HTTP/1.1 connections, each as its client would: its headers,
// its address in x-forwarded-for (Envoy trusts one hop here).
type httpTarget struct {
	base      string
	client    *http.Client
	transport *http.Transport
}

func newHTTPTarget(base string, roots *x509.CertPool, conns int) *httpTarget {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, ServerName: "localhost"},
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
		// Send the profile's accept-encoding, not Go's.
		DisableCompression: true,
	}
	return &httpTarget{
		base: base, transport: tr,
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func (h *httpTarget) send(ctx context.Context, _ int, r *request) (outcome, error) {
	req, err := http.NewRequestWithContext(ctx, r.method, h.base+r.path, nil)
	if err != nil {
		return outError, err
	}
	req.Host = host
	for _, x := range r.headers {
		req.Header.Set(x.name, x.value)
	}
	req.Header.Set("X-Forwarded-For", r.client.String())
	resp, err := h.client.Do(req)
	if err != nil {
		return outError, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return outError, fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return outNotOK, nil
	}
	return outOK, nil
}

func (h *httpTarget) close() error {
	h.transport.CloseIdleConnections()
	return nil
}

// loadSpec is one load run: closed loop when rate is 0, else open loop.
type loadSpec struct {
	duration    time.Duration
	concurrency int
	rate        float64
	timeout     time.Duration
	// maxInFlight bounds open-loop requests in flight; at the bound the
	// generator waits, and the wait shows as send lag.
	maxInFlight int
}

// lateSend is how late an open-loop send may be before it counts as the
// generator falling behind its schedule.
const lateSend = 5 * time.Millisecond

// behindShare is the share of late sends above which a run is reported as
// one where the generator fell behind.
const behindShare = 0.01

// loadResult is what one load run measured.
type loadResult struct {
	sent, ok, notOK, errors, degraded int64
	elapsed                           time.Duration
	// latencies are every request's, errors included, sorted. Open loop:
	// from the request's intended send time to its answer.
	latencies []time.Duration
	// lags are how late each open-loop send was against its schedule, sorted.
	lags     []time.Duration
	late     int64
	firstErr string
}

func (r *loadResult) count(o outcome) {
	r.sent++
	switch o {
	case outOK:
		r.ok++
	case outDegraded:
		r.ok++
		r.degraded++
	case outNotOK:
		r.notOK++
	case outError:
		r.errors++
	}
}

// behind says whether the generator fell behind its open-loop schedule.
func (r *loadResult) behind() bool {
	return len(r.lags) > 0 && float64(r.late) > behindShare*float64(len(r.lags))
}

// runLoad runs spec against t, taking requests from p in order.
func runLoad(ctx context.Context, t target, p *pool, spec loadSpec) (*loadResult, error) {
	if spec.rate > 0 {
		return openLoop(ctx, t, p, spec)
	}
	res := closedLoop(ctx, t, p, spec)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("closed loop stopped after %s: %w", res.elapsed.Round(time.Millisecond), err)
	}
	return res, nil
}

// closedLoop runs spec.concurrency callers, each sending its next request
// as soon as its last was answered, for spec.duration. Caller k keeps to
// lane k: its own connection, as an Envoy worker does.
func closedLoop(ctx context.Context, t target, p *pool, spec loadSpec) *loadResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Uint64
	start := time.Now()
	end := start.Add(spec.duration)
	results := make([]loadResult, spec.concurrency)
	var wg sync.WaitGroup
	for k := range spec.concurrency {
		wg.Go(func() {
			res := &results[k]
			res.latencies = make([]time.Duration, 0, 1024)
			for ctx.Err() == nil {
				sent := time.Now()
				if !sent.Before(end) {
					return
				}
				r := p.at(next.Add(1) - 1)
				rctx, rcancel := context.WithTimeout(ctx, spec.timeout)
				o, err := t.send(rctx, k, r)
				rcancel()
				res.latencies = append(res.latencies, time.Since(sent))
				res.count(o)
				if err != nil && res.firstErr == "" {
					res.firstErr = err.Error()
				}
			}
		})
	}
	wg.Wait()
	total := &loadResult{elapsed: time.Since(start)}
	for i := range results {
		r := &results[i]
		total.sent += r.sent
		total.ok += r.ok
		total.notOK += r.notOK
		total.errors += r.errors
		total.degraded += r.degraded
		total.latencies = append(total.latencies, r.latencies...)
		if total.firstErr == "" {
			total.firstErr = r.firstErr
		}
	}
	slices.Sort(total.latencies)
	return total
}

// openLoop sends spec.rate requests per second for spec.duration, the i-th
// at start + i/rate whatever the answers do: each in a goroutine of its
// own, so a slow server never delays the schedule. Latency runs from the
// intended send time, so that time a request waited for the generator
// counts too (no coordinated omission).
func openLoop(ctx context.Context, t target, p *pool, spec loadSpec) (*loadResult, error) {
	n := int(math.Round(spec.rate * spec.duration.Seconds()))
	if n < 1 {
		return nil, fmt.Errorf("open loop: %g/s for %s is no request at all", spec.rate, spec.duration)
	}
	maxInFlight := spec.maxInFlight
	if maxInFlight < 1 {
		maxInFlight = 8192
	}
	latencies := make([]time.Duration, n)
	lags := make([]time.Duration, n)
	outcomes := make([]outcome, n)
	var (
		errOnce  sync.Once
		firstErr string
	)
	slots := make(chan struct{}, maxInFlight)
	period := float64(time.Second) / spec.rate
	var wg sync.WaitGroup
	start := time.Now()
	sent := 0
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		intended := start.Add(time.Duration(float64(i) * period))
		if d := time.Until(intended); d > 0 {
			time.Sleep(d)
		}
		slots <- struct{}{}
		lags[i] = time.Since(intended)
		sent++
		wg.Go(func() {
			defer func() { <-slots }()
			rctx, cancel := context.WithTimeout(ctx, spec.timeout)
			o, err := t.send(rctx, i, p.at(uint64(i)))
			cancel()
			latencies[i] = time.Since(intended)
			outcomes[i] = o
			if err != nil {
				errOnce.Do(func() { firstErr = err.Error() })
			}
		})
	}
	wg.Wait()
	res := &loadResult{elapsed: time.Since(start), firstErr: firstErr}
	latencies, lags, outcomes = latencies[:sent], lags[:sent], outcomes[:sent]
	for i, o := range outcomes {
		res.count(o)
		if lags[i] > lateSend {
			res.late++
		}
	}
	slices.Sort(latencies)
	slices.Sort(lags)
	res.latencies, res.lags = latencies, lags
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("open loop stopped after %d of %d requests: %w", sent, n, err)
	}
	return res, nil
}

// quantile is the q-quantile of sorted values by nearest rank (the value
// below which a share q of them lie), 0 for none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
