package extauthz

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/mem"
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
	return map[string]*authv3.CheckRequest{
		"browser":         browser,
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
