package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// envPrefix is the prefix of every flag's environment variable: -redis is
// BOTAUTHZ_REDIS.
const envPrefix = "BOTAUTHZ"

// newFlagSet defines botauthz's flags on c. It is the one description of
// them: -h (usage) and the README's flag table (flagTable, kept equal by
// TestREADMEFlagTable) are both generated from it. A usage string is
// Markdown for the README; -h shows it with the backquotes removed (the
// flag package would otherwise read a backquoted word as the value's name).
func newFlagSet(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("botauthz", flag.ContinueOnError)
	fs.StringVar(&c.grpcAddr, "grpc-addr", ":9001", "ext_authz `Check`, `grpc.health.v1` and reflection")
	fs.IntVar(&c.maxCheckBytes, "max-check-bytes", defaultMaxCheckBytes, "largest CheckRequest (bytes, 1 MiB or more) the gRPC server accepts; a larger one is refused before any decision and Envoy's failure mode decides it")
	fs.StringVar(&c.httpAddr, "http-addr", ":8080", "public challenge pages (`/.botauthz/challenge`)")
	fs.StringVar(&c.adminAddr, "admin-addr", ":9090", "internal: `/healthz`, `/readyz`, `/metrics` (Prometheus), the admin API (`/v1/…`) and, with `-pprof`, `/debug/pprof/`")
	fs.StringVar(&c.policyFile, "config", "", "policy file (YAML), see \"The policy file\"")
	fs.StringVar(&c.checkConfig, "check-config", "", "run everything start-up runs with this file as `-config` (the other flags and environment included), short of binding ports; print its routes, or exit 1 with why it would not start (every problem of the policy file at once, each with its line and key path)")
	fs.StringVar(&c.storeURL, "store", "", "where the velocity counters, the live rollout state and challenge redemption are kept, by URL: `memory://` (this process only), or Redis: `redis://[user:password@]host:port/db`, `rediss://…` (TLS), `redis+cluster://[user:password@]host:port,host:port,…` for Redis Cluster, `redis+sentinel://[user:password@]host:port,host:port,…/<master>[/db]` for Sentinel; see \"Redis deployments\"")
	fs.StringVar(&c.redisURL, "redis", "", "the same as `-store` (its first name, kept so existing deployments work)")
	fs.DurationVar(&c.redisBudget, "redis-budget", 20*time.Millisecond, "longest a Check waits for Redis before deciding without velocity")
	fs.IntVar(&c.memoryMaxKeys, "memory-max-keys", 1<<20, "counters the in-memory store holds at most")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "`debug`, `info`, `warn` or `error`")
	fs.StringVar(&c.logFormat, "log-format", "json", "`json` or `text` (logs go to stderr)")
	fs.StringVar(&c.adminTokens, "admin-tokens", "", "admin API bearer tokens, `name:rw:secret,name2:ro:secret2` (`rw` may write, `ro` only read); prefer the environment to the command line")
	fs.StringVar(&c.adminTokensFile, "admin-tokens-file", "", "YAML file: `tokens: [{name: alice, role: rw, secret: \"…\"}]` (secrets of 16 characters or more)")
	fs.StringVar(&c.clearanceKeys, "clearance-keys", "", "keys that sign clearance cookies, `id:base64secret,…`, newest first; prefer the environment to the command line")
	fs.StringVar(&c.clearanceKeysFile, "clearance-keys-file", "", "YAML file of clearance keys, newest first")
	fs.StringVar(&c.decisionLog, "decision-log", "stdout", "where decision log lines (JSON) go: `stdout`, `stderr` or `off`")
	fs.Float64Var(&c.allowSample, "decision-log-allow-sample", 0.01, "share of allowed requests logged (0–1); every other decision is logged")
	fs.BoolVar(&c.fullClientIP, "log-full-client-ip", false, "log full client IPs instead of IPv4 /24 and IPv6 /48")
	fs.DurationVar(&c.drainDelay, "drain-delay", defaultDrainDelay, "on SIGTERM, keep serving this long while health says `NOT_SERVING` and `/readyz` 503, so Envoy and Kubernetes move traffic away first; a second signal (Ctrl-C again) stops at once")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 15*time.Second, "on SIGTERM, how long in-flight Checks may take to finish")
	fs.DurationVar(&c.httpReadTimeout, "http-read-timeout", 10*time.Second, "challenge and admin ports: longest a client may take to send a request, body included (headers: 5 s at most)")
	fs.DurationVar(&c.httpWriteTimeout, "http-write-timeout", 10*time.Second, "challenge and admin ports: longest a client may take to read an answer (profiles under `/debug/pprof/` get their own)")
	fs.DurationVar(&c.httpIdleTimeout, "http-idle-timeout", 60*time.Second, "challenge and admin ports: how long an idle keep-alive connection stays open")
	fs.BoolVar(&c.pprof, "pprof", false, "serve Go's profiles under `/debug/pprof/` on the admin port (with admin tokens configured, only to a request bearing one); see \"Profiling\"")
	fs.IntVar(&c.gcHeadroomMiB, "gc-headroom-mib", defaultGCHeadroomMiB, "keep Go's garbage collector from collecting before the heap has grown this many MiB past what the last collection found live; 0 leaves Go's own pacing (collect at twice the live heap), as does setting `GOGC`; see \"Profiling\"")
	fs.BoolVar(&c.version, "version", false, "print the version, the commit and the Go version, and exit")
	return fs
}

// shownDefault is a flag's default as the README and -h show it: what an
// empty default means, where the zero value would read as nothing at all.
func shownDefault(f *flag.Flag) string {
	switch f.Name {
	case "config":
		return "(embedded defaults)"
	case "store":
		return "memory://"
	case "clearance-keys":
		return "(one per process)"
	case "log-level":
		return strings.ToLower(f.DefValue) // slog prints INFO; the flag takes either
	}
	return f.DefValue
}

// envName is the environment variable that sets flag name.
func envName(name string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// plain is a usage string as -h shows it: Markdown's backquotes removed.
func plain(usage string) string { return strings.ReplaceAll(usage, "`", "") }

// printUsage writes -h: what botauthz serves, then every flag with its
// environment variable and default.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `botauthz: the Envoy external-authorization service that tells people from automation.

Usage:
  botauthz [flags]                   serve
  botauthz -check-config FILE        check that botauthz would start with FILE as its policy
  botauthz -version                  print the version and exit

It serves ext_authz Check, gRPC health and reflection on -grpc-addr; the
challenge pages on -http-addr; and on the internal -admin-addr /healthz,
/readyz, /metrics (Prometheus text), the admin API under /v1/ (botctl) and,
with -pprof, /debug/pprof/.

Every flag can also be set by the environment variable shown; a flag on the
command line wins over the environment, which wins over the default.

Flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(w, "  -%s  (%s", f.Name, envName(f.Name))
		if d := shownDefault(f); d != "" {
			fmt.Fprintf(w, ", default %s", d)
		}
		fmt.Fprintf(w, ")\n    \t%s\n", plain(f.Usage))
	})
}

// flagTable is the README's flag table, in the order flags are defined.
func flagTable(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	fs.VisitAll(func(f *flag.Flag) {
		d := shownDefault(f)
		if d != "" && !strings.HasPrefix(d, "(") {
			d = "`" + d + "`"
		}
		fmt.Fprintf(&b, "| `-%s` | `%s` | %s | %s |\n", f.Name, envName(f.Name), d, f.Usage)
	})
	return b.String()
}
