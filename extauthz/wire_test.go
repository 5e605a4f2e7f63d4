package extauthz

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
)

// decodeWire runs b through the codec as the gRPC server does for a Check.
func decodeWire(t testing.TB, c *Codec, b []byte) (*wireRequest, error) {
	t.Helper()
	w := new(wireRequest)
	err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, w)
	return w, err
}

// factsOf reads the facts of a CheckRequest that the codec decoded, by
// whichever path it took.
func factsOf(w *wireRequest) Facts {
	var f Facts
	if w.parsed {
		readWireFacts(&w.facts, "sid", 1, &f, &headerBuf{})
	} else {
		readFacts(&w.CheckRequest, "sid", 1, &f, &headerBuf{})
	}
	return f
}

// sameFacts reports how two Facts differ; "" when they do not.
func sameFacts(a, b Facts) string {
	switch {
	case a.HTTP != b.HTTP:
		return "HTTP"
	case a.ClientIP != b.ClientIP:
		return "ClientIP"
	case a.Method != b.Method, a.Scheme != b.Scheme, a.Protocol != b.Protocol, a.Host != b.Host, a.Path != b.Path:
		return "method, scheme, protocol, host or path"
	case !maps.Equal(a.Headers, b.Headers):
		return "Headers"
	case !slices.Equal(a.HeaderOrder, b.HeaderOrder):
		return "HeaderOrder"
	case a.Route != b.Route, a.RequestID != b.RequestID, a.Session != b.Session:
		return "route, request ID or session"
	}
	return ""
}

// wireCases are CheckRequests whose facts the wire reader must read as
// protobuf decoding does, edge cases of the encoding included.
func wireCases() map[string]*authv3.CheckRequest {
	browser := request("GET", "/login?next=%2F", "login", "203.0.113.7", map[string]string{
		"user-agent": "Mozilla/5.0", "accept": "text/html", "cookie": "a=1; sid=abc",
		"x-forwarded-for": "198.51.100.1, 203.0.113.9",
	})
	raw := rawRequest(browser, []header{
		{":method", []byte("GET")}, {":path", []byte("/x")}, {"User-Agent", []byte("curl/8")},
		{"cookie", []byte("sid=1")}, {"cookie", []byte("b=2")}, {"", []byte("dropped")},
		{"x-bad", []byte("a\xffb")}, {"accept", nil},
	})
	raw.Attributes.Request.Http.HeaderMap.Headers[7].Value = "from value"
	both := proto.Clone(raw).(*authv3.CheckRequest)
	both.Attributes.Request.Http.Headers = map[string]string{"user-agent": "map"}
	onlyEmptyKeys := rawRequest(browser, []header{{"", []byte("x")}})
	onlyEmptyKeys.Attributes.Request.Http.Headers = map[string]string{"user-agent": "map"}
	// '#' becomes invalid UTF-8 once encoded (marshalWire): protobuf
	// refuses to encode it.
	badUTF8 := request("G#T", "/p#", "ro#ute", "203.0.113.7", map[string]string{"user-agent": "a#", "#": "x"})
	pipe := proto.Clone(browser).(*authv3.CheckRequest)
	pipe.Attributes.Source.Address = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/s"}}}
	noPath := proto.Clone(raw).(*authv3.CheckRequest)
	noPath.Attributes.Request.Http.Path, noPath.Attributes.Request.Http.Scheme = "", ""
	noPath.Attributes.Request.Http.HeaderMap.Headers = append(noPath.Attributes.Request.Http.HeaderMap.Headers,
		&corev3.HeaderValue{Key: ":scheme", RawValue: []byte("https")})
	tcp := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:            browser.Attributes.Source,
		ContextExtensions: map[string]string{"route": "tcp"},
		MetadataContext:   &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"a": {}}},
	}}
	emptyHTTP := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{}},
	}}
	// Lengths of two and three bytes (a field longer than 127 bytes, and
	// than 16 KiB), which the reader takes apart in other ways than a
	// length of one byte; invalid UTF-8 in a long raw value.
	long := rawRequest(browser, []header{
		{":path", []byte("/" + strings.Repeat("p", 200))}, {"cookie", []byte(strings.Repeat("c", 17000))},
		{"x-long-bad", append([]byte(strings.Repeat("v", 150)), 0xff, 'v')},
	})
	long.Attributes.Request.Http.Path = "/" + strings.Repeat("p", 300)
	longMap := proto.Clone(browser).(*authv3.CheckRequest)
	longMap.Attributes.Request.Http.Headers["user-agent"] = strings.Repeat("u", 200)
	longMap.Attributes.Request.Http.Headers["cookie"] = strings.Repeat("c", 300)
	// Fields the reader skips in every message it reads: a two-byte tag,
	// and the numbers of fields it reads with every other wire type, which
	// protobuf keeps as unknown fields (a pipe among them, which must not
	// clear the peer's address).
	unknown := proto.Clone(raw).(*authv3.CheckRequest)
	h := unknown.Attributes.Request.Http
	for i, m := range []proto.Message{unknown, unknown.Attributes, unknown.Attributes.Source,
		unknown.Attributes.Source.Address, unknown.Attributes.Source.Address.GetSocketAddress(),
		unknown.Attributes.Request, h, h.HeaderMap, h.HeaderMap.Headers[1]} {
		var b []byte
		b = protowire.AppendTag(b, 20, protowire.BytesType)
		b = protowire.AppendString(b, "two-byte tag")
		for _, num := range []protowire.Number{1, 2, 3, 4, 5, 10, 13} {
			if i%2 == 0 {
				b = protowire.AppendTag(b, num, protowire.VarintType)
				b = protowire.AppendVarint(b, 1<<20)
			} else {
				b = protowire.AppendTag(b, num, protowire.Fixed32Type)
				b = protowire.AppendFixed32(b, 1)
			}
			b = protowire.AppendTag(b, num, protowire.Fixed64Type)
			b = protowire.AppendFixed64(b, 1)
		}
		b = protowire.AppendTag(b, 2, protowire.StartGroupType)
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, "in a group")
		b = protowire.AppendTag(b, 2, protowire.EndGroupType)
		m.ProtoReflect().SetUnknown(b)
	}
	return map[string]*authv3.CheckRequest{
		"browser":         browser,
		"long fields":     long,
		"long map values": longMap,
		"unknown fields":  unknown,
		"header map":      raw,
		"both encodings":  both,
		"empty keys only": onlyEmptyKeys,
		badUTF8Case:       badUTF8,
		"pipe peer":       pipe,
		"no path":         noPath,
		"tcp":             tcp,
		"empty http":      emptyHTTP,
		"empty":           {},
	}
}

const badUTF8Case = "invalid utf-8"

// marshalWire encodes a case as Envoy would send it.
func marshalWire(t testing.TB, name string, req *authv3.CheckRequest) []byte {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if name == badUTF8Case {
		b = bytes.ReplaceAll(b, []byte("#"), []byte{0xff})
	}
	return b
}

// TestWireFactsMatchDecoded reads every case both ways: from the wire and
// from the decoded CheckRequest. Concatenated messages are one merged
// message in protobuf, so pairs of cases also check merging: scalars
// overridden, repeated fields appended, oneofs switched.
func TestWireFactsMatchDecoded(t *testing.T) {
	c, err := NewCodec(CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cases := wireCases()
	encoded := map[string][]byte{}
	for name, req := range cases {
		encoded[name] = marshalWire(t, name, req)
	}
	check := func(t *testing.T, b []byte) {
		t.Helper()
		w, err := decodeWire(t, c, b)
		if err != nil {
			t.Fatalf("codec: %v", err)
		}
		if !w.parsed {
			t.Fatal("read by the slow path: a well-formed request must take the fast one")
		}
		want := new(authv3.CheckRequest)
		if err := c.unmarshal(b, want, false); err != nil {
			t.Fatal(err)
		}
		var f Facts
		readFacts(want, "sid", 1, &f, &headerBuf{})
		if diff := sameFacts(factsOf(w), f); diff != "" {
			t.Errorf("%s differs:\nwire:    %+v\ndecoded: %+v", diff, factsOf(w), f)
		}
	}
	for name, b := range encoded {
		t.Run(name, func(t *testing.T) { check(t, b) })
		for other, b2 := range encoded {
			t.Run(name+" then "+other, func(t *testing.T) { check(t, append(slices.Clone(b), b2...)) })
		}
	}
}

// TestWireFallsBack checks that bytes the fast reader cannot read are
// decoded as grpc would: refused when protobuf refuses them.
func TestWireFallsBack(t *testing.T) {
	c, err := NewCodec(CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := marshalWire(t, "browser", wireCases()["browser"])
	if _, err := decodeWire(t, c, b[:len(b)-3]); err == nil {
		t.Error("a truncated request decoded")
	}
	if _, err := decodeWire(t, c, []byte{0x0a, 0x05, 0x22, 0x07}); err == nil {
		t.Error("a request whose attributes overrun decoded")
	}
}

// TestWireSanitizedIsCounted checks the codec's Sanitized option on the
// fast path.
func TestWireSanitizedIsCounted(t *testing.T) {
	n := 0
	c, err := NewCodec(CodecOptions{Sanitized: func(name protoreflect.FullName) {
		if name == checkRequestName {
			n++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"browser", badUTF8Case} {
		b := marshalWire(t, name, wireCases()[name])
		if _, err := decodeWire(t, c, b); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Errorf("Sanitized called %d times, want 1", n)
	}
}

// FuzzWireFacts feeds arbitrary bytes to the codec as a Check: it never
// panics, and whenever protobuf decodes the bytes, the facts read from the
// wire are the decoded request's.
func FuzzWireFacts(f *testing.F) {
	for name, req := range wireCases() {
		f.Add(marshalWire(f, name, req))
	}
	c, err := NewCodec(CodecOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := new(authv3.CheckRequest)
		decodeErr := c.unmarshal(slices.Clone(b), want, true)
		w, err := decodeWire(t, c, slices.Clone(b))
		if err != nil {
			if decodeErr == nil {
				t.Fatalf("the codec refused what protobuf decodes: %v", err)
			}
			return
		}
		if decodeErr != nil {
			// Garbage inside a field a Check does not read: the fast reader
			// skips it by its framing, protobuf refuses it.
			return
		}
		var wantFacts Facts
		readFacts(want, "sid", 1, &wantFacts, &headerBuf{})
		if diff := sameFacts(factsOf(w), wantFacts); diff != "" {
			t.Fatalf("%s differs:\nwire:    %+v\ndecoded: %+v", diff, factsOf(w), wantFacts)
		}
	})
}

// TestWireMetadataMatchesStruct checks that the dynamic metadata written
// as bytes for the wire decodes to the Struct an in-process caller gets,
// for every value of every field it writes.
func TestWireMetadataMatchesStruct(t *testing.T) {
	verified := &crawlerValues{nameValue: structpb.NewStringValue("Googlebot"), categoryValue: structpb.NewStringValue("search")}
	var decisions []*Decision
	for score := -1; score <= 100; score += 7 {
		for a := range policy.EveryAction() {
			decisions = append(decisions, &Decision{Score: score, Action: a, Enforced: policy.ActionAllow,
				Mode: policy.Mode(score % 4), Route: "login", Degraded: score%2 == 0, Clearance: clearance.Status(score % 3)})
		}
	}
	f := &Facts{HTTP: true, Headers: map[string]string{"accept": "text/html"}}
	for i, d := range decisions {
		for _, v := range []*crawlerValues{nil, verified} {
			want := respond(d, f, nil, v, false)
			got := respond(d, f, nil, v, true)
			if got.DynamicMetadata != nil {
				t.Fatal("the wire response carries a Struct")
			}
			b, err := proto.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			decoded := new(authv3.CheckResponse)
			if err := proto.Unmarshal(b, decoded); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(decoded, want) {
				t.Fatalf("decision %d: the wire's response\n%v\nis not\n%v", i, decoded, want)
			}
			if len(want.DynamicMetadata.GetFields()) < 8 {
				t.Fatalf("decision %d: metadata %v", i, want.DynamicMetadata)
			}
		}
	}
}

// BenchmarkWireParse measures the wire reader alone, on BenchmarkCodec's
// request.
func BenchmarkWireParse(b *testing.B) {
	_, in := benchRequest(b)
	b.SetBytes(int64(len(in)))
	var w wireFacts
	for b.Loop() {
		// Valid UTF-8, so parse does not patch in and can read it again.
		if !w.parse(in) {
			b.Fatal("parse failed")
		}
		w.reset()
	}
}

// TestWireParseFraming checks what the wire reader accepts around the
// fields it reads, in every message it walks: fields of any wire type and
// number skipped, and malformed framing refused as protowire refuses it,
// even where protobuf decoding would refuse the request anyway (which
// FuzzWireFacts cannot tell apart).
func TestWireParseFraming(t *testing.T) {
	tag := func(num protowire.Number, typ protowire.Type) string {
		return string(protowire.AppendTag(nil, num, typ))
	}
	in := map[string]func(f string) string{
		"CheckRequest":     func(f string) string { return f },
		"AttributeContext": func(f string) string { return wireLen(1, f) },
		"Peer":             func(f string) string { return wireLen(1, wireLen(1, f)) },
		"Address":          func(f string) string { return wireLen(1, wireLen(1, wireLen(1, f))) },
		"SocketAddress":    func(f string) string { return wireLen(1, wireLen(1, wireLen(1, wireLen(1, f)))) },
		"context_extensions entry": func(f string) string {
			return wireLen(1, wireLen(10, f))
		},
		"Request":       func(f string) string { return wireLen(1, wireLen(4, f)) },
		"HttpRequest":   func(f string) string { return string(wireHTTP(f)) },
		"headers entry": func(f string) string { return string(wireHTTP(wireLen(3, f))) },
		"HeaderMap":     func(f string) string { return string(wireHTTP(wireLen(13, f))) },
		"HeaderValue":   func(f string) string { return string(wireHTTP(wireLen(13, wireLen(1, f)))) },
	}
	fields := []struct {
		name  string
		field string
		ok    bool
	}{
		{"two-byte tag", wireLen(20, "x"), true},
		{"two-byte length", wireLen(15, strings.Repeat("x", 200)), true},
		{"three-byte length", wireLen(15, strings.Repeat("x", 20000)), true},
		{"varint", wireVarint(1, 1<<40), true},
		{"fixed32", tag(2, protowire.Fixed32Type) + "1234", true},
		{"fixed64", tag(3, protowire.Fixed64Type) + "12345678", true},
		{"group", tag(2, protowire.StartGroupType) + wireVarint(1, 1) + wireLen(2, "x") + tag(2, protowire.EndGroupType), true},
		{"number 0", "\x02\x00", false},
		{"number 0, two-byte length", "\x02\x80\x01" + strings.Repeat("x", 128), false},
		{"number 0 varint", "\x00\x01", false},
		{"number too large", string(protowire.AppendVarint(nil, 1<<35|2)) + "\x00", false},
		{"truncated tag", "\x80", false},
		{"truncated length", "\x0a\x80", false},
		{"length overruns", "\x0a\x05ab", false},
		{"length overruns by one", "\x0a\x03ab", false},
		{"two-byte length overruns", "\x0a\x80\x01ab", false},
		{"truncated varint", "\x08\x80", false},
		{"truncated fixed32", tag(2, protowire.Fixed32Type) + "12", false},
		{"reserved wire type", "\x0e\x00", false},
		{"end of group alone", tag(1, protowire.EndGroupType), false},
		{"group not closed", tag(1, protowire.StartGroupType) + wireVarint(1, 1), false},
		{"group closed by another", tag(1, protowire.StartGroupType) + tag(2, protowire.EndGroupType), false},
	}
	for msg, wrap := range in {
		for _, f := range fields {
			var w wireFacts
			if got := w.parse([]byte(wrap(f.field))); got != f.ok {
				t.Errorf("%s in %s: parse = %v, want %v", f.name, msg, got, f.ok)
			}
		}
	}
}

// TestWireSanitized checks what the reader does with invalid UTF-8: the
// strings are patched in place, one '!' per bad byte, and reported as
// sanitized; raw_value, a bytes field, is patched the same way (as
// headerText would) but is not reported.
func TestWireSanitized(t *testing.T) {
	long := strings.Repeat("v", 200)
	cases := []struct {
		name      string
		wire      []byte
		sanitized bool
		key, val  string
	}{
		{"ASCII", wireHTTP(wireLen(13, wireLen(1, wireLen(1, "k")+wireLen(3, "v")))), false, "k", "v"},
		{"raw value", wireHTTP(wireLen(13, wireLen(1, wireLen(1, "k")+wireLen(3, "a\xffb")))), false, "k", "a!b"},
		{"long raw value", wireHTTP(wireLen(13, wireLen(1, wireLen(1, "k")+wireLen(3, long+"\xff")))), false, "k", long + "!"},
		{"header_map key", wireHTTP(wireLen(13, wireLen(1, wireLen(1, "k\xc3")+wireLen(3, "v")))), true, "k!", "v"},
		{"header_map value", wireHTTP(wireLen(13, wireLen(1, wireLen(1, "k")+wireLen(2, "\xe2\x82")))), true, "k", "!!"},
		{"valid UTF-8", wireHTTP(wireLen(13, wireLen(1, wireLen(1, "k")+wireLen(2, "€"+long)))), false, "k", "€" + long},
		{"headers key", wireHTTP(wireEntry(3, "\xffk", "v")), true, "!k", "v"},
		{"long headers value", wireHTTP(wireEntry(3, "k", long+"\xff")), true, "k", long + "!"},
		{"overridden key", wireHTTP(wireLen(3, wireLen(1, "\xff")+wireLen(1, "k")+wireLen(2, "v"))), true, "k", "v"},
	}
	for _, c := range cases {
		var w wireFacts
		if !w.parse(c.wire) {
			t.Errorf("%s: not read", c.name)
			continue
		}
		hs := append(w.headers, w.headerMap...)
		if w.sanitized != c.sanitized || len(hs) != 1 || hs[0] != (wireHeader{c.key, c.val}) {
			t.Errorf("%s: read %q, sanitized %v; want %q, %q, sanitized %v", c.name, hs, w.sanitized, c.key, c.val, c.sanitized)
		}
	}
	var w wireFacts
	if !w.parse(wireHTTP(wireLen(2, "G\xffT"))) || w.method != "G!T" || !w.sanitized {
		t.Errorf("method %q, sanitized %v; want \"G!T\", sanitized", w.method, w.sanitized)
	}
}

// TestIsASCII checks isASCII against a byte-by-byte loop, for a byte above
// 0x7f anywhere in strings of every length around its word sizes.
func TestIsASCII(t *testing.T) {
	for n := range 40 {
		b := []byte(strings.Repeat("a", n))
		if !isASCII(b) {
			t.Errorf("isASCII(%q) = false", b)
		}
		for i := range n {
			for _, c := range []byte{0x80, 0xff} {
				b[i] = c
				if isASCII(b) {
					t.Errorf("isASCII(%q) = true", b)
				}
				b[i] = 'a'
			}
		}
	}
}
