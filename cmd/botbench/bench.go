package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/botauthz/botauthz/internal/devcert"
)

// Phases of a mode.
const (
	// phaseClosed measures capacity: concurrency callers as fast as answered.
	phaseClosed = "closed"
	// phaseOpen measures latency at a fixed rate both servers can carry.
	phaseOpen = "open"
)

// Roles of the processes a run measures.
const (
	// roleServer is what is compared: its CPU and memory are the server's.
	roleServer = "server"
	// roleStore is Redis, shared by the runs of a mode, reported apart.
	roleStore = "store"
	// roleUpstream is the envoy mode's application, reported apart.
	roleUpstream = "upstream"
)

// measured is a process whose CPU and memory a run reads.
type measured struct {
	name, role string
	proc       *proc
}

// instance is one started server under test, with what it needs.
type instance struct {
	target target
	procs  []measured
	stop   func() error
	// failedOpen counts the Checks Envoy gave up on so far (and let the
	// request through, failure_mode_allow), nil outside the envoy modes: a
	// Check that failed open would look cheap.
	failedOpen func() (int64, error)
}

// variant is one side of a comparison: botauthz, or its reference.
type variant struct {
	name      string
	reference bool
	start     func(ctx context.Context, dir string) (*instance, error)
}

// bench is one botbench invocation.
type bench struct {
	cfg         *config
	log         *slog.Logger
	out         io.Writer
	dir         string
	pool        *pool
	clkTck      int64
	botauthzBin string
	serverBin   string
	envoyBin    string
	runs        int // runs so far, for their directories
}

// runBench runs every mode of c and prints the report to out.
func runBench(ctx context.Context, c *config, log *slog.Logger, out io.Writer) (*Report, error) {
	dir, err := os.MkdirTemp("", "botbench-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	b := &bench{cfg: c, log: log, out: out, dir: dir, clkTck: clockTicks()}
	if b.serverBin = c.serverBin; b.serverBin == "" {
		if b.serverBin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find botbench's own binary for its servers: %w", err)
		}
	}
	if b.botauthzBin = c.botauthzBin; b.botauthzBin == "" {
		if b.botauthzBin, err = buildBotauthz(ctx, dir, log); err != nil {
			return nil, err
		}
	}
	for _, m := range c.modes {
		if m == modeEnvoy || m == modeEnvoyNoop {
			if b.envoyBin, err = findEnvoy(c.envoyBin); err != nil {
				return nil, err
			}
		}
	}
	if b.pool, err = newPool(poolOptions{clients4: c.clients, clients6: c.clients6, seed: c.seed, encoding: c.encoding}); err != nil {
		return nil, err
	}
	if c.waitLoad > 0 {
		if err := waitForLoad(ctx, c.waitLoad, 30*time.Second, 10*time.Minute, log); err != nil {
			return nil, err
		}
	}
	rep := &Report{Machine: machine(ctx, b.envoyBin, c), Settings: settings(c, b.pool)}
	printHeader(out, rep)
	for _, mode := range c.modes {
		m, err := b.runMode(ctx, mode)
		if err != nil {
			return rep, fmt.Errorf("mode %s: %w", mode, err)
		}
		rep.Modes = append(rep.Modes, *m)
		printSummary(out, &m.Summary)
	}
	if c.jsonOut != "" {
		if err := writeJSON(c.jsonOut, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// waitForLoad waits until the 1-minute load average is at most limit,
// polling every interval, for at most timeout; then it goes on anyway and
// says so, since the report records the load average of every run.
func waitForLoad(ctx context.Context, limit float64, interval, timeout time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(timeout)
	for {
		la := loadAvg()
		f := strings.Fields(la)
		one, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return fmt.Errorf("read /proc/loadavg: %q", la)
		}
		if one <= limit {
			log.Info("load average low enough", "loadavg", la, "limit", limit)
			return nil
		}
		if time.Now().After(deadline) {
			log.Warn("load average still high; measuring anyway", "loadavg", la, "limit", limit)
			return nil
		}
		log.Info("waiting for the load average to drop", "loadavg", la, "limit", limit)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// buildBotauthz builds ./cmd/botauthz as `go build` does for a user.
func buildBotauthz(ctx context.Context, dir string, log *slog.Logger) (string, error) {
	bin := filepath.Join(dir, "botauthz")
	log.Info("building botauthz", "out", bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/botauthz/botauthz/cmd/botauthz")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build botauthz (or pass -botauthz): %w\n%s", err, out)
	}
	return bin, nil
}

// runMode runs one mode: closed loop then open loop, each repetition
// alternating the reference and botauthz, every run on fresh processes.
func (b *bench) runMode(ctx context.Context, mode string) (_ *ModeReport, err error) {
	c := b.cfg
	m := &ModeReport{Summary: Summary{Mode: mode, LoadAvgBefore: loadAvg()}}
	var store *redisSetup
	flush := false // only a Redis botbench started is flushed
	defer func() {
		if store != nil {
			store.stop()
		}
	}()
	var ref, sub variant
	switch mode {
	case modeMemory:
		ref, sub = b.noopVariant(""), b.botauthzVariant("")
	case modeRedis, modeCluster:
		if store, flush, err = b.redisFor(ctx, mode); err != nil {
			return nil, err
		}
		ref, sub = b.noopVariant(store.url), b.botauthzVariant(store.url)
	case modeEnvoy:
		ref, sub = b.envoyVariant(backendNone), b.envoyVariant(backendBotauthz)
	case modeEnvoyNoop:
		ref, sub = b.envoyVariant(backendNoop), b.envoyVariant(backendBotauthz)
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	m.Summary.Reference, m.Summary.Subject = ref.name, sub.name
	var extra []measured
	if store != nil {
		for _, p := range store.procs() {
			extra = append(extra, measured{name: "redis", role: roleStore, proc: p})
		}
	}
	printRunHeader(b.out, mode)
	for _, phase := range c.phases {
		rate := 0.0
		if phase == phaseOpen {
			if rate, err = b.openRate(m); err != nil {
				return nil, err
			}
			m.Summary.Rate = rate
		}
		for rep := 1; rep <= c.reps; rep++ {
			for _, v := range []variant{ref, sub} {
				r, err := measureQuietly(b.cfg.maxOther, b.cfg.retries, b.log, func() (*Run, error) {
					if flush {
						if err := store.flush(ctx); err != nil {
							return nil, err
						}
					}
					return b.measure(ctx, mode, phase, v, rep, rate, extra)
				})
				if err != nil {
					return nil, fmt.Errorf("%s %s run %d: %w", v.name, phase, rep, err)
				}
				m.Runs = append(m.Runs, *r)
				printRun(b.out, r)
			}
		}
	}
	m.Summary.LoadAvgAfter = loadAvg()
	summarize(&m.Summary, m.Runs)
	return m, nil
}

// openRate is -rate, or -rate-share of the reference's median closed-loop
// capacity in this run.
func (b *bench) openRate(m *ModeReport) (float64, error) {
	if b.cfg.rate > 0 {
		return b.cfg.rate, nil
	}
	var tput []float64
	for _, r := range m.Runs {
		if r.Phase == phaseClosed && r.Reference {
			tput = append(tput, r.Throughput)
		}
	}
	if len(tput) == 0 {
		return 0, errors.New("open loop without a closed loop before it: pass -rate")
	}
	rate := median(tput) * b.cfg.rateShare
	if rate < 1 {
		return 0, fmt.Errorf("the reference carried %.1f requests/s closed loop: too few to derive -rate", median(tput))
	}
	return rate, nil
}

// redisFor is the Redis of a redis or cluster mode, and whether botbench
// started it (and may flush it).
func (b *bench) redisFor(ctx context.Context, mode string) (*redisSetup, bool, error) {
	if mode == modeRedis && b.cfg.redisURL != "" {
		return &redisSetup{url: b.cfg.redisURL}, false, nil
	}
	if mode == modeCluster && b.cfg.clusterURL != "" {
		return &redisSetup{url: b.cfg.clusterURL}, false, nil
	}
	bin, err := findRedisServer(b.cfg.redisServer)
	if err != nil {
		return nil, false, err
	}
	dir, err := os.MkdirTemp(b.dir, mode+"-")
	if err != nil {
		return nil, false, fmt.Errorf("redis directory: %w", err)
	}
	if mode == modeRedis {
		s, err := startRedis(ctx, bin, dir)
		return s, err == nil, err
	}
	cli, err := findRedisCLI(b.cfg.redisCLI, bin)
	if err != nil {
		return nil, false, err
	}
	s, err := startCluster(ctx, bin, cli, dir, 3)
	return s, err == nil, err
}

// measureQuietly measures one run, and measures it again (at most retries
// times) while the rest of the machine used more than maxOther cores during
// it: on a shared machine a neighbour's burst would otherwise count as the
// server's slowness. The last attempt is kept; Retries says how many were
// dropped, Noisy that the last one was noisy too.
func measureQuietly(maxOther float64, retries int, log *slog.Logger, measure func() (*Run, error)) (*Run, error) {
	for attempt := 0; ; attempt++ {
		r, err := measure()
		if err != nil {
			return nil, err
		}
		r.Retries = attempt
		if maxOther <= 0 || r.OtherCores <= maxOther {
			return r, nil
		}
		if attempt == retries {
			r.Noisy = true
			return r, nil
		}
		log.Warn("other processes were busy during the run; repeating it", "server", r.Server, "phase", r.Phase, "rep", r.Rep,
			"other_cores", fmt.Sprintf("%.2f", r.OtherCores), "limit", maxOther)
	}
}

// startAttempts bounds how often measure starts a variant whose servers
// found a port taken.
const startAttempts = 3

// startTakingPorts calls start, and again, up to attempts times in all,
// while a server it started exits because its port was taken. freePort's
// check and the server's bind are apart, so a server started meanwhile (a
// parallel test's, under go test ./...) may take the port; each start
// draws new ports, and a start that fails stops what it started. retry is
// told each error that leads to another start.
func startTakingPorts(attempts int, start func() (*instance, error), retry func(error)) (*instance, error) {
	for attempt := 1; ; attempt++ {
		inst, err := start()
		if err == nil || attempt >= attempts || !strings.Contains(err.Error(), "address already in use") {
			return inst, err
		}
		retry(err)
	}
}

// measure starts v fresh, warms it up and measures one run.
func (b *bench) measure(ctx context.Context, mode, phase string, v variant, rep int, rate float64, extra []measured) (_ *Run, err error) {
	b.runs++
	dir := filepath.Join(b.dir, fmt.Sprintf("run-%03d-%s", b.runs, strings.ReplaceAll(v.name, "+", "-")))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	b.log.Info("run", "mode", mode, "phase", phase, "server", v.name, "rep", rep, "rate", rate)
	inst, err := startTakingPorts(startAttempts, func() (*instance, error) { return v.start(ctx, dir) }, func(err error) {
		b.log.Warn("a server found its port taken; starting it again on others", "server", v.name, "err", err)
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := inst.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	spec := loadSpec{duration: b.cfg.warmup, concurrency: b.cfg.concurrency, rate: rate, timeout: b.cfg.timeout}
	if b.cfg.warmup > 0 {
		warm, err := runLoad(ctx, inst.target, b.pool, spec)
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if warm.sent > 0 && warm.errors == warm.sent {
			return nil, fmt.Errorf("warm-up: every request failed: %s", warm.firstErr)
		}
	}
	spec.duration = b.cfg.duration
	procs := append(append([]measured(nil), inst.procs...), extra...)
	var perf []*exec.Cmd
	if b.cfg.perfDir != "" {
		if perf, err = b.startPerf(ctx, mode, phase, v, rep, procs); err != nil {
			return nil, err
		}
	}
	var failedBefore, failedAfter int64
	if inst.failedOpen != nil {
		if failedBefore, err = inst.failedOpen(); err != nil {
			return nil, err
		}
	}
	busyBefore, err := readBusy(b.clkTck)
	if err != nil {
		return nil, err
	}
	before, err := b.sample(procs)
	if err != nil {
		return nil, err
	}
	loadavg := loadAvg()
	res, err := runLoad(ctx, inst.target, b.pool, spec)
	if err != nil {
		return nil, err
	}
	after, err := b.sample(procs)
	if err != nil {
		return nil, err
	}
	busyAfter, err := readBusy(b.clkTck)
	if err != nil {
		return nil, err
	}
	if inst.failedOpen != nil {
		if failedAfter, err = inst.failedOpen(); err != nil {
			return nil, err
		}
	}
	for _, p := range perf {
		if err := p.Wait(); err != nil {
			b.log.Warn("perf record", "err", err)
		}
	}
	for _, m := range procs {
		if err := m.proc.exited(); err != nil {
			return nil, err
		}
	}
	r := newRun(mode, phase, v, rep, rate, b.cfg.concurrency, res, procs, before, after)
	r.LoadAvg = loadavg
	if n := failedAfter - failedBefore; n > 0 {
		// Answered 200 to the client, but without a decision.
		r.Errors += n
		r.OK -= min(n, r.OK)
		r.FirstErr = fmt.Sprintf("%d Checks failed open in Envoy (ext_authz error or failure_mode_allowed); %s", n, r.FirstErr)
	}
	// Everything the machine did besides the measured processes (and
	// perf): other people's work on a shared machine, the kernel's.
	other := busyAfter - busyBefore
	for i := range after {
		other -= after[i].cpu - before[i].cpu
	}
	if r.Seconds > 0 {
		r.OtherCores = max(0, other.Seconds()/r.Seconds)
	}
	return r, nil
}

// sample reads every process's counters, and botbench's own last.
func (b *bench) sample(procs []measured) ([]procSample, error) {
	s := make([]procSample, len(procs)+1)
	for i, m := range procs {
		var err error
		if s[i], err = readProc(m.proc.pid(), b.clkTck); err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
	}
	var err error
	if s[len(procs)], err = readProc(0, b.clkTck); err != nil {
		return nil, fmt.Errorf("botbench: %w", err)
	}
	return s, nil
}

// startPerf records each server process with perf for the measured run.
func (b *bench) startPerf(ctx context.Context, mode, phase string, v variant, rep int, procs []measured) ([]*exec.Cmd, error) {
	if err := os.MkdirAll(b.cfg.perfDir, 0o755); err != nil {
		return nil, fmt.Errorf("-perf: %w", err)
	}
	var cmds []*exec.Cmd
	for _, m := range procs {
		if m.role != roleServer {
			continue
		}
		file := filepath.Join(b.cfg.perfDir, fmt.Sprintf("%s-%s-%s-%s-%d.perf.data", mode, phase, strings.ReplaceAll(v.name, "+", "-"), m.name, rep))
		cmd := exec.CommandContext(ctx, "perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(m.proc.pid()),
			"-o", file, "--", "sleep", strconv.FormatFloat(b.cfg.duration.Seconds(), 'f', 3, 64))
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("perf record: %w", err)
		}
		b.log.Info("perf record", "process", m.name, "file", file)
		cmds = append(cmds, cmd)
	}
	return cmds, nil
}

// noopVariant is the reference of the gRPC modes: noop, or noop+incr on
// redisURL.
func (b *bench) noopVariant(redisURL string) variant {
	name := "noop"
	if redisURL != "" {
		name = "noop+incr"
	}
	return variant{name: name, reference: true, start: func(ctx context.Context, _ string) (*instance, error) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		args := []string{cmdServeNoop, "-addr", addr}
		if redisURL != "" {
			args = append(args, "-redis", redisURL)
		}
		p, err := startProc(name, b.serverBin, args, nil)
		if err != nil {
			return nil, err
		}
		return b.grpcInstance(ctx, name, addr, p)
	}}
}

// botauthzVariant is botauthz as built, with the in-memory store or on
// redisURL.
func (b *bench) botauthzVariant(redisURL string) variant {
	return variant{name: "botauthz", start: func(ctx context.Context, _ string) (*instance, error) {
		p, grpcAddr, _, _, err := b.startBotauthz(redisURL)
		if err != nil {
			return nil, err
		}
		return b.grpcInstance(ctx, "botauthz", grpcAddr, p)
	}}
}

// startBotauthz runs the botauthz binary on free loopback ports with the
// decision log off (it would measure the terminal). Every setting is a
// flag: BOTAUTHZ_* variables of botbench's environment are not passed on,
// so that the run is the one the flags say.
func (b *bench) startBotauthz(redisURL string) (p *proc, grpcAddr, adminAddr, httpAddr string, err error) {
	var ports [3]int
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, "", "", "", err
		}
	}
	grpcAddr = "127.0.0.1:" + strconv.Itoa(ports[0])
	adminAddr = "127.0.0.1:" + strconv.Itoa(ports[1])
	httpAddr = "127.0.0.1:" + strconv.Itoa(ports[2])
	args := []string{
		"-grpc-addr", grpcAddr, "-admin-addr", adminAddr, "-http-addr", httpAddr,
		"-decision-log", "off", "-log-format", "text", "-drain-delay", "0s", "-shutdown-timeout", "2s",
	}
	if b.cfg.policyFile != "" {
		args = append(args, "-config", b.cfg.policyFile)
	}
	if redisURL != "" {
		args = append(args, "-redis", redisURL)
	}
	p, err = startProc("botauthz", b.botauthzBin, args, withoutBotauthzEnv(os.Environ()))
	return p, grpcAddr, adminAddr, httpAddr, err
}

// withoutBotauthzEnv drops BOTAUTHZ_* variables, which botauthz reads as
// flags.
func withoutBotauthzEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "BOTAUTHZ_") {
			out = append(out, e)
		}
	}
	return out
}

// grpcInstance connects to a gRPC server process and waits until it answers
// a Check.
func (b *bench) grpcInstance(ctx context.Context, name, addr string, p *proc) (*instance, error) {
	// Dial only once the port accepts: a connection grpc fails to make
	// waits out its reconnect back-off (a second) before the next try.
	if err := waitListening(addr, p); err != nil {
		_ = p.stop(5 * time.Second)
		return nil, err
	}
	t, err := dialGRPC(addr, b.cfg.conns)
	if err != nil {
		_ = p.stop(5 * time.Second)
		return nil, err
	}
	inst := &instance{
		target: t,
		procs:  []measured{{name: name, role: roleServer, proc: p}},
		stop:   func() error { return errors.Join(t.close(), p.stop(5*time.Second)) },
	}
	if err := waitAnswer(ctx, t, b.pool, name, p); err != nil {
		_ = inst.stop()
		return nil, err
	}
	return inst, nil
}

// waitListening polls until addr accepts connections.
func waitListening(addr string, p *proc) error {
	return poll(30*time.Second, p.name+" listening on "+addr, p.exited, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// waitAnswer polls until t answers a request (whatever the answer).
func waitAnswer(ctx context.Context, t target, p *pool, name string, pr *proc) error {
	return poll(30*time.Second, name+" answers", pr.exited, func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		o, err := t.send(rctx, 0, p.at(0))
		if o == outError {
			return err
		}
		return nil
	})
}

// What Envoy's ext_authz filter asks, in the envoy modes.
const (
	backendNone     = ""         // nothing: ext_authz disabled on the routes
	backendNoop     = "noop"     // the no-op
	backendBotauthz = "botauthz" // botauthz, in-memory counters
)

// envoyVariant is a side of the envoy modes: HTTPS through Envoy on the
// shipped routes, with ext_authz disabled or pointed at backend.
func (b *bench) envoyVariant(backend string) variant {
	name := "envoy"
	if backend != backendNone {
		name = "envoy+" + backend
	}
	return variant{name: name, reference: backend != backendBotauthz, start: func(ctx context.Context, dir string) (_ *instance, err error) {
		var stops []func() error
		stopAll := func() error {
			var errs []error
			for i := len(stops) - 1; i >= 0; i-- {
				errs = append(errs, stops[i]())
			}
			return errors.Join(errs...)
		}
		defer func() {
			if err != nil {
				_ = stopAll()
			}
		}()
		var ports envoyPorts
		for _, p := range []*int{&ports.admin, &ports.listen, &ports.plain, &ports.botauthzGRPC, &ports.botauthzHTTP, &ports.upstream, &ports.collector} {
			if *p, err = freePort(); err != nil {
				return nil, err
			}
		}
		inst := &instance{}
		upstream, err := startProc("upstream", b.serverBin, []string{cmdServeUpstream, "-addr", "127.0.0.1:" + strconv.Itoa(ports.upstream)}, nil)
		if err != nil {
			return nil, err
		}
		stops = append(stops, func() error { return upstream.stop(5 * time.Second) })
		switch backend {
		case backendBotauthz:
			bot, grpcAddr, adminAddr, httpAddr, err := b.startBotauthz("")
			if err != nil {
				return nil, err
			}
			stops = append(stops, func() error { return bot.stop(5 * time.Second) })
			ports.botauthzGRPC, _ = strconv.Atoi(grpcAddr[strings.LastIndexByte(grpcAddr, ':')+1:])
			ports.botauthzHTTP, _ = strconv.Atoi(httpAddr[strings.LastIndexByte(httpAddr, ':')+1:])
			if err := poll(30*time.Second, "botauthz ready", bot.exited, func() error {
				_, err := httpGet("http://" + adminAddr + "/readyz")
				return err
			}); err != nil {
				return nil, err
			}
			inst.procs = append(inst.procs, measured{name: "botauthz", role: roleServer, proc: bot})
		case backendNoop:
			addr := "127.0.0.1:" + strconv.Itoa(ports.botauthzGRPC)
			noop, err := startProc("noop", b.serverBin, []string{cmdServeNoop, "-addr", addr}, nil)
			if err != nil {
				return nil, err
			}
			stops = append(stops, func() error { return noop.stop(5 * time.Second) })
			// It answers no health check: Envoy finds every host of the
			// cluster unhealthy and, below its panic threshold, sends the
			// Checks to all of them anyway.
			if err := waitListening(addr, noop); err != nil {
				return nil, err
			}
			inst.procs = append(inst.procs, measured{name: "noop", role: roleServer, proc: noop})
		}
		certFile, keyFile, roots, err := devcert.Write(dir)
		if err != nil {
			return nil, err
		}
		conf, err := envoyConfig(b.cfg.envoyConfig, certFile, keyFile, ports, backend != backendNone)
		if err != nil {
			return nil, err
		}
		confPath := filepath.Join(dir, "envoy.yaml")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			return nil, fmt.Errorf("write envoy config: %w", err)
		}
		envoy, err := startProc("envoy", b.envoyBin, []string{"-c", confPath, "--use-dynamic-base-id", "-l", "warning",
			"--log-path", filepath.Join(dir, "envoy.log")}, nil)
		if err != nil {
			return nil, err
		}
		stops = append(stops, func() error { return envoy.stop(10 * time.Second) })
		admin := "http://127.0.0.1:" + strconv.Itoa(ports.admin)
		if err := poll(30*time.Second, "envoy ready", envoy.exited, func() error {
			_, err := httpGet(admin + "/ready")
			return err
		}); err != nil {
			return nil, err
		}
		if backend == backendBotauthz {
			if err := poll(30*time.Second, "envoy sees botauthz healthy", envoy.exited, func() error { return envoyHealthyBotauthz(admin) }); err != nil {
				return nil, err
			}
		}
		t := newHTTPTarget("https://127.0.0.1:"+strconv.Itoa(ports.listen), roots, b.cfg.httpConns)
		stops = append(stops, t.close)
		inst.target = t
		inst.procs = append([]measured{{name: "envoy", role: roleServer, proc: envoy}}, inst.procs...)
		inst.procs = append(inst.procs, measured{name: "upstream", role: roleUpstream, proc: upstream})
		inst.stop = stopAll
		if backend != backendNone {
			inst.failedOpen = func() (int64, error) { return extAuthzFailures(admin) }
		}
		if err := waitAnswer(ctx, t, b.pool, name, envoy); err != nil {
			return nil, err
		}
		return inst, nil
	}}
}

// machine describes where botbench runs.
func machine(ctx context.Context, envoyBin string, c *config) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Kernel: "unknown", CPUModel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	version := func(bin string, args ...string) string {
		vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(vctx, bin, args...).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if envoyBin != "" {
		// "/path/to/envoy  version: <commit>/1.40.0/Clean/RELEASE/BoringSSL"
		v := version(envoyBin, "--version")
		if _, after, ok := strings.Cut(v, "version: "); ok {
			v = "Envoy " + after
		}
		m.Envoy = v
	}
	for _, mode := range c.modes {
		if mode == modeRedis || mode == modeCluster {
			if bin, err := findRedisServer(c.redisServer); err == nil {
				m.Redis = version(bin, "--version")
			}
		}
	}
	return m
}
