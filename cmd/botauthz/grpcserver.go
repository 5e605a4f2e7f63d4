package main

import (
	"fmt"
	"math"
	"runtime"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/botauthz/botauthz/extauthz"
)

// defaultMaxCheckBytes is -max-check-bytes' default, 64 MiB. The largest
// Check an Envoy can send is bounded by its header limit,
// max_request_headers_kb, which Envoy caps at 8192 KiB: the headers come
// once in headers (or header_map) and :path and :authority a second time in
// path and host, so at most about 16 MiB with the protobuf framing, plus a
// buffered body of up to with_request_body.max_request_bytes. 64 MiB fits
// the largest header configuration with 48 MiB of body to spare, where
// grpc's own default (4 MiB) refuses a Check from an Envoy whose header
// limit was raised past it. Only Envoy talks to the gRPC port, so the cap
// is a bound on a misbehaving client, not the first line of defense.
const defaultMaxCheckBytes = 64 << 20

// minMaxCheckBytes is the smallest -max-check-bytes accepted: below it even
// Envoy's default header limit (60 KiB) and a small body would be refused,
// which is a mistake (a value in KiB or MiB) rather than a choice.
const minMaxCheckBytes = 1 << 20

// validMaxCheckBytes checks a -max-check-bytes value. grpc's message
// length prefix is 32 bits, and grpc compares it as an int.
func validMaxCheckBytes(n int) error {
	if n < minMaxCheckBytes || n > math.MaxInt32 {
		return fmt.Errorf("-max-check-bytes: %d out of range %d-%d", n, minMaxCheckBytes, math.MaxInt32)
	}
	return nil
}

// checkServerOptions are the gRPC server options that let a Check reach
// the handler that decides it:
//
//   - the extauthz codec, so that invalid UTF-8 in a string field (a path
//     with a byte above 0x7f, a header from an Envoy that does not
//     sanitize) is replaced with '!' instead of failing the decoding with
//     an Internal error; checkSanitized (nil for none) is told about each
//     such Check;
//   - a receive limit of maxCheckBytes instead of grpc's 4 MiB. A larger
//     Check is refused by grpc with ResourceExhausted before any handler
//     runs, and Envoy's failure mode decides it. It is not counted: only a
//     stats handler sees it, and one costs every Check 19 allocations
//     and 1.2 KB more (6-7%; BenchmarkGRPCCheck/refusal-stats-handler);
//   - stream workers (streamWorkers), so that a Check runs on a goroutine
//     that kept the stack earlier Checks grew;
//   - static flow-control windows (flowWindow), which switch off grpc's
//     bandwidth-delay estimation and the PING it sends Envoy for it.
func checkServerOptions(maxCheckBytes int, checkSanitized func()) ([]grpc.ServerOption, error) {
	if err := validMaxCheckBytes(maxCheckBytes); err != nil {
		return nil, err
	}
	checkRequest := (*authv3.CheckRequest)(nil).ProtoReflect().Descriptor().FullName()
	codec, err := extauthz.NewCodec(extauthz.CodecOptions{Sanitized: func(name protoreflect.FullName) {
		// Health checks and reflection share the server and the codec, but
		// only Checks carry a client's bytes.
		if name == checkRequest && checkSanitized != nil {
			checkSanitized()
		}
	}})
	if err != nil {
		return nil, fmt.Errorf("grpc server: %w", err)
	}
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(codec),
		grpc.MaxRecvMsgSize(maxCheckBytes),
		grpc.NumStreamWorkers(streamWorkers(runtime.GOMAXPROCS(0))),
		grpc.StaticStreamWindowSize(flowWindow),
		grpc.StaticConnWindowSize(flowWindow),
	}, nil
}

// flowWindow is the HTTP/2 flow-control window botauthz gives Envoy, per
// stream and per connection: 16 MiB, the most grpc's dynamic windows grow
// to. With dynamic windows (grpc's default) the server estimates the
// bandwidth-delay product from the data it receives: on a connection with
// no estimate under way, a Check's first DATA frame starts one, which is a
// WINDOW_UPDATE and a PING to Envoy, Envoy's PING ACK back, and a read and
// a wake-up for it on each side. At a few thousand Checks a second over a
// handful of connections that is most Checks, and the estimate never
// grows the window anyway: a Check is a few KiB where the estimator grows
// the window only when a round trip carries two thirds of it. A static
// window sends no PING. A Check larger than the stream's window still
// arrives whole: grpc widens the window of a stream whose message is
// larger, up to -max-check-bytes.
const flowWindow = 16 << 20

// streamWorkers is how many goroutines serve Checks for a process of
// gomaxprocs processors. By default grpc starts a goroutine per call,
// whose stack starts small and is copied each time it doubles on the way
// down a Check: in a Redis-mode profile under load that copying was 12% of
// botauthz's CPU. A worker keeps its stack from Check to Check. A Check
// over Redis waits for its round trip on its worker, so there must be as
// many workers as Checks in flight: 32 per processor covers the
// harness's closed loop of 32 callers on one core, and a call that finds
// every worker busy still runs, on a goroutine of its own as before. An
// idle worker holds its stack, a few KiB, which the GC shrinks when idle.
// (grpc marks NumStreamWorkers experimental; the version is pinned.)
func streamWorkers(gomaxprocs int) uint32 {
	return uint32(32 * max(gomaxprocs, 1))
}
