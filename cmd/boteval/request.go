package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/botauthz/botauthz/internal/corpus"
)

// ja4Header is the header envoy/front-proxy.yaml sets from
// %TLS_JA4_FINGERPRINT%.
const ja4Header = "x-botauthz-ja4"

// encoding is how the CheckRequest carries the headers.
type encoding uint8

const (
	// headerMap is header_map, what the shipped envoy/front-proxy.yaml sends
	// (encode_raw_headers: true): every line in order, repeats apart.
	headerMap encoding = iota
	// headersMap is the plain headers map, Envoy's default and Istio's only
	// form: repeats joined, no order.
	headersMap
)

func (e encoding) String() string {
	if e == headersMap {
		return "headers map (Envoy's default, Istio)"
	}
	return "header_map (encode_raw_headers: true, as envoy/front-proxy.yaml)"
}

// epoch is the clock of a corpus without times: a fixed instant, so that a
// run is reproducible.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// untimedStep is how far the clock moves for a record without a time. One
// second apart, a corpus of unrelated requests stays far below every
// velocity threshold (the defaults start at 300 a minute), while records
// that share a client still count against one another.
const untimedStep = time.Second

// clock gives each record the time it is evaluated at: its own time when it
// has one, else untimedStep after the previous record's (the first at
// epoch). Untimed records thus never share an instant, and an untimed record
// after a timed one follows it rather than jumping back to epoch.
type clock struct {
	last time.Time
}

func (c *clock) next(r *corpus.Record) time.Time {
	switch {
	case r.Time != nil:
		c.last = *r.Time
	case c.last.IsZero():
		c.last = epoch
	default:
		c.last = c.last.Add(untimedStep)
	}
	return c.last
}

// defaultClient is the address of the i-th record (0-based) when it names
// none: every such record gets its own, so unrelated requests never share
// velocity counters. They come from 198.18.0.0/15 (RFC 2544, benchmarking)
// and walk the range's 512 /24 networks first, so that consecutive records
// are in different /24s and the subnet counters stay apart too. The
// addresses repeat after 130,048 records.
func defaultClient(i int) netip.Addr {
	net := i % 512
	host := 1 + (i/512)%254
	return netip.AddrFrom4([4]byte{198, byte(18 + net/256), byte(net % 256), byte(host)})
}

// clientOf returns the record's client address, or the default for its
// index when it names none.
func clientOf(r *corpus.Record, i int) (netip.Addr, error) {
	if r.Client == "" {
		return defaultClient(i), nil
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(r.Client))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("client %q: %w", r.Client, err)
	}
	return ip.WithZone("").Unmap(), nil
}

// listener is the local address of the shipped Envoy's TLS listener as the
// Check reports it (destination); botauthz does not read it.
const listenerAddr, listenerPort = "192.0.2.1", 10443

// dropped are the client's headers that never reach ext_authz: host is
// :authority once Envoy's HTTP/1 codec has read it, and Envoy's connection
// manager removes the hop-by-hop ones (and x-envoy-internal) before any
// filter runs.
var dropped = map[string]bool{
	"host": true, "connection": true, "keep-alive": true, "proxy-connection": true,
	"transfer-encoding": true, "upgrade": true, "x-envoy-internal": true,
}

// inline are the request headers Envoy keeps in fixed slots of its header
// map (its O(1) "inline" headers, as of 1.40): a repeat of one of them is
// joined to the first line with ",", so it reaches ext_authz as one line.
// Every other repeat stays a line of its own.
var inline = map[string]bool{
	"user-agent": true, "x-forwarded-for": true, "x-forwarded-proto": true, "x-forwarded-host": true,
	"x-request-id": true, "x-envoy-external-address": true, "x-client-trace-id": true,
	"x-forwarded-client-cert": true, "expect": true, "te": true, "via": true,
	"content-type": true, "content-length": true, "grpc-timeout": true,
}

// line is one header line of the CheckRequest.
type line struct{ name, value string }

// checkRequest builds the CheckRequest that Envoy 1.40 with the shipped
// envoy/front-proxy.yaml (use_remote_address: true, xff_num_trusted_hops: 0,
// ext_authz first among the filters) sends for the record:
//
//   - the pseudo-headers first, :authority, :path, :method, :scheme: the
//     order Envoy's HTTP/1 codec and connection manager produce them in. The
//     record does not say in which order an HTTP/2 or HTTP/3 client sent its
//     pseudo-headers, so every protocol gets this order.
//   - the record's headers in its order, names lower-cased, without those in
//     dropped and without pseudo-headers (the record's fields hold them); a
//     repeated inline header joined to its first line.
//   - what the connection manager adds for an edge request: the client
//     appended to x-forwarded-for, x-forwarded-proto set to the scheme,
//     x-envoy-external-address set to the client, a fresh x-request-id. A
//     header the client sent already keeps its place and gets Envoy's value
//     (x-forwarded-for: the client's list plus ", client"); a new one goes
//     last, in that order. Every client counts as external: Envoy 1.40
//     treats no address as internal unless internal_address_config says so.
//   - source.address = the client; destination = the TLS listener;
//     context_extensions route = the record's route when it names one (the
//     shipped Envoy names it per path prefix; the corpus names it per record).
//   - request.time = the evaluation clock's time.
//
// The record's TLS fingerprint is not sent: the shipped Envoy passes none to
// ext_authz.
func checkRequest(r *corpus.Record, i int, client netip.Addr, at time.Time, enc encoding) *authv3.CheckRequest {
	ip := client.String()
	lines := make([]line, 0, len(r.Headers)+8)
	lines = append(lines,
		line{":authority", r.Host},
		line{":path", r.Path},
		line{":method", r.Method},
		line{":scheme", r.Scheme},
	)
	inlineAt := map[string]int{} // an inline header's line
	for _, h := range r.Headers {
		name := strings.ToLower(h.Name())
		if name == "" || name[0] == ':' || dropped[name] {
			continue
		}
		if inline[name] {
			if k, ok := inlineAt[name]; ok {
				lines[k].value += "," + h.Value()
				continue
			}
			inlineAt[name] = len(lines)
		}
		lines = append(lines, line{name, h.Value()})
	}
	added := []line{
		{"x-forwarded-for", ip},
		{"x-forwarded-proto", r.Scheme},
		{"x-envoy-external-address", ip},
		{"x-request-id", requestID(i)},
	}
	if r.TLS != "" {
		// The shipped front proxy's header_mutation filter sets it from
		// %TLS_JA4_FINGERPRINT%, overwriting a client's copy.
		added = append(added, line{ja4Header, r.TLS})
	}
	for _, a := range added {
		k, ok := inlineAt[a.name]
		switch {
		case !ok:
			lines = append(lines, a)
		case a.name == "x-forwarded-for":
			lines[k].value += ", " + ip
		default:
			lines[k].value = a.value
		}
	}

	protocol := r.Protocol
	if protocol == "" {
		protocol = "HTTP/1.1"
	}
	h := &authv3.AttributeContext_HttpRequest{
		Id:       strconv.Itoa(i + 1),
		Method:   r.Method,
		Path:     r.Path,
		Host:     r.Host,
		Scheme:   r.Scheme,
		Protocol: protocol,
	}
	if enc == headerMap {
		h.HeaderMap = &corev3.HeaderMap{Headers: make([]*corev3.HeaderValue, len(lines))}
		for k, l := range lines {
			h.HeaderMap.Headers[k] = &corev3.HeaderValue{Key: l.name, RawValue: []byte(l.value)}
		}
	} else {
		h.Headers = make(map[string]string, len(lines))
		for _, l := range lines {
			if prev, ok := h.Headers[l.name]; ok {
				// Envoy joins repeats in the map: cookie crumbs with "; ",
				// everything else with ",".
				sep := ","
				if l.name == "cookie" {
					sep = "; "
				}
				l.value = prev + sep + l.value
			}
			h.Headers[l.name] = l.value
		}
	}
	var ext map[string]string
	if r.Route != "" {
		ext = map[string]string{"route": r.Route}
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:            &authv3.AttributeContext_Peer{Address: socketAddress(ip, uint32(1024+i%60000))},
		Destination:       &authv3.AttributeContext_Peer{Address: socketAddress(listenerAddr, listenerPort)},
		Request:           &authv3.AttributeContext_Request{Time: timestamppb.New(at), Http: h},
		ContextExtensions: ext,
	}}
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// requestID is a UUID-shaped x-request-id that is the same on every run, so
// that two runs print the same answers.
func requestID(i int) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", i+1)
}
