// Command botauthz is the Envoy external-authorization service that decides,
// for every request, whether it comes from a person or from automation.
//
// It serves envoy.service.auth.v3.Authorization/Check, gRPC health and
// reflection on -grpc-addr; the challenge pages on -http-addr; and /healthz
// and /readyz on the internal -admin-addr. Every flag can also be set through
// the environment as BOTAUTHZ_<FLAG>, e.g. BOTAUTHZ_REDIS for -redis; a flag on
// the command line wins over the environment.
//
// Usage:
//
//	botauthz [flags]
//	botauthz -check-config policy.yaml
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/peterbourgon/ff/v3"
	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/buildinfo"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/scoring"
)

func main() {
	// go-redis's logger is process-wide: set it once, here, not per run.
	redis.SetLogger(quietRedis{})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		// Once draining, a second signal (Ctrl-C again) stops at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// config is the process configuration: where to listen and what to connect
// to. The policy itself lives in the -config file.
type config struct {
	grpcAddr          string
	maxCheckBytes     int
	adminAddr         string
	httpAddr          string
	policyFile        string
	checkConfig       string
	storeURL          string
	redisURL          string // -redis, the older name of -store
	redisBudget       time.Duration
	memoryMaxKeys     int
	logLevel          slog.Level
	logFormat         string
	drainDelay        time.Duration
	httpReadTimeout   time.Duration
	httpWriteTimeout  time.Duration
	httpIdleTimeout   time.Duration
	shutdownTimeout   time.Duration
	adminTokens       string
	adminTokensFile   string
	clearanceKeys     string
	clearanceKeysFile string
	decisionLog       string
	allowSample       float64
	fullClientIP      bool
	pprof             bool
	gcHeadroomMiB     int
	version           bool
}

// defaultDrainDelay keeps a stopping replica answering while Envoy's health
// checks (envoy/front-proxy.yaml: 1 s interval, 2 misses) and Kubernetes'
// endpoint updates move traffic to the other replicas; what still arrives
// afterwards is refused at connect time and retried elsewhere by Envoy.
const defaultDrainDelay = 5 * time.Second

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := newFlagSet(c)
	fs.SetOutput(stderr)
	fs.Usage = func() { printUsage(fs.Output(), fs) }
	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix(envPrefix)); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.redisURL != "" {
		if c.storeURL != "" && c.storeURL != c.redisURL {
			return nil, errors.New("-store and -redis (its older name) name different stores; set one")
		}
		c.storeURL = c.redisURL
	}
	if c.logFormat != "json" && c.logFormat != "text" {
		return nil, fmt.Errorf("-log-format: %q is not json or text", c.logFormat)
	}
	if c.redisBudget <= 0 {
		return nil, fmt.Errorf("-redis-budget: %s must be positive", c.redisBudget)
	}
	if c.decisionLog != "stdout" && c.decisionLog != "stderr" && c.decisionLog != "off" {
		return nil, fmt.Errorf("-decision-log: %q is not stdout, stderr or off", c.decisionLog)
	}
	if c.allowSample < 0 || c.allowSample > 1 {
		return nil, fmt.Errorf("-decision-log-allow-sample: %g out of range 0-1", c.allowSample)
	}
	if err := validMaxCheckBytes(c.maxCheckBytes); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"-http-read-timeout", c.httpReadTimeout}, {"-http-write-timeout", c.httpWriteTimeout}, {"-http-idle-timeout", c.httpIdleTimeout}} {
		if d.v <= 0 {
			return nil, fmt.Errorf("%s: %s must be positive", d.name, d.v)
		}
	}
	if c.memoryMaxKeys < 1 {
		return nil, fmt.Errorf("-memory-max-keys: %d must be positive", c.memoryMaxKeys)
	}
	if c.gcHeadroomMiB < 0 || c.gcHeadroomMiB > maxGCHeadroomMiB {
		return nil, fmt.Errorf("-gc-headroom-mib: %d out of range 0-%d", c.gcHeadroomMiB, maxGCHeadroomMiB)
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "botauthz: %v\n", err)
		return 2
	}
	if c.version {
		fmt.Fprintln(stdout, buildinfo.Read())
		return 0
	}
	if c.checkConfig != "" {
		return checkConfig(ctx, c, stdout, stderr)
	}

	opts := &slog.HandlerOptions{Level: c.logLevel}
	var h slog.Handler = slog.NewJSONHandler(stderr, opts)
	if c.logFormat == "text" {
		h = slog.NewTextHandler(stderr, opts)
	}
	log := slog.New(h)

	var decisions *slog.Logger
	switch c.decisionLog {
	case "stdout":
		decisions = slog.New(slog.NewJSONHandler(stdout, nil))
	case "stderr":
		decisions = slog.New(slog.NewJSONHandler(stderr, nil))
	}

	a, err := newApp(ctx, c, log, decisions, nil)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	// GOGC set by the operator is theirs to keep.
	if c.gcHeadroomMiB > 0 && os.Getenv("GOGC") == "" {
		defer startGCPacer(uint64(c.gcHeadroomMiB) << 20)()
	}
	if err := a.serve(ctx); err != nil {
		log.Error("stopped with an error", "err", err)
		return 1
	}
	return 0
}

// quietRedis replaces go-redis's process-wide logger, which prints dial
// failures as unstructured lines into our JSON logs. They add nothing: the
// counter store's guard and the rollout controller report Redis trouble
// themselves, with the error.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// checkConfig says whether botauthz would start with the file as -config and
// the other flags and environment as given: it runs newApp, which stops
// short of binding ports when c.checkConfig is set (the replica being
// replaced holds them), then releases what it built. Checking the policy
// alone passed files that fail to start, such as a CAPTCHA provider whose
// secret's variable is empty.
func checkConfig(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	path := c.checkConfig
	check := *c
	check.policyFile = path
	// Warnings only: start-up's info lines are noise in a check, but what
	// it warns about (an ephemeral clearance key, Redis not answering) is
	// worth seeing before a deploy.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := newApp(ctx, &check, log, nil, nil)
	if err != nil {
		if all := problems(err); len(all) > 1 {
			fmt.Fprintf(stderr, "botauthz: -check-config %s: %d problems:\n", path, len(all))
			for _, p := range all {
				fmt.Fprintf(stderr, "  %v\n", p)
			}
			return 1
		}
		fmt.Fprintf(stderr, "botauthz: -check-config %s: %v\n", path, err)
		return 1
	}
	p := a.authz.Policy()
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.close(closeCtx); err != nil {
		log.Warn("releasing what the check built", "err", err)
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	fmt.Fprintf(stdout, "  model %s feature_set=%d behind_proxy=%v tls_trusted=%v\n", a.authz.Model().Version(), scoring.FeatureSet, p.BehindProxy, p.TLS.Trusted)
	crawlers, _ := crawlersSummary(a.crawlers, p, time.Now())
	fmt.Fprintf(stdout, "  crawlers %s\n", crawlers)
	network, _ := a.reputation.summary()
	fmt.Fprintf(stdout, "  reputation %s\n", network)
	fmt.Fprintf(stdout, "  history %s\n", historySummary(p.History))
	for _, name := range p.RouteNames() {
		r := p.Routes[name]
		proof := ""
		if r.RequireProof {
			proof = " require_proof"
		}
		fmt.Fprintf(stdout, "  route %-12s mode=%-7s challenge_below=%d deny_below=%d limits=%d%s%s%s\n",
			name, r.Mode, r.ChallengeBelow, r.DenyBelow, len(r.Limits), proof, tunedWeights(r.Tuning), verifiedBots(r))
	}
	return 0
}

// problems lists the problems err joins (errors.Join, as the policy parser
// reports every problem of a file), looking through wrapping; err alone
// when it joins none.
func problems(err error) []error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			return j.Unwrap()
		}
	}
	return []error{err}
}

// historySummary is -check-config's history line.
func historySummary(h policy.History) string {
	if !h.Enabled {
		return "off"
	}
	escalate := "never"
	if h.EscalateAfter > 0 {
		escalate = strconv.Itoa(h.EscalateAfter)
	}
	return fmt.Sprintf("window=%s escalate_after=%s session_networks=%d", h.Window, escalate, h.SessionNetworks)
}

// tunedWeights lists a route's tuned weights for -check-config, in code
// order (" weights=ua.other:-3.5,fetch.missing:0"); empty when it tunes
// none.
func tunedWeights(t scoring.Tuning) string {
	if len(t.Weights) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(" weights=")
	for i, c := range slices.Sorted(maps.Keys(t.Weights)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c.String() + ":" + strconv.FormatFloat(t.Weights[c], 'g', -1, 64))
	}
	return b.String()
}
