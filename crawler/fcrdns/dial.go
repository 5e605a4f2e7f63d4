package fcrdns

import (
	"context"
	"net"
)

// dialFunc returns the Dial for net.Resolver. It sends every query to server
// when one is set (else to the address the resolver chose from
// resolv.conf), and it ties each connection to its context.
//
// The tie matters: Go's DNS client bounds a UDP read by the connection's
// deadline only, so cancelling the context (Close) would otherwise leave a
// read blocked until the deadline. context.AfterFunc closes the connection on
// cancellation, which ends the read at once.
func dialFunc(server string) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if server != "" {
			address = server
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, address)
		if err != nil {
			// Not wrapped: the resolver marks a *net.OpError as temporary by
			// a type assertion, which a wrapper would hide.
			return nil, err
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		// net.Resolver.Dial's doc: "If the Conn returned is also a
		// PacketConn, sent and received DNS messages must adhere to RFC 1035
		// section 4.2.1" (UDP framing), else RFC 7766 (TCP framing): the
		// wrapper must keep a UDP connection a PacketConn.
		if uc, ok := c.(*net.UDPConn); ok {
			return &udpConn{UDPConn: uc, stop: stop}, nil
		}
		return &streamConn{Conn: c, stop: stop}, nil
	}
}

// udpConn is a UDP connection closed when its dial context is done.
type udpConn struct {
	*net.UDPConn
	stop func() bool
}

// Close releases the context hook, then the connection.
func (c *udpConn) Close() error {
	c.stop()
	return c.UDPConn.Close()
}

// streamConn is a TCP connection closed when its dial context is done.
type streamConn struct {
	net.Conn
	stop func() bool
}

// Close releases the context hook, then the connection.
func (c *streamConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
