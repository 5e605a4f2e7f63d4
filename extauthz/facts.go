package extauthz

import (
	"bytes"
	"net/netip"
	"strings"
	"unicode/utf8"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/botauthz/botauthz/clientip"
)

// Facts are what one CheckRequest says about the request. Strings point into
// the CheckRequest; nothing is copied unless a header repeats or holds bytes
// that are not UTF-8.
type Facts struct {
	// HTTP is false for a CheckRequest without an http part (TCP traffic
	// through Istio's network ext_authz).
	HTTP bool
	// ClientIP is the client's address; invalid when no source gave a
	// parseable one.
	ClientIP netip.Addr
	// clientKey, subnetKey and sessionKey are the identities the counters
	// count by (ratelimit.ClientID, SubnetID, SessionID), each built at
	// most once per Check; clientIdentity and subnetIdentity are the
	// first two's identity keys (ratelimit.IdentityKey), built with them
	// (networkIDs).
	clientKey, subnetKey, sessionKey string
	clientIdentity, subnetIdentity   string
	networkDone                      bool
	Method                           string
	Scheme                           string
	// Protocol is the HTTP version the client spoke to Envoy
	// (attributes.request.http.protocol: "HTTP/1.0", "HTTP/1.1", "HTTP/2",
	// "HTTP/3"); empty when Envoy did not say.
	Protocol string
	Host     string
	// Path is :path, query string included.
	Path string
	// Headers has lowercase keys, whichever of its two encodings Envoy used:
	// the headers map (the default) or header_map (encode_raw_headers:
	// true). Either way a repeated header is one entry joined with ","
	// (cookie crumbs with "; ", RFC 9113 §8.2.3) and every byte that is not
	// UTF-8 reads as "!", as Envoy writes it in the map. nil without HTTP.
	Headers map[string]string
	// HeaderOrder lists the header names in the order the client sent them,
	// pseudo-headers and repeats included, when Envoy sent header_map; nil
	// when it sent the headers map, which has no order.
	HeaderOrder []string
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
//
// buf is the space header_map is decoded into; it is reused across Checks.
func readFacts(req *authv3.CheckRequest, sessionCookie string, xffHops int, f *Facts, buf *headerBuf) {
	attrs := req.GetAttributes()
	f.Route = attrs.GetContextExtensions()["route"]
	h := attrs.GetRequest().GetHttp()
	f.HTTP = h != nil
	if f.HTTP {
		f.Headers = h.GetHeaders()
		if hm := h.GetHeaderMap().GetHeaders(); len(hm) > 0 {
			// encode_raw_headers: true. Envoy leaves the map empty then; were
			// both filled, header_map is the lossless one.
			for _, hv := range hm {
				buf.add(hv.GetKey(), headerText(hv))
			}
			f.Headers, f.HeaderOrder = buf.m, buf.order
		}
		f.Method = h.GetMethod()
		f.Scheme = h.GetScheme()
		f.Protocol = h.GetProtocol()
		f.Host = h.GetHost()
		f.Path = h.GetPath()
	}
	finishFacts(f, sessionCookie, xffHops, attrs.GetSource().GetAddress().GetSocketAddress().GetAddress())
}

// readWireFacts fills f from a CheckRequest read from the wire, exactly as
// readFacts does from the decoded one.
func readWireFacts(w *wireFacts, sessionCookie string, xffHops int, f *Facts, buf *headerBuf) {
	f.Route = w.route
	f.HTTP = w.http
	if f.HTTP {
		switch {
		case len(w.headerMap) > 0:
			for _, h := range w.headerMap {
				buf.add(h.key, h.value)
			}
			f.Headers, f.HeaderOrder = buf.m, buf.order
		case len(w.headers) > 0:
			f.Headers = buf.mapOf(w.headers)
		}
		f.Method = w.method
		f.Scheme = w.scheme
		f.Protocol = w.protocol
		f.Host = w.host
		f.Path = w.path
	}
	finishFacts(f, sessionCookie, xffHops, w.source)
}

// finishFacts derives the facts that both encodings give the same way.
func finishFacts(f *Facts, sessionCookie string, xffHops int, source string) {
	if f.HTTP {
		if f.Path == "" {
			f.Path = f.Headers[":path"]
		}
		if f.Scheme == "" {
			f.Scheme = f.Headers[":scheme"]
		}
		f.RequestID = f.Headers["x-request-id"]
		f.Session = cookieValue(f.Headers["cookie"], sessionCookie)
	}
	f.ClientIP = clientip.From(f.Headers["x-envoy-external-address"], f.Headers["x-forwarded-for"], xffHops, source)
}

// maxPooledHeaders bounds the header map a pooled Check keeps for the next
// one, so one request with thousands of headers does not pin their memory.
const maxPooledHeaders = 128

// headerBuf is where header_map is decoded: kept by the Check's pool, so a
// Check that gets header_map allocates nothing for it in the common case.
type headerBuf struct {
	m     map[string]string
	order []string
}

// reset readies b for the next Check.
func (b *headerBuf) reset() {
	if len(b.m) > maxPooledHeaders {
		b.m = nil
		b.order = nil
		return
	}
	clear(b.m)
	clear(b.order) // drop references into the last CheckRequest
	b.order = b.order[:0]
}

// add adds one header_map entry to the same map the headers field would
// have held, and its name to the order the headers came in.
func (b *headerBuf) add(key, value string) {
	if key == "" {
		return
	}
	if b.m == nil {
		b.m = make(map[string]string, 32)
	}
	if hasUpper(key) {
		// Envoy's codecs lower-case names; another client may not.
		key = strings.ToLower(key)
	}
	b.order = append(b.order, key)
	if prev, ok := b.m[key]; ok {
		sep := ","
		if key == "cookie" {
			sep = "; "
		}
		value = prev + sep + value
	}
	b.m[key] = value
}

// mapOf is the headers map read from the wire: the last entry of a name
// wins, as protobuf decoding of a map does.
func (b *headerBuf) mapOf(headers []wireHeader) map[string]string {
	if b.m == nil {
		b.m = make(map[string]string, len(headers))
	}
	for _, h := range headers {
		b.m[h.key] = h.value
	}
	return b.m
}

// headerText is a header_map entry's value as text.
func headerText(hv *corev3.HeaderValue) string {
	raw := hv.GetRawValue()
	if len(raw) == 0 {
		// An Envoy without the send_header_raw_value runtime feature fills
		// value (already sanitised) instead.
		return hv.GetValue()
	}
	if utf8.Valid(raw) {
		// No copy: the CheckRequest owns raw (protobuf copies bytes fields
		// when it decodes) and nothing writes to it afterwards.
		return unsafe.String(unsafe.SliceData(raw), len(raw))
	}
	return envoySanitize(raw)
}

// envoySanitize is raw as text with each byte that is not part of valid
// UTF-8 replaced by "!", one for one, as Envoy does before it puts a header
// in the headers map, so that both of Envoy's header encodings give the same
// facts.
func envoySanitize(raw []byte) string {
	b := bytes.Clone(raw)
	sanitizeString(b)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
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
