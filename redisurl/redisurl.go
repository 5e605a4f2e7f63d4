// Package redisurl builds go-redis clients from the Redis URLs botauthz
// accepts, so that the counters, the rollout state and challenge redemption
// all understand the same forms:
//
//	redis://[[user]:password@]host:port[/db][?options]   one node
//	rediss://...                                          the same over TLS
//	redis+cluster://[[user]:password@]host:port[,host:port...][?options]
//	rediss+cluster://...                                  Redis Cluster over TLS
//	redis+sentinel://[[user]:password@]host:port[,host:port...]/master[/db][?options]
//	rediss+sentinel://...                                 Sentinel, TLS to every node
//
// A cluster URL lists seed nodes (the client discovers the rest) and has no
// database. A sentinel URL lists sentinels and names the master they watch
// (see ParseSentinel). Each caller passes the timeouts its use needs: the
// request path and the control plane differ. Errors never contain the URL's
// passwords.
package redisurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
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
// cluster schemes, a *redis.Client otherwise (for the sentinel schemes, one
// that asks the sentinels for the master: redis.NewFailoverClient).
// Connections are made on use, so an unreachable server is not an error here.
func NewClient(rawURL string, o Options) (redis.UniversalClient, error) {
	scheme, _, _ := strings.Cut(rawURL, "://")
	if isSentinelScheme(scheme) {
		opts, err := ParseSentinel(rawURL)
		if err != nil {
			return nil, err
		}
		opts.PoolSize, opts.MinIdleConns = o.PoolSize, o.MinIdleConns
		opts.PoolTimeout, opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = o.PoolTimeout, o.DialTimeout, o.ReadTimeout, o.WriteTimeout
		opts.MaxRetries, opts.DialerRetries = o.MaxRetries, o.DialerRetries
		opts.ContextTimeoutEnabled = false
		return redis.NewFailoverClient(opts), nil
	}
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

// urlPasswords returns the passwords rawURL carries as written, found
// textually so that it works even for a URL url.Parse rejects: the password
// of its userinfo, read both up to the last '@' of the whole URL (as
// url.Parse reads a URL whose password holds a '/') and up to the last '@'
// before the first '/', '?' or '#' (as the cluster and sentinel parsers
// read it), and the values of its password and sentinel_password query
// parameters.
func urlPasswords(rawURL string) []string {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil
	}
	var out []string
	add := func(userinfo string) {
		if _, password, ok := strings.Cut(userinfo, ":"); ok && password != "" && !slices.Contains(out, password) {
			out = append(out, password)
		}
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		add(rest[:at])
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		add(authority[:at])
	}
	forEachSecretParam(rawURL, func(start, end int) {
		if v := rawURL[start:end]; v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	})
	return out
}

// forEachSecretParam calls fn with the bounds of the value of every
// password-carrying parameter (secretKey) in rawURL's query, as written
// (still escaped), from the first '?' to the end.
func forEachSecretParam(rawURL string, fn func(start, end int)) {
	q := strings.IndexByte(rawURL, '?')
	if q < 0 {
		return
	}
	// To the very end, fragment included: a '#' typed into a password-
	// carrying URL must not push a secret past the redaction.
	end := len(rawURL)
	for pos := q + 1; pos <= end; {
		n := strings.IndexByte(rawURL[pos:end], '&')
		if n < 0 {
			n = end - pos
		}
		param := rawURL[pos : pos+n]
		if start, ok := secretValue(param); ok {
			fn(pos+start, pos+n)
		}
		pos += n + 1
	}
}

// secretValue finds where the secret of one query parameter starts: right
// after the first "password" (in any case, escaped or not) and the '=' or
// "%3D" that follows it, to the parameter's end. Stray characters around
// the key ("?sentinel_password" after a doubled '?', "=?password=…" after a
// stray '=') do not hide a secret from it. Hiding too much costs a log line
// some detail; hiding too little leaks a password.
func secretValue(param string) (start int, ok bool) {
	// ASCII lower case, byte by byte, keeps every byte where it was (even
	// in invalid UTF-8), so indexes carry over.
	lb := []byte(param)
	for k, c := range lb {
		if 'A' <= c && c <= 'Z' {
			lb[k] = c + ('a' - 'A')
		}
	}
	lower := string(lb)
	i := strings.Index(lower, "password")
	if i < 0 {
		if u, err := url.QueryUnescape(param); err != nil || !strings.Contains(strings.ToLower(u), "password") {
			return 0, false
		}
		return 0, true // an escaped name: hide the whole parameter
	}
	start = i + len("password")
	switch {
	case strings.HasPrefix(param[start:], "="):
		start++
	case strings.HasPrefix(lower[start:], "%3d"):
		start += 3
	}
	return start, true
}

// Redact returns rawURL with its passwords replaced (the userinfo's, and
// the password and sentinel_password parameters'), for logs and errors.
func Redact(rawURL string) string {
	// Everything is done on the text as written: re-encoding it (url.URL's
	// String) could move a secret's bytes out of the places looked at.
	// Query values first.
	var b strings.Builder
	last := 0
	forEachSecretParam(rawURL, func(start, end int) {
		if start == end {
			return
		}
		b.WriteString(rawURL[last:start])
		b.WriteString(redacted)
		last = end
	})
	out := rawURL
	if last > 0 {
		b.WriteString(rawURL[last:])
		out = b.String()
	}
	// Then the userinfo's password: between the first ':' after the scheme
	// and the last '@' (a password may hold '@' unescaped; an '@' further on
	// only hides more).
	scheme, rest, ok := strings.Cut(out, "://")
	if !ok {
		return out
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return out
	}
	user, password, ok := strings.Cut(rest[:at], ":")
	if !ok || password == "" {
		return out
	}
	return scheme + "://" + user + ":" + redacted + rest[at:]
}

// redactError returns err, or if its text contains one of rawURL's
// passwords in any form an error would print it (as written, decoded, or
// Go-quoted), an error with the same text minus the passwords. The
// replacement does not unwrap, since the original would print the password
// again, but errors.Is still sees the errors the original wraps.
func redactError(err error, rawURL string) error {
	passwords := urlPasswords(rawURL)
	if len(passwords) == 0 {
		return err
	}
	var forms []string
	for _, password := range passwords {
		forms = append(forms, password)
		if decoded, derr := url.PathUnescape(password); derr == nil && decoded != password {
			forms = append(forms, decoded)
		}
		if decoded, derr := url.QueryUnescape(password); derr == nil && decoded != password {
			forms = append(forms, decoded)
		}
		if quoted := strconv.Quote(password); quoted[1:len(quoted)-1] != password {
			forms = append(forms, quoted[1:len(quoted)-1])
		}
	}
	// Longest first, so that a password containing another is replaced whole.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
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
	return &redactedError{msg: msg, orig: err}
}

// redactedError is an error whose text had a password taken out.
type redactedError struct {
	msg  string
	orig error
}

func (e *redactedError) Error() string { return e.msg }

// Is lets errors.Is match what the original error wraps, such as
// ErrSentinelOption, without handing the original out.
func (e *redactedError) Is(target error) bool { return errors.Is(e.orig, target) }
