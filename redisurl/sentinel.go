package redisurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// sentinelSchemeSuffix marks a URL scheme that names a master watched by
// Redis Sentinel.
const sentinelSchemeSuffix = "+sentinel"

func isSentinelScheme(scheme string) bool {
	s := strings.ToLower(scheme)
	return s == "redis"+sentinelSchemeSuffix || s == "rediss"+sentinelSchemeSuffix
}

// The ways a sentinel URL can be wrong, wrapped by ParseSentinel's errors.
var (
	// ErrSentinelAddress: an entry of the host list is not host:port.
	ErrSentinelAddress = errors.New("sentinel address is not host:port")
	// ErrSentinelMaster: the path does not name a master, /<master>[/<db>].
	ErrSentinelMaster = errors.New("path must name the master: /<master>[/<db>]")
	// ErrSentinelDB: the database is not a whole number from 0.
	ErrSentinelDB = errors.New("database is not a whole number from 0")
	// ErrSentinelOption: a query parameter that a sentinel URL does not
	// take, because the URL says it elsewhere or because it would send
	// commands to replicas, which cannot count.
	ErrSentinelOption = errors.New("option not allowed in a sentinel URL")
)

// sentinelOwnParams are the query parameters ParseSentinel reads itself.
const (
	paramSentinelUsername = "sentinel_username"
	paramSentinelPassword = "sentinel_password"
)

// refusedParams are go-redis failover options a sentinel URL must not set,
// with why.
var refusedParams = map[string]string{
	"master_name": "the master is the URL's path",
	"addr":        "list the sentinels in the host part, separated by commas",
	"db":          "the database is the path after the master",
	"username":    "the data nodes' user goes before the @",
	"password":    "the data nodes' password goes before the @",
	// Writes must go to the master: a counter incremented on a replica
	// fails (READONLY), and one read from a lagging replica is wrong.
	"replica_only":              "every command must go to the master",
	"route_by_latency":          "every command must go to the master",
	"route_randomly":            "every command must go to the master",
	"use_disconnected_replicas": "every command must go to the master",
}

// ParseSentinel returns go-redis failover options for a sentinel URL:
//
//	redis+sentinel://[[user]:password@]host:port[,host:port...]/master[/db][?options]
//	rediss+sentinel://...
//
// The hosts are the sentinels (one is enough to start; list them all so
// that any one of them may be down). The path names the master as the
// sentinels know it (sentinel monitor <master> ...) and, optionally, the
// database (default 0). The user and password before the @ are the data
// nodes' (the master's and the replicas', requirepass or an ACL user), as
// in a redis:// URL; the sentinels' own are the query parameters
// sentinel_username and sentinel_password. The other query parameters are
// go-redis's (redis.ParseFailoverURL), except those that would route
// commands to replicas or say again what the URL already says, which are
// refused (ErrSentinelOption).
//
// rediss+sentinel speaks TLS to the sentinels and to the data nodes alike
// (Redis's tls-port on both, one CA). Each server's certificate is checked
// against the name it was reached by: a sentinel's against its host in the
// URL, a data node's against the address the sentinels announce for it
// (their replica-announce-ip, or with "sentinel announce-hostnames yes" its
// host name), so each node's certificate must carry that name or IP.
// skip_verify=true turns checking off.
//
// Commands always go to the master: the options come back with
// RouteByLatency, RouteRandomly and ReplicaOnly off. Errors never contain
// the URL's passwords.
func ParseSentinel(rawURL string) (*redis.FailoverOptions, error) {
	opts, err := parseSentinel(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL %s: %w", Redact(rawURL), redactError(err, rawURL))
	}
	return opts, nil
}

func parseSentinel(rawURL string) (*redis.FailoverOptions, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || !isSentinelScheme(scheme) {
		return nil, fmt.Errorf("redis sentinel URL: scheme must be redis+sentinel or rediss+sentinel")
	}
	// Like url.Parse: the authority ends at the first '/', '?' or '#'.
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hostList := "", authority
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, hostList = authority[:at], authority[at+1:]
	}
	tail, _, _ = strings.Cut(tail, "#")
	path, query, _ := strings.Cut(tail, "?")

	hosts := strings.Split(hostList, ",")
	for _, h := range hosts {
		if err := checkHostPort(h); err != nil {
			return nil, err
		}
	}
	master, db, err := parseSentinelPath(path)
	if err != nil {
		return nil, err
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("redis sentinel URL: query: %w", err)
	}
	var sentinelUser, sentinelPassword string
	for key, values := range params {
		if why, refused := refusedParams[key]; refused {
			return nil, fmt.Errorf("redis sentinel URL: %s: %w: %s", key, ErrSentinelOption, why)
		}
		switch key {
		case paramSentinelUsername, paramSentinelPassword:
			if len(values) > 1 {
				return nil, fmt.Errorf("redis sentinel URL: %s: %w: given %d times", key, ErrSentinelOption, len(values))
			}
			if key == paramSentinelUsername {
				sentinelUser = values[0]
			} else {
				sentinelPassword = values[0]
			}
			delete(params, key)
		}
	}

	// The rest is go-redis's to read, in the form it reads: the first
	// sentinel as the host, the others as addr parameters.
	params.Set("master_name", master)
	for _, h := range hosts[1:] {
		params.Add("addr", h)
	}
	base := strings.TrimSuffix(strings.ToLower(scheme), sentinelSchemeSuffix)
	u := url.URL{Scheme: base, Host: hosts[0], Path: "/" + strconv.Itoa(db), RawQuery: params.Encode()}
	opts, err := redis.ParseFailoverURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("redis sentinel URL: %w", err)
	}
	// ParseFailoverURL reads the userinfo as the sentinels' credentials;
	// here it is the data nodes', as in every other form.
	opts.SentinelUsername, opts.SentinelPassword = sentinelUser, sentinelPassword
	opts.Username, opts.Password = "", ""
	if userinfo != "" {
		if opts.Username, opts.Password, err = parseUserinfo(userinfo); err != nil {
			return nil, err
		}
	}
	if opts.TLSConfig != nil {
		// ParseFailoverURL names the first sentinel as every server; an
		// empty name makes each connection check the name it dialed.
		opts.TLSConfig.ServerName = ""
	}
	opts.RouteByLatency, opts.RouteRandomly, opts.ReplicaOnly, opts.UseDisconnectedReplicas = false, false, false, false
	return opts, nil
}

// checkHostPort reports whether h is host:port with a port from 1 to 65535.
func checkHostPort(h string) error {
	host, port, err := net.SplitHostPort(h)
	if err != nil || host == "" {
		return fmt.Errorf("redis sentinel URL: %q: %w", h, ErrSentinelAddress)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || !isDigits(port) {
		return fmt.Errorf("redis sentinel URL: %q: port: %w", h, ErrSentinelAddress)
	}
	return nil
}

// parseSentinelPath reads "/<master>" or "/<master>/<db>".
func parseSentinelPath(path string) (master string, db int, err error) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return "", 0, fmt.Errorf("redis sentinel URL: no path: %w", ErrSentinelMaster)
	}
	segments := strings.Split(rest, "/")
	if len(segments) > 2 {
		return "", 0, fmt.Errorf("redis sentinel URL: path %q: %w", path, ErrSentinelMaster)
	}
	if master, err = url.PathUnescape(segments[0]); err != nil {
		return "", 0, fmt.Errorf("redis sentinel URL: master name: %w", err)
	}
	// Sentinel reads its configuration by words: a master name has no
	// spaces or control characters.
	if master == "" || strings.IndexFunc(master, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "", 0, fmt.Errorf("redis sentinel URL: master name %q: %w", master, ErrSentinelMaster)
	}
	if len(segments) == 2 {
		n, err := strconv.Atoi(segments[1])
		if err != nil || n < 0 || !isDigits(segments[1]) {
			return "", 0, fmt.Errorf("redis sentinel URL: database %q: %w", segments[1], ErrSentinelDB)
		}
		db = n
	}
	return master, db, nil
}

// parseUserinfo decodes "user:password" (either may be empty), as url.Parse
// does for a URL's userinfo.
func parseUserinfo(userinfo string) (user, password string, err error) {
	u, err := url.Parse("redis://" + userinfo + "@localhost")
	if err != nil {
		return "", "", fmt.Errorf("redis sentinel URL: user and password: %w", err)
	}
	if u.User == nil || u.Host != "localhost" {
		return "", "", errors.New("redis sentinel URL: user and password: not user:password")
	}
	password, _ = u.User.Password()
	return u.User.Username(), password, nil
}

func isDigits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}
