// Package redisurl builds go-redis clients from the Redis URLs botauthz
// accepts, so that the counters, the rollout state and challenge redemption
// all understand the same forms:
//
//	redis://[[user]:password@]host:port[/db][?options]   one node
//	rediss://...                                          the same over TLS
//	redis+cluster://[[user]:password@]host:port[,host:port...][?options]
//	rediss+cluster://...                                  Redis Cluster over TLS
//
// A cluster URL lists seed nodes (the client discovers the rest) and has no
// database. Each caller passes the timeouts its use needs: the request path
// and the control plane differ. Errors never contain the URL's password.
package redisurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options are the client settings a caller imposes. They win over the same
// settings given in the URL's query, since each caller's limits are part of
// its contract (a request-path client must never wait seconds).
type Options struct {
	PoolSize, MinIdleConns                              int
	PoolTimeout, DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// MaxRetries is go-redis's: -1 disables retries (a retried script may
	// already have run).
	MaxRetries int
	// DialerRetries bounds dial attempts per connection.
	DialerRetries int
	// MaxRedirects bounds MOVED/ASK redirects on a cluster.
	MaxRedirects int
}

// NewClient returns a client for rawURL: a *redis.ClusterClient for the
// cluster schemes, a *redis.Client otherwise. Connections are made on use,
// so an unreachable server is not an error here.
func NewClient(rawURL string, o Options) (redis.UniversalClient, error) {
	if scheme, rest, ok := strings.Cut(rawURL, "://"); ok && isClusterScheme(scheme) {
		opts, err := parseClusterURL(scheme, rest)
		if err != nil {
			return nil, fmt.Errorf("redis URL %s: %w", Redact(rawURL), redactError(err, rawURL))
		}
		opts.PoolSize, opts.MinIdleConns = o.PoolSize, o.MinIdleConns
		opts.PoolTimeout, opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = o.PoolTimeout, o.DialTimeout, o.ReadTimeout, o.WriteTimeout
		opts.MaxRetries, opts.DialerRetries, opts.MaxRedirects = o.MaxRetries, o.DialerRetries, o.MaxRedirects
		// Socket deadlines from request contexts make go-redis close
		// connections mid-command; callers bound their waits themselves.
		opts.ContextTimeoutEnabled = false
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL %s: %w", Redact(rawURL), redactError(err, rawURL))
	}
	opts.PoolSize, opts.MinIdleConns = o.PoolSize, o.MinIdleConns
	opts.PoolTimeout, opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = o.PoolTimeout, o.DialTimeout, o.ReadTimeout, o.WriteTimeout
	opts.MaxRetries, opts.DialerRetries = o.MaxRetries, o.DialerRetries
	opts.ContextTimeoutEnabled = false
	return redis.NewClient(opts), nil
}

// clusterSchemeSuffix marks a URL scheme that names a Redis Cluster.
const clusterSchemeSuffix = "+cluster"

func isClusterScheme(scheme string) bool {
	s := strings.ToLower(scheme)
	return s == "redis"+clusterSchemeSuffix || s == "rediss"+clusterSchemeSuffix
}

// parseClusterURL parses the part after "scheme://" of a redis+cluster or
// rediss+cluster URL. It rewrites host1,host2,... into the form
// redis.ParseClusterURL reads (the first host as the URL's host, the others
// as addr query parameters) so that user, password, TLS and query options
// mean exactly what they mean to go-redis.
func parseClusterURL(scheme, rest string) (*redis.ClusterOptions, error) {
	// Like url.Parse: the authority ends at the first '/', '?' or '#'.
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hostList := "", authority
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, hostList = authority[:at+1], authority[at+1:]
	}
	path, query, _ := strings.Cut(tail, "?")
	query, _, _ = strings.Cut(query, "#")
	path, _, _ = strings.Cut(path, "#")
	if path != "" && path != "/" && path != "/0" {
		return nil, fmt.Errorf("redis cluster URL: path %q: a cluster has only database 0", path)
	}
	hosts := strings.Split(hostList, ",")
	for _, h := range hosts {
		if host, port, err := net.SplitHostPort(h); err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("redis cluster URL: address %q is not host:port", h)
		}
	}
	params := make([]string, 0, 1+len(hosts))
	if query != "" {
		params = append(params, query)
	}
	for _, h := range hosts[1:] {
		params = append(params, "addr="+url.QueryEscape(h))
	}
	base := strings.TrimSuffix(strings.ToLower(scheme), clusterSchemeSuffix)
	opts, err := redis.ParseClusterURL(base + "://" + userinfo + hosts[0] + "?" + strings.Join(params, "&"))
	if err != nil {
		return nil, fmt.Errorf("redis cluster URL: %w", err)
	}
	return opts, nil
}

const redacted = "xxxxx"

// urlPassword returns the password part of rawURL's userinfo as written,
// found textually so that it works even for a URL url.Parse rejects.
func urlPassword(rawURL string) string {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return ""
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	_, password, _ := strings.Cut(rest[:at], ":")
	return password
}

// Redact returns rawURL with its password replaced, for error messages.
func Redact(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	if p := urlPassword(rawURL); p != "" {
		return strings.Replace(rawURL, ":"+p+"@", ":"+redacted+"@", 1)
	}
	return rawURL
}

// redactError returns err, or if its text contains rawURL's password in any
// form an error would print it (as written, decoded, or Go-quoted), an error
// with the same text minus the password. The replacement does not unwrap: the
// original would print the password again.
func redactError(err error, rawURL string) error {
	password := urlPassword(rawURL)
	if password == "" {
		return err
	}
	forms := []string{password}
	if decoded, derr := url.PathUnescape(password); derr == nil && decoded != password {
		forms = append(forms, decoded)
	}
	if quoted := strconv.Quote(password); quoted[1:len(quoted)-1] != password {
		forms = append(forms, quoted[1:len(quoted)-1])
	}
	msg := err.Error()
	leaked := false
	for _, f := range forms {
		if strings.Contains(msg, f) {
			msg = strings.ReplaceAll(msg, f, redacted)
			leaked = true
		}
	}
	if !leaked {
		return err
	}
	return errors.New(msg)
}
