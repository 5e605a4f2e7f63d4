package fcrdns

import (
	"context"
	"errors"
	"net"
	"testing"
)

// TestDialCancelEndsBlockedRead: Go's DNS client bounds a read only by the
// connection's deadline, so cancellation must close the connection. The
// read here has no deadline at all: only the close can end it.
func TestDialCancelEndsBlockedRead(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	defer silent.Close()
	stream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen tcp: %v", err)
	}
	defer stream.Close()
	go func() {
		// Accept and hold connections open, never answering.
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := stream.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	tests := []struct {
		network    string
		server     string
		packetConn bool
	}{
		{"udp", silent.LocalAddr().String(), true},
		{"tcp", stream.Addr().String(), false},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The address argument is what resolv.conf would name; Server
			// overrides it.
			c, err := dialFunc(tt.server)(ctx, tt.network, "192.0.2.1:53")
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			if _, ok := c.(net.PacketConn); ok != tt.packetConn {
				t.Fatalf("conn is a PacketConn: %v, want %v (it selects the DNS framing)", ok, tt.packetConn)
			}
			if _, err := c.Write([]byte{0, 0}); err != nil {
				t.Fatalf("write: %v", err)
			}
			read := make(chan error, 1)
			go func() {
				_, err := c.Read(make([]byte, 512))
				read <- err
			}()
			cancel()
			if err := <-read; !errors.Is(err, net.ErrClosed) {
				t.Errorf("read after cancel: %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestDialDefaultsToResolverAddress: without Server the resolver's own
// choice is dialled.
func TestDialDefaultsToResolverAddress(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	defer pc.Close()
	c, err := dialFunc("")(context.Background(), "udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if got, want := c.RemoteAddr().String(), pc.LocalAddr().String(); got != want {
		t.Errorf("dialled %s, want %s", got, want)
	}
}
