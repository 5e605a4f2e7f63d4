package clearance

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestIssueVerifyRoundTrip(t *testing.T) {
	s := newTestSigner(t, time.Hour, "2026-11")
	tests := []struct {
		name            string
		b               Binding
		provider, route string
	}{
		{"ipv4", binding(t, "203.0.113.7", uaChrome), "pow", "login"},
		{"ipv6", binding(t, "2001:db8:1:2:3:4:5:6", uaChrome), "turnstile", "checkout"},
		{"ipv4-mapped ipv6", binding(t, "::ffff:203.0.113.7", uaChrome), "pow", "default"},
		{"empty labels", binding(t, "198.51.100.1", uaChrome), "", ""},
		{"empty user agent", binding(t, "198.51.100.1", ""), "pow", "login"},
		{"long user agent", binding(t, "198.51.100.1", strings.Repeat("Mozilla/5.0 ", 1000)), "pow", "login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := s.Issue(tt.b, tt.provider, tt.route, now)
			c, st := s.Verify(v, tt.b, now.Add(time.Minute))
			if st != Valid {
				t.Fatalf("Verify(%q) = %v, want valid", v, st)
			}
			want := Claims{KeyID: "2026-11", IssuedAt: now, Expires: now.Add(time.Hour), Provider: tt.provider, Route: tt.route}
			if !claimsEqual(c, want) {
				t.Errorf("claims = %+v, want %+v", c, want)
			}
		})
	}
}

func claimsEqual(a, b Claims) bool {
	return a.KeyID == b.KeyID && a.IssuedAt.Equal(b.IssuedAt) && a.Expires.Equal(b.Expires) &&
		a.Provider == b.Provider && a.Route == b.Route
}

// TestVerifyStatus proves that each kind of tampering or misuse yields its
// own status.
func TestVerifyStatus(t *testing.T) {
	s := newTestSigner(t, time.Hour, "k1", "k2")
	b := binding(t, "203.0.113.7", uaChrome)
	b6 := binding(t, "2001:db8:aa:bb:1:2:3:4", uaChrome)
	v := s.Issue(b, "pow", "login", now)
	v6 := s.Issue(b6, "pow", "login", now)
	p := split(t, v)

	with := func(f func(*parts)) string {
		q := p
		f(&q)
		return q.String()
	}
	tests := []struct {
		name  string
		value string
		b     Binding
		at    time.Time
		want  Status
	}{
		{"untouched", v, b, now, Valid},
		{"flipped issue time", with(func(q *parts) { q.payload = flip(t, q.payload, 3) }), b, now, BadSignature},
		{"flipped expiry", with(func(q *parts) { q.payload = flip(t, q.payload, 12) }), b, now, BadSignature},
		{"flipped user-agent hash", with(func(q *parts) { q.payload = flip(t, q.payload, 20) }), b, now, BadSignature},
		{"flipped prefix", with(func(q *parts) { q.payload = flip(t, q.payload, 35) }), b, now, BadSignature},
		{"flipped mac", with(func(q *parts) { q.mac = flip(t, q.mac, 0) }), b, now, BadSignature},
		{"other key in the set", with(func(q *parts) { q.kid = "k2" }), b, now, BadSignature},
		{"unknown key", with(func(q *parts) { q.kid = "k3" }), b, now, UnknownKey},
		{"unknown dotted key", with(func(q *parts) { q.kid = "k1.old" }), b, now, UnknownKey},
		{"at expiry", v, b, now.Add(time.Hour), Expired},
		{"one second before expiry", v, b, now.Add(time.Hour - time.Second), Valid},
		{"long expired", v, b, now.Add(30 * 24 * time.Hour), Expired},
		{"issued within clock skew", v, b, now.Add(-clockSkew), Valid},
		{"issued beyond clock skew", v, b, now.Add(-clockSkew - time.Second), Expired},
		{"issued far in the future", v, b, now.Add(-24 * time.Hour), Expired},
		{"other /24", v, binding(t, "203.0.114.7", uaChrome), now, WrongNetwork},
		{"same /24 other host", v, binding(t, "203.0.113.200", uaChrome), now, Valid},
		{"same /24 as mapped ipv6", v, binding(t, "::ffff:203.0.113.9", uaChrome), now, Valid},
		{"ipv6 client for ipv4 cookie", v, b6, now, WrongNetwork},
		{"unknown client address", v, Binding{UserAgent: uaChrome}, now, WrongNetwork},
		{"ipv6 same /64", v6, binding(t, "2001:db8:aa:bb:ffff::1", uaChrome), now, Valid},
		{"ipv6 other /64", v6, binding(t, "2001:db8:aa:bc:1:2:3:4", uaChrome), now, WrongNetwork},
		{"ipv6 zone ignored", v6, binding(t, "2001:db8:aa:bb::1%eth0", uaChrome), now, Valid},
		{"other user agent", v, binding(t, "203.0.113.7", uaChrome+" Edg/131.0.0.0"), now, WrongAgent},
		{"empty user agent", v, binding(t, "203.0.113.7", ""), now, WrongAgent},
		{"forged and wrong network", with(func(q *parts) { q.mac = flip(t, q.mac, 5) }), binding(t, "192.0.2.1", "curl/8"), now, BadSignature},
		{"expired and wrong network", v, binding(t, "192.0.2.1", "curl/8"), now.Add(2 * time.Hour), Expired},
		{"wrong network and agent", v, binding(t, "192.0.2.1", "curl/8"), now, WrongNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := s.Verify(tt.value, tt.b, tt.at)
			if got != tt.want {
				t.Fatalf("Verify(%q) = %v, want %v", tt.value, got, tt.want)
			}
			// Claims come only from cookies whose MAC checked out.
			trusted := got != Malformed && got != UnknownKey && got != BadSignature
			if trusted != (c.KeyID != "") {
				t.Errorf("status %v with claims %+v", got, c)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	s := newTestSigner(t, time.Hour, "k1")
	b := binding(t, "203.0.113.7", uaChrome)
	v := s.Issue(b, "pow", "login", now)
	p := split(t, v)
	with := func(f func(*parts)) string {
		q := p
		f(&q)
		return q.String()
	}
	tests := []struct{ name, value string }{
		{"empty", ""},
		{"version only", "v1"},
		{"version and dot", "v1."},
		{"no mac", "v1.k1." + p.payload},
		{"empty fields", "v1..."},
		{"empty kid", with(func(q *parts) { q.kid = "" })},
		{"kid with a space", with(func(q *parts) { q.kid = "k 1" })},
		{"kid too long", with(func(q *parts) { q.kid = strings.Repeat("k", 33) })},
		{"wrong version", with(func(q *parts) { q.version = "v2" })},
		{"upper-case version", with(func(q *parts) { q.version = "V1" })},
		{"huge", strings.Repeat("v1.k1.", 200_000)},
		{"one byte too long", v + strings.Repeat("A", maxValueLen-len(v)+1)},
		{"trailing dot", v + "."},
		{"extra field", v + ".AAAA"},
		{"extra dot in payload", with(func(q *parts) { q.payload = q.payload[:10] + "." + q.payload[10:] })},
		{"extra dot in mac", with(func(q *parts) { q.mac = q.mac[:10] + "." + q.mac[10:] })},
		{"padded mac", with(func(q *parts) { q.mac += "=" })},
		{"short mac", with(func(q *parts) { q.mac = q.mac[:42] })},
		{"standard base64 mac", with(func(q *parts) { q.mac = strings.Repeat("+", 43) })},
		{"mac with non-zero trailing bits", with(func(q *parts) { q.mac = q.mac[:42] + "B" })},
		{"non-base64 payload", with(func(q *parts) { q.payload = "!!!!" + q.payload[4:] })},
		{"payload with line break", with(func(q *parts) { q.payload = q.payload[:8] + "\n" + q.payload[8:] })},
		{"truncated payload", with(func(q *parts) { q.payload = q.payload[:20] })},
		{"payload with extra byte", with(func(q *parts) { q.payload += "AA" })},
		{"empty payload", with(func(q *parts) { q.payload = "" })},
		{"nul bytes", "v1.k1.\x00\x00.\x00"},
		{"non-utf8", "v1.k1.\xff\xfe.\xfd"},
		{"cookie header pasted", "clearance=" + v},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := s.Verify(tt.value, b, now)
			if got != Malformed {
				t.Errorf("Verify(%.80q) = %v, want malformed", tt.value, got)
			}
			if c != (Claims{}) {
				t.Errorf("claims = %+v, want zero", c)
			}
		})
	}
}

// TestParsePayloadRejects covers payloads that only a key holder could send
// (Verify checks structure before the MAC): parsing must refuse them, not
// panic.
func TestParsePayloadRejects(t *testing.T) {
	client := Binding{Prefix: netip.MustParsePrefix("203.0.113.0/24"), UserAgent: uaChrome}.Digest()
	good := appendPayload(nil, 1, 2, client, "pow", "login")
	if _, ok := parsePayload(good); !ok {
		t.Fatal("parsePayload refuses appendPayload's output")
	}
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"fixed part only", good[:fixedPayloadLen]},
		{"unknown family", mutate(func(b []byte) []byte { b[32] = 5; return b })},
		{"ipv4 prefix too long", mutate(func(b []byte) []byte { b[33] = 33; return b })},
		{"no network with bits", mutate(func(b []byte) []byte { b[32] = familyNone; return b })},
		{"host bits set", mutate(func(b []byte) []byte { b[33] = 20; return b })},
		{"label longer than payload", mutate(func(b []byte) []byte { b[37] = 30; return b })},
		{"label over the limit", mutate(func(b []byte) []byte { b[37] = maxLabelLen + 1; return b })},
		{"trailing byte", mutate(func(b []byte) []byte { return append(b, 0) })},
		{"missing route", good[:len(good)-6]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := parsePayload(tt.b); ok {
				t.Errorf("parsePayload(%x) accepted", tt.b)
			}
		})
	}
}

// TestRotation proves the rotation procedure: prepend the new key, keep the
// old one for a TTL, then drop it.
func TestRotation(t *testing.T) {
	b := binding(t, "203.0.113.7", uaChrome)
	before := newTestSigner(t, time.Hour, "2026-10")
	during := newTestSigner(t, time.Hour, "2026-11", "2026-10")
	after := newTestSigner(t, time.Hour, "2026-11")

	oldValue := before.Issue(b, "pow", "login", now)
	newValue := during.Issue(b, "pow", "login", now)

	tests := []struct {
		name    string
		s       *Signer
		value   string
		want    Status
		wantKID string
	}{
		{"old cookie before rotation", before, oldValue, Valid, "2026-10"},
		{"old cookie while both keys are in the set", during, oldValue, Valid, "2026-10"},
		{"new signer signs with the new key", during, newValue, Valid, "2026-11"},
		{"new cookie on a replica not yet rotated", before, newValue, UnknownKey, ""},
		{"old cookie after the old key is removed", after, oldValue, UnknownKey, ""},
		{"new cookie after the old key is removed", after, newValue, Valid, "2026-11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := tt.s.Verify(tt.value, b, now.Add(time.Minute))
			if got != tt.want || c.KeyID != tt.wantKID {
				t.Errorf("Verify = %v with key %q, want %v with key %q", got, c.KeyID, tt.want, tt.wantKID)
			}
		})
	}

	t.Run("same id with another secret", func(t *testing.T) {
		k := testKey("2026-10")
		k.Secret[0] ^= 1
		s, err := NewSigner(Options{Keys: []Key{k}})
		if err != nil {
			t.Fatal(err)
		}
		if _, got := s.Verify(oldValue, b, now); got != BadSignature {
			t.Errorf("Verify = %v, want bad_signature", got)
		}
	})
}

// TestShorterTTLAppliesToIssuedCookies: lowering the TTL on a new Signer
// shortens clearances already issued under the longer one.
func TestShorterTTLAppliesToIssuedCookies(t *testing.T) {
	b := binding(t, "203.0.113.7", uaChrome)
	long := newTestSigner(t, 24*time.Hour, "k1")
	short := newTestSigner(t, time.Hour, "k1")
	v := long.Issue(b, "pow", "login", now)

	tests := []struct {
		name        string
		s           *Signer
		at          time.Time
		want        Status
		wantExpires time.Time
	}{
		{"long signer after an hour", long, now.Add(2 * time.Hour), Valid, now.Add(24 * time.Hour)},
		{"short signer within an hour", short, now.Add(59 * time.Minute), Valid, now.Add(time.Hour)},
		{"short signer after an hour", short, now.Add(2 * time.Hour), Expired, now.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := tt.s.Verify(v, b, tt.at)
			if got != tt.want || !c.Expires.Equal(tt.wantExpires) {
				t.Errorf("Verify = %v expiring %v, want %v expiring %v", got, c.Expires, tt.want, tt.wantExpires)
			}
		})
	}
}

func TestIssueLabels(t *testing.T) {
	s := newTestSigner(t, time.Hour, "k1")
	b := binding(t, "203.0.113.7", uaChrome)
	tests := []struct {
		name, label, want string
	}{
		{"short", "pow", "pow"},
		{"at the limit", strings.Repeat("r", 32), strings.Repeat("r", 32)},
		{"truncated", strings.Repeat("r", 64), strings.Repeat("r", 32)},
		{"truncated at a rune boundary", strings.Repeat("r", 31) + "é", strings.Repeat("r", 31)},
		{"cookie-hostile characters", `a b;c,"d\e`, `a b;c,"d\e`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := s.Issue(b, tt.label, tt.label, now)
			checkCookieOctets(t, v)
			c, st := s.Verify(v, b, now)
			if st != Valid || c.Provider != tt.want || c.Route != tt.want {
				t.Errorf("Verify = %v, provider %q, route %q; want valid, %q", st, c.Provider, c.Route, tt.want)
			}
		})
	}
}

// TestIssueValueShape checks the value's alphabet and size for the extremes
// of every field.
func TestIssueValueShape(t *testing.T) {
	// Issue's doc comment quotes this bound.
	if maxValueLen != 235 {
		t.Errorf("maxValueLen = %d: update Issue's doc comment", maxValueLen)
	}
	long := strings.Repeat("x", 100)
	tests := []struct {
		name            string
		kid             string
		b               Binding
		provider, route string
		maxLen          int
	}{
		{"typical", "2026-11", BindingFor(netip.MustParseAddr("203.0.113.7"), uaChrome), "turnstile", "login", 140},
		{"typical ipv6", "2026-11", BindingFor(netip.MustParseAddr("2001:db8::1"), uaChrome), "turnstile", "checkout", 150},
		{"longest labels, short kid", "2026-11", BindingFor(netip.MustParseAddr("2001:db8::1"), uaChrome), long, long, 200},
		{"longest everything", strings.Repeat("k", 32), Binding{Prefix: netip.MustParsePrefix("2001:db8::1/128")}, long, long, maxValueLen},
		{"no network", "k", Binding{}, "", "", 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(Options{Keys: []Key{testKey(tt.kid)}})
			if err != nil {
				t.Fatal(err)
			}
			v := s.Issue(tt.b, tt.provider, tt.route, now)
			checkCookieOctets(t, v)
			if len(v) > tt.maxLen {
				t.Errorf("len(%q) = %d, want at most %d", v, len(v), tt.maxLen)
			}
			if !strings.HasPrefix(v, "v1."+tt.kid+".") {
				t.Errorf("value %q does not start with v1.%s.", v, tt.kid)
			}
		})
	}
}

// TestIssueGolden pins the v1 format: a change here invalidates every
// clearance in the wild, so it must be deliberate (and get a new version).
// The expected value was cross-checked with Python's hmac and hashlib.
func TestIssueGolden(t *testing.T) {
	s := newTestSigner(t, time.Hour, "2026-11")
	b := binding(t, "203.0.113.7", uaChrome)
	const want = "v1.2026-11.AAAAAGrpzMAAAAAAauna0OgvLlvjIbb5wc9OuZvKYFIEGMsAcQl0dXJuc3RpbGUFbG9naW4.l3juyiWrRecIbWscc-WpDY4_JtA31Tho7zpTi-znRN8"
	if got := s.Issue(b, "turnstile", "login", now); got != want {
		t.Errorf("Issue = %q\nwant    %q", got, want)
	}
	if _, st := s.Verify(want, b, now); st != Valid {
		t.Errorf("Verify(golden) = %v, want valid", st)
	}
}

func TestIssueIsDeterministic(t *testing.T) {
	s := newTestSigner(t, time.Hour, "k1")
	b := binding(t, "203.0.113.7", uaChrome)
	if a, c := s.Issue(b, "pow", "login", now), s.Issue(b, "pow", "login", now); a != c {
		t.Errorf("Issue differs between calls: %q and %q", a, c)
	}
	// Sub-second parts of now are dropped, so they cannot leak or matter.
	if a, c := s.Issue(b, "pow", "login", now), s.Issue(b, "pow", "login", now.Add(999*time.Millisecond)); a != c {
		t.Errorf("Issue depends on sub-second time: %q and %q", a, c)
	}
}

func TestBindingFor(t *testing.T) {
	tests := []struct {
		name, ip, want string
	}{
		{"ipv4", "203.0.113.77", "203.0.113.0/24"},
		{"ipv4-mapped ipv6", "::ffff:203.0.113.77", "203.0.113.0/24"},
		{"ipv6", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"ipv6 with zone", "fe80::1:2:3:4%eth0", "fe80::/64"},
		{"loopback", "127.0.0.1", "127.0.0.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := BindingFor(netip.MustParseAddr(tt.ip), "ua")
			if b.Prefix != netip.MustParsePrefix(tt.want) || b.UserAgent != "ua" {
				t.Errorf("BindingFor(%s) = %v %q, want %s", tt.ip, b.Prefix, b.UserAgent, tt.want)
			}
		})
	}
	t.Run("invalid address", func(t *testing.T) {
		if b := BindingFor(netip.Addr{}, "ua"); b.Prefix.IsValid() {
			t.Errorf("BindingFor(zero) = %v, want the zero prefix", b.Prefix)
		}
	})
}

func TestNewSigner(t *testing.T) {
	short := testKey("short")
	short.Secret = short.Secret[:31]
	tests := []struct {
		name    string
		opts    Options
		wantTTL time.Duration
		wantErr string
	}{
		{"default ttl", Options{Keys: []Key{testKey("k1")}}, time.Hour, ""},
		{"minimum ttl", Options{Keys: []Key{testKey("k1")}, TTL: time.Minute}, time.Minute, ""},
		{"maximum ttl", Options{Keys: []Key{testKey("k1")}, TTL: 7 * 24 * time.Hour}, 7 * 24 * time.Hour, ""},
		{"sub-second ttl dropped", Options{Keys: []Key{testKey("k1")}, TTL: time.Hour + time.Millisecond}, time.Hour, ""},
		{"ttl too short", Options{Keys: []Key{testKey("k1")}, TTL: 59 * time.Second}, 0, "ttl 59s is outside 1m0s..168h0m0s"},
		{"ttl too long", Options{Keys: []Key{testKey("k1")}, TTL: 8 * 24 * time.Hour}, 0, "outside"},
		{"negative ttl", Options{Keys: []Key{testKey("k1")}, TTL: -time.Hour}, 0, "outside"},
		{"no keys", Options{}, 0, "keys: no keys"},
		{"duplicate id", Options{Keys: []Key{testKey("k1"), testKey("k2"), testKey("k1")}}, 0, `entry 3 (id "k1"): duplicate key id (first at entry 1)`},
		{"short secret", Options{Keys: []Key{testKey("k1"), short}}, 0, `entry 2 (id "short"): secret is 31 bytes, want at least 32`},
		{"bad id", Options{Keys: []Key{{ID: "no/slash", Secret: testKey("x").Secret}}}, 0, "entry 1: key id must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewSigner error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewSigner: %v", err)
			}
			if s.TTL() != tt.wantTTL {
				t.Errorf("TTL() = %v, want %v", s.TTL(), tt.wantTTL)
			}
		})
	}
}

// TestNewSignerCopiesKeys: a caller reusing its slice cannot change a live
// Signer.
func TestNewSignerCopiesKeys(t *testing.T) {
	keys := []Key{testKey("k1")}
	s, err := NewSigner(Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	b := binding(t, "203.0.113.7", uaChrome)
	v := s.Issue(b, "pow", "login", now)
	keys[0].Secret[0] ^= 1
	keys[0].ID = "k2"
	if c, st := s.Verify(v, b, now); st != Valid || c.KeyID != "k1" {
		t.Errorf("after mutating the caller's keys: Verify = %v with key %q, want valid with k1", st, c.KeyID)
	}
}

func TestCookie(t *testing.T) {
	s := newTestSigner(t, 2*time.Hour, "k1")
	v := s.Issue(binding(t, "203.0.113.7", uaChrome), "pow", "login", now)
	tests := []struct {
		name       string
		insecure   bool
		wantSecure bool
	}{
		{"secure", false, true},
		{"plain-http development", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s.Cookie("__Host-botauthz", v, tt.insecure)
			if err := c.Valid(); err != nil {
				t.Fatalf("cookie is not valid: %v", err)
			}
			if c.Name != "__Host-botauthz" || c.Value != v || c.Path != "/" || c.Domain != "" ||
				c.MaxAge != 7200 || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tt.wantSecure {
				t.Errorf("cookie = %#v", c)
			}
			header := c.String()
			want := "__Host-botauthz=" + v + "; Path=/; Max-Age=7200; HttpOnly"
			if !strings.HasPrefix(header, want) || !strings.HasSuffix(header, "; SameSite=Lax") ||
				strings.Contains(header, "Secure") != tt.wantSecure {
				t.Errorf("Set-Cookie = %q", header)
			}
			// The value must survive a browser round trip unquoted.
			req := &http.Request{Header: http.Header{"Cookie": {c.Name + "=" + c.Value}}}
			got, err := req.Cookie(c.Name)
			if err != nil || got.Value != v {
				t.Errorf("cookie read back as %v, %v; want %q", got, err, v)
			}
		})
	}
}

func TestStatusString(t *testing.T) {
	tests := []struct {
		s    Status
		want string
	}{
		{Valid, "valid"},
		{Malformed, "malformed"},
		{UnknownKey, "unknown_key"},
		{BadSignature, "bad_signature"},
		{Expired, "expired"},
		{WrongNetwork, "wrong_network"},
		{WrongAgent, "wrong_agent"},
		{0, "unknown"},
		{WrongAgent + 1, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("Status(%d).String() = %q, want %q", uint8(tt.s), got, tt.want)
			}
		})
	}
}

// TestConcurrentUse runs Issue and Verify from several goroutines on one
// Signer; with -race it proves the pooled state is not shared.
func TestConcurrentUse(t *testing.T) {
	s := newTestSigner(t, time.Hour, "k1", "k0")
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			b := BindingFor(netip.AddrFrom4([4]byte{203, 0, 113, byte(g)}), uaChrome+string(rune('a'+g)))
			for i := range 200 {
				v := s.Issue(b, "pow", "r", now.Add(time.Duration(i)*time.Second))
				if _, st := s.Verify(v, b, now.Add(time.Duration(i)*time.Second)); st != Valid {
					t.Errorf("goroutine %d: Verify = %v", g, st)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
