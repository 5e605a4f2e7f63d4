package extauthz

import (
	"net/netip"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/botauthz/botauthz/clientip"
)

// Facts are what one CheckRequest says about the request. Strings point into
// the CheckRequest; nothing is copied.
type Facts struct {
	// HTTP is false for a CheckRequest without an http part (TCP traffic
	// through Istio's network ext_authz).
	HTTP bool
	// ClientIP is the client's address; invalid when no source gave a
	// parseable one.
	ClientIP netip.Addr
	// clientKey is the text the ip and route_ip counters count by, built at
	// most once per Check.
	clientKey string
	Method    string
	Scheme    string
	Host      string
	// Path is :path, query string included.
	Path string
	// Headers has lowercase keys as Envoy sends them; nil without HTTP.
	Headers map[string]string
	// Route names the route policy (context_extensions["route"]); may be empty.
	Route     string
	RequestID string
	// Session is the raw value of the session cookie; empty when absent.
	Session string
}

// readFacts fills f from req. It never fails: a missing or garbled field
// leaves the corresponding fact empty.
//
// The client is x-envoy-external-address when Envoy set it (its trusted-client
// decision under use_remote_address), else the xffHops-th entry from the right
// of x-forwarded-for when the operator said that many trusted proxies append
// to it, else the L4 peer. A client-sent x-forwarded-for is never trusted by
// default.
func readFacts(req *authv3.CheckRequest, sessionCookie string, xffHops int, f *Facts) {
	attrs := req.GetAttributes()
	f.Route = attrs.GetContextExtensions()["route"]
	h := attrs.GetRequest().GetHttp()
	f.HTTP = h != nil
	if f.HTTP {
		f.Headers = h.GetHeaders()
		f.Method = h.GetMethod()
		f.Scheme = h.GetScheme()
		f.Host = h.GetHost()
		f.Path = h.GetPath()
		if f.Path == "" {
			f.Path = f.Headers[":path"]
		}
		if f.Scheme == "" {
			f.Scheme = f.Headers[":scheme"]
		}
		f.RequestID = f.Headers["x-request-id"]
		f.Session = cookieValue(f.Headers["cookie"], sessionCookie)
	}

	f.ClientIP = clientip.From(f.Headers["x-envoy-external-address"], f.Headers["x-forwarded-for"], xffHops,
		attrs.GetSource().GetAddress().GetSocketAddress().GetAddress())
}

// cookieValue returns the value of the named cookie in a Cookie header (pairs
// separated by ";", as HTTP/2 crumbs are joined by Envoy), or "".
func cookieValue(header, name string) string {
	if name == "" {
		return ""
	}
	for header != "" {
		var pair string
		pair, header, _ = strings.Cut(header, ";")
		pair = strings.TrimSpace(pair)
		k, v, ok := strings.Cut(pair, "=")
		if ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
