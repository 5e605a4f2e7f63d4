package extauthz

import (
	"encoding/binary"
	"unicode/utf8"
	"unsafe"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protowire"
)

// wireRequest is a CheckRequest as the gRPC handler receives it. The codec
// reads the few fields a Check uses straight from the wire into facts,
// without building the CheckRequest: decoding one into Go structs (its
// header maps, one string per header name and value) was the largest single
// cost of a Check's gRPC handling, about a fifth of the no-op server's CPU
// per Check. When the fast reader cannot read the bytes (they are not
// well-formed where it looks), the codec decodes the embedded CheckRequest
// as grpc would, and the Check reads that instead; so does any codec other
// than ours, since *wireRequest is a proto.Message through the embedding.
type wireRequest struct {
	authv3.CheckRequest
	// parsed is true when facts holds the request: the codec read it from
	// the wire. False: the CheckRequest holds it.
	parsed bool
	// codec is true when our Codec decoded the request: it then also
	// writes the answer, and can send one the handler wrote itself
	// (wireResponse), which another codec could not.
	codec bool
	// data is the request's bytes, which facts' strings point into; a new
	// slice for every request, never reused, because the response and the
	// decision's records may hold those strings after the handler returns.
	data  []byte
	facts wireFacts
}

// reset readies w for the pool.
func (w *wireRequest) reset() {
	if w.parsed {
		w.facts.reset()
	} else {
		w.CheckRequest.Reset()
	}
	w.parsed, w.codec, w.data = false, false, nil
}

// wireFacts are the fields of a CheckRequest that readFacts uses, read from
// the wire with the semantics of protobuf decoding: the last value of a
// scalar wins, a message that occurs twice is merged, repeated fields and
// map entries accumulate (the last entry of a map key wins), a oneof keeps
// its last case. Strings point into the request's bytes; invalid UTF-8 in a
// string field is replaced in place with '!' per bad byte, as the codec's
// slow path does for a whole message.
type wireFacts struct {
	route                                string
	http                                 bool
	method, scheme, protocol, host, path string
	// source is the L4 peer's socket address.
	source string
	// headers are the headers map's entries in the order they came.
	headers []wireHeader
	// headerMap are header_map's entries with their value chosen (raw_value
	// when set, else value); headerMapLen counts its entries, empty keys
	// included, which decide between the two encodings as in readFacts.
	headerMap []wireHeader
	// sanitized is set when some string had invalid UTF-8 replaced.
	sanitized bool
}

type wireHeader struct{ key, value string }

// maxPooledWireHeaders bounds the header slices a pooled wireRequest keeps.
const maxPooledWireHeaders = 256

func (w *wireFacts) reset() {
	headers, headerMap := w.headers, w.headerMap
	if cap(headers) > maxPooledWireHeaders {
		headers = nil
	}
	if cap(headerMap) > maxPooledWireHeaders {
		headerMap = nil
	}
	clear(headers)
	clear(headerMap)
	*w = wireFacts{headers: headers[:0], headerMap: headerMap[:0]}
}

// Field numbers of the messages on the way to the facts
// (envoy/service/auth/v3/attribute_context.proto, external_auth.proto,
// envoy/config/core/v3/address.proto and base.proto).
const (
	fieldCheckRequestAttributes = 1

	fieldAttributesSource            = 1
	fieldAttributesRequest           = 4
	fieldAttributesContextExtensions = 10

	fieldPeerAddress = 1

	fieldAddressSocket   = 1 // oneof address: socket_address
	fieldAddressPipe     = 2 // pipe
	fieldAddressInternal = 3 // envoy_internal_address

	fieldSocketAddressAddress = 2

	fieldRequestHTTP = 2

	fieldHTTPMethod    = 2
	fieldHTTPHeaders   = 3
	fieldHTTPPath      = 4
	fieldHTTPHost      = 5
	fieldHTTPScheme    = 6
	fieldHTTPProtocol  = 10
	fieldHTTPHeaderMap = 13

	fieldHeaderMapHeaders = 1

	fieldHeaderValueKey   = 1
	fieldHeaderValueValue = 2
	fieldHeaderValueRaw   = 3

	fieldMapKey   = 1
	fieldMapValue = 2
)

// parse reads a CheckRequest's facts from b, which it may patch in place
// (invalid UTF-8). It reports false when b is not well-formed along the
// fields it reads; fields it does not read are skipped by their framing
// only, so garbage inside one of them (which protobuf decoding would refuse)
// does not stop a Check.
//
// It runs for every Check. Each message is a plain loop over its fields
// (field): walked with a closure per message instead, the calls cost as
// much as the reading.
func (w *wireFacts) parse(b []byte) bool {
	for len(b) > 0 {
		num, v, rest, ok := field(b)
		if !ok {
			return false
		}
		b = rest
		if num == fieldCheckRequestAttributes && !w.attributes(v) {
			return false
		}
	}
	return true
}

func (w *wireFacts) attributes(b []byte) bool {
	for len(b) > 0 {
		num, v, rest, ok := field(b)
		if !ok {
			return false
		}
		b = rest
		switch num {
		case fieldAttributesSource:
			if !w.peer(v) {
				return false
			}
		case fieldAttributesRequest:
			if !w.request(v) {
				return false
			}
		case fieldAttributesContextExtensions:
			k, val, ok := w.mapEntry(v)
			if !ok {
				return false
			}
			if k == "route" {
				w.route = val
			}
		}
	}
	return true
}

// peer reads an AttributeContext.Peer.
func (w *wireFacts) peer(b []byte) bool {
	for len(b) > 0 {
		num, v, rest, ok := field(b)
		if !ok {
			return false
		}
		b = rest
		if num == fieldPeerAddress && !w.address(v) {
			return false
		}
	}
	return true
}

// request reads an AttributeContext.Request.
func (w *wireFacts) request(b []byte) bool {
	for len(b) > 0 {
		num, v, rest, ok := field(b)
		if !ok {
			return false
		}
		b = rest
		if num == fieldRequestHTTP {
			w.http = true
			if !w.httpRequest(v) {
				return false
			}
		}
	}
	return true
}

// address reads a core.v3.Address: its oneof keeps the last case seen, so
// another case clears the socket address, and one that follows starts
// from nothing.
func (w *wireFacts) address(b []byte) bool {
	for len(b) > 0 {
		num, v, rest, ok := field(b)
		if !ok {
			return false
		}
		b = rest
		switch num {
		case fieldAddressSocket:
			if !w.socketAddress(v) {
				return false
			}
		case fieldAddressPipe, fieldAddressInternal:
			w.source = ""
		}
	}
	return true
}

// socketAddress reads a core.v3.SocketAddress.
func (w *wireFacts) socketAddress(b []byte) bool {
	for len(b) > 0 {
		num, v, rest, ok := field(b)
		if !ok {
			return false
		}
		b = rest
		if num == fieldSocketAddressAddress {
			w.source = w.text(v)
		}
	}
	return true
}

func (w *wireFacts) httpRequest(b []byte) bool {
	for len(b) > 0 {
		num, v, rest, ok := field(b)
		if !ok {
			return false
		}
		b = rest
		switch num {
		case fieldHTTPMethod:
			w.method = w.text(v)
		case fieldHTTPPath:
			w.path = w.text(v)
		case fieldHTTPHost:
			w.host = w.text(v)
		case fieldHTTPScheme:
			w.scheme = w.text(v)
		case fieldHTTPProtocol:
			w.protocol = w.text(v)
		case fieldHTTPHeaders:
			k, val, ok := w.mapEntry(v)
			w.headers = append(w.headers, wireHeader{k, val})
			if !ok {
				return false
			}
		case fieldHTTPHeaderMap:
			if !w.headerMapHeaders(v) {
				return false
			}
		}
	}
	return true
}

// headerMapHeaders reads a core.v3.HeaderMap.
func (w *wireFacts) headerMapHeaders(b []byte) bool {
	for len(b) > 0 {
		num, v, rest, ok := field(b)
		if !ok {
			return false
		}
		b = rest
		if num == fieldHeaderMapHeaders && !w.headerValue(v) {
			return false
		}
	}
	return true
}

// headerValue reads one header_map entry and keeps its text as headerText
// does: raw_value when set (as is when UTF-8, else sanitized), else value.
func (w *wireFacts) headerValue(b []byte) bool {
	// An entry is mostly ASCII as a whole, its tags and lengths included
	// (a value under 128 bytes): one check of it then does for its key
	// and value, which as short strings cost more to check one by one.
	ascii := isASCII(b)
	var key, value string
	var raw []byte
	ok := true
	for len(b) > 0 {
		num, v, rest, fieldOK := field(b)
		if !fieldOK {
			// parse fails, and the request is decoded from b instead: a
			// raw_value read so far is still sanitized below, so that b
			// is patched as it always was.
			ok = false
			break
		}
		b = rest
		switch num {
		case fieldHeaderValueKey:
			key = w.textIn(v, ascii)
		case fieldHeaderValueValue:
			value = w.textIn(v, ascii)
		case fieldHeaderValueRaw:
			raw = v
		}
	}
	if len(raw) > 0 {
		// A bytes field, which protobuf leaves as it is; headerText then
		// sanitizes it as Envoy would have.
		if !ascii && !isASCII(raw) && !utf8.Valid(raw) {
			sanitizeString(raw)
		}
		value = unsafe.String(unsafe.SliceData(raw), len(raw))
	}
	w.headerMap = append(w.headerMap, wireHeader{key, value})
	return ok
}

// mapEntry reads a map<string, string> entry; a missing key or value is "".
func (w *wireFacts) mapEntry(b []byte) (key, value string, ok bool) {
	ascii := isASCII(b) // as in headerValue
	for len(b) > 0 {
		num, v, rest, ok := field(b)
		if !ok {
			return key, value, false
		}
		b = rest
		switch num {
		case fieldMapKey:
			key = w.textIn(v, ascii)
		case fieldMapValue:
			value = w.textIn(v, ascii)
		}
	}
	return key, value, true
}

// text is a string field's bytes as a string, invalid UTF-8 replaced.
func (w *wireFacts) text(v []byte) string {
	// Nearly every string of a Check is ASCII, which isASCII tells for
	// less than utf8.Valid costs.
	if !isASCII(v) && !utf8.Valid(v) {
		sanitizeString(v)
		w.sanitized = true
	}
	return unsafe.String(unsafe.SliceData(v), len(v))
}

// textIn is text for a field of a message that is all ASCII when ascii is
// set: its strings need no check of their own.
func (w *wireFacts) textIn(v []byte, ascii bool) string {
	if ascii {
		return unsafe.String(unsafe.SliceData(v), len(v))
	}
	return w.text(v)
}

// isASCII reports whether v is all ASCII. Strings come short and of every
// length, so it reads words, with few branches: the last word overlaps the
// one before rather than the tail being read byte by byte.
func isASCII(v []byte) bool {
	n := len(v)
	var or uint64
	switch {
	case n >= 8:
		for i := 0; i < n-8; i += 8 {
			or |= binary.LittleEndian.Uint64(v[i:])
		}
		or |= binary.LittleEndian.Uint64(v[n-8:])
	case n >= 4:
		or = uint64(binary.LittleEndian.Uint32(v) | binary.LittleEndian.Uint32(v[n-4:]))
	case n > 0:
		// Bytes 0, n/2 and n-1 are all of them when n is 3 or less.
		or = uint64(v[0] | v[n/2] | v[n-1])
	}
	return or&0x8080808080808080 == 0
}

// field splits the first field off b, a message, as nextField does, with
// the form nearly every field a Check reads has taken first: a one-byte tag
// (numbers 1 to 15) of a length-delimited field and a one-byte length
// (under 128).
func field(b []byte) (num protowire.Number, v, rest []byte, ok bool) {
	// b[0]&0x87: the tag's continuation bit and wire type; b[0] < 8 is
	// field number 0, which protowire refuses.
	if len(b) >= 2 && b[0]&0x87 == byte(protowire.BytesType) && b[0] >= 1<<3 && b[1] < 0x80 && int(b[1]) <= len(b)-2 {
		n := 2 + int(b[1])
		return protowire.Number(b[0] >> 3), b[2:n], b[n:], true
	}
	return nextField(b)
}

// nextField splits the first field off b, a message: its number, its
// contents when it is length-delimited, and the fields after it. Another
// wire type is skipped and comes back as number 0, which no field has, so
// the readers ignore it as protobuf decoding keeps a field of an unexpected
// wire type as unknown. ok is false when b does not start with a
// well-formed field.
func nextField(b []byte) (num protowire.Number, v, rest []byte, ok bool) {
	// A two-byte length (under 16 KiB) is read here too, without
	// protowire: a header such as user-agent, accept or cookie is often
	// longer than 127 bytes. Like protowire, it takes a length written
	// with more bytes than it needs (b[2] == 0).
	if len(b) >= 3 && b[0]&0x87 == byte(protowire.BytesType) && b[0] >= 1<<3 && b[1] >= 0x80 && b[2] < 0x80 {
		n := int(b[1]&0x7f) | int(b[2])<<7
		if n <= len(b)-3 {
			return protowire.Number(b[0] >> 3), b[3 : 3+n], b[3+n:], true
		}
	}
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, nil, nil, false
	}
	b = b[n:]
	if typ != protowire.BytesType {
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, nil, nil, false
		}
		return 0, nil, b[n:], true
	}
	v, n = protowire.ConsumeBytes(b)
	if n < 0 {
		return 0, nil, nil, false
	}
	return num, v, b[n:], true
}
