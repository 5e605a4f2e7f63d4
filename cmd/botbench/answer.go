package main

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// checkAnswer is what the generator needs of a CheckResponse: its gRPC
// status code and whether an allowed request was marked degraded. The
// generator reads these two straight from the response's bytes
// (readAnswer) instead of decoding it with protobuf: it shares the cores
// with the server under test, and decoding a response's headers and
// dynamic metadata Struct through protobuf's reflection cost it about 5 µs
// more per botauthz answer than per the floor's empty OK
// (BenchmarkReadAnswer, BENCHMARKS.md). In production that decoding is Envoy's work, on
// Envoy's cores, and the envoy-noop mode measures it there. The request
// side is the same idea: the pool's CheckRequests are encoded once.
type checkAnswer struct {
	code     int32 // google.rpc.Status code; 0 is OK
	degraded bool  // ok_response carries the x-bot-degraded header
}

// outcome classifies the answer as grpcTarget.send reports it.
func (a *checkAnswer) outcome() outcome {
	switch {
	case a.code != 0:
		return outNotOK
	case a.degraded:
		return outDegraded
	}
	return outOK
}

// Field numbers readAnswer follows (envoy/service/auth/v3/external_auth.proto,
// google/rpc/status.proto, envoy/config/core/v3/base.proto).
const (
	fieldCheckResponseStatus     = 1 // google.rpc.Status
	fieldCheckResponseDenied     = 2 // oneof http_response
	fieldCheckResponseOK         = 3 // oneof http_response
	fieldStatusCode              = 1
	fieldOkHeaders               = 2 // repeated HeaderValueOption
	fieldHeaderValueOptionHeader = 1 // HeaderValue
	fieldHeaderValueKey          = 1
)

// degradedHeader is extauthz.HeaderDegraded, written out because the
// harness measures botauthz's binary and imports none of its packages
// (TestDegradedHeaderIsBotauthzs keeps the two equal).
const degradedHeader = "x-bot-degraded"

var errMalformed = errors.New("malformed CheckResponse")

// readAnswer reads a from a CheckResponse in the wire format, with
// protobuf's rules for what the generator reads: a field that appears again
// overrides a scalar and merges into a message (so repeated headers of
// several ok_response occurrences add up), and the last member of the
// http_response oneof wins, discarding the other. Everything else is
// skipped, read only as far as finding where each field ends.
func readAnswer(b []byte, a *checkAnswer) error {
	*a = checkAnswer{}
	isOK := false
	for len(b) > 0 {
		var f field
		if err := f.next(&b); err != nil {
			return fmt.Errorf("%w: %w", errMalformed, err)
		}
		if f.typ != protowire.BytesType {
			continue
		}
		var err error
		switch f.num {
		case fieldCheckResponseStatus:
			err = readStatusCode(f.v, &a.code)
		case fieldCheckResponseDenied:
			isOK, a.degraded = false, false
			err = skipMessage(f.v)
		case fieldCheckResponseOK:
			if !isOK {
				isOK, a.degraded = true, false
			}
			var d bool
			d, err = readDegraded(f.v)
			a.degraded = a.degraded || d
		}
		if err != nil {
			return fmt.Errorf("%w: field %d: %w", errMalformed, f.num, err)
		}
	}
	return nil
}

// readStatusCode sets *code from a google.rpc.Status; a Status without the
// field leaves it as it was (merging).
func readStatusCode(b []byte, code *int32) error {
	for len(b) > 0 {
		var f field
		if err := f.next(&b); err != nil {
			return err
		}
		if f.num == fieldStatusCode && f.typ == protowire.VarintType {
			*code = int32(f.x)
		}
	}
	return nil
}

// readDegraded reports whether an OkHttpResponse sets x-bot-degraded.
func readDegraded(b []byte) (bool, error) {
	found := false
	for len(b) > 0 {
		var opt field
		if err := opt.next(&b); err != nil {
			return false, err
		}
		if opt.num != fieldOkHeaders || opt.typ != protowire.BytesType {
			continue
		}
		for o := opt.v; len(o) > 0; {
			var hdr field
			if err := hdr.next(&o); err != nil {
				return false, err
			}
			if hdr.num != fieldHeaderValueOptionHeader || hdr.typ != protowire.BytesType {
				continue
			}
			// HeaderValue.key: its last occurrence is the key.
			var key []byte
			keyed := false
			for h := hdr.v; len(h) > 0; {
				var k field
				if err := k.next(&h); err != nil {
					return false, err
				}
				if k.num == fieldHeaderValueKey && k.typ == protowire.BytesType {
					key, keyed = k.v, true
				}
			}
			if keyed && string(key) == degradedHeader {
				found = true
			}
		}
	}
	return found, nil
}

// skipMessage checks that b is a well-formed message.
func skipMessage(b []byte) error {
	for len(b) > 0 {
		var f field
		if err := f.next(&b); err != nil {
			return err
		}
	}
	return nil
}

// field is one field of a message in the wire format.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   []byte // a length-delimited field's bytes
	x   uint64 // a varint field's value
}

// next reads the field at the start of *b into f and moves *b past it.
func (f *field) next(b *[]byte) error {
	num, typ, n := protowire.ConsumeTag(*b)
	if n < 0 {
		return protowire.ParseError(n)
	}
	rest := (*b)[n:]
	*f = field{num: num, typ: typ}
	switch typ {
	case protowire.BytesType:
		f.v, n = protowire.ConsumeBytes(rest)
	case protowire.VarintType:
		f.x, n = protowire.ConsumeVarint(rest)
	default:
		n = protowire.ConsumeFieldValue(num, typ, rest)
	}
	if n < 0 {
		return protowire.ParseError(n)
	}
	*b = rest[n:]
	return nil
}
