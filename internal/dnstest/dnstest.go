// Package dnstest runs a real DNS server on 127.0.0.1 for tests: anything
// that resolves through a configurable "host:port" (reverse DNS
// verification, end-to-end tests) asks it over UDP and gets the answers
// the test set, or none.
package dnstest

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Zone is what the test server answers. A name it does not know is
// NXDOMAIN. Every method is safe to call while the server runs, so a test can
// change an answer between two lookups.
type Zone struct {
	mu      sync.Mutex
	ptr     map[string][]string      // reverse name → PTR targets (empty: NOERROR, no answer)
	hosts   map[string][]netip.Addr  // host name → A and AAAA answers
	rcode   map[string]int           // name → forced response code (SERVFAIL, REFUSED…)
	silent  map[string]bool          // name → never answered
	hold    map[string]chan struct{} // name → answered once the channel is closed
	queries map[string]int           // "TYPE name" → queries seen
	done    chan struct{}            // closed on shutdown, frees held handlers
}

func NewZone() *Zone {
	return &Zone{
		ptr:     make(map[string][]string),
		hosts:   make(map[string][]netip.Addr),
		rcode:   make(map[string]int),
		silent:  make(map[string]bool),
		hold:    make(map[string]chan struct{}),
		queries: make(map[string]int),
		done:    make(chan struct{}),
	}
}

// zoneName is the key the zone stores a name under: lower-case, absolute.
func zoneName(name string) string { return strings.ToLower(dns.Fqdn(name)) }

// ReverseName is addr's in-addr.arpa or ip6.arpa name.
func ReverseName(t testing.TB, addr string) string {
	t.Helper()
	arpa, err := dns.ReverseAddr(addr)
	if err != nil {
		t.Fatalf("reverse name of %q: %v", addr, err)
	}
	return arpa
}

// SetPTR makes addr's PTR answer names (none: an empty NOERROR answer).
func (z *Zone) SetPTR(t testing.TB, addr string, names ...string) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	z.ptr[ReverseName(t, addr)] = names
}

// SetHost makes name's A and AAAA answers addrs.
func (z *Zone) SetHost(t testing.TB, name string, addrs ...string) {
	t.Helper()
	parsed := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		parsed = append(parsed, netip.MustParseAddr(a))
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	z.hosts[zoneName(name)] = parsed
}

// SetRcode makes every query for name answer rcode (0 clears it).
func (z *Zone) SetRcode(name string, rcode int) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if rcode == dns.RcodeSuccess {
		delete(z.rcode, zoneName(name))
		return
	}
	z.rcode[zoneName(name)] = rcode
}

// SetSilent makes queries for name go unanswered.
func (z *Zone) SetSilent(name string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.silent[zoneName(name)] = true
}

// HoldAnswers delays answers for name until the returned release is called
// (release is idempotent and also runs at shutdown).
func (z *Zone) HoldAnswers(name string) (release func()) {
	ch := make(chan struct{})
	z.mu.Lock()
	z.hold[zoneName(name)] = ch
	z.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// QueryCount returns how many queries of qtype for name the server saw.
func (z *Zone) QueryCount(qtype uint16, name string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.queries[dns.TypeToString[qtype]+" "+zoneName(name)]
}

// ResetQueries forgets the queries seen so far.
func (z *Zone) ResetQueries() {
	z.mu.Lock()
	defer z.mu.Unlock()
	clear(z.queries)
}

// TotalQueries returns how many queries the server saw.
func (z *Zone) TotalQueries() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	n := 0
	for _, c := range z.queries {
		n += c
	}
	return n
}

// ServeDNS answers one query from the zone (dns.Handler).
func (z *Zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	if len(req.Question) != 1 {
		_ = w.WriteMsg(m.SetRcode(req, dns.RcodeFormatError))
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)

	z.mu.Lock()
	z.queries[dns.TypeToString[q.Qtype]+" "+name]++
	hold := z.hold[name]
	z.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-z.done:
			return
		}
	}

	z.mu.Lock()
	defer z.mu.Unlock()
	if z.silent[name] {
		return
	}
	m.SetReply(req)
	// Go's resolver takes an empty, non-authoritative answer from a server
	// that offers no recursion for a lame referral, not for "no data".
	m.Authoritative = true
	if rcode, ok := z.rcode[name]; ok {
		m.Rcode = rcode
		_ = w.WriteMsg(m)
		return
	}
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 60}
	switch targets, isPTR := z.ptr[name]; {
	case isPTR:
		if q.Qtype == dns.TypePTR {
			for _, target := range targets {
				m.Answer = append(m.Answer, &dns.PTR{Hdr: hdr, Ptr: dns.Fqdn(target)})
			}
		}
	case z.hosts[name] != nil:
		for _, a := range z.hosts[name] {
			switch {
			case q.Qtype == dns.TypeA && a.Is4():
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IP(a.AsSlice())})
			case q.Qtype == dns.TypeAAAA && a.Is6():
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: net.IP(a.AsSlice())})
			}
		}
	default:
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

// Start serves z over UDP on a random 127.0.0.1 port until the test
// ends, and returns its "host:port".
func Start(t testing.TB, z *Zone) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: z, NotifyStartedFunc: func() { close(started) }}
	served := make(chan error, 1)
	go func() { served <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-served:
		t.Fatalf("dns server: %v", err)
	}
	t.Cleanup(func() {
		close(z.done)
		if err := srv.Shutdown(); err != nil {
			t.Errorf("dns server shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("dns server: %v", err)
		}
	})
	return pc.LocalAddr().String()
}
