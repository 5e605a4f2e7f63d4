package extauthz

import (
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// utf8Replacement is what replaces each byte of invalid UTF-8, as Envoy's
// MessageUtil::sanitizeUtf8String does for the strings it sends: a client's
// bytes then look the same to the scorer whichever Envoy sent them.
const utf8Replacement = '!'

// CodecOptions configure NewCodec.
type CodecOptions struct {
	// Sanitized is called once for every message that decoded only after
	// its invalid UTF-8 was replaced, with the message's full name; nil for
	// none. It runs on the RPC's goroutine before the handler, so it must be
	// fast and must not block.
	Sanitized func(protoreflect.FullName)
}

// Codec is the gRPC server codec of botauthz: grpc's own "proto" codec,
// except that a request carrying invalid UTF-8 in a string field is
// decoded instead of refused.
//
// protobuf-go refuses to unmarshal a proto3 string field that is not
// UTF-8, so a CheckRequest with such bytes (in the path, the host, a header
// value …) would fail with a gRPC Internal error before the Check runs, and
// Envoy's failure mode, not botauthz, would decide the request. Envoy
// replaces invalid UTF-8 with '!' in the header values it puts in headers
// (since 1.22.10), but it copies :path and :authority into path and host
// as they came, and HTTP/1 and HTTP/2 both let a client send bytes above
// 0x7f there; older Envoys and other callers sanitize nothing. Codec
// first tries a plain proto.Unmarshal, so a valid message costs exactly what
// it costs with grpc's codec; only when that fails and the message has
// invalid UTF-8 in a string field does it replace every bad byte with '!'
// and decode again. Bytes fields (header_map's raw_value, raw_body) and
// unknown fields are left as they are. Anything else that fails to decode
// stays an error.
//
// Codec works for any message, so health checks and reflection can share
// the server. Install it with grpc.ForceServerCodecV2; it is never
// registered globally.
type Codec struct {
	base      encoding.CodecV2
	sanitized func(protoreflect.FullName)
}

var _ encoding.CodecV2 = (*Codec)(nil)

// NewCodec returns a Codec.
func NewCodec(opts CodecOptions) (*Codec, error) {
	// grpc registers its proto codec when its encoding/proto package is
	// initialised, which this package imports, so it is always there.
	base := encoding.GetCodecV2(grpcproto.Name)
	if base == nil {
		return nil, errors.New("extauthz: codec: grpc's proto codec is not registered")
	}
	return &Codec{base: base, sanitized: opts.Sanitized}, nil
}

// Name returns "proto": the codec replaces grpc's for the content type
// Envoy sends (application/grpc, which means proto).
func (*Codec) Name() string { return grpcproto.Name }

// Marshal encodes v exactly as grpc's proto codec does: responses are ours
// and always valid. A response the Check handler already wrote in the wire
// format (wireResponse) is sent as it is.
func (c *Codec) Marshal(v any) (mem.BufferSlice, error) {
	if w, ok := v.(*wireResponse); ok {
		return w.buffers[:], nil
	}
	return c.base.Marshal(v)
}

// wireResponse is a CheckResponse in the wire format, as the Check handler
// wrote it (appendAllowed), for the Codec to send as it is: the buffer list
// the Codec hands grpc.
type wireResponse struct {
	buffers [1]mem.Buffer
}

// bytes is the answer.
func (w *wireResponse) bytes() []byte { return w.buffers[0].ReadOnlyData() }

// answerBufferSize is the capacity of the buffers answers are written in:
// an allow answer with every header and metadata field is about 400
// bytes, and grpc returns to their pool only buffers larger than its
// pooling threshold (1 KiB), so smaller ones would be garbage again.
const answerBufferSize = 2 << 10

// maxPooledAnswer bounds the buffers the pool keeps, so one outsized
// answer does not stay pinned.
const maxPooledAnswer = 16 << 10

// answerPool is where allow answers are written: grpc frees an answer's
// buffer (mem.Buffer) once the answer is written to the connection, which
// puts it back here for the next Check. Written anew for every Check, the
// answer was 7% of the bytes a Check allocated, and of the collections
// they cost. The zero value is ready to use.
type answerPool struct{ pool sync.Pool }

// Get implements mem.BufferPool: a buffer of length bytes, with room for
// at least answerBufferSize. The handler asks for none and appends.
func (p *answerPool) Get(length int) *[]byte {
	b, ok := p.pool.Get().(*[]byte)
	if !ok || cap(*b) < length {
		fresh := make([]byte, 0, max(length, answerBufferSize))
		b = &fresh
	}
	*b = (*b)[:length]
	return b
}

// Put implements mem.BufferPool.
func (p *answerPool) Put(b *[]byte) {
	if cap(*b) > maxPooledAnswer {
		return
	}
	p.pool.Put(b)
}

// wrap returns the answer written in b, a buffer of p's; grpc's Free of
// it returns b to p.
func (p *answerPool) wrap(b *[]byte) *wireResponse {
	return &wireResponse{buffers: [1]mem.Buffer{mem.NewBuffer(b, p)}}
}

// Unmarshal decodes data into v, replacing invalid UTF-8 in string fields
// with '!' when, and only when, the message does not decode as it is.
func (c *Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if w, ok := v.(*wireRequest); ok {
		return c.unmarshalWire(data, w)
	}
	m := messageOf(v)
	if m == nil {
		return fmt.Errorf("extauthz: codec: cannot unmarshal into %T, want a proto.Message", v)
	}
	// As grpc's codec: one contiguous buffer, borrowed from the pool (no
	// copy when the message arrived in one piece).
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return c.unmarshal(buf.ReadOnlyData(), m, false)
}

// unmarshalWire reads a Check's facts from the wire into w, or when they
// cannot be read that way, decodes w's CheckRequest.
func (c *Codec) unmarshalWire(data mem.BufferSlice, w *wireRequest) error {
	w.codec = true
	// One copy that the facts' strings point into (a decoded CheckRequest
	// would hold a string per field instead): the pooled buffer goes back
	// to grpc when this returns.
	w.data = data.Materialize()
	if w.facts.parse(w.data) {
		w.parsed = true
		if w.facts.sanitized && c.sanitized != nil {
			c.sanitized(checkRequestName)
		}
		return nil
	}
	w.facts.reset()
	return c.unmarshal(w.data, &w.CheckRequest, true)
}

// checkRequestName is the full name the Sanitized option is called with
// for a Check.
var checkRequestName = (*authv3.CheckRequest)(nil).ProtoReflect().Descriptor().FullName()

// unmarshal decodes b into m. owned says b may be patched in place.
func (c *Codec) unmarshal(b []byte, m proto.Message, owned bool) error {
	err := proto.Unmarshal(b, m)
	if err == nil {
		return nil
	}
	// The slow path: only requests that already failed get here. A copy is
	// patched in place unless b is ours: grpc's buffer is read-only and may
	// be shared.
	if !owned {
		b = append([]byte(nil), b...)
	}
	md := m.ProtoReflect().Descriptor()
	replaced, serr := sanitizeUTF8(b, md)
	if serr != nil || replaced == 0 {
		// Malformed, or failing for another reason than UTF-8: grpc's
		// error as it would have been without this codec.
		return err
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("extauthz: codec: %s still does not decode after replacing %d bytes of invalid UTF-8: %w",
			md.FullName(), replaced, err)
	}
	if c.sanitized != nil {
		c.sanitized(md.FullName())
	}
	return nil
}

// messageOf returns v as a proto.Message, as grpc's codec accepts it.
func messageOf(v any) proto.Message {
	switch v := v.(type) {
	case protoadapt.MessageV2:
		return v
	case protoadapt.MessageV1:
		return protoadapt.MessageV2Of(v)
	}
	return nil
}

// sanitizeUTF8 replaces, in place, every byte of invalid UTF-8 in the string
// fields of b, a message of type md in the protobuf wire format, with '!',
// one '!' per bad byte as Envoy does. Lengths stay the same, so no length
// prefix changes. It walks message fields (map entries included, which are
// messages) and groups; bytes fields and fields md does not know (or knows
// with another wire type, which protobuf-go keeps as unknown) are left
// untouched. It reports how many bytes it replaced, or an error when b is not
// well-formed, in which case b may be partly rewritten.
func sanitizeUTF8(b []byte, md protoreflect.MessageDescriptor) (replaced int, err error) {
	s := sanitizer{}
	if _, err := s.message(b, md, 0, protowire.DefaultRecursionLimit); err != nil {
		return 0, err
	}
	return s.replaced, nil
}

// errRecursion is the error of a message nested deeper than protobuf-go
// would decode.
var errRecursion = errors.New("exceeds the maximum nesting depth")

type sanitizer struct {
	replaced int
}

// message sanitizes the fields of one message of type md at the start of b.
// A message of its own (group == 0) spans all of b; a group ends at its
// end-group tag of number group. It returns the bytes consumed, the end tag
// included. depth bounds the nesting as protobuf-go's recursion limit does,
// so that no input can exhaust the stack.
func (s *sanitizer) message(b []byte, md protoreflect.MessageDescriptor, group protowire.Number, depth int) (int, error) {
	if depth <= 0 {
		return 0, errRecursion
	}
	fields := md.Fields()
	off := 0
	for off < len(b) {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return 0, fmt.Errorf("%s: tag at offset %d: %w", md.FullName(), off, protowire.ParseError(n))
		}
		off += n
		if typ == protowire.EndGroupType {
			if num != group {
				return 0, fmt.Errorf("%s: unexpected end of group %d at offset %d", md.FullName(), num, off)
			}
			return off, nil
		}
		fd := fields.ByNumber(num)
		if fd == nil && md.ExtensionRanges().Has(num) {
			// protobuf-go decodes (and validates) the extensions it finds
			// in the global registry; so does this walk.
			if xt, err := protoregistry.GlobalTypes.FindExtensionByNumber(md.FullName(), num); err == nil {
				fd = xt.TypeDescriptor()
			}
		}
		var kind protoreflect.Kind
		if fd != nil {
			kind = fd.Kind()
		}
		switch {
		case typ == protowire.BytesType && kind == protoreflect.StringKind:
			v, n := protowire.ConsumeBytes(b[off:])
			if n < 0 {
				return 0, fmt.Errorf("%s: field %d: %w", md.FullName(), num, protowire.ParseError(n))
			}
			s.replaced += sanitizeString(v) // v aliases b
			off += n
		case typ == protowire.BytesType && kind == protoreflect.MessageKind:
			v, n := protowire.ConsumeBytes(b[off:])
			if n < 0 {
				return 0, fmt.Errorf("%s: field %d: %w", md.FullName(), num, protowire.ParseError(n))
			}
			if _, err := s.message(v, fd.Message(), 0, depth-1); err != nil {
				return 0, err
			}
			off += n
		case typ == protowire.StartGroupType && kind == protoreflect.GroupKind:
			n, err := s.message(b[off:], fd.Message(), num, depth-1)
			if err != nil {
				return 0, err
			}
			off += n
		default:
			// Scalars, bytes and unknown fields: skipped unread.
			n := protowire.ConsumeFieldValue(num, typ, b[off:])
			if n < 0 {
				return 0, fmt.Errorf("%s: field %d: %w", md.FullName(), num, protowire.ParseError(n))
			}
			off += n
		}
	}
	if group != 0 {
		return 0, fmt.Errorf("%s: group %d not closed", md.FullName(), group)
	}
	return off, nil
}

// sanitizeString replaces each byte of v that is not part of a valid UTF-8
// sequence with '!', in place, and returns how many it replaced. Valid means
// what protobuf-go accepts (utf8.Valid: no surrogates, no overlong forms),
// which is also what Envoy's validator accepts; an encoded U+FFFD is valid
// and stays.
func sanitizeString(v []byte) int {
	n := 0
	for i := 0; i < len(v); {
		if v[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(v[i:])
		if r == utf8.RuneError && size == 1 {
			v[i] = utf8Replacement
			n++
		}
		i += size
	}
	return n
}
