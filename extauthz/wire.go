package extauthz

import (
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
func (w *wireFacts) parse(b []byte) bool {
	return fields(b, func(num protowire.Number, v []byte) bool {
		if num == fieldCheckRequestAttributes {
			return w.attributes(v)
		}
		return true
	})
}

func (w *wireFacts) attributes(b []byte) bool {
	return fields(b, func(num protowire.Number, v []byte) bool {
		switch num {
		case fieldAttributesSource:
			return fields(v, func(num protowire.Number, v []byte) bool {
				if num == fieldPeerAddress {
					return w.address(v)
				}
				return true
			})
		case fieldAttributesRequest:
			return fields(v, func(num protowire.Number, v []byte) bool {
				if num == fieldRequestHTTP {
					w.http = true
					return w.httpRequest(v)
				}
				return true
			})
		case fieldAttributesContextExtensions:
			k, val, ok := w.mapEntry(v)
			if ok && k == "route" {
				w.route = val
			}
			return ok
		}
		return true
	})
}

// address reads a core.v3.Address: its oneof keeps the last case seen, so
// another case clears the socket address, and one that follows starts
// from nothing.
func (w *wireFacts) address(b []byte) bool {
	return fields(b, func(num protowire.Number, v []byte) bool {
		switch num {
		case fieldAddressSocket:
			return fields(v, func(num protowire.Number, v []byte) bool {
				if num == fieldSocketAddressAddress {
					w.source = w.text(v)
				}
				return true
			})
		case fieldAddressPipe, fieldAddressInternal:
			w.source = ""
		}
		return true
	})
}

func (w *wireFacts) httpRequest(b []byte) bool {
	return fields(b, func(num protowire.Number, v []byte) bool {
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
			return ok
		case fieldHTTPHeaderMap:
			return fields(v, func(num protowire.Number, v []byte) bool {
				if num == fieldHeaderMapHeaders {
					return w.headerValue(v)
				}
				return true
			})
		}
		return true
	})
}

// headerValue reads one header_map entry and keeps its text as headerText
// does: raw_value when set (as is when UTF-8, else sanitized), else value.
func (w *wireFacts) headerValue(b []byte) bool {
	var key, value string
	var raw []byte
	ok := fields(b, func(num protowire.Number, v []byte) bool {
		switch num {
		case fieldHeaderValueKey:
			key = w.text(v)
		case fieldHeaderValueValue:
			value = w.text(v)
		case fieldHeaderValueRaw:
			raw = v
		}
		return true
	})
	if len(raw) > 0 {
		// A bytes field, which protobuf leaves as it is; headerText then
		// sanitizes it as Envoy would have.
		if !utf8.Valid(raw) {
			sanitizeString(raw)
		}
		value = unsafe.String(unsafe.SliceData(raw), len(raw))
	}
	w.headerMap = append(w.headerMap, wireHeader{key, value})
	return ok
}

// mapEntry reads a map<string, string> entry; a missing key or value is "".
func (w *wireFacts) mapEntry(b []byte) (key, value string, ok bool) {
	ok = fields(b, func(num protowire.Number, v []byte) bool {
		switch num {
		case fieldMapKey:
			key = w.text(v)
		case fieldMapValue:
			value = w.text(v)
		}
		return true
	})
	return key, value, ok
}

// text is a string field's bytes as a string, invalid UTF-8 replaced.
func (w *wireFacts) text(v []byte) string {
	if !utf8.Valid(v) {
		sanitizeString(v)
		w.sanitized = true
	}
	return unsafe.String(unsafe.SliceData(v), len(v))
}

// fields walks the fields of one message in b and calls field with the
// contents of each length-delimited one, in order; other wire types are
// skipped, as protobuf decoding keeps a field of an unexpected wire type as
// unknown. It stops and reports false when b is not well-formed or field
// says so.
func fields(b []byte, field func(num protowire.Number, v []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return false
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if !field(num, v) {
			return false
		}
	}
	return true
}
