package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/ratelimit"
)

// serveChecks runs botauthz's Check service with checkServerOptions and
// a memory store on a loopback port, stopped when the test ends.
func serveChecks(t *testing.T, maxCheckBytes int) net.Addr {
	t.Helper()
	opts, err := checkServerOptions(maxCheckBytes, nil)
	if err != nil {
		t.Fatal(err)
	}
	authz, err := extauthz.New(extauthz.Options{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	extauthz.Register(srv, authz)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr()
}

// TestChecksBringNoPing speaks HTTP/2 to the Check server as Envoy does,
// one connection and a Check on each of three streams, and reads every
// frame the server sends: its SETTINGS give each stream flowWindow, each
// Check is answered with grpc-status 0, and the server sends no PING
// (grpc's dynamic windows send one with the first DATA frame it reads).
func TestChecksBringNoPing(t *testing.T) {
	addr := serveChecks(t, defaultMaxCheckBytes)
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Every read and write below ends by then, so the test cannot hang.
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}

	msg := oddCheck(t, "curl/8.5.0", 100)
	body := make([]byte, 5+len(msg)) // gRPC's prefix: uncompressed, then the length
	binary.BigEndian.PutUint32(body[1:5], uint32(len(msg)))
	copy(body[5:], msg)
	var hdr bytes.Buffer
	enc := hpack.NewEncoder(&hdr)
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: authv3.Authorization_Check_FullMethodName}, {Name: ":authority", Value: "botauthz"},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
	} {
		if err := enc.WriteField(f); err != nil {
			t.Fatal(err)
		}
	}

	var settingsWindow uint32
	var pings int
	for stream := uint32(1); stream <= 5; stream += 2 {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: hdr.Bytes(), EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		if err := fr.WriteData(stream, true, body); err != nil {
			t.Fatal(err)
		}
		status := ""
	read:
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("stream %d: %v", stream, err)
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if f.IsAck() {
					continue
				}
				if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
					settingsWindow = v
				}
				if err := fr.WriteSettingsAck(); err != nil {
					t.Fatal(err)
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					pings++
					if err := fr.WritePing(true, f.Data); err != nil {
						t.Fatal(err)
					}
				}
			case *http2.MetaHeadersFrame:
				if f.StreamID != stream {
					continue
				}
				if s := f.PseudoValue("status"); s != "" {
					status = s // the response's headers; grpc-status comes in its trailers
				}
				if f.StreamEnded() {
					status += " " + headerValue(f, "grpc-status")
					break read
				}
			case *http2.RSTStreamFrame:
				t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
			case *http2.GoAwayFrame:
				t.Fatalf("GOAWAY: %v", f.ErrCode)
			}
		}
		if status != "200 0" {
			t.Errorf("stream %d ended with :status and grpc-status %q, want \"200 0\"", stream, status)
		}
	}
	if settingsWindow != flowWindow {
		t.Errorf("SETTINGS_INITIAL_WINDOW_SIZE = %d, want %d", settingsWindow, flowWindow)
	}
	if pings != 0 {
		t.Errorf("the server sent %d PINGs for 3 Checks, want none", pings)
	}
}

// headerValue is the value of the regular header name in f, or "".
func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.RegularFields() {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}

// TestCheckLargerThanFlowWindowIsDecided: a Check that does not fit the
// stream's window is still received whole (grpc widens the window of a
// stream whose message needs it) and decided.
func TestCheckLargerThanFlowWindowIsDecided(t *testing.T) {
	addr := serveChecks(t, 2*flowWindow)
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := rawCheck(ctx, conn, oddCheck(t, "curl/8.5.0", flowWindow+1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus() == nil || (resp.GetOkResponse() == nil && resp.GetDeniedResponse() == nil) {
		t.Errorf("no decision: %v", resp)
	}
}
