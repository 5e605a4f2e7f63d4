package extauthz

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Field numbers of the CheckRequest path the hand-built messages take.
const (
	fCheckAttributes   = 1  // CheckRequest.attributes
	fAttrSource        = 1  // AttributeContext.source
	fAttrRequest       = 4  // AttributeContext.request
	fAttrExtensions    = 10 // AttributeContext.context_extensions
	fPeerAddress       = 1  // AttributeContext.Peer.address
	fAddressSocket     = 1  // config.core.v3.Address.socket_address
	fSocketAddress     = 2  // SocketAddress.address
	fRequestHTTP       = 2  // AttributeContext.Request.http
	fHTTPMethod        = 2  // HttpRequest.method
	fHTTPHeaders       = 3  // HttpRequest.headers (map)
	fHTTPPath          = 4  // HttpRequest.path
	fHTTPBody          = 11 // HttpRequest.body
	fHTTPRawBody       = 12 // HttpRequest.raw_body
	fHTTPHeaderMap     = 13 // HttpRequest.header_map
	fHeaderMapHeaders  = 1  // HeaderMap.headers
	fHeaderValueKey    = 1  // HeaderValue.key
	fHeaderValueRaw    = 3  // HeaderValue.raw_value
	fHTTPUnknownNumber = 99 // not a field of HttpRequest
)

// wireLen encodes one length-delimited field: a string, bytes or a message.
func wireLen(num protowire.Number, payload string) string {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return string(protowire.AppendString(b, payload))
}

// wireVarint encodes one varint field.
func wireVarint(num protowire.Number, v uint64) string {
	b := protowire.AppendTag(nil, num, protowire.VarintType)
	return string(protowire.AppendVarint(b, v))
}

// wireEntry encodes one map entry of a map<string, string> field.
func wireEntry(num protowire.Number, key, value string) string {
	return wireLen(num, wireLen(1, key)+wireLen(2, value))
}

// wireHTTP wraps HttpRequest fields in a CheckRequest.
func wireHTTP(fields ...string) []byte {
	return []byte(wireLen(fCheckAttributes, wireLen(fAttrRequest, wireLen(fRequestHTTP, strings.Join(fields, "")))))
}

func httpRequest(h *authv3.AttributeContext_HttpRequest) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{Http: h}}}
}

// codecUnmarshal decodes b through a Codec and reports the messages it
// sanitized.
func codecUnmarshal(t testing.TB, b []byte, m proto.Message) (sanitized []protoreflect.FullName, err error) {
	t.Helper()
	c, err := NewCodec(CodecOptions{Sanitized: func(name protoreflect.FullName) { sanitized = append(sanitized, name) }})
	if err != nil {
		t.Fatal(err)
	}
	// Two buffers, as a message split over HTTP/2 frames arrives.
	half := len(b) / 2
	data := mem.BufferSlice{mem.SliceBuffer(bytes.Clone(b[:half])), mem.SliceBuffer(bytes.Clone(b[half:]))}
	return sanitized, c.Unmarshal(data, m)
}

// TestCodecSanitizesStringFields decodes hand-built CheckRequests with
// invalid UTF-8 in string fields at every depth: each bad byte becomes
// '!', bytes fields keep theirs, and the Check is counted once.
func TestCodecSanitizesStringFields(t *testing.T) {
	cases := []struct {
		name string
		wire []byte
		want *authv3.CheckRequest
	}{
		{
			name: "headers map value (user agent)",
			wire: wireHTTP(wireLen(fHTTPMethod, "GET"), wireEntry(fHTTPHeaders, "user-agent", "curl\xff/8.5\xc3")),
			want: httpRequest(&authv3.AttributeContext_HttpRequest{Method: "GET", Headers: map[string]string{"user-agent": "curl!/8.5!"}}),
		},
		{
			name: "headers map key and cookie",
			wire: wireHTTP(wireEntry(fHTTPHeaders, "x-\xe9t\xe9", "a"), wireEntry(fHTTPHeaders, "cookie", "sid=\xfe\xff; a=b")),
			want: httpRequest(&authv3.AttributeContext_HttpRequest{Headers: map[string]string{"x-!t!": "a", "cookie": "sid=!!; a=b"}}),
		},
		{
			name: "path, as Envoy copies :path unsanitized",
			wire: wireHTTP(wireLen(fHTTPPath, "/caf\xe9?q=\xe2\x82")),
			want: httpRequest(&authv3.AttributeContext_HttpRequest{Path: "/caf!?q=!!"}),
		},
		{
			name: "header_map key; raw_value is bytes and stays",
			wire: wireHTTP(wireLen(fHTTPHeaderMap, wireLen(fHeaderMapHeaders,
				wireLen(fHeaderValueKey, "x-\xc3\xc7")+wireLen(fHeaderValueRaw, "\xff\xfe ok")))),
			want: httpRequest(&authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
				{Key: "x-!!", RawValue: []byte("\xff\xfe ok")}}}}),
		},
		{
			name: "body is a string, raw_body bytes",
			wire: wireHTTP(wireLen(fHTTPBody, "\x00\x01\xff"), wireLen(fHTTPRawBody, "\x00\x01\xff")),
			want: httpRequest(&authv3.AttributeContext_HttpRequest{Body: "\x00\x01!", RawBody: []byte("\x00\x01\xff")}),
		},
		{
			name: "nested: peer address, context extensions and a header at once",
			wire: []byte(wireLen(fCheckAttributes,
				wireLen(fAttrSource, wireLen(fPeerAddress, wireLen(fAddressSocket, wireLen(fSocketAddress, "203.0.113.7\xff"))))+
					wireEntry(fAttrExtensions, "route", "log\xc0\x80in")+
					wireLen(fAttrRequest, wireLen(fRequestHTTP, wireEntry(fHTTPHeaders, "x-forwarded-for", "198.51.100.1,\xed\xa0\x80"))))),
			want: &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
					SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7!"}}}},
				ContextExtensions: map[string]string{"route": "log!!in"},
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
					Headers: map[string]string{"x-forwarded-for": "198.51.100.1,!!!"}}},
			}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := proto.Unmarshal(c.wire, new(authv3.CheckRequest)); err == nil {
				t.Fatal("the test message is valid: protobuf-go decodes it without the codec")
			}
			var got authv3.CheckRequest
			sanitized, err := codecUnmarshal(t, c.wire, &got)
			if err != nil {
				t.Fatalf("codec: %v", err)
			}
			if !proto.Equal(&got, c.want) {
				t.Errorf("decoded\n %v\nwant\n %v", &got, c.want)
			}
			if want := []protoreflect.FullName{"envoy.service.auth.v3.CheckRequest"}; len(sanitized) != 1 || sanitized[0] != want[0] {
				t.Errorf("sanitized reports %v, want %v", sanitized, want)
			}
		})
	}
}

// TestCodecLeavesOtherFieldsAlone: unknown fields and fields sent with
// another wire type than their declared one are kept byte for byte, as
// protobuf-go keeps them, while the known strings are sanitized.
func TestCodecLeavesOtherFieldsAlone(t *testing.T) {
	unknown := wireLen(fHTTPUnknownNumber, "\xff\xfe")
	wrongType := wireVarint(fHTTPPath, 7) // path as a varint: unknown to protobuf-go
	wire := wireHTTP(unknown, wrongType, wireLen(fHTTPMethod, "G\xffT"))
	var got authv3.CheckRequest
	if _, err := codecUnmarshal(t, wire, &got); err != nil {
		t.Fatal(err)
	}
	h := got.GetAttributes().GetRequest().GetHttp()
	if h.GetMethod() != "G!T" || h.GetPath() != "" {
		t.Errorf("method %q path %q, want G!T and no path", h.GetMethod(), h.GetPath())
	}
	if u := string(h.ProtoReflect().GetUnknown()); u != unknown+wrongType {
		t.Errorf("unknown fields %q, want %q", u, unknown+wrongType)
	}
}

// TestCodecKeepsOtherErrors: a message that fails for another reason than
// UTF-8 gets exactly grpc's codec error, and one that still fails after
// sanitizing is an error too.
func TestCodecKeepsOtherErrors(t *testing.T) {
	grpcCodec := encoding.GetCodecV2(grpcproto.Name)
	good := wireHTTP(wireLen(fHTTPPath, "/"))
	bad := wireHTTP(wireLen(fHTTPPath, "/\xff"))
	cases := map[string][]byte{
		"truncated":                   good[:len(good)-1],
		"truncated with bad UTF-8":    bad[:len(bad)-1],
		"bad UTF-8 then a bad tag":    append(bytes.Clone(bad), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"end group at the top":        append(bytes.Clone(bad), byte(protowire.EncodeTag(5, protowire.EndGroupType))),
		"bad UTF-8, malformed deeper": append(bytes.Clone(bad), wireLen(fCheckAttributes, wireLen(fAttrRequest, "\x12\x05"))...),
	}
	for name, wire := range cases {
		t.Run(name, func(t *testing.T) {
			sanitized, err := codecUnmarshal(t, wire, new(authv3.CheckRequest))
			if err == nil {
				t.Fatal("decoded a malformed message")
			}
			if len(sanitized) != 0 {
				t.Errorf("reported %v as sanitized", sanitized)
			}
			want := grpcCodec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, new(authv3.CheckRequest))
			if err.Error() != want.Error() {
				t.Errorf("error %q, want grpc's %q", err, want)
			}
		})
	}
}

// TestCodecFastPath: a valid message decodes as protobuf-go decodes it and
// is not reported; Marshal writes what grpc's codec writes.
func TestCodecFastPath(t *testing.T) {
	req := httpRequest(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/caf\u00e9", Headers: map[string]string{
		"user-agent": "Mozilla/5.0 \u2713 \U0001F600 \uFFFD"}})
	wire, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var got authv3.CheckRequest
	sanitized, err := codecUnmarshal(t, wire, &got)
	if err != nil || len(sanitized) != 0 || !proto.Equal(&got, req) {
		t.Errorf("decoded %v, sanitized %v, err %v; want %v unreported", &got, sanitized, err, req)
	}

	c, err := NewCodec(CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resp := &authv3.CheckResponse{DynamicMetadata: &structpb.Struct{Fields: map[string]*structpb.Value{"a": structpb.NewStringValue("b")}}}
	ours, err := c.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := encoding.GetCodecV2(grpcproto.Name).Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours.Materialize(), theirs.Materialize()) {
		t.Error("Marshal differs from grpc's proto codec")
	}
	if c.Name() != "proto" {
		t.Errorf("Name %q, want proto", c.Name())
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, "not a message"); err == nil {
		t.Error("Unmarshal into a string succeeded")
	}
}

// TestCodecIsGeneric decodes other messages the server shares the codec
// with: a health check, and a message with a group (editions' delimited
// encoding) and a map of strings, built at run time.
func TestCodecIsGeneric(t *testing.T) {
	t.Run("health check", func(t *testing.T) {
		var got healthpb.HealthCheckRequest
		sanitized, err := codecUnmarshal(t, []byte(wireLen(1, "envoy.service.auth.v3.Authorization\xff")), &got)
		if err != nil || got.GetService() != "envoy.service.auth.v3.Authorization!" {
			t.Fatalf("service %q, err %v", got.GetService(), err)
		}
		if len(sanitized) != 1 || sanitized[0] != "grpc.health.v1.HealthCheckRequest" {
			t.Errorf("sanitized reports %v", sanitized)
		}
	})
	t.Run("group and map", func(t *testing.T) {
		md := codecTestFile(t).Messages().ByName("M")
		const gNum, sNum, mNum = 1, 2, 3
		group := string(protowire.AppendTag(nil, gNum, protowire.StartGroupType)) + wireLen(1, "in\xffner") +
			wireLen(99, "\xff") + // unknown inside the group
			string(protowire.AppendTag(nil, gNum, protowire.EndGroupType))
		wire := []byte(group + wireLen(sNum, "out\xfeer") + wireEntry(mNum, "k\xc3", "v\xc3"))
		got := dynamicpb.NewMessage(md)
		sanitized, err := codecUnmarshal(t, wire, got)
		if err != nil {
			t.Fatal(err)
		}
		inner := got.Get(md.Fields().ByNumber(gNum)).Message()
		if s := inner.Get(inner.Descriptor().Fields().ByNumber(1)).String(); s != "in!ner" {
			t.Errorf("group string %q, want in!ner", s)
		}
		if u := string(inner.GetUnknown()); u != wireLen(99, "\xff") {
			t.Errorf("group's unknown field %q changed", u)
		}
		if s := got.Get(md.Fields().ByNumber(sNum)).String(); s != "out!er" {
			t.Errorf("string %q, want out!er", s)
		}
		m := got.Get(md.Fields().ByNumber(mNum)).Map()
		if v := m.Get(protoreflect.ValueOfString("k!").MapKey()); v.String() != "v!" {
			t.Errorf("map entry k! = %q, want v!", v.String())
		}
		if len(sanitized) != 1 || sanitized[0] != "codectest.M" {
			t.Errorf("sanitized reports %v", sanitized)
		}
	})
}

// codecTestFile builds, in edition 2023 (whose strings protobuf-go
// validates), message M { G g = 1 [delimited]; string s = 2;
// map<string, string> m = 3; } with message G { string s = 1; }, and
// message R { string s = 1 [legacy required]; string t = 2; }.
func codecTestFile(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	msg := descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	fd := &descriptorpb.FileDescriptorProto{
		Name: proto.String("codectest.proto"), Package: proto.String("codectest"),
		Syntax: proto.String("editions"), Edition: descriptorpb.Edition_EDITION_2023.Enum(),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("G"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("s"), Number: proto.Int32(1), Type: str, Label: opt}}},
			{Name: proto.String("M"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("g"), Number: proto.Int32(1), Type: msg, Label: opt, TypeName: proto.String(".codectest.G"),
					Options: &descriptorpb.FieldOptions{Features: &descriptorpb.FeatureSet{
						MessageEncoding: descriptorpb.FeatureSet_DELIMITED.Enum()}}},
				{Name: proto.String("s"), Number: proto.Int32(2), Type: str, Label: opt},
				{Name: proto.String("m"), Number: proto.Int32(3), Type: msg, Label: rep, TypeName: proto.String(".codectest.M.MEntry")},
			}, NestedType: []*descriptorpb.DescriptorProto{
				{Name: proto.String("MEntry"), Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
					Field: []*descriptorpb.FieldDescriptorProto{
						{Name: proto.String("key"), Number: proto.Int32(1), Type: str, Label: opt},
						{Name: proto.String("value"), Number: proto.Int32(2), Type: str, Label: opt}}},
			}},
			{Name: proto.String("R"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("s"), Number: proto.Int32(1), Type: str, Label: opt,
					Options: &descriptorpb.FieldOptions{Features: &descriptorpb.FeatureSet{
						FieldPresence: descriptorpb.FeatureSet_LEGACY_REQUIRED.Enum()}}},
				{Name: proto.String("t"), Number: proto.Int32(2), Type: str, Label: opt}}},
		},
	}
	f, err := protodesc.NewFile(fd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k := f.Messages().ByName("M").Fields().ByNumber(1).Kind(); k != protoreflect.GroupKind {
		t.Fatalf("field g is %v, want a group", k)
	}
	return f
}

// TestCodecStillFailing: a message whose invalid UTF-8 hid another error
// (here a missing required field) is still refused after sanitizing, and
// not reported as sanitized.
func TestCodecStillFailing(t *testing.T) {
	md := codecTestFile(t).Messages().ByName("R")
	sanitized, err := codecUnmarshal(t, []byte(wireLen(2, "\xff")), dynamicpb.NewMessage(md))
	if err == nil || !strings.Contains(err.Error(), "still does not decode") || !strings.Contains(err.Error(), "required") {
		t.Errorf("err %v, want a required-field error after sanitizing", err)
	}
	if len(sanitized) != 0 {
		t.Errorf("reported %v as sanitized", sanitized)
	}
}

// TestCodecBoundsNesting: a message nested past protobuf-go's recursion
// limit is an error, not a stack overflow, even with a bad string at the
// bottom.
func TestCodecBoundsNesting(t *testing.T) {
	// google.protobuf.Value nests through list_value (6) → values (1).
	wire := wireLen(3, "\xff") // string_value
	for range protowire.DefaultRecursionLimit / 2 {
		wire = wireLen(6, wireLen(1, wire))
	}
	if _, err := codecUnmarshal(t, []byte(wire), new(structpb.Value)); err == nil {
		t.Fatal("decoded a message nested past the recursion limit")
	}
	var s sanitizer
	if _, err := s.message([]byte(wire), (*structpb.Value)(nil).ProtoReflect().Descriptor(), 0, 100); !errors.Is(err, errRecursion) {
		t.Errorf("sanitizer error %v, want %v", err, errRecursion)
	}
}

// TestSanitizeStringLikeEnvoy: one '!' per byte that is not part of valid
// UTF-8, as Envoy's MessageUtil::sanitizeUtf8String; valid text, U+FFFD
// included, is unchanged.
func TestSanitizeStringLikeEnvoy(t *testing.T) {
	cases := []struct{ in, want string }{
		// Envoy's own test vector.
		{"valid_prefix\xc3\xc7valid_middle\xc4valid_suffix", "valid_prefix!!valid_middle!valid_suffix"},
		{"already valid", "already valid"},
		{"caf\u00e9 \u2713 \U0001F600 \uFFFD", "caf\u00e9 \u2713 \U0001F600 \uFFFD"},
		{"\x80", "!"},                // lone continuation byte
		{"a\xe2\x82", "a!!"},         // truncated at the end
		{"\xe2\x82a", "!!a"},         // truncated before ASCII
		{"\xed\xa0\x80", "!!!"},      // a surrogate
		{"\xc0\x80", "!!"},           // overlong NUL
		{"\xf4\x90\x80\x80", "!!!!"}, // past U+10FFFF
		{"\xff\xfe\xfd", "!!!"},      // never valid
		{"\xf0\x9f\x98\x80\xf0\x9f", "\U0001F600!!"},
	}
	for _, c := range cases {
		b := []byte(c.in)
		n := sanitizeString(b)
		if string(b) != c.want {
			t.Errorf("sanitize(%q) = %q, want %q", c.in, b, c.want)
		}
		if want := strings.Count(c.want, "!") - strings.Count(c.in, "!"); n != want {
			t.Errorf("sanitize(%q) replaced %d bytes, want %d", c.in, n, want)
		}
	}
}

// FuzzSanitize: any bytes decoded as a CheckRequest through the codec give
// an error or a message protobuf-go accepts; a message protobuf-go decodes
// by itself is left unchanged; the sanitizer only turns bytes above 0x7f
// into '!'.
func FuzzSanitize(f *testing.F) {
	for _, req := range []*authv3.CheckRequest{
		httpRequest(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/", Headers: map[string]string{"user-agent": "curl/8.5.0"}}),
		httpRequest(&authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: "user-agent", RawValue: []byte("\xffcurl")}}}}),
	} {
		wire, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Add(wireHTTP(wireEntry(fHTTPHeaders, "user-agent", "curl\xff/8.5\xc3")))
	f.Add(wireHTTP(wireLen(fHTTPPath, "/caf\xe9"), wireLen(fHTTPUnknownNumber, "\xff")))
	f.Add([]byte{0x0a, 0x05, 0x22, 0x03, 0x12, 0x01, 0xff})
	md := (*authv3.CheckRequest)(nil).ProtoReflect().Descriptor()
	c, err := NewCodec(CodecOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		var plain authv3.CheckRequest
		plainErr := proto.Unmarshal(wire, &plain)

		patched := bytes.Clone(wire)
		n, err := sanitizeUTF8(patched, md)
		if plainErr == nil && (err != nil || n != 0 || !bytes.Equal(patched, wire)) {
			t.Fatalf("a valid message was rewritten: %d bytes, err %v", n, err)
		}
		if err == nil {
			changed := 0
			for i := range wire {
				if patched[i] != wire[i] {
					if patched[i] != '!' || wire[i] < 0x80 {
						t.Fatalf("byte %d: %#x became %#x", i, wire[i], patched[i])
					}
					changed++
				}
			}
			if changed != n {
				t.Fatalf("reported %d replacements, made %d", n, changed)
			}
		}

		var got authv3.CheckRequest
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &got); err != nil {
			if plainErr == nil {
				t.Fatalf("the codec refused what protobuf-go decodes: %v", err)
			}
			return
		}
		if plainErr == nil && !proto.Equal(&got, &plain) {
			t.Fatalf("the codec decoded %v, protobuf-go %v", &got, &plain)
		}
		out, err := proto.Marshal(&got) // refuses invalid UTF-8 in strings
		if err != nil {
			t.Fatalf("the decoded message does not marshal: %v", err)
		}
		if err := proto.Unmarshal(out, new(authv3.CheckRequest)); err != nil {
			t.Fatalf("protobuf-go refuses the decoded message: %v", err)
		}
	})
}

// TestAnswerBufferGoesBackWhenFreed checks the life of an allow answer's
// buffer: the Codec hands grpc the bytes written in it, and grpc's Free,
// once the answer is on the connection, returns it to the pool for the
// next answer. (A pool may drop what it is given, as sync.Pool does at
// random under the race detector, hence the tries.)
func TestAnswerBufferGoesBackWhenFreed(t *testing.T) {
	c, err := NewCodec(CodecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var p answerPool
	for try := 0; ; try++ {
		if try == 100 {
			t.Fatal("no buffer came back to the pool in 100 answers")
		}
		b := p.Get(0)
		if len(*b) != 0 || cap(*b) < answerBufferSize {
			t.Fatalf("Get: len %d, cap %d; want an empty buffer of at least %d bytes", len(*b), cap(*b), answerBufferSize)
		}
		*b = append(*b, "answer"...)
		out, err := c.Marshal(p.wrap(b))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(out.Materialize()); got != "answer" {
			t.Fatalf("Marshal sent %q, want the bytes written", got)
		}
		out.Free()
		if p.Get(0) == b {
			return
		}
	}
}

// TestAnswerPoolGetsTheLengthAskedFor checks Get as mem.BufferPool
// describes it: a buffer of the length asked for, here also one longer
// than the pool's buffers.
func TestAnswerPoolGetsTheLengthAskedFor(t *testing.T) {
	var p answerPool
	for _, n := range []int{0, 1, answerBufferSize, answerBufferSize + 1, 3 * answerBufferSize} {
		b := p.Get(n)
		if len(*b) != n || cap(*b) < answerBufferSize {
			t.Errorf("Get(%d): len %d, cap %d", n, len(*b), cap(*b))
		}
		p.Put(b)
	}
}

// TestAnswerPoolDropsOutsizedBuffers checks that a buffer an outsized
// answer grew is not kept.
func TestAnswerPoolDropsOutsizedBuffers(t *testing.T) {
	var p answerPool
	big := make([]byte, 0, maxPooledAnswer+1)
	for range 100 {
		p.Put(&big)
		if b := p.Get(0); cap(*b) > maxPooledAnswer {
			t.Fatalf("Get returned a buffer of %d bytes, more than the %d the pool keeps", cap(*b), maxPooledAnswer)
		}
	}
}
