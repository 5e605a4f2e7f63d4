package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/redisurl"
)

// DefaultKeyPrefix prefixes the Redis keys and channel of a RedisStore.
const DefaultKeyPrefix = "ba:v1:"

const (
	// maxTxTries bounds the optimistic transaction of Update. Each failed
	// try means another replica's update went through, so running out takes
	// dozens of simultaneous changes: SREs do not produce that.
	maxTxTries = 50
	// subscribeTimeout bounds waiting for Redis to confirm a SUBSCRIBE.
	subscribeTimeout = 5 * time.Second

	// The control plane is a handful of commands a minute, never on a
	// request's path: short timeouts let a replica notice a dead Redis
	// quickly, and a few connections are plenty.
	redisDialTimeout = time.Second
	redisIOTimeout   = time.Second
	redisPoolSize    = 4
)

// RedisStoreOptions configures a RedisStore.
type RedisStoreOptions struct {
	// AuditCap is how many audit entries are kept (DefaultAuditCap when
	// <= 0).
	AuditCap int
	// KeyPrefix prefixes the keys and the channel (DefaultKeyPrefix when
	// empty). Replicas sharing a state must use the same prefix.
	KeyPrefix string
	// Logger receives warnings about undecodable data; nil discards them.
	Logger *slog.Logger
}

// RedisStore is a Store in Redis, shared by every replica using the same
// Redis and key prefix.
//
// With the default prefix it uses the keys "ba:v1:{rollout}:state" (the
// State as JSON) and "ba:v1:{rollout}:audit" (a list of AuditEntry JSON,
// newest first) and the pub/sub channel "ba:v1:{rollout}:changes" (each new
// State as JSON). The hash tag puts both keys in one Redis Cluster slot, so
// a transaction may touch both.
//
// Pub/sub is at most once: go-redis reconnects a broken subscription by
// itself, but what was published while it was down is lost. Callers re-read
// the state periodically (the Controller does) to cover that.
type RedisStore struct {
	client    redis.UniversalClient
	ownClient bool
	auditCap  int
	stateKey  string
	auditKey  string
	channel   string
	log       *slog.Logger

	undecodable atomic.Uint64

	mu      sync.Mutex
	pubsubs map[*redis.PubSub]struct{}
	closed  bool
}

var _ Store = (*RedisStore)(nil)

// DialRedisStore returns a RedisStore on a client for url (any form
// redisurl.NewClient reads: "redis://[user:password@]host:port/db",
// "rediss://…", "unix://…", "redis+cluster://…", "redis+sentinel://…"),
// which the store owns and closes. It does not connect yet, so it fails only
// for a malformed URL; its errors never contain the password.
func DialRedisStore(rawURL string, opts RedisStoreOptions) (*RedisStore, error) {
	client, err := redisurl.NewClient(rawURL, redisurl.Options{
		DialTimeout:  redisDialTimeout,
		ReadTimeout:  redisIOTimeout,
		WriteTimeout: redisIOTimeout,
		PoolSize:     redisPoolSize,
		// A failed read is retried at the next refresh anyway; retrying hard
		// here only delays noticing that Redis is gone.
		MaxRetries:    1,
		DialerRetries: 2,
		MaxRedirects:  3,
	})
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	s := NewRedisStore(client, opts)
	s.ownClient = true
	return s, nil
}

// NewRedisStore returns a RedisStore on client, which the caller owns: Close
// ends the store's subscriptions but leaves the client open.
func NewRedisStore(client redis.UniversalClient, opts RedisStoreOptions) *RedisStore {
	if opts.AuditCap <= 0 {
		opts.AuditCap = DefaultAuditCap
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultKeyPrefix
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	base := opts.KeyPrefix + "{rollout}:"
	return &RedisStore{
		client:   client,
		auditCap: opts.AuditCap,
		stateKey: base + "state",
		auditKey: base + "audit",
		channel:  base + "changes",
		log:      opts.Logger,
		pubsubs:  map[*redis.PubSub]struct{}{},
	}
}

// Load returns the stored state, or the zero State when there is none.
func (s *RedisStore) Load(ctx context.Context) (State, error) {
	st, err := s.load(ctx, s.client)
	if err != nil {
		return State{}, fmt.Errorf("rollout: load state: %w", err)
	}
	return st, nil
}

func (s *RedisStore) load(ctx context.Context, c redis.Cmdable) (State, error) {
	b, err := c.Get(ctx, s.stateKey).Bytes()
	if errors.Is(err, redis.Nil) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("decode %s: %w", s.stateKey, err)
	}
	return st, nil
}

// Update applies c in an optimistic transaction: WATCH the state, read it,
// apply c, then store the state, push the audit entry and publish the state
// in one MULTI/EXEC. When another replica changed the state in between,
// EXEC fails and it starts over from the newer state, so no update is lost.
func (s *RedisStore) Update(ctx context.Context, c Change, now time.Time) (AuditEntry, error) {
	// Refuse an invalid change before any round trip.
	if err := c.Validate(); err != nil {
		return AuditEntry{}, fmt.Errorf("rollout: update: %w", err)
	}
	var entry AuditEntry
	txf := func(tx *redis.Tx) error {
		cur, err := s.load(ctx, tx)
		if err != nil {
			return err
		}
		next, err := c.Apply(cur, now)
		if err != nil {
			return err
		}
		entry = newAuditEntry(c, cur, next, now)
		stateJSON, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("encode state: %w", err)
		}
		auditJSON, err := json.Marshal(entry)
		if err != nil {
			return fmt.Errorf("encode audit entry: %w", err)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, s.stateKey, stateJSON, 0)
			p.LPush(ctx, s.auditKey, auditJSON)
			p.LTrim(ctx, s.auditKey, 0, int64(s.auditCap-1))
			p.Publish(ctx, s.channel, stateJSON)
			return nil
		})
		return err
	}
	for try := range maxTxTries {
		err := s.client.Watch(ctx, txf, s.stateKey)
		if err == nil {
			return entry, nil
		}
		if !errors.Is(err, redis.TxFailedErr) {
			return AuditEntry{}, fmt.Errorf("rollout: update: %w", err)
		}
		// A short random pause spreads out replicas that collided, so they
		// do not collide again at once.
		pause := time.Duration(rand.Int64N(int64(time.Millisecond) << min(try, 5)))
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return AuditEntry{}, fmt.Errorf("rollout: update: %w", ctx.Err())
		case <-t.C:
		}
	}
	return AuditEntry{}, fmt.Errorf("rollout: update: state changed concurrently %d times in a row: %w", maxTxTries, redis.TxFailedErr)
}

// restoreScript stores a state only where there is none and publishes it
// when it did, in one atomic step: a check and a separate write could
// overwrite a change another replica made in between.
var restoreScript = redis.NewScript(`
-- KEYS[1]: the state key. ARGV[1]: the state as JSON; ARGV[2]: the channel.
-- Reply: 1 when the state was stored, 0 when the key already held one.
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('PUBLISH', ARGV[2], ARGV[1])
  return 1
end
return 0
`)

// Restore stores s and publishes it, unless the state key exists, and
// reports whether it did. The audit list is left alone: nothing changed
// from what the replicas already hold.
func (s *RedisStore) Restore(ctx context.Context, st State) (bool, error) {
	if err := checkRestore(st); err != nil {
		return false, fmt.Errorf("rollout: restore: %w", err)
	}
	stateJSON, err := json.Marshal(st)
	if err != nil {
		return false, fmt.Errorf("rollout: restore: encode state: %w", err)
	}
	// Run falls back from EVALSHA to EVAL, which matters here: the script
	// cache is gone after the very restart that makes a restore necessary.
	n, err := restoreScript.Run(ctx, s.client, []string{s.stateKey}, stateJSON, s.channel).Int64()
	if err != nil {
		return false, fmt.Errorf("rollout: restore: %w", err)
	}
	return n == 1, nil
}

// Audit returns up to limit entries, newest first; limit <= 0 returns all
// that are kept. An entry that cannot be decoded is skipped and logged.
func (s *RedisStore) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	stop := int64(-1)
	if limit > 0 {
		stop = int64(limit - 1)
	}
	raw, err := s.client.LRange(ctx, s.auditKey, 0, stop).Result()
	if err != nil {
		return nil, fmt.Errorf("rollout: read audit: %w", err)
	}
	out := make([]AuditEntry, 0, len(raw))
	for i, r := range raw {
		var e AuditEntry
		if err := json.Unmarshal([]byte(r), &e); err != nil {
			// One bad entry must not hide the rest of the trail.
			s.undecodable.Add(1)
			s.log.Warn("rollout: skipping undecodable audit entry", "key", s.auditKey, "index", i, "err", err)
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// Subscribe listens on the changes channel with a dedicated connection and
// calls fn with every state published, in the order Redis delivers them.
// ready is closed once Redis confirmed the subscription. A message that
// cannot be decoded is skipped, logged and counted (Undecodable).
//
// go-redis re-establishes a broken subscription by itself, so Subscribe
// keeps running through a Redis restart; messages published meanwhile are
// lost, which the Controller's periodic refresh makes up for. Subscribe
// returns an error when the first subscription fails or the store is closed,
// and nil when ctx is done.
func (s *RedisStore) Subscribe(ctx context.Context, ready chan<- struct{}, fn func(State)) error {
	ps := s.client.Subscribe(ctx, s.channel)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ps.Close()
		return ErrStoreClosed
	}
	s.pubsubs[ps] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pubsubs, ps)
		s.mu.Unlock()
		_ = ps.Close()
	}()
	// Closing the PubSub is the only way to interrupt a blocked read, so a
	// cancelled ctx ends the subscription at once.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()

	// Wait for the confirmation before using Channel: Receive is not
	// allowed once Channel has been created.
	msg, err := ps.ReceiveTimeout(ctx, subscribeTimeout)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rollout: subscribe %s: %w", s.channel, err)
	}
	if _, ok := msg.(*redis.Subscription); !ok {
		return fmt.Errorf("rollout: subscribe %s: unexpected reply %T", s.channel, msg)
	}
	close(ready)

	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("rollout: subscribe %s: %w", s.channel, ErrStoreClosed)
			}
			var st State
			if err := json.Unmarshal([]byte(m.Payload), &st); err != nil {
				s.undecodable.Add(1)
				s.log.Warn("rollout: skipping undecodable state message", "channel", s.channel, "err", err)
				continue
			}
			fn(st)
		}
	}
}

// Undecodable returns how many audit entries and published states could not
// be decoded and were skipped.
func (s *RedisStore) Undecodable() uint64 { return s.undecodable.Load() }

// Close ends the store's subscriptions and, when DialRedisStore made the
// client, closes it.
func (s *RedisStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ps := range s.pubsubs {
		_ = ps.Close()
	}
	s.mu.Unlock()
	if s.ownClient {
		if err := s.client.Close(); err != nil {
			return fmt.Errorf("rollout: close redis client: %w", err)
		}
	}
	return nil
}
