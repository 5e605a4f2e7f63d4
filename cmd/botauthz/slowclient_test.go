package main

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlowClientsAreCut holds connections to the public and admin ports the
// way a slow-loris client does (a body sent a byte at a time, a keep-alive
// left idle) and sees the server close every one of them. Without read and
// idle timeouts they stayed open for as long as the client liked.
func TestSlowClientsAreCut(t *testing.T) {
	a, _ := startApp(t, "-http-read-timeout", "500ms", "-http-idle-timeout", "500ms", "-http-write-timeout", "500ms")
	ports := map[string]string{"public": a.publicLn.Addr().String(), "admin": a.adminLn.Addr().String()}

	const perKind = 20
	var wg sync.WaitGroup
	closed := make(chan string, 4*perKind)
	for name, addr := range ports {
		for i := range perKind {
			// A body that never finishes: 1 byte every 100 ms.
			trickle := fmt.Sprintf("POST /.botauthz/challenge/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n")
			// A finished request, then an idle keep-alive.
			idle := "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
			for kind, first := range map[string]string{"trickle": trickle, "idle": idle} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					what := fmt.Sprintf("%s %s connection %d", name, kind, i)
					conn, err := net.Dial("tcp", addr)
					if err != nil {
						t.Errorf("%s: %v", what, err)
						return
					}
					defer conn.Close()
					// Hang detector only: the test fails if the server never cuts.
					conn.SetDeadline(time.Now().Add(20 * time.Second))
					if _, err := io.WriteString(conn, first); err != nil {
						t.Errorf("%s: %v", what, err)
						return
					}
					done := make(chan struct{})
					if kind == "trickle" {
						go func() {
							tick := time.NewTicker(100 * time.Millisecond)
							defer tick.Stop()
							for {
								select {
								case <-done:
									return
								case <-tick.C:
									if _, err := conn.Write([]byte("a")); err != nil {
										return
									}
								}
							}
						}()
					}
					// Read until the server closes the connection.
					_, err = io.Copy(io.Discard, conn)
					close(done)
					if err != nil && !strings.Contains(err.Error(), "connection reset") {
						t.Errorf("%s: not closed by the server: %v", what, err)
						return
					}
					closed <- what
				}()
			}
		}
	}
	wg.Wait()
	if n := len(closed); n != 4*perKind {
		t.Errorf("%d of %d slow connections closed by the server", n, 4*perKind)
	}
}
