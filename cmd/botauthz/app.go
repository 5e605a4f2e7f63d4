package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"sync/atomic"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/botauthz/botauthz/admin"
	"github.com/botauthz/botauthz/backend"
	"github.com/botauthz/botauthz/buildinfo"
	"github.com/botauthz/botauthz/challenge"
	"github.com/botauthz/botauthz/challenge/provider"
	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/crawler"
	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/history"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/rollout"
	"github.com/botauthz/botauthz/scoring"
	"github.com/botauthz/botauthz/telemetry"
)

// app is one running botauthz: its listeners, servers and counter store.
type app struct {
	cfg       *config
	log       *slog.Logger
	telemetry *telemetry.Provider
	// recorder records decisions and the rest in metrics.
	recorder *telemetry.Recorder
	rollout  *rollout.Controller
	live     rollout.Store
	// watcher reloads the policy file; nil without -config.
	watcher *policy.Watcher
	// backend holds the counters, the live rollout state and the
	// redemptions, opened from -store.
	backend *backend.Backend
	// stopRollout ends the rollout controller's background work.
	stopRollout context.CancelFunc
	store       ratelimit.Store
	guard       *ratelimit.Guard // nil with the in-memory store
	authz       *extauthz.Server
	// history records decisions' outcomes after them; closed before the
	// store, so what is queued is written.
	history *history.Writer
	// crawlers verifies crawlers; its background work stops with
	// stopRollout's context.
	crawlers *crawler.Verifier
	// reputation holds the reputation sets and ASN database; their
	// watches stop with stopRollout's context.
	reputation *networkReputation
	grpc       *grpc.Server
	health     *health.Server
	admin      *http.Server
	public     *http.Server
	grpcLn     net.Listener
	adminLn    net.Listener
	publicLn   net.Listener
	draining   atomic.Bool
	// ephemeralKey is true when clearances are signed with a key made up
	// for this process, which no other replica accepts.
	ephemeralKey bool
}

// newApp loads the policy, connects the store and binds every listener, so
// that a bad flag or a taken port fails before anything is served. store
// overrides the -redis choice (tests). With c.checkConfig set it stops short
// of binding ports, and the caller releases the app with close.
func newApp(ctx context.Context, c *config, log *slog.Logger, decisions *slog.Logger, store ratelimit.Store) (_ *app, err error) {
	a := &app{cfg: c, log: log}
	defer func() {
		if err != nil {
			a.closeListeners()
			if a.stopRollout != nil {
				a.stopRollout()
			}
			if a.crawlers != nil {
				a.crawlers.Close()
			}
			if a.history != nil {
				a.history.Close()
			}
			if a.backend != nil {
				_ = a.backend.Close()
			}
		}
	}()

	p := policy.Default()
	var loaded []byte // the policy file's content, for the watcher to start from
	if c.policyFile != "" {
		if p, loaded, err = policy.LoadFile(c.policyFile); err != nil {
			return nil, err
		}
	}
	if err := a.openStore(ctx, store); err != nil {
		return nil, err
	}
	tokens, err := adminTokens(c)
	if err != nil {
		return nil, err
	}
	rec, err := a.newTelemetry(ctx, decisions, store != nil)
	if err != nil {
		return nil, err
	}
	rctx, err := a.startRollout(ctx, p)
	if err != nil {
		return nil, err
	}
	cp, err := a.challengeParts(p)
	if err != nil {
		return nil, err
	}
	if err := a.newDecider(ctx, p, rec, cp.signer); err != nil {
		return nil, err
	}
	if err := a.newPolicyWatcher(p, loaded, rec); err != nil {
		return nil, err
	}
	if err := a.newGRPC(rec); err != nil {
		return nil, err
	}
	if err := a.newPublic(cp, rec); err != nil {
		return nil, err
	}
	if c.checkConfig != "" {
		// -check-config: everything start-up does but bind ports, which the
		// replica this file is meant for may well be holding, and reach the
		// network. checkConfig releases what was built.
		return a, nil
	}
	a.crawlers.Start(rctx)
	a.reputation.run(rctx, p, log, rec.ReputationReloaded)
	if err := a.listen(); err != nil {
		return nil, err
	}
	a.newAdmin(tokens)
	return a, nil
}

// openStore opens -store: the counters, the live rollout state and the
// redemptions. store, when not nil, is a test's own counter store.
func (a *app) openStore(ctx context.Context, store ratelimit.Store) error {
	c, log := a.cfg, a.log
	var err error
	// One URL names where the counters, the live rollout state and the
	// redemptions are kept (-store; -redis is its older name).
	if a.backend, err = backend.Open(ctx, c.storeURL, backend.Options{
		MemoryMaxKeys: c.memoryMaxKeys, Budget: c.redisBudget, Logger: log,
	}); err != nil {
		return fmt.Errorf("-store: %w", err)
	}
	a.store, a.guard = a.backend.Counters, a.backend.Guard
	if store != nil { // a test's own counter store
		a.store, a.guard = store, nil
	}
	if a.backend.Shared {
		log.Info("state shared through the store", "store", a.backend.URL, "budget", c.redisBudget.String())
	} else {
		log.Info("state in memory; replicas do not share counters, rollout state or redemptions", "max_keys", c.memoryMaxKeys)
	}
	return nil
}

// newTelemetry sets up the OpenTelemetry providers and the recorder of
// decisions and the rest, and has it observe the counter store; testStore
// says the counters are a test's own, which report nothing.
func (a *app) newTelemetry(ctx context.Context, decisions *slog.Logger, testStore bool) (*telemetry.Recorder, error) {
	c, log := a.cfg, a.log
	var err error
	if a.telemetry, err = telemetry.Setup(ctx, telemetry.Options{Build: buildinfo.Read(), Logger: log}); err != nil {
		return nil, err
	}
	rec, err := telemetry.NewRecorder(telemetry.RecorderOptions{
		MeterProvider: a.telemetry.MeterProvider(), DecisionLog: decisions,
		AllowSample: c.allowSample, FullClientIP: c.fullClientIP,
		// The ASN database is opened below, before any Check is served.
		ASNOrganization: func(ip netip.Addr) string {
			if a.reputation == nil || a.reputation.asn == nil {
				return ""
			}
			return a.reputation.asn.Organization(ip)
		},
	})
	if err != nil {
		return nil, err
	}
	a.recorder = rec
	if a.guard != nil {
		err = rec.ObserveGuard(a.guard)
		if err == nil && a.backend.Redis != nil {
			err = rec.ObserveRedis(a.backend.Redis)
		}
	} else if a.backend.Memory != nil && !testStore {
		err = rec.ObserveMemory(a.backend.Memory)
	}
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// startRollout starts the rollout controller on the live state. The
// context it returns runs the background work that stops with it
// (a.stopRollout): the controller's, the crawlers' and the reputation
// sets'.
func (a *app) startRollout(ctx context.Context, p *policy.Policy) (context.Context, error) {
	log := a.log
	// Live rollout state: shared when the store is, else this process's own.
	a.live = a.backend.Rollout
	a.rollout = rollout.NewController(rollout.ControllerOptions{
		Store: a.live, OverrideFile: p.Rollout.OverrideFile, Refresh: p.Rollout.Refresh, Logger: log,
	})
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopRollout = stop
	if err := a.rollout.Start(rctx); err != nil {
		return nil, fmt.Errorf("start rollout controller: %w", err)
	}
	return rctx, nil
}

// challengeSetup is what the challenge pages and the Checks share: the keys, the
// clearance signer and the CAPTCHA verifiers.
type challengeSetup struct {
	keys      []clearance.Key
	signer    *clearance.Signer
	verifiers map[string]provider.Verifier
}

// challengeParts builds the clearance keys and signer and the CAPTCHA
// verifiers the policy configures.
func (a *app) challengeParts(p *policy.Policy) (challengeSetup, error) {
	c, log := a.cfg, a.log
	// Challenges and the clearance they grant.
	keys, ephemeral, err := clearanceKeys(c, log)
	if err != nil {
		return challengeSetup{}, err
	}
	a.ephemeralKey = ephemeral
	signer, err := clearance.NewSigner(clearance.Options{Keys: keys, TTL: p.Challenge.CookieTTL})
	if err != nil {
		return challengeSetup{}, fmt.Errorf("clearance: %w", err)
	}
	verifiers, err := captchaVerifiers(p, os.Getenv)
	if err != nil {
		return challengeSetup{}, err
	}
	return challengeSetup{keys: keys, signer: signer, verifiers: verifiers}, nil
}

// newDecider builds what a Check consults and the Check server itself:
// crawler verification, network reputation, the history writer, extauthz.
func (a *app) newDecider(ctx context.Context, p *policy.Policy, rec *telemetry.Recorder, signer *clearance.Signer) error {
	log := a.log
	var err error
	if a.crawlers, err = newCrawlers(p, log); err != nil {
		return err
	}
	if err := rec.ObserveCrawlers(a.crawlers); err != nil {
		return err
	}
	if a.reputation, err = newReputation(ctx, p, log, rec.ReputationReloaded); err != nil {
		return err
	}
	if err := rec.ObserveReputation(a.reputation.sets, a.reputation.asn); err != nil {
		return err
	}

	if a.history, err = history.NewWriter(a.store, history.WriterOptions{Observer: rec, Logger: log}); err != nil {
		return err
	}
	if a.authz, err = extauthz.New(extauthz.Options{
		Policy: p, Store: a.store, Rollout: a.rollout, Logger: log, Clearance: signer, Crawlers: a.crawlers, Network: a.reputation.network(),
		History: a.history, Observer: rec, TracerProvider: a.telemetry.TracerProvider(),
	}); err != nil {
		return err
	}
	if err := rec.ObserveRollout(a.rollout.View, a.authz.Policy); err != nil {
		return err
	}
	// The routes' series start at zero, so that an alert's increase() sees
	// the first degraded decision or failed challenge of each.
	rec.PolicyApplied(p, a.authz.Model().Version())
	return nil
}

// newPolicyWatcher watches -config, when there is one, and applies each
// good new version; serve runs it, -check-config builds it without running.
func (a *app) newPolicyWatcher(p *policy.Policy, loaded []byte, rec *telemetry.Recorder) error {
	c, log := a.cfg, a.log
	var err error
	if c.policyFile != "" {
		started := p
		a.watcher, err = policy.NewWatcher(policy.WatcherOptions{
			Path: c.policyFile, Loaded: loaded, Report: rec.PolicyReloaded, Logger: log,
			Apply: func(next *policy.Policy) {
				if err := a.authz.SetPolicy(next); err != nil {
					log.Error("reloaded policy not applied", "err", err)
					return
				}
				rec.PolicyApplied(next, a.authz.Model().Version())
				warnRestartOnly(log, started, next)
			},
		})
		if err != nil {
			return err
		}
		// serve runs the watcher: -check-config builds one without running it.
	}
	return nil
}

// newGRPC builds the gRPC server: Check, health and reflection.
func (a *app) newGRPC(rec *telemetry.Recorder) error {
	c := a.cfg
	// Every Check that fits -max-check-bytes decodes, invalid UTF-8
	// included, so that botauthz and not Envoy's failure mode decides it.
	grpcOpts, err := checkServerOptions(c.maxCheckBytes, rec.CheckSanitized)
	if err != nil {
		return err
	}
	if a.telemetry.TracingEnabled() {
		// The Check span continues the trace Envoy sends in the gRPC
		// metadata; health checks are not traced. Only when tracing is on:
		// the handler costs a Check about a quarter of its time even with a
		// no-op tracer, and its RPC metrics would duplicate
		// botauthz_check_duration_seconds.
		grpcOpts = append(grpcOpts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(a.telemetry.TracerProvider()),
			otelgrpc.WithPropagators(a.telemetry.Propagator()),
			otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
			otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
		)))
	}
	a.grpc = grpc.NewServer(grpcOpts...)
	extauthz.Register(a.grpc, a.authz)
	a.health = health.NewServer()
	healthpb.RegisterHealthServer(a.grpc, a.health)
	a.health.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	reflection.Register(a.grpc)
	return nil
}

// newPublic builds the public server of the challenge pages.
func (a *app) newPublic(cp challengeSetup, rec *telemetry.Recorder) error {
	c, log := a.cfg, a.log
	// Only what app has so far; without a signer and keys the page says the
	// check is unavailable.
	challengeHandler, err := challenge.NewHandler(challenge.Options{
		Policy: a.authz.Policy, Signer: cp.signer, Keys: cp.keys, Verifiers: cp.verifiers,
		Redeemer: a.backend.Redeemer, Observer: rec, History: a.history, Logger: log,
	})
	if err != nil {
		return err
	}
	publicMux := http.NewServeMux()
	publicMux.Handle(challenge.Prefix, challengeHandler)
	a.public = newHTTPServer(publicMux, c)
	return nil
}

// listen binds the three ports.
func (a *app) listen() error {
	c := a.cfg
	var err error
	if a.grpcLn, err = net.Listen("tcp", c.grpcAddr); err != nil {
		return fmt.Errorf("-grpc-addr: %w", err)
	}
	if a.adminLn, err = net.Listen("tcp", c.adminAddr); err != nil {
		return fmt.Errorf("-admin-addr: %w", err)
	}
	if a.publicLn, err = net.Listen("tcp", c.httpAddr); err != nil {
		return fmt.Errorf("-http-addr: %w", err)
	}
	return nil
}

// newAdmin builds the internal admin server: health, readiness, metrics,
// the admin API and, with -pprof, the profiles.
func (a *app) newAdmin(tokens []admin.Token) {
	c, log := a.cfg, a.log
	adminMux := http.NewServeMux()
	adminMux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	adminMux.HandleFunc("GET /readyz", a.readyz)
	adminMux.Handle("GET /metrics", a.telemetry.MetricsHandler())
	// Writes need a token, except on a loopback-only admin port when no
	// token is configured at all (a developer's machine).
	anonymous := len(tokens) == 0 && a.adminLn.Addr().(*net.TCPAddr).IP.IsLoopback()
	if len(tokens) == 0 && !anonymous {
		log.Warn("admin API is read-only: no token configured and the admin address is not loopback; set BOTAUTHZ_ADMIN_TOKENS")
	}
	adminMux.Handle("/v1/", admin.NewHandler(admin.Options{
		Rollout: a.rollout, Policy: a.authz.Policy, Tokens: tokens, AllowAnonymousWrites: anonymous, Logger: log,
	}))
	if c.pprof {
		adminMux.Handle("/debug/pprof/", admin.RequireToken(admin.Options{Tokens: tokens, Logger: log}, pprofHandler()))
		log.Info("profiling on: /debug/pprof/ on the admin port")
	}
	a.admin = newHTTPServer(adminMux, c)
}

// maxHeaderBytes bounds a request's header block on the HTTP ports: above
// Envoy's own default limit (60 KiB), which is what reaches them.
const maxHeaderBytes = 96 << 10

// newHTTPServer is an HTTP server whose every connection ends within the
// configured timeouts: a client that sends its request slowly, reads the
// answer slowly or keeps an idle connection cannot hold the port. Request
// bodies are bounded by each handler (a challenge answer, an admin change).
func newHTTPServer(h http.Handler, c *config) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(5*time.Second, c.httpReadTimeout),
		ReadTimeout:       c.httpReadTimeout,
		WriteTimeout:      c.httpWriteTimeout,
		IdleTimeout:       c.httpIdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

func (a *app) closeListeners() {
	for _, ln := range []net.Listener{a.grpcLn, a.adminLn, a.publicLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

// serve runs until ctx is cancelled (SIGTERM), then drains: health turns
// NOT_SERVING and /readyz 503, new connections stop, in-flight Checks finish,
// the store closes.
func (a *app) serve(ctx context.Context) error {
	// SIGHUP re-reads the policy file at once, as SREs expect of a daemon.
	// Registered before serving, so that a replica that answers also
	// handles SIGHUP rather than dying of it.
	hup := make(chan os.Signal, 1)
	if a.watcher != nil {
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		// The watcher stops with SIGTERM, abandoning a reload in progress:
		// a policy applied while draining would serve nobody, and shutdown
		// must not wait for one.
		watchCtx, stopWatching := context.WithCancel(ctx)
		defer stopWatching()
		go a.watcher.Run(watchCtx, 5*time.Second)
	}

	errc := make(chan error, 3)
	go func() { errc <- a.grpc.Serve(a.grpcLn) }()
	go func() { errc <- a.admin.Serve(a.adminLn) }()
	go func() { errc <- a.public.Serve(a.publicLn) }()
	a.log.Info("serving",
		"grpc", a.grpcLn.Addr().String(), "admin", a.adminLn.Addr().String(), "http", a.publicLn.Addr().String(),
		"routes", a.authz.Policy().RouteNames(), "model", a.authz.Model().Version(), "feature_set", scoring.FeatureSet)

	var serveErr error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case serveErr = <-errc:
			a.log.Error("a server stopped", "err", serveErr)
			break wait
		case <-hup:
			// Never a reload here: this loop must stay free to see SIGTERM.
			a.watcher.Trigger()
		}
	}
	return errors.Join(serveErr, a.shutdown())
}

func (a *app) shutdown() error {
	a.log.Info("draining", "drain_delay", a.cfg.drainDelay.String(), "shutdown_timeout", a.cfg.shutdownTimeout.String())
	a.draining.Store(true)
	a.health.Shutdown() // every service reports NOT_SERVING
	if a.cfg.drainDelay > 0 {
		// Keep answering while Envoy's health checks and endpoint updates
		// move traffic elsewhere.
		time.Sleep(a.cfg.drainDelay)
	}

	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.shutdownTimeout)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		a.grpc.GracefulStop() // stops accepting, waits for in-flight RPCs
		close(stopped)
	}()
	var errs []error
	select {
	case <-stopped:
	case <-ctx.Done():
		a.grpc.Stop()
		errs = append(errs, errors.New("in-flight Checks did not finish within -shutdown-timeout"))
	}
	if err := a.public.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("public server: %w", err))
	}
	if err := a.admin.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("admin server: %w", err))
	}
	errs = append(errs, a.close(ctx))
	a.log.Info("stopped")
	return errors.Join(errs...)
}

// close releases what newApp built besides servers and listeners: the
// counter store, the rollout controller, telemetry and the Redis clients.
// shutdown ends with it; -check-config, which serves nothing, calls it alone.
func (a *app) close(ctx context.Context) error {
	var errs []error
	if a.history != nil {
		a.history.Close()
	}
	if a.store != a.backend.Counters { // a test's own counter store
		if err := a.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close counter store: %w", err))
		}
	}
	a.stopRollout()
	a.rollout.Wait()
	if a.crawlers != nil {
		a.crawlers.Close()
	}
	if a.reputation != nil {
		if err := a.reputation.close(); err != nil {
			errs = append(errs, fmt.Errorf("close ASN database: %w", err))
		}
	}
	if err := a.telemetry.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("flush telemetry: %w", err))
	}
	// The counters, the rollout store (its controller stopped above) and
	// the redemption client.
	if err := a.backend.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	return errors.Join(errs...)
}

// readyz combines the components: draining makes the replica unready. A
// failing counter store is reported but does not: Checks degrade without it,
// and pulling every replica out of rotation because Redis is down would turn
// a degraded service into an outage.
func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	type component struct {
		Status string `json:"status"`
		Detail string `json:"detail,omitempty"`
		// Model and FeatureSet name the scoring model (the model component).
		Model      string `json:"model,omitempty"`
		FeatureSet int    `json:"feature_set,omitempty"`
	}
	body := struct {
		Status     string               `json:"status"`
		Components map[string]component `json:"components"`
	}{Status: "ready", Components: map[string]component{}}

	p := a.authz.Policy()
	pc := component{Status: "ok", Detail: fmt.Sprintf("version %q, %d routes", p.Version, len(p.Routes))}
	if a.watcher != nil {
		if err := a.watcher.LastError(); err != nil {
			// Still ready: the previous policy is in force.
			pc = component{Status: "degraded", Detail: pc.Detail + "; newest file refused: " + err.Error()}
		}
	}
	body.Components["policy"] = pc

	ctx, cancel := context.WithTimeout(r.Context(), 250*time.Millisecond)
	defer cancel()
	store := component{Status: "ok"}
	if err := a.store.Ping(ctx); err != nil {
		store = component{Status: "degraded", Detail: err.Error()}
	}
	if a.guard != nil && a.guard.State() != ratelimit.BreakerClosed {
		store.Status = "degraded"
		store.Detail = "circuit breaker " + a.guard.State().String()
	}
	body.Components["store"] = store

	v := a.rollout.View()
	ro := component{Status: "ok", Detail: "kill switch " + v.Kill().String()}
	if v.FileError != "" {
		// The last good override file stays in force; say why the new one
		// was refused.
		ro = component{Status: "degraded", Detail: ro.Detail + "; override file refused: " + v.FileError}
	}
	body.Components["rollout"] = ro

	cl := component{Status: "ok"}
	if a.ephemeralKey {
		// Still ready: one replica on a laptop works. Behind a load
		// balancer it challenges people in a loop, which must be visible.
		cl = component{Status: "degraded", Detail: ephemeralKeyWarning}
	}
	body.Components["clearance"] = cl

	// The model in force: every route's has this name (a policy's tuning
	// keeps it), so one entry says which weights score requests.
	body.Components["model"] = component{Status: "ok", Model: a.authz.Model().Version(), FeatureSet: scoring.FeatureSet}

	// Still ready with a range list missing: its crawlers are unverified,
	// never impersonators, until a refresh brings it.
	cr := component{Status: "ok"}
	var crDegraded bool
	if cr.Detail, crDegraded = crawlersSummary(a.crawlers, p, time.Now()); crDegraded {
		cr.Status = "degraded"
	}
	body.Components["crawlers"] = cr

	// Still ready with a file refused: its last good content is in force.
	rep := component{Status: "ok"}
	var repDegraded bool
	if rep.Detail, repDegraded = a.reputation.summary(); repDegraded {
		rep.Status = "degraded"
	}
	body.Components["reputation"] = rep

	code := http.StatusOK
	if a.draining.Load() {
		code = http.StatusServiceUnavailable
		body.Status = "draining"
		body.Components["shutdown"] = component{Status: "draining"}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// warnRestartOnly logs the settings a reload cannot change in a running
// process, so nobody waits for them to take effect.
func warnRestartOnly(log *slog.Logger, started, next *policy.Policy) {
	var changed []string
	if started.Rollout.OverrideFile != next.Rollout.OverrideFile || started.Rollout.Refresh != next.Rollout.Refresh {
		changed = append(changed, "rollout.override_file/refresh")
	}
	if started.Challenge.CookieTTL != next.Challenge.CookieTTL {
		changed = append(changed, "challenge.cookie_ttl")
	}
	if !maps.Equal(started.Challenge.Providers, next.Challenge.Providers) {
		changed = append(changed, "challenge.providers")
	}
	if started.Challenge.MessagesDir != next.Challenge.MessagesDir {
		changed = append(changed, "challenge.messages_dir (its files too are read only at start)")
	}
	if crawlersChanged(started.Crawlers, next.Crawlers) {
		changed = append(changed, "crawlers")
	}
	if !reflect.DeepEqual(started.Reputation, next.Reputation) {
		changed = append(changed, "reputation (the files' content is reloaded; the section's shape is read at start)")
	}
	if len(changed) > 0 {
		log.Warn("reloaded policy changes settings that take effect only at start; restart to apply them", "settings", changed)
	}
}

// adminTokens gathers the admin API tokens from -admin-tokens and
// -admin-tokens-file.
func adminTokens(c *config) ([]admin.Token, error) {
	var tokens []admin.Token
	if c.adminTokens != "" {
		t, err := admin.ParseTokens(c.adminTokens)
		if err != nil {
			return nil, fmt.Errorf("-admin-tokens: %w", err)
		}
		tokens = append(tokens, t...)
	}
	if c.adminTokensFile != "" {
		t, err := admin.LoadTokens(c.adminTokensFile)
		if err != nil {
			return nil, fmt.Errorf("-admin-tokens-file: %w", err)
		}
		tokens = append(tokens, t...)
	}
	return tokens, nil
}
