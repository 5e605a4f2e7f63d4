// Package backend opens, from one URL, where botauthz keeps the state its
// replicas share: the velocity counters (ratelimit), the live rollout state
// (rollout) and challenge redemption (challenge). Each kind of backend is
// one row of a static table, by URL scheme: memory:// keeps everything in
// this process; redis://, rediss://, redis+cluster:// and redis+sentinel://
// keep it in Redis. Adding a kind is one row and its open function; every
// caller (the counters, the rollout state, redemption, -help, the errors)
// reads the table.
//
// It must not decide anything about requests, nor own any store's
// semantics: those stay in the packages that define the stores, and their
// conformance suites hold every kind to the same contract.
package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/botauthz/botauthz/challenge"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/redisurl"
	"github.com/botauthz/botauthz/rollout"
)

// Memory is the URL of the in-process backend, the default.
const Memory = "memory://"

// Defaults for Options.
const (
	// DefaultMemoryMaxKeys bounds the in-memory counter store.
	DefaultMemoryMaxKeys = 1 << 20
	// DefaultBudget is the longest a Check waits for a remote counter store.
	DefaultBudget = 20 * time.Millisecond
	// memoryRedemptions bounds the in-memory redemption store: a challenge
	// lives minutes, and 128 Ki redemptions cover far more than one replica
	// answers in that time.
	memoryRedemptions = 1 << 17
)

// Options configure Open.
type Options struct {
	// MemoryMaxKeys bounds the in-memory counter store (memory://);
	// DefaultMemoryMaxKeys when zero.
	MemoryMaxKeys int
	// Budget is the longest a Check waits for a remote counter store
	// before deciding without velocity; DefaultBudget when zero.
	Budget time.Duration
	// Logger receives what the stores report; nil discards.
	Logger *slog.Logger
}

// Backend is what one URL opened: the three stores, ready to use.
type Backend struct {
	// URL is the URL opened, with any password replaced by "xxxxx".
	URL string
	// Kind names the row of the table it came from: "memory" or "redis".
	Kind string
	// Shared says replicas opening the same URL share the state; false for
	// memory://, where each replica has its own counters, rollout state and
	// redemptions.
	Shared bool
	// Counters is the velocity counter store. A remote one is wrapped in a
	// ratelimit.Guard (Guard), so a slow or failing store degrades Checks
	// instead of delaying them.
	Counters ratelimit.Store
	// Guard is the budget and circuit breaker around a remote Counters;
	// nil for memory://. Redis is the store it guards; nil for memory://.
	// Memory is the in-process Counters of memory://; nil otherwise. Each
	// reports its own state for metrics.
	Guard  *ratelimit.Guard
	Redis  *ratelimit.Redis
	Memory *ratelimit.Memory
	// Rollout is the live rollout state store.
	Rollout rollout.Store
	// Redeemer records challenge redemptions, so a solved challenge is used
	// once.
	Redeemer challenge.Redeemer

	closers []func() error
}

// Close releases every store and connection of b.
func (b *Backend) Close() error {
	var errs []error
	for _, c := range slices.Backward(b.closers) {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// kind is one row of the table: a kind of backend and its URL schemes.
type kind struct {
	name    string
	schemes []string
	shared  bool
	// doc describes the URL form, for help and errors.
	doc  string
	open func(ctx context.Context, rawURL string, opts Options, b *Backend) error
}

// kinds is the table of backends. It is a function returning a fresh
// slice, so nothing can change it.
func kinds() []kind {
	return []kind{
		{
			name: "memory", schemes: []string{"memory"}, shared: false,
			doc:  "memory:// (this process only; replicas do not share state)",
			open: openMemory,
		},
		{
			name: "redis", schemes: []string{"redis", "rediss", "redis+cluster", "redis+sentinel"}, shared: true,
			doc: "redis://[user:password@]host:port/db, rediss://… (TLS), redis+cluster://host:port,host:port,… " +
				"or redis+sentinel://host:port,host:port,…/<master>[/db]",
			open: openRedis,
		},
	}
}

// Schemes lists every URL scheme Open accepts, in table order.
func Schemes() []string {
	var out []string
	for _, k := range kinds() {
		out = append(out, k.schemes...)
	}
	return out
}

// Forms describes each kind's URL form, one line each, for help text.
func Forms() []string {
	var out []string
	for _, k := range kinds() {
		out = append(out, k.doc)
	}
	return out
}

// Open opens the backend rawURL names; "" means memory://. Nothing it
// opens needs the network to answer yet: a Redis that is down at start
// degrades Checks until it answers (the counters' Guard), and the other
// stores retry by themselves. ctx bounds only the start-up work that is
// worth waiting a moment for (loading the counters' script).
func Open(ctx context.Context, rawURL string, opts Options) (*Backend, error) {
	if rawURL == "" {
		rawURL = Memory
	}
	if opts.MemoryMaxKeys == 0 {
		opts.MemoryMaxKeys = DefaultMemoryMaxKeys
	}
	if opts.Budget == 0 {
		opts.Budget = DefaultBudget
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("backend %q: not a URL; want one of %s", redisurl.Redact(rawURL), strings.Join(Schemes(), "://, ")+"://")
	}
	scheme = strings.ToLower(scheme)
	for _, k := range kinds() {
		if !slices.Contains(k.schemes, scheme) {
			continue
		}
		b := &Backend{URL: redisurl.Redact(rawURL), Kind: k.name, Shared: k.shared}
		if err := k.open(ctx, rawURL, opts, b); err != nil {
			return nil, errors.Join(fmt.Errorf("backend %s: %w", b.URL, err), b.Close())
		}
		return b, nil
	}
	return nil, fmt.Errorf("backend %q: unknown scheme %q; want one of %s", redisurl.Redact(rawURL), scheme, strings.Join(Schemes(), "://, ")+"://")
}

func openMemory(_ context.Context, rawURL string, opts Options, b *Backend) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return errors.New("memory:// takes no host, path or options (the size is -memory-max-keys)")
	}
	mem := ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: opts.MemoryMaxKeys})
	live := rollout.NewMemoryStore(0)
	b.Counters, b.Memory, b.Rollout, b.Redeemer = mem, mem, live, challenge.NewMemoryRedeemer(memoryRedemptions)
	b.closers = append(b.closers, mem.Close, live.Close)
	return nil
}

func openRedis(ctx context.Context, rawURL string, opts Options, b *Backend) error {
	r, err := ratelimit.DialRedis(rawURL)
	if err != nil {
		return err
	}
	b.Redis = r
	b.Guard = ratelimit.NewGuard(r, ratelimit.GuardOptions{Budget: opts.Budget, Logger: opts.Logger})
	b.Counters = b.Guard
	b.closers = append(b.closers, b.Guard.Close)
	loadCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if err := r.LoadScript(loadCtx); err != nil {
		// Not fatal: Checks degrade until Redis answers, then recover.
		opts.Logger.Warn("redis not answering at start; deciding without velocity until it does", "err", err)
	}
	cancel()

	live, err := rollout.DialRedisStore(rawURL, rollout.RedisStoreOptions{Logger: opts.Logger})
	if err != nil {
		return err
	}
	b.Rollout = live
	b.closers = append(b.closers, live.Close)

	client, err := redisurl.NewClient(rawURL, redisurl.Options{
		PoolSize: 4, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		// A dead Redis must fail a redemption fast (the challenge handler
		// falls back to this replica's memory), not after go-redis's dial
		// retries.
		DialerRetries: 1, MaxRetries: -1, MaxRedirects: 3,
	})
	if err != nil {
		return err
	}
	b.Redeemer = challenge.NewRedisRedeemer(client)
	b.closers = append(b.closers, client.Close)
	return nil
}
