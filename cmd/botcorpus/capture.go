package main

// The capture subcommand: a small web server that records every request it
// receives as a corpus.Record, with the headers in the order the client sent
// them. Real browsers and HTTP clients are pointed at it to make the corpus'
// captured sources.
//
//	go run ./cmd/botcorpus capture -listen 127.0.0.1:8443 -listen-plain 127.0.0.1:8080 \
//	    -out capture.jsonl -label bot -class library -source curl-7.88.1-capture [-n 10] \
//	    [-tls-cert cert.pem -tls-key key.pem] [-write-cert cert.pem] [-idle 5s] [-timeout 1m] [-note …]
//
// HTTPS (-listen) offers h2 and http/1.1 by ALPN; plain HTTP (-listen-plain)
// speaks HTTP/1.x and HTTP/2 with prior knowledge (h2c). Without -tls-cert a
// throwaway CA and a certificate it signed for localhost, 127.0.0.1 and ::1
// are made in memory; the server certificate's SHA-256 (and, for Chromium's
// --ignore-certificate-errors-spki-list, the base64 SHA-256 of its public
// key) is printed, and -write-cert writes the CA as PEM for clients that take
// a CA file (curl --cacert, requests' verify=, NODE_EXTRA_CA_CERTS, Firefox
// through certutil -A -t C,,).
//
// Neither protocol goes through net/http's server, whose header map loses
// the order: HTTP/1.x header lines are read from the connection, HTTP/2
// HEADERS and CONTINUATION frames are read with x/net/http2's Framer and
// decoded with hpack, in order. Names are lower-cased; the pseudo-headers
// (and HTTP/1's Host, which Envoy turns into :authority) become the record's
// Method, Scheme, Host and Path. Each record also carries the TLS
// ClientHello's JA4 fingerprint.
//
// Every path answers 200: "/" and other page paths with an HTML page that
// loads /static/app.css, /static/app.js and /static/logo.png, whose script
// fetches /api/items (GET) and posts to /api/events, so a browser makes its
// subresource and API requests too; /static/*.js, *.css, *.png, /favicon.ico
// and /api/* answer with a script, a style sheet, an image and JSON.
//
// It stops after -n requests (0: no limit), after -idle without a request
// (once one came), after -timeout, or on SIGINT/SIGTERM, and flushes -out.
// It prints "https ADDR", "http ADDR", "cert-sha256 HEX" and "spki-sha256
// BASE64" lines on stdout when ready, and "captured N" at the end.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/big"
	"net"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/botauthz/botauthz/internal/corpus"
)

// captureOptions configures a capture server.
type captureOptions struct {
	Listen      string // HTTPS address; "" for none
	ListenPlain string // plain HTTP address; "" for none
	Label       string
	Class       string
	Source      string
	Note        string
	N           int // stop after this many requests; 0: no limit
	CertFile    string
	KeyFile     string
	Out         io.Writer // where records go, one JSON line each
}

// captureServer is a running capture server.
type captureServer struct {
	opts     captureOptions
	tlsConf  *tls.Config
	certDER  []byte // the server certificate
	caDER    []byte // the last of its chain: the CA clients are to trust
	lns      []net.Listener
	tlsAddr  string
	httpAddr string

	mu       sync.Mutex
	out      *bufio.Writer
	enc      *json.Encoder
	count    int
	last     time.Time
	writeErr error
	conns    map[net.Conn]struct{}
	closed   bool

	full     chan struct{} // closed when N records are written
	fullOnce sync.Once
	wg       sync.WaitGroup
}

// Limits for what a client may send.
const (
	captureMaxHeaderBytes = 1 << 20
	captureIdleTimeout    = 2 * time.Minute
	captureMaxBody        = 64 << 20
)

func startCapture(opts captureOptions) (*captureServer, error) {
	if opts.Listen == "" && opts.ListenPlain == "" {
		return nil, errors.New("capture: nothing to listen on")
	}
	if opts.Label != corpus.Human && opts.Label != corpus.Bot {
		return nil, fmt.Errorf("capture: -label %q is not %q or %q", opts.Label, corpus.Human, corpus.Bot)
	}
	if opts.Class == "" || opts.Source == "" {
		return nil, errors.New("capture: -class and -source are required")
	}
	s := &captureServer{opts: opts, conns: map[net.Conn]struct{}{}, full: make(chan struct{})}
	s.out = bufio.NewWriter(opts.Out)
	s.enc = json.NewEncoder(s.out)
	s.enc.SetEscapeHTML(false)
	if opts.Listen != "" {
		var cert tls.Certificate
		var err error
		if opts.CertFile != "" || opts.KeyFile != "" {
			cert, err = tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		} else {
			cert, err = selfSignedCert()
		}
		if err != nil {
			return nil, fmt.Errorf("capture: certificate: %w", err)
		}
		s.certDER = cert.Certificate[0]
		s.caDER = cert.Certificate[len(cert.Certificate)-1]
		s.tlsConf = &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"h2", "http/1.1"},
			MinVersion:   tls.VersionTLS10,
		}
		ln, err := net.Listen("tcp", opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		s.lns = append(s.lns, ln)
		s.tlsAddr = ln.Addr().String()
		s.wg.Add(1)
		go s.accept(ln, true)
	}
	if opts.ListenPlain != "" {
		ln, err := net.Listen("tcp", opts.ListenPlain)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("capture: %w", err)
		}
		s.lns = append(s.lns, ln)
		s.httpAddr = ln.Addr().String()
		s.wg.Add(1)
		go s.accept(ln, false)
	}
	return s, nil
}

// CertSHA256 is the SHA-256 of the server certificate (DER), in hex.
func (s *captureServer) CertSHA256() string {
	if s.certDER == nil {
		return ""
	}
	sum := sha256.Sum256(s.certDER)
	return hex.EncodeToString(sum[:])
}

// SPKISHA256 is the base64 SHA-256 of the certificate's public key, as
// Chromium's --ignore-certificate-errors-spki-list takes it.
func (s *captureServer) SPKISHA256() string {
	if s.certDER == nil {
		return ""
	}
	c, err := x509.ParseCertificate(s.certDER)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// CertPEM is the certificate for clients to trust, as PEM: the CA that
// signed the made-up server certificate (or the last certificate of a
// -tls-cert chain).
func (s *captureServer) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.caDER})
}

// Full is closed once N records are written.
func (s *captureServer) Full() <-chan struct{} { return s.full }

// Count is the number of records written.
func (s *captureServer) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Last is when the last record was written; zero before the first.
func (s *captureServer) Last() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Close stops listening, closes every connection, waits for the handlers
// and flushes the output.
func (s *captureServer) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	for _, ln := range s.lns {
		ln.Close()
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.out.Flush(); err != nil && s.writeErr == nil {
		s.writeErr = err
	}
	return s.writeErr
}

func (s *captureServer) accept(ln net.Listener, secure bool) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			s.serveConn(c, secure)
		}()
	}
}

// connInfo is what all requests of a connection share.
type connInfo struct {
	scheme string
	client string
	ja4    string
}

func (s *captureServer) serveConn(c net.Conn, secure bool) {
	info := connInfo{scheme: "http"}
	if host, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		info.client = host
	}
	var rw net.Conn = c
	proto := ""
	if secure {
		info.scheme = "https"
		conf := s.tlsConf.Clone()
		conf.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			info.ja4 = ja4(h)
			return nil, nil
		}
		tc := tls.Server(c, conf)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		c.SetDeadline(time.Time{})
		proto = tc.ConnectionState().NegotiatedProtocol
		rw = tc
	}
	br := bufio.NewReaderSize(rw, 16<<10)
	if proto == "" {
		// Plain text, or TLS without ALPN: HTTP/2 with prior knowledge
		// starts with the preface, whose first bytes no HTTP/1 method has.
		c.SetReadDeadline(time.Now().Add(captureIdleTimeout))
		if b, err := br.Peek(3); err == nil && string(b) == "PRI" {
			proto = "h2"
		}
	}
	if proto == "h2" {
		s.serveH2(c, rw, br, info)
		return
	}
	s.serveH1(c, rw, br, info)
}

// record writes one record, unless N are written already.
func (s *captureServer) record(r *corpus.Record) {
	r.Label, r.Class, r.Source, r.Note = s.opts.Label, s.opts.Class, s.opts.Source, s.opts.Note
	if r.Headers == nil {
		r.Headers = []corpus.Header{}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	r.Time = &now
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.N > 0 && s.count >= s.opts.N {
		return
	}
	if err := s.enc.Encode(r); err != nil && s.writeErr == nil {
		s.writeErr = err
	}
	if err := s.out.Flush(); err != nil && s.writeErr == nil {
		s.writeErr = err
	}
	s.count++
	s.last = now
	if s.opts.N > 0 && s.count >= s.opts.N {
		s.fullOnce.Do(func() { close(s.full) })
	}
}

// ---- HTTP/1.x ----

func (s *captureServer) serveH1(c net.Conn, w io.Writer, br *bufio.Reader, info connInfo) {
	bw := bufio.NewWriter(w)
	for {
		c.SetReadDeadline(time.Now().Add(captureIdleTimeout))
		req, err := capReadH1(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !capIsTimeout(err) {
				fmt.Fprintf(bw, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n", len(err.Error())+1, err)
				bw.Flush()
			}
			return
		}
		rec := req.rec
		rec.Scheme = info.scheme
		rec.Client = info.client
		rec.TLS = info.ja4
		if req.expectContinue && (req.contentLength != 0 || req.chunked) {
			io.WriteString(bw, "HTTP/1.1 100 Continue\r\n\r\n")
			bw.Flush()
		}
		if err := capDiscardBody(br, req); err != nil {
			return
		}
		s.record(&rec)
		ctype, body := captureResponse(rec.Path)
		keep := req.keepAlive
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nCache-Control: no-store\r\n", ctype, len(body))
		if !keep {
			io.WriteString(bw, "Connection: close\r\n")
		} else if rec.Protocol == "HTTP/1.0" {
			io.WriteString(bw, "Connection: keep-alive\r\n")
		}
		io.WriteString(bw, "\r\n")
		if rec.Method != "HEAD" {
			bw.Write(body)
		}
		if err := bw.Flush(); err != nil || !keep {
			return
		}
	}
}

type h1Request struct {
	rec            corpus.Record
	contentLength  int64
	chunked        bool
	keepAlive      bool
	expectContinue bool
}

func capIsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readLine reads one line of at most limit bytes, without its CRLF or LF.
func capReadLine(br *bufio.Reader, limit *int) (string, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		*limit -= len(frag)
		if *limit < 0 {
			return "", errors.New("request header too large")
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return string(line), nil
}

// readH1 reads an HTTP/1.x request line and header section, keeping the
// header lines in order.
func capReadH1(br *bufio.Reader) (*h1Request, error) {
	limit := captureMaxHeaderBytes
	line, err := capReadLine(br, &limit)
	for err == nil && line == "" { // RFC 9112 2.2: ignore empty lines before the request line
		line, err = capReadLine(br, &limit)
	}
	if err != nil {
		return nil, err
	}
	parts := strings.Split(line, " ")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || !strings.HasPrefix(parts[2], "HTTP/1.") {
		return nil, fmt.Errorf("bad request line %q", line)
	}
	req := &h1Request{}
	req.rec.Method, req.rec.Protocol = parts[0], parts[2]
	target := parts[1]
	req.rec.Path = target
	targetHost := ""
	if !strings.HasPrefix(target, "/") && target != "*" {
		// absolute-form (a proxy request) or authority-form (CONNECT)
		if u, err := url.Parse(target); err == nil && u.Host != "" {
			targetHost = u.Host
			req.rec.Path = u.RequestURI()
		} else {
			targetHost = target
			req.rec.Path = ""
		}
	}
	var headers []corpus.Header
	for {
		l, err := capReadLine(br, &limit)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' { // obs-fold: continues the previous value
			if len(headers) == 0 {
				return nil, errors.New("header continuation without a header")
			}
			headers[len(headers)-1][1] += " " + strings.Trim(l, " \t")
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("bad header line %q", l)
		}
		headers = append(headers, corpus.Header{strings.ToLower(name), strings.Trim(value, " \t")})
	}
	req.keepAlive = req.rec.Protocol != "HTTP/1.0"
	sawHost := false
	req.rec.Headers = make([]corpus.Header, 0, len(headers))
	for _, h := range headers {
		switch h[0] {
		case "host":
			if !sawHost {
				sawHost = true
				req.rec.Host = h[1]
				continue // Envoy makes it :authority
			}
		case "content-length":
			n, err := strconv.ParseInt(h[1], 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("bad content-length %q", h[1])
			}
			req.contentLength = n
		case "transfer-encoding":
			if strings.Contains(strings.ToLower(h[1]), "chunked") {
				req.chunked = true
			}
		case "connection":
			for _, t := range strings.Split(strings.ToLower(h[1]), ",") {
				switch strings.TrimSpace(t) {
				case "close":
					req.keepAlive = false
				case "keep-alive":
					if req.rec.Protocol == "HTTP/1.0" {
						req.keepAlive = true
					}
				}
			}
		case "expect":
			req.expectContinue = strings.EqualFold(h[1], "100-continue")
		}
		req.rec.Headers = append(req.rec.Headers, h)
	}
	if targetHost != "" {
		req.rec.Host = targetHost
	}
	return req, nil
}

func capDiscardBody(br *bufio.Reader, req *h1Request) error {
	if req.chunked {
		if _, err := io.Copy(io.Discard, io.LimitReader(httputil.NewChunkedReader(br), captureMaxBody)); err != nil {
			return err
		}
		limit := captureMaxHeaderBytes
		for { // trailer section
			l, err := capReadLine(br, &limit)
			if err != nil {
				return err
			}
			if l == "" {
				return nil
			}
		}
	}
	if req.contentLength > captureMaxBody {
		return errors.New("body too large")
	}
	_, err := io.CopyN(io.Discard, br, req.contentLength)
	return err
}

// ---- HTTP/2 ----

// h2Stream is a request whose body is still coming.
type h2Stream struct {
	rec corpus.Record
}

func (s *captureServer) serveH2(c net.Conn, w io.Writer, br *bufio.Reader, info connInfo) {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(br, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	fr := http2.NewFramer(bw, br)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = captureMaxHeaderBytes
	var hbuf bytes.Buffer
	henc := hpack.NewEncoder(&hbuf)
	const window = 1 << 20
	if err := fr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 250},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: window},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: captureMaxHeaderBytes},
	); err != nil {
		return
	}
	fr.WriteWindowUpdate(0, window-65535)
	if bw.Flush() != nil {
		return
	}
	maxFrame := uint32(16384)
	streams := map[uint32]*h2Stream{}
	var lastStream uint32
	goAway := func(code http2.ErrCode) {
		fr.WriteGoAway(lastStream, code, nil)
		bw.Flush()
	}
	respond := func(id uint32, rec *corpus.Record) error {
		s.record(rec)
		ctype, body := captureResponse(rec.Path)
		hbuf.Reset()
		for _, f := range [][2]string{
			{":status", "200"}, {"content-type", ctype},
			{"content-length", strconv.Itoa(len(body))}, {"cache-control", "no-store"},
		} {
			henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		head := rec.Method == "HEAD" || len(body) == 0
		if err := fr.WriteHeaders(http2.HeadersFrameParam{
			StreamID: id, BlockFragment: hbuf.Bytes(), EndStream: head, EndHeaders: true,
		}); err != nil {
			return err
		}
		for !head {
			n := min(len(body), int(maxFrame))
			if err := fr.WriteData(id, n == len(body), body[:n]); err != nil {
				return err
			}
			body = body[n:]
			if len(body) == 0 {
				break
			}
		}
		return nil
	}
	for {
		c.SetReadDeadline(time.Now().Add(captureIdleTimeout))
		f, err := fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				delete(streams, se.StreamID)
				fr.WriteRSTStream(se.StreamID, se.Code)
				if bw.Flush() != nil {
					return
				}
				continue
			}
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				goAway(http2.ErrCode(ce))
			}
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				break
			}
			f.ForeachSetting(func(st http2.Setting) error {
				switch st.ID {
				case http2.SettingMaxFrameSize:
					maxFrame = st.Val
				case http2.SettingHeaderTableSize:
					henc.SetMaxDynamicTableSizeLimit(st.Val)
				}
				return nil
			})
			fr.WriteSettingsAck()
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
			}
		case *http2.MetaHeadersFrame:
			id := f.StreamID
			if id%2 == 0 {
				goAway(http2.ErrCodeProtocol)
				return
			}
			if _, open := streams[id]; open || id <= lastStream {
				// Trailers of a request, or a late frame: nothing to record.
				if f.StreamEnded() {
					if st, ok := streams[id]; ok {
						delete(streams, id)
						if respond(id, &st.rec) != nil {
							return
						}
					}
				}
				break
			}
			lastStream = id
			rec := corpus.Record{Protocol: "HTTP/2", Scheme: info.scheme, Client: info.client, TLS: info.ja4}
			rec.Headers = make([]corpus.Header, 0, len(f.Fields))
			for _, hf := range f.Fields {
				switch hf.Name {
				case ":method":
					rec.Method = hf.Value
				case ":scheme":
					rec.Scheme = hf.Value
				case ":authority":
					rec.Host = hf.Value
				case ":path":
					rec.Path = hf.Value
				default:
					if strings.HasPrefix(hf.Name, ":") { // :protocol of extended CONNECT
						continue
					}
					rec.Headers = append(rec.Headers, corpus.Header{hf.Name, hf.Value})
				}
			}
			if rec.Host == "" { // an HTTP/2 client may send host instead of :authority
				for i, h := range rec.Headers {
					if h[0] == "host" {
						rec.Host = h[1]
						rec.Headers = slices.Delete(rec.Headers, i, i+1)
						break
					}
				}
			}
			if f.StreamEnded() {
				if respond(id, &rec) != nil {
					return
				}
			} else {
				streams[id] = &h2Stream{rec: rec}
			}
		case *http2.DataFrame:
			if n := f.Length; n > 0 {
				// Give back at once what the body took of both windows.
				fr.WriteWindowUpdate(0, n)
				if _, open := streams[f.StreamID]; open && !f.StreamEnded() {
					fr.WriteWindowUpdate(f.StreamID, n)
				}
			}
			if st, ok := streams[f.StreamID]; ok && f.StreamEnded() {
				delete(streams, f.StreamID)
				if respond(f.StreamID, &st.rec) != nil {
					return
				}
			}
		case *http2.RSTStreamFrame:
			delete(streams, f.StreamID)
		case *http2.GoAwayFrame:
			goAway(http2.ErrCodeNo)
			return
		}
		if bw.Flush() != nil {
			return
		}
	}
}

// ---- what it answers ----

var (
	capturePNG = func() []byte {
		img := image.NewNRGBA(image.Rect(0, 0, 16, 16))
		for y := range 16 {
			for x := range 16 {
				img.Set(x, y, color.NRGBA{R: uint8(x * 16), G: 80, B: uint8(y * 16), A: 255})
			}
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		return b.Bytes()
	}()
	captureHTML = []byte(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>botcorpus capture</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script>
</head>
<body>
<h1>botcorpus capture</h1>
<p><img src="/static/logo.png" alt="logo" width="16" height="16"> Items: <span id="items">…</span></p>
<p><a href="/products?page=2">more</a></p>
</body>
</html>
`)
	captureJS = []byte(`fetch('/api/items').then(function (r) { return r.json(); }).then(function (j) {
  document.getElementById('items').textContent = String(j.items.length);
  return fetch('/api/events', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({event: 'view', items: j.items.length})});
}).then(function (r) { return r.text(); }).catch(function () {});
`)
	captureCSS  = []byte("body { font-family: sans-serif; margin: 2em; }\n")
	captureJSON = []byte(`{"items":[{"id":1,"name":"tea"},{"id":2,"name":"coffee"},{"id":3,"name":"cocoa"}]}` + "\n")
)

// captureResponse is the content type and body for a path.
func captureResponse(p string) (string, []byte) {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	switch {
	case strings.HasPrefix(p, "/api/") || path.Ext(p) == ".json":
		return "application/json", captureJSON
	case path.Ext(p) == ".js":
		return "text/javascript; charset=utf-8", captureJS
	case path.Ext(p) == ".css":
		return "text/css; charset=utf-8", captureCSS
	case path.Ext(p) == ".png" || path.Ext(p) == ".ico":
		return "image/png", capturePNG
	}
	return "text/html; charset=utf-8", captureHTML
}

// selfSignedCert makes a throwaway CA and, signed by it, a server
// certificate for localhost, 127.0.0.1 and ::1; the chain is served whole.
// Firefox refuses a CA certificate as a server's (and clients that take a CA
// file want a CA), so the two are separate.
func selfSignedCert() (tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial := func() *big.Int {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
		return n.Add(n, big.NewInt(1))
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "botcorpus capture CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return tls.Certificate{}, err
	}
	leaf := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, nil
}

// ---- JA4 ----

// ja4 is the JA4 fingerprint (FoxIO's JA4 specification, TCP) of a
// ClientHello: version, SNI, counts and first ALPN; the truncated SHA-256 of
// the sorted cipher suites; that of the sorted extensions (without SNI and
// ALPN) and the signature algorithms in their order. GREASE values are
// left out everywhere.
func ja4(h *tls.ClientHelloInfo) string {
	grease := func(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }
	var ciphers, exts, sigs []uint16
	for _, v := range h.CipherSuites {
		if !grease(v) {
			ciphers = append(ciphers, v)
		}
	}
	sni := "i"
	for _, v := range h.Extensions {
		if grease(v) {
			continue
		}
		exts = append(exts, v)
		if v == 0x0000 {
			sni = "d"
		}
	}
	for _, v := range h.SignatureSchemes {
		if !grease(uint16(v)) {
			sigs = append(sigs, uint16(v))
		}
	}
	var version uint16
	for _, v := range h.SupportedVersions {
		if !grease(v) && v > version {
			version = v
		}
	}
	alpn := "00"
	if len(h.SupportedProtos) > 0 && h.SupportedProtos[0] != "" {
		p := h.SupportedProtos[0]
		alnum := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
		if alnum(p[0]) && alnum(p[len(p)-1]) {
			alpn = string(p[0]) + string(p[len(p)-1])
		} else {
			x := hex.EncodeToString([]byte(p))
			alpn = x[:1] + x[len(x)-1:]
		}
	}
	a := fmt.Sprintf("t%s%s%02d%02d%s", ja4Version(version), sni, min(len(ciphers), 99), min(len(exts), 99), alpn)
	var rest []uint16
	for _, v := range exts {
		if v != 0x0000 && v != 0x0010 {
			rest = append(rest, v)
		}
	}
	slices.Sort(ciphers)
	slices.Sort(rest)
	c := ja4Hex(rest)
	if len(sigs) > 0 {
		c += "_" + ja4Hex(sigs)
	}
	if len(rest) == 0 {
		c = ""
	}
	return a + "_" + ja4Hash(ja4Hex(ciphers)) + "_" + ja4Hash(c)
}

func ja4Version(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "13"
	case tls.VersionTLS12:
		return "12"
	case tls.VersionTLS11:
		return "11"
	case tls.VersionTLS10:
		return "10"
	case 0x0300:
		return "s3"
	}
	return "00"
}

func ja4Hex(vs []uint16) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%04x", v)
	}
	return strings.Join(parts, ",")
}

func ja4Hash(s string) string {
	if s == "" {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

// ---- the subcommand ----

func runCapture(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("botcorpus capture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o captureOptions
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:8443", "HTTPS address (h2 and http/1.1 by ALPN); empty for none")
	fs.StringVar(&o.ListenPlain, "listen-plain", "", "plain HTTP address (HTTP/1.x, and h2c with prior knowledge); empty for none")
	out := fs.String("out", "capture.jsonl", "file to write the records to (JSON Lines; - for stdout)")
	appendOut := fs.Bool("append", false, "append to -out instead of replacing it")
	fs.StringVar(&o.Label, "label", corpus.Bot, "the records' label: human or bot")
	fs.StringVar(&o.Class, "class", "", "the records' class (e.g. library, headless, chrome-desktop)")
	fs.StringVar(&o.Source, "source", "", "the records' source id")
	fs.StringVar(&o.Note, "note", "", "a note for every record")
	fs.IntVar(&o.N, "n", 0, "stop after this many requests (0: no limit)")
	fs.StringVar(&o.CertFile, "tls-cert", "", "certificate PEM file (default: one made in memory, signed by a throwaway CA)")
	fs.StringVar(&o.KeyFile, "tls-key", "", "private key PEM file for -tls-cert")
	writeCert := fs.String("write-cert", "", "write the CA of the server certificate as PEM to this file (a CA file for clients)")
	idle := fs.Duration("idle", 0, "stop this long after the last request, once one came (0: never)")
	timeout := fs.Duration("timeout", 0, "stop after this long in any case (0: never)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "botcorpus capture: unexpected arguments %q\n", fs.Args())
		return 2
	}
	var f *os.File
	if *out == "-" {
		o.Out = stdout
	} else {
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if *appendOut {
			flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		var err error
		if f, err = os.OpenFile(*out, flags, 0o644); err != nil {
			fmt.Fprintf(stderr, "botcorpus capture: %v\n", err)
			return 1
		}
		o.Out = f
	}
	s, err := startCapture(o)
	if err != nil {
		fmt.Fprintf(stderr, "botcorpus capture: %v\n", err)
		if f != nil {
			f.Close()
		}
		return 1
	}
	info := stdout
	if *out == "-" {
		info = stderr
	}
	if s.certDER != nil && *writeCert != "" {
		if err := os.WriteFile(*writeCert, s.CertPEM(), 0o644); err != nil {
			fmt.Fprintf(stderr, "botcorpus capture: %v\n", err)
		}
	}
	// The ready lines come last, when everything is in place.
	if s.tlsAddr != "" {
		fmt.Fprintf(info, "https %s\n", s.tlsAddr)
	}
	if s.httpAddr != "" {
		fmt.Fprintf(info, "http %s\n", s.httpAddr)
	}
	if s.certDER != nil {
		fmt.Fprintf(info, "cert-sha256 %s\nspki-sha256 %s\n", s.CertSHA256(), s.SPKISHA256())
	}
	if fl, ok := info.(interface{ Sync() error }); ok {
		fl.Sync()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var deadline <-chan time.Time
	if *timeout > 0 {
		t := time.NewTimer(*timeout)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-s.Full():
			break wait
		case <-deadline:
			break wait
		case <-tick.C:
			if last := s.Last(); *idle > 0 && !last.IsZero() && time.Since(last) >= *idle {
				break wait
			}
		}
	}
	// Let the last response go out before the connections are closed.
	time.Sleep(100 * time.Millisecond)
	err = s.Close()
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	fmt.Fprintf(info, "captured %d\n", s.Count())
	if err != nil {
		fmt.Fprintf(stderr, "botcorpus capture: %v\n", err)
		return 1
	}
	return 0
}
