package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/botauthz/botauthz/internal/corpus"
)

// syncBuffer is a bytes.Buffer safe for the server's writes and the test's
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) records(t *testing.T) []corpus.Record {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	recs, err := corpus.Read(bytes.NewReader(b.b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func startTestCapture(t *testing.T, n int) (*captureServer, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	s, err := startCapture(captureOptions{
		Listen: "127.0.0.1:0", ListenPlain: "127.0.0.1:0",
		Label: corpus.Bot, Class: corpus.Library, Source: "test-capture", N: n, Out: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, out
}

// waitRecords waits until the server has written n records.
func waitRecords(t *testing.T, s *captureServer, out *syncBuffer, n int) []corpus.Record {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.Count() < n {
		select {
		case <-deadline:
			t.Fatalf("%d records after 10s, want %d", s.Count(), n)
		case <-tick.C:
		}
	}
	return out.records(t)
}

func (s *captureServer) clientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CertPEM())
	return &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

func capHeaderNames(hs []corpus.Header) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h[0])
	}
	return out
}

func TestCaptureGoClientHTTP2(t *testing.T) {
	s, out := startTestCapture(t, 0)
	tr := &http.Transport{TLSClientConfig: s.clientTLS(), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for _, p := range []string{"/", "/static/app.js", "/api/items?x=1"} {
		req, _ := http.NewRequest("GET", "https://"+s.tlsAddr+p, nil)
		req.Header.Set("X-Test", "one")
		req.Header.Add("X-Test", "two")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("%s: %s %d, %d bytes", p, resp.Proto, resp.StatusCode, len(body))
		}
		wantType, wantBody := captureResponse(p)
		if resp.Header.Get("Content-Type") != wantType || !bytes.Equal(body, wantBody) {
			t.Errorf("%s: got %s, %q", p, resp.Header.Get("Content-Type"), body)
		}
	}
	// A POST with a body larger than the default window.
	resp, err := c.Post("https://"+s.tlsAddr+"/api/events", "application/json", bytes.NewReader(bytes.Repeat([]byte("x"), 300<<10)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// HEAD: no body.
	resp, err = c.Head("https://" + s.tlsAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	recs := waitRecords(t, s, out, 5)
	for i, r := range recs {
		if r.Protocol != "HTTP/2" || r.Scheme != "https" || r.Host != s.tlsAddr || r.Client != "127.0.0.1" {
			t.Errorf("record %d: %+v", i, r)
		}
		if r.Label != corpus.Bot || r.Class != corpus.Library || r.Source != "test-capture" || r.Time == nil {
			t.Errorf("record %d: label/class/source/time %+v", i, r)
		}
		if !strings.HasPrefix(r.TLS, "t13d") || !strings.Contains(r.TLS, "h2_") {
			t.Errorf("record %d: JA4 %q", i, r.TLS)
		}
		if r.Get("user-agent") != "Go-http-client/2.0" {
			t.Errorf("record %d: user-agent %q", i, r.Get("user-agent"))
		}
		for _, h := range r.Headers {
			if strings.HasPrefix(h[0], ":") || h[0] != strings.ToLower(h[0]) {
				t.Errorf("record %d: header name %q", i, h[0])
			}
		}
	}
	if recs[0].Path != "/" || recs[2].Path != "/api/items?x=1" || recs[0].Method != "GET" {
		t.Errorf("paths: %q %q", recs[0].Path, recs[2].Path)
	}
	var xt []string
	for _, h := range recs[0].Headers {
		if h[0] == "x-test" {
			xt = append(xt, h[1])
		}
	}
	if !reflect.DeepEqual(xt, []string{"one", "two"}) {
		t.Errorf("repeated header: %q", xt)
	}
	if recs[3].Method != "POST" || recs[3].Get("content-type") != "application/json" || recs[4].Method != "HEAD" {
		t.Errorf("POST/HEAD: %+v %+v", recs[3], recs[4])
	}
}

func TestCaptureGoClientHTTP1(t *testing.T) {
	s, out := startTestCapture(t, 0)
	// An empty TLSNextProto keeps Go's client on HTTP/1.1 over TLS.
	tr := &http.Transport{TLSClientConfig: s.clientTLS(), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for _, u := range []string{"https://" + s.tlsAddr + "/one", "https://" + s.tlsAddr + "/two", "http://" + s.httpAddr + "/three"} {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Zz-Last", "z")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 1 || resp.StatusCode != 200 {
			t.Fatalf("%s: %s %d", u, resp.Proto, resp.StatusCode)
		}
	}
	recs := waitRecords(t, s, out, 3)
	// Go writes User-Agent first, then the header map sorted, then
	// Accept-Encoding; Host is folded into the record's Host.
	want := []string{"user-agent", "accept", "zz-last", "accept-encoding"}
	for i, r := range recs {
		if got := capHeaderNames(r.Headers); !reflect.DeepEqual(got, want) {
			t.Errorf("record %d: header order %q, want %q", i, got, want)
		}
		if r.Protocol != "HTTP/1.1" || r.Get("user-agent") != "Go-http-client/1.1" || r.Get("accept-encoding") != "gzip" {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if recs[0].Scheme != "https" || recs[0].Host != s.tlsAddr || !strings.HasPrefix(recs[0].TLS, "t13d") || strings.Contains(recs[0].TLS, "h2_") {
		t.Errorf("https record: %+v", recs[0])
	}
	if recs[2].Scheme != "http" || recs[2].Host != s.httpAddr || recs[2].TLS != "" || recs[2].Path != "/three" {
		t.Errorf("http record: %+v", recs[2])
	}
}

// rawH1 sends raw bytes and reads the responses to the requests in them.
func rawH1(t *testing.T, c net.Conn, raw string, responses int) []*http.Response {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var out []*http.Response
	for range responses {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, resp)
	}
	return out
}

func TestCaptureRawHTTP1OrderAndRepeats(t *testing.T) {
	s, out := startTestCapture(t, 0)
	c, err := net.Dial("tcp", s.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw := "GET /x?y=1 HTTP/1.1\r\n" +
		"Accept: */*\r\n" +
		"X-Forwarded-For: 1.2.3.4\r\n" +
		"Host: shop.example\r\n" +
		"Cookie: a=1\r\n" +
		"X-Folded: first\r\n" +
		" second\r\n" +
		"cookie: b=2\r\n" +
		"User-Agent: raw/1.0\r\n" +
		"\r\n" +
		// a chunked POST on the same connection, with a trailer
		"POST /api/events HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n" +
		"5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n" +
		// a Content-Length body, then a request with no headers but Host
		"PUT /api/put HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 3\r\n\r\nabc" +
		"HEAD / HTTP/1.0\r\nHost: shop.example\r\n\r\n"
	resps := rawH1(t, c, raw, 4)
	for i, r := range resps {
		if r.StatusCode != 200 {
			t.Errorf("response %d: %d", i, r.StatusCode)
		}
	}
	recs := waitRecords(t, s, out, 4)
	want := []corpus.Header{
		{"accept", "*/*"}, {"x-forwarded-for", "1.2.3.4"}, {"cookie", "a=1"},
		{"x-folded", "first second"}, {"cookie", "b=2"}, {"user-agent", "raw/1.0"},
	}
	if r := recs[0]; !reflect.DeepEqual(r.Headers, want) || r.Host != "shop.example" || r.Path != "/x?y=1" || r.Method != "GET" || r.Protocol != "HTTP/1.1" {
		t.Errorf("record 0: %+v\nwant headers %q", r, want)
	}
	if r := recs[1]; r.Method != "POST" || !reflect.DeepEqual(capHeaderNames(r.Headers), []string{"transfer-encoding", "content-type"}) {
		t.Errorf("record 1: %+v", r)
	}
	if r := recs[2]; r.Method != "PUT" || r.Path != "/api/put" || r.Get("content-length") != "3" {
		t.Errorf("record 2: %+v", r)
	}
	if r := recs[3]; r.Method != "HEAD" || r.Protocol != "HTTP/1.0" || len(r.Headers) != 0 || r.Headers == nil {
		t.Errorf("record 3: %+v", r)
	}
	// HTTP/1.0 without keep-alive: the server closes.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("connection not closed after HTTP/1.0: %d %v", n, err)
	}
}

func TestCaptureRawHTTP1OverTLSExpectContinue(t *testing.T) {
	s, out := startTestCapture(t, 0)
	c, err := tls.Dial("tcp", s.tlsAddr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue, got %q %v", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "a=b&")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	recs := waitRecords(t, s, out, 1)
	if r := recs[0]; r.Scheme != "https" || r.Protocol != "HTTP/1.1" || !strings.HasPrefix(r.TLS, "t1") || r.Get("expect") != "100-continue" {
		t.Errorf("%+v", r)
	}
}

func TestCaptureRawHTTP2OrderContinuation(t *testing.T) {
	for _, secure := range []bool{true, false} {
		t.Run(fmt.Sprint("tls=", secure), func(t *testing.T) {
			s, out := startTestCapture(t, 0)
			var c net.Conn
			var err error
			scheme := "http"
			if secure {
				scheme = "https"
				var tc *tls.Conn
				tc, err = tls.Dial("tcp", s.tlsAddr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
				if err == nil && tc.ConnectionState().NegotiatedProtocol != "h2" {
					t.Fatalf("ALPN: %q", tc.ConnectionState().NegotiatedProtocol)
				}
				c = tc
			} else {
				c, err = net.Dial("tcp", s.httpAddr)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, http2.ClientPreface)
			fr := http2.NewFramer(c, c)
			fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
			fr.WriteSettings()
			var block bytes.Buffer
			enc := hpack.NewEncoder(&block)
			fields := [][2]string{
				{":method", "POST"}, {":authority", "shop.example"}, {":scheme", scheme}, {":path", "/api/events?a=b"},
				{"zeta", "1"}, {"user-agent", "h2test/1"}, {"cookie", "a=1"}, {"alpha", "2"}, {"cookie", "b=2"},
				{"content-type", "application/json"},
			}
			for _, f := range fields {
				enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			b := block.Bytes()
			half := len(b) / 2
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:half]})
			fr.WriteContinuation(1, true, b[half:])
			fr.WriteData(1, false, []byte(`{"a":`))
			fr.WriteData(1, true, []byte(`1}`))
			// A second stream, GET, ended by its HEADERS.
			block.Reset()
			for _, f := range [][2]string{{":method", "GET"}, {":scheme", scheme}, {":path", "/"}, {":authority", "shop.example"}, {"accept", "text/html"}} {
				enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
			fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
			ended := map[uint32]int{}
			var settingsAck, pingAck bool
			for len(ended) < 2 || !settingsAck || !pingAck {
				f, err := fr.ReadFrame()
				if err != nil {
					t.Fatalf("read frame: %v (ended %v, settings ack %v, ping ack %v)", err, ended, settingsAck, pingAck)
				}
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if f.IsAck() {
						settingsAck = true
					} else {
						fr.WriteSettingsAck()
					}
				case *http2.PingFrame:
					pingAck = pingAck || f.IsAck() && f.Data == [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
				case *http2.MetaHeadersFrame:
					if f.PseudoValue("status") != "200" {
						t.Errorf("stream %d: status %q", f.StreamID, f.PseudoValue("status"))
					}
					if f.StreamEnded() {
						ended[f.StreamID]++
					}
				case *http2.DataFrame:
					ended[f.StreamID] += 0
					if f.StreamEnded() {
						ended[f.StreamID]++
					}
				}
			}
			recs := waitRecords(t, s, out, 2)
			want := []corpus.Header{{"zeta", "1"}, {"user-agent", "h2test/1"}, {"cookie", "a=1"}, {"alpha", "2"}, {"cookie", "b=2"}, {"content-type", "application/json"}}
			r := recs[0]
			if !reflect.DeepEqual(r.Headers, want) || r.Method != "POST" || r.Host != "shop.example" || r.Path != "/api/events?a=b" || r.Scheme != scheme || r.Protocol != "HTTP/2" {
				t.Errorf("record 0: %+v\nwant headers %q", r, want)
			}
			if secure != (r.TLS != "") {
				t.Errorf("JA4 %q over tls=%v", r.TLS, secure)
			}
			if r := recs[1]; r.Method != "GET" || r.Path != "/" || !reflect.DeepEqual(r.Headers, []corpus.Header{{"accept", "text/html"}}) {
				t.Errorf("record 1: %+v", r)
			}
		})
	}
}

func TestCaptureCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl")
	}
	s, out := startTestCapture(t, 0)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, s.CertPEM(), 0o644)
	_, port, _ := net.SplitHostPort(s.tlsAddr)
	runs := [][]string{
		{"--http2", "--cacert", ca, "https://localhost:" + port + "/"},
		{"--http1.1", "--cacert", ca, "-H", "X-B: 1", "-H", "X-A: 2", "https://localhost:" + port + "/h1"},
		{"--http2-prior-knowledge", "-d", "a=b", "http://" + s.httpAddr + "/api/form"},
	}
	for _, args := range runs {
		cmd := exec.Command(curl, append([]string{"-sS", "-o", "/dev/null", "--max-time", "10"}, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("curl %q: %v: %s", args, err, b)
		}
	}
	recs := waitRecords(t, s, out, 3)
	if r := recs[0]; r.Protocol != "HTTP/2" || !strings.HasPrefix(r.Get("user-agent"), "curl/") || !reflect.DeepEqual(capHeaderNames(r.Headers), []string{"user-agent", "accept"}) || !strings.HasPrefix(r.TLS, "t13d") {
		t.Errorf("curl h2: %+v", r)
	}
	if r := recs[1]; r.Protocol != "HTTP/1.1" || !reflect.DeepEqual(capHeaderNames(r.Headers), []string{"user-agent", "accept", "x-b", "x-a"}) {
		t.Errorf("curl h1: %+v", r)
	}
	if r := recs[2]; r.Protocol != "HTTP/2" || r.Scheme != "http" || r.Method != "POST" {
		t.Errorf("curl h2c: %+v", r)
	}
}

// TestRunCaptureStopsAfterN runs the subcommand: it prints its addresses,
// records -n requests, writes them to -out and exits 0.
func TestRunCaptureStopsAfterN(t *testing.T) {
	dir := t.TempDir()
	outFile := filepath.Join(dir, "c.jsonl")
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var stderr syncBuffer
	go func() {
		done <- runCapture([]string{"-listen", "127.0.0.1:0", "-listen-plain", "127.0.0.1:0", "-out", outFile,
			"-label", "bot", "-class", "library", "-source", "n-test", "-n", "2", "-note", "a note",
			"-write-cert", filepath.Join(dir, "cert.pem")}, pw, &stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	addrs := map[string]string{}
	for len(addrs) < 4 && sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		addrs[k] = v
	}
	go io.Copy(io.Discard, pr)
	if addrs["https"] == "" || addrs["http"] == "" || len(addrs["cert-sha256"]) != 64 || addrs["spki-sha256"] == "" {
		t.Fatalf("ready lines: %v", addrs)
	}
	pem, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	for _, u := range []string{"https://" + addrs["https"] + "/", "http://" + addrs["http"] + "/api/items"} {
		resp, err := (&http.Client{Transport: tr}).Get(u)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.b.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("capture did not stop after -n 2")
	}
	recs, err := corpus.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Protocol != "HTTP/2" || recs[1].Protocol != "HTTP/1.1" || recs[0].Note != "a note" || recs[1].Source != "n-test" {
		t.Fatalf("records: %+v", recs)
	}
}

func TestJA4SpecExample(t *testing.T) {
	// The example of FoxIO's JA4 technical details, with GREASE values
	// mixed in: t13d1516h2_8daaf6152771_e5627efa2ab1.
	h := &tls.ClientHelloInfo{
		CipherSuites:      []uint16{0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		Extensions:        []uint16{0x1a1a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0x2a2a},
		SignatureSchemes:  []tls.SignatureScheme{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
		SupportedVersions: []uint16{0x7a7a, 0x0304, 0x0303},
		SupportedProtos:   []string{"h2", "http/1.1"},
	}
	if got, want := ja4(h), "t13d1516h2_8daaf6152771_e5627efa2ab1"; got != want {
		t.Errorf("ja4 = %s, want %s", got, want)
	}
	h = &tls.ClientHelloInfo{CipherSuites: []uint16{0x1301}, SupportedVersions: []uint16{0x0303}}
	if got, want := ja4(h), "t12i010000_"+ja4Hash("1301")+"_000000000000"; got != want {
		t.Errorf("ja4 = %s, want %s", got, want)
	}
}

func TestCaptureResponse(t *testing.T) {
	for p, want := range map[string]string{
		"/": "text/html; charset=utf-8", "/products?page=2": "text/html; charset=utf-8",
		"/static/app.js?v=1": "text/javascript; charset=utf-8", "/static/app.css": "text/css; charset=utf-8",
		"/static/logo.png": "image/png", "/favicon.ico": "image/png", "/api/items": "application/json",
	} {
		if got, body := captureResponse(p); got != want || len(body) == 0 {
			t.Errorf("%s: %s", p, got)
		}
	}
}
