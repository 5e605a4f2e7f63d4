package main

// The train split's library and scraping-framework header sets, transcribed
// from each client's source code at pinned versions. A profile's template
// lists the request headers in the order the client's code path writes
// them, names lower-cased, Host left out (it is the record's Host, as Envoy
// makes it :authority). Slots say where a user's own headers go: {user}
// (accept, authorization, cookie, …), {cookie} (when the client puts cookies
// elsewhere), {ct} and {cl} (content-type and content-length of a body).
// Placeholders in values: {ua}, and any of the version's vals or alts.
//
// Where a client's order could be checked against a capture of another
// version on this machine (sources/clients/captures, test split), it was;
// the versions here differ from the captured ones.

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/botauthz/botauthz/internal/corpus"
)

// clVer is one released version of a client.
type clVer struct {
	v    string
	ua   string              // the user agent it sends; "" for none
	vals map[string]string   // fixed placeholder values
	alts map[string][]string // placeholder values a record picks from (e.g. with and without brotli)
}

type clProfile struct {
	id, what, where string
	tool            string
	class           string
	versions        []clVer
	// tmpl is the header template for a version, over HTTP/2 or not.
	tmpl func(v clVer, h2 bool) []string
	// h2 says whether the client speaks HTTP/2 over https (by ALPN);
	// probability in percent.
	h2 func(v clVer) int
	// plain is the percentage of requests over plain http.
	plain int
	// inPlace: a user's accept replaces the default where it stands;
	// otherwise it goes to {user} and the default is left out.
	inPlace bool
	// sortUser sorts the user's headers by name (Go's Header map);
	// sortAll sorts every header but connection (node-fetch 3's Headers).
	sortUser, sortAll bool
	// uaEmpty: asked for no user agent, the client sends an empty one
	// rather than none (for constructed empty-ua records).
	uaEmpty bool
}

func clVers(format string, vs ...string) []clVer {
	out := make([]clVer, len(vs))
	for i, v := range vs {
		out[i] = clVer{v: v, ua: strings.ReplaceAll(format, "{v}", v)}
	}
	return out
}

func clWithAlts(vs []clVer, name string, values ...string) []clVer {
	for i := range vs {
		if vs[i].alts == nil {
			vs[i].alts = map[string][]string{}
		}
		vs[i].alts[name] = values
	}
	return vs
}

func clFixed(tmpl ...string) func(clVer, bool) []string {
	return func(clVer, bool) []string { return tmpl }
}

func clNever(clVer) int  { return 0 }
func clAlways(clVer) int { return 100 }

// clVerLess compares dotted versions numerically.
func clVerLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		var x, y int
		fmt.Sscanf(as[i], "%d", &x)
		fmt.Sscanf(bs[i], "%d", &y)
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

// clProfiles lists the transcribed clients. Every one cites where its
// defaults come from; versions are real releases of the client.
func clProfiles() []clProfile {
	var ps []clProfile

	// curl: the tool sets "curl/VERSION" (src/tool_paramhlp.c my_useragent),
	// lib/http.c adds "Accept: */*" unless the user set one; HTTP/2 over
	// https by ALPN since 7.62.0 (CURL_HTTP_VERSION_2TLS default) in builds
	// with nghttp2.
	ps = append(ps, clProfile{
		id: "train-curl", tool: "curl", class: corpus.Library,
		what:  "curl command-line tool defaults (user-agent curl/VERSION, accept */*)",
		where: "github.com/curl/curl@fdb8a789d2b446b77bd7cdd2eff95f6cbc814cf4 (curl-8_14_1):src/tool_paramhlp.c (my_useragent), lib/http.c (Accept: */*); also @2cfac302fbeec68f1727cba3d1705e16f02220ad (curl-7_68_0); versions: curl release tags",
		versions: clVers("curl/{v}", "7.29.0", "7.47.0", "7.58.0", "7.61.1", "7.64.0", "7.68.0", "7.74.0", "7.79.1",
			"7.81.0", "7.87.0", "8.1.2", "8.4.0", "8.5.0", "8.7.1", "8.9.1", "8.11.1", "8.12.1", "8.14.1", "8.15.0"),
		tmpl: clFixed("user-agent: {ua}", "accept: */*", "{user}", "{cl}", "{ct}"),
		h2: func(v clVer) int {
			if clVerLess(v.v, "7.62.0") {
				return 0
			}
			return 90
		},
		plain: 20, inPlace: true, uaEmpty: true,
	})

	// GNU Wget: src/http.c gethttp: User-Agent, Accept */*, Accept-Encoding
	// identity (since 1.17), Host, Connection Keep-Alive. The user agent is
	// "Wget/VERSION (OS_TYPE)" up to 1.20.3, "Wget/VERSION" from 1.21.
	wget := clVers("Wget/{v}", "1.12", "1.13.4", "1.14", "1.15", "1.16.3", "1.17.1", "1.18", "1.19.4", "1.19.5",
		"1.20.1", "1.20.3", "1.21", "1.21.2", "1.21.4", "1.24.5")
	for i := range wget {
		if clVerLess(wget[i].v, "1.21") {
			wget[i].ua += " (linux-gnu)"
		}
	}
	ps = append(ps, clProfile{
		id: "train-wget", tool: "wget", class: corpus.Library,
		what:     "GNU Wget defaults (user-agent Wget/VERSION, accept */*, accept-encoding identity, connection Keep-Alive)",
		where:    "github.com/mirror/wget@76ab37bff9329f5526d30d9994e3bbe04462cc58 (v1.21.4):src/http.c (gethttp, SET_USER_AGENT); @a220ead43505bc3e0ea8efb1572919111dbbf6dc (v1.20.3) and @b4440d96cf8173d68ecaa07c36b8f4316ee794d0 (v1.16) for the older user agent and no Accept-Encoding",
		versions: wget,
		tmpl: func(v clVer, _ bool) []string {
			if clVerLess(v.v, "1.17") {
				return []string{"user-agent: {ua}", "accept: */*", "connection: Keep-Alive", "{user}", "{ct}", "{cl}"}
			}
			return []string{"user-agent: {ua}", "accept: */*", "accept-encoding: identity", "connection: Keep-Alive", "{user}", "{ct}", "{cl}"}
		},
		h2: clNever, plain: 25, inPlace: true,
	})

	// python-requests: requests.utils.default_headers (User-Agent,
	// Accept-Encoding, Accept, Connection), sent by urllib3/http.client with
	// Host first; before 2.8 the user agent named the interpreter and OS,
	// before 2.4 Accept-Encoding had "compress" and there was no Connection.
	// Accept-Encoding gains br with brotli installed (urllib3 make_headers,
	// requests >= 2.26 DEFAULT_ACCEPT_ENCODING).
	req := clVers("python-requests/{v}", "2.2.1", "2.4.3", "2.9.1", "2.18.4", "2.21.0", "2.22.0", "2.25.1", "2.26.0",
		"2.27.1", "2.28.1", "2.28.2", "2.31.0", "2.32.3", "2.32.4", "2.32.5")
	for i := range req {
		switch v := req[i].v; {
		case v == "2.2.1":
			req[i].ua = "python-requests/2.2.1 CPython/2.7.6 Linux/3.13.0-24-generic"
			req[i].vals = map[string]string{"ae": "gzip, deflate, compress"}
		case v == "2.4.3":
			req[i].ua = "python-requests/2.4.3 CPython/2.7.9 Linux/3.16.0-4-amd64"
			req[i].vals = map[string]string{"ae": "gzip, deflate"}
		case clVerLess(v, "2.26.0"):
			req[i].vals = map[string]string{"ae": "gzip, deflate"}
		default:
			req[i].alts = map[string][]string{"ae": {"gzip, deflate", "gzip, deflate", "gzip, deflate, br"}}
		}
	}
	ps = append(ps, clProfile{
		id: "train-python-requests", tool: "python-requests", class: corpus.Library,
		what:     "python-requests default_headers (user-agent python-requests/VERSION, accept-encoding, accept */*, connection keep-alive)",
		where:    "github.com/psf/requests@0e322af87745eff34caffe4df68456ebc20d9068 (v2.32.3):src/requests/utils.py (default_headers, default_user_agent, DEFAULT_ACCEPT_ENCODING); @33735480f77891754304e7f13e3cdf83aaaa76aa (v2.2.1):requests/utils.py for the old user agent; versions: PyPI requests releases",
		versions: req,
		tmpl: func(v clVer, _ bool) []string {
			if v.v == "2.2.1" {
				return []string{"user-agent: {ua}", "accept-encoding: {ae}", "accept: */*", "{user}", "{cl}", "{ct}"}
			}
			return []string{"user-agent: {ua}", "accept-encoding: {ae}", "accept: */*", "connection: keep-alive", "{user}", "{cl}", "{ct}"}
		},
		h2: clNever, plain: 15, inPlace: true,
	})

	// httpx: Client default headers Accept, Accept-Encoding, Connection,
	// User-Agent (httpx/_client.py); Request._prepare puts Host (and
	// Content-Length) first; user headers follow the defaults.
	ps = append(ps, clProfile{
		id: "train-httpx", tool: "httpx", class: corpus.Library,
		what:  "httpx Client defaults (accept */*, accept-encoding, connection keep-alive, user-agent python-httpx/VERSION)",
		where: "github.com/encode/httpx@609df7ecc0f7cb10a1c998aa9c269bba77337c5f (0.27.2):httpx/_client.py (USER_AGENT, _merge_headers defaults), httpx/_models.py (Request._prepare), httpx/_decoders.py (SUPPORTED_DECODERS: br with brotli); versions: PyPI httpx releases",
		versions: clWithAlts(clVers("python-httpx/{v}", "0.18.2", "0.21.3", "0.23.0", "0.23.3", "0.24.1", "0.25.2", "0.26.0", "0.27.0", "0.27.2"),
			"ae", "gzip, deflate", "gzip, deflate", "gzip, deflate, br"),
		tmpl: clFixed("accept: */*", "accept-encoding: {ae}", "connection: keep-alive", "user-agent: {ua}", "{user}", "{cl}", "{ct}"),
		h2:   clNever, plain: 15,
	})

	// aiohttp: ClientRequest.DEFAULT_HEADERS (Accept, Accept-Encoding), then
	// User-Agent SERVER_SOFTWARE "Python/X.Y aiohttp/VERSION"; the user's
	// headers come before the defaults (update_headers, then
	// update_auto_headers).
	aio := []clVer{}
	for _, pv := range [][2]string{{"3.6.2", "3.8"}, {"3.7.4", "3.9"}, {"3.7.4", "3.8"}, {"3.8.1", "3.10"}, {"3.8.6", "3.11"},
		{"3.9.5", "3.12"}, {"3.10.10", "3.12"}, {"3.11.11", "3.13"}, {"3.12.15", "3.13"}} {
		aio = append(aio, clVer{v: pv[0], ua: "Python/" + pv[1] + " aiohttp/" + pv[0],
			alts: map[string][]string{"ae": {"gzip, deflate", "gzip, deflate", "gzip, deflate, br"}}})
	}
	ps = append(ps, clProfile{
		id: "train-aiohttp", tool: "aiohttp", class: corpus.Library,
		what:     "aiohttp ClientRequest defaults (accept */*, accept-encoding, user-agent Python/X.Y aiohttp/VERSION)",
		where:    "github.com/aio-libs/aiohttp@47475c5b74768e516fee3c9546917e8688caf998 (v3.10.10):aiohttp/client_reqrep.py (DEFAULT_HEADERS, update_auto_headers), aiohttp/http.py (SERVER_SOFTWARE); versions: PyPI aiohttp releases",
		versions: aio,
		tmpl:     clFixed("{user}", "accept: */*", "accept-encoding: {ae}", "user-agent: {ua}", "{cl}", "{ct}"),
		h2:       clNever, plain: 15,
	})

	// urllib.request: OpenerDirector.addheaders User-agent
	// "Python-urllib/X.Y"; http.client.putrequest writes Accept-Encoding
	// identity first; do_request_ adds Content-type/Content-length for data
	// and Host; do_open adds Connection: close last.
	ps = append(ps, clProfile{
		id: "train-python-urllib", tool: "Python-urllib", class: corpus.Library,
		what:     "CPython urllib.request defaults (accept-encoding identity, user-agent Python-urllib/X.Y, connection close)",
		where:    "CPython@3.12.0:Lib/urllib/request.py (OpenerDirector.__init__ addheaders, AbstractHTTPHandler.do_request_, do_open) and Lib/http/client.py (putrequest); CPython@2.7.18:Lib/urllib2.py for Python-urllib/2.7",
		versions: clVers("Python-urllib/{v}", "2.7", "3.5", "3.6", "3.7", "3.8", "3.9", "3.10", "3.12", "3.13"),
		tmpl:     clFixed("accept-encoding: identity", "{ct}", "{cl}", "user-agent: {ua}", "{user}", "connection: close"),
		h2:       clNever, plain: 20,
	})

	// urllib3: putrequest (Host, Accept-Encoding identity), framing, then
	// User-Agent "python-urllib3/VERSION" and the user's headers (2.x); in
	// 1.x http.client writes the user's headers and the added User-Agent
	// last.
	ps = append(ps, clProfile{
		id: "train-urllib3", tool: "urllib3", class: corpus.Library,
		what:     "urllib3 HTTPConnection defaults (accept-encoding identity, user-agent python-urllib3/VERSION)",
		where:    "github.com/urllib3/urllib3@2458bfcd3dacdf6c196e98d077fc6bb02a5fc1df (2.2.3):src/urllib3/connection.py (HTTPConnection.request, _get_default_user_agent); @9c2c2307dd1d6af504e09aac0326d86ee3597a0b (1.26.18):src/urllib3/connection.py; versions: PyPI urllib3 releases",
		versions: clVers("python-urllib3/{v}", "1.25.11", "1.26.5", "1.26.18", "2.0.7", "2.2.3", "2.3.0", "2.5.0"),
		tmpl: func(v clVer, _ bool) []string {
			if clVerLess(v.v, "2.0") {
				return []string{"accept-encoding: identity", "{cl}", "{user}", "{ct}", "user-agent: {ua}"}
			}
			return []string{"accept-encoding: identity", "{cl}", "user-agent: {ua}", "{user}", "{ct}"}
		},
		h2: clNever, plain: 15,
	})

	// Go net/http: HTTP/1.1 writes Host, User-Agent "Go-http-client/1.1",
	// Content-Length, the Header map sorted, then the transport's
	// Accept-Encoding gzip; HTTP/2 (h2_bundle encodeHeaders) writes the
	// Header map, then accept-encoding gzip, then user-agent
	// "Go-http-client/2.0". Go before 1.6 said "Go 1.1 package http".
	ps = append(ps, clProfile{
		id: "train-go-net-http", tool: "Go net/http", class: corpus.Library,
		what:     "Go net/http client defaults (Go-http-client/1.1 and /2.0, accept-encoding gzip)",
		where:    "go@1.22.0:src/net/http/request.go (defaultUserAgent, Request.write), src/net/http/transport.go (requestedGzip), src/net/http/h2_bundle.go (http2defaultUserAgent, encodeHeaders); go@1.5.4:src/net/http/request.go for \"Go 1.1 package http\"",
		versions: []clVer{{v: "1.6+", ua: "Go-http-client/1.1"}, {v: "1.6+", ua: "Go-http-client/1.1"}, {v: "1.6+", ua: "Go-http-client/1.1"}, {v: "1.5", ua: "Go 1.1 package http"}},
		tmpl: func(v clVer, h2 bool) []string {
			if h2 {
				return []string{"{user}", "{ct}", "{cl}", "accept-encoding: gzip", "user-agent: Go-http-client/2.0"}
			}
			return []string{"user-agent: {ua}", "{cl}", "{user}", "{ct}", "accept-encoding: gzip"}
		},
		h2: func(v clVer) int {
			if v.v == "1.5" {
				return 0
			}
			return 65 // a custom TLSClientConfig without ForceAttemptHTTP2 stays on HTTP/1.1
		},
		plain: 20, sortUser: true,
	})

	// Node's fetch (undici): accept */*, accept-language *, sec-fetch-mode
	// cors, user-agent ("node" in Node's bundled undici, "undici" from the
	// npm package), accept-encoding; Node's HTTP/1.1 client adds connection
	// keep-alive and Host first.
	undici := []clVer{}
	for _, x := range [][3]string{{"Node 18.20 (undici 5.28)", "node", "br, gzip, deflate"}, {"Node 20.11 (undici 5.28)", "node", "br, gzip, deflate"},
		{"Node 22.12 (undici 6.21)", "node", "gzip, deflate"}, {"Node 22.12 (undici 6.21)", "node", "br, gzip, deflate"},
		{"undici 5.28.4 (npm)", "undici", "br, gzip, deflate"}, {"Node 18.0 (undici 5.0)", "undici", "gzip, deflate"}} {
		undici = append(undici, clVer{v: x[0], ua: x[1], vals: map[string]string{"ae": x[2]}})
	}
	ps = append(ps, clProfile{
		id: "train-node-fetch-undici", tool: "Node fetch (undici)", class: corpus.Library,
		what:     "Node.js built-in fetch / undici defaults (accept */*, accept-language *, sec-fetch-mode cors, user-agent node or undici, accept-encoding)",
		where:    "github.com/nodejs/undici@61ec3531a64ffeec953a990c11735ff09455de4e (v6.21.0):lib/web/fetch/index.js (defaultUserAgent, accept-language *, accept-encoding); @fb983069071f52e0a7ea0e71078459c765aae172 (v5.28.4):lib/fetch/index.js",
		versions: undici,
		tmpl:     clFixed("connection: keep-alive", "{ct}", "{user}", "accept: */*", "accept-language: *", "sec-fetch-mode: cors", "user-agent: {ua}", "accept-encoding: {ae}", "{cl}"),
		h2:       clNever, plain: 15, uaEmpty: true,
	})

	// axios (Node http adapter): defaults Accept "application/json,
	// text/plain, */*", User-Agent "axios/VERSION", from 1.x
	// Accept-Encoding "gzip, compress, deflate, br"; Node adds Host and
	// Connection (close without a keep-alive agent, before Node 19).
	ax := clVers("axios/{v}", "0.19.2", "0.21.1", "0.21.4", "0.24.0", "0.27.2", "1.1.3", "1.4.0", "1.6.2", "1.6.8", "1.7.2", "1.7.9")
	for i := range ax {
		ax[i].alts = map[string][]string{"conn": {"close", "keep-alive"}}
	}
	ps = append(ps, clProfile{
		id: "train-axios", tool: "axios", class: corpus.Library,
		what:     "axios Node adapter defaults (accept application/json, text/plain, */*; user-agent axios/VERSION; accept-encoding in 1.x)",
		where:    "github.com/axios/axios@b2cb45d5a533a5465c99559b16987e4d5fc08cbc (v1.7.9):lib/adapters/http.js (User-Agent, Accept-Encoding), lib/defaults/index.js (Accept); @bc733fec78326609e751187c9d453cee9bf1993a (v0.27.2):lib/adapters/http.js, lib/defaults.js; versions: npm axios releases",
		versions: ax,
		tmpl: func(v clVer, _ bool) []string {
			if clVerLess(v.v, "1.0") {
				return []string{"accept: application/json, text/plain, */*", "{user}", "{ct}", "user-agent: {ua}", "{cl}", "connection: {conn}"}
			}
			return []string{"accept: application/json, text/plain, */*", "{user}", "{ct}", "user-agent: {ua}", "{cl}", "accept-encoding: gzip, compress, deflate, br", "connection: {conn}"}
		},
		h2: clNever, plain: 15, uaEmpty: true,
	})

	// node-fetch: 2.x getNodeRequestOptions sets Accept */*, Content-Length,
	// User-Agent "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
	// Accept-Encoding gzip,deflate, Connection close (no agent); 3.x sets
	// User-Agent "node-fetch", Accept-Encoding "gzip, deflate, br", and its
	// Headers iterate sorted.
	nf2 := clVers("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "2.6.1", "2.6.7", "2.6.9", "2.6.12")
	nf3 := clVers("node-fetch", "3.1.0", "3.2.10", "3.3.0", "3.3.1")
	ps = append(ps, clProfile{
		id: "train-node-fetch-2", tool: "node-fetch 2", class: corpus.Library,
		what:     "node-fetch 2.x defaults (accept */*, user-agent node-fetch/1.0 (+https://github.com/bitinn/node-fetch), accept-encoding gzip,deflate, connection close)",
		where:    "github.com/node-fetch/node-fetch@1ef4b560a17e644a02a3bfdea7631ffeee578b35 (v2.6.7):src/request.js (getNodeRequestOptions); versions: npm node-fetch 2.x releases",
		versions: nf2,
		tmpl:     clFixed("{user}", "{ct}", "accept: */*", "{cl}", "user-agent: {ua}", "accept-encoding: gzip,deflate", "connection: close"),
		h2:       clNever, plain: 15,
	}, clProfile{
		id: "train-node-fetch-3", tool: "node-fetch 3", class: corpus.Library,
		what:     "node-fetch 3.x defaults (accept */*, accept-encoding gzip, deflate, br, user-agent node-fetch), headers sorted",
		where:    "github.com/node-fetch/node-fetch@7b86e946b02dfdd28f4f8fca3d73a022cbb5ca1e (v3.3.1):src/request.js (getNodeRequestOptions), src/headers.js (sorted iteration); versions: npm node-fetch 3.x releases",
		versions: nf3,
		tmpl:     clFixed("accept: */*", "accept-encoding: gzip, deflate, br", "{user}", "{cl}", "{ct}", "user-agent: {ua}", "connection: keep-alive"),
		h2:       clNever, plain: 15, sortAll: true,
	})

	// got: user-agent "got (https://github.com/sindresorhus/got)" from 10.x
	// ("got/VERSION (…)" before), accept-encoding "gzip, deflate, br" with
	// brotli support in Node.
	got := clVers("got (https://github.com/sindresorhus/got)", "11.8.2", "11.8.6", "12.6.0", "13.0.0", "14.4.5")
	got = append(got, clVer{v: "9.6.0", ua: "got/9.6.0 (https://github.com/sindresorhus/got)"})
	for i := range got {
		got[i].alts = map[string][]string{"conn": {"close", "keep-alive"}}
		got[i].vals = map[string]string{"ae": "gzip, deflate, br"}
		if got[i].v == "9.6.0" {
			got[i].vals["ae"] = "gzip, deflate"
		}
	}
	ps = append(ps, clProfile{
		id: "train-got", tool: "got", class: corpus.Library,
		what:     "got defaults (user-agent got (https://github.com/sindresorhus/got), accept-encoding)",
		where:    "github.com/sindresorhus/got@2b1482ca847867cbf24abde4d68e8063611e50d1 (v11.8.6):source/core/index.ts (user-agent default, accept-encoding); @a45e071e8dc5027ab9c7fad5919195501cd9e9ca (v9.6.0):source/index.js; versions: npm got releases",
		versions: got,
		tmpl:     clFixed("user-agent: {ua}", "{user}", "{ct}", "{cl}", "accept-encoding: {ae}", "connection: {conn}"),
		h2:       clNever, plain: 15,
	})

	// Java 11+ java.net.http.HttpClient: only User-Agent
	// "Java-http-client/<java.version>", after the user's headers; HTTP/2
	// over https by ALPN.
	ps = append(ps, clProfile{
		id: "train-java-httpclient", tool: "Java HttpClient", class: corpus.Library,
		what:     "java.net.http.HttpClient default (user-agent Java-http-client/VERSION)",
		where:    "openjdk@17.0.9:src/java.net.http/share/classes/jdk/internal/net/http/HttpRequestImpl.java (USER_AGENT), Http2Connection/Http1Request header encoding; versions: OpenJDK 11, 17, 21 update releases",
		versions: clVers("Java-http-client/{v}", "11.0.2", "11.0.16", "11.0.21", "17.0.2", "17.0.9", "17.0.12", "21.0.1", "21.0.4"),
		tmpl:     clFixed("{user}", "{ct}", "{cl}", "user-agent: {ua}"),
		h2:       clAlways, plain: 0,
	})

	// HttpURLConnection: User-Agent "Java/<java.version>", Host, Accept
	// (the old malformed "*; q=.2" value up to 11, "*/*; q=0.2" later),
	// Connection keep-alive, then Content-Length.
	juc := clVers("Java/{v}", "1.7.0_80", "1.8.0_181", "1.8.0_292", "1.8.0_392", "11.0.11", "11.0.21", "21.0.2")
	for i := range juc {
		acc := "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2"
		if !clVerLess(juc[i].v, "17") && !strings.HasPrefix(juc[i].v, "1.") {
			acc = "text/html, image/gif, image/jpeg, */*; q=0.2"
		}
		juc[i].vals = map[string]string{"acc": acc}
	}
	ps = append(ps, clProfile{
		id: "train-java-urlconnection", tool: "Java HttpURLConnection", class: corpus.Library,
		what:     "java.net.HttpURLConnection defaults (user-agent Java/VERSION, accept text/html, image/gif, image/jpeg, …, connection keep-alive)",
		where:    "openjdk@8u392:jdk/src/share/classes/sun/net/www/protocol/http/HttpURLConnection.java (userAgent, acceptString, writeRequests); openjdk@21.0.2:src/java.base/share/classes/sun/net/www/protocol/http/HttpURLConnection.java",
		versions: juc,
		tmpl:     clFixed("{user}", "{ct}", "user-agent: {ua}", "accept: {acc}", "connection: keep-alive", "{cl}"),
		h2:       clNever, plain: 20,
	})

	// OkHttp BridgeInterceptor: Content-Type, Content-Length, Host,
	// Connection Keep-Alive, Accept-Encoding gzip, Cookie (from the jar),
	// User-Agent "okhttp/VERSION"; over HTTP/2 Host becomes :authority and
	// Connection is dropped.
	ps = append(ps, clProfile{
		id: "train-okhttp", tool: "OkHttp", class: corpus.Library,
		what:     "OkHttp BridgeInterceptor defaults (connection Keep-Alive, accept-encoding gzip, user-agent okhttp/VERSION)",
		where:    "github.com/square/okhttp@4984568367caaf359b82c452bd28b5e192824d1c (parent-4.12.0):okhttp/src/main/kotlin/okhttp3/internal/http/BridgeInterceptor.kt; @ad97bd3df34376eec85aa187dc8f45cfde8a2c01 (parent-3.14.9):okhttp/src/main/java/okhttp3/internal/http/BridgeInterceptor.java; versions: Maven Central com.squareup.okhttp3:okhttp",
		versions: clVers("okhttp/{v}", "3.8.1", "3.10.0", "3.12.1", "3.12.12", "3.14.9", "4.2.2", "4.9.0", "4.9.3", "4.10.0", "4.11.0", "4.12.0"),
		tmpl: func(v clVer, h2 bool) []string {
			if h2 {
				return []string{"{user}", "{ct}", "{cl}", "accept-encoding: gzip", "{cookie}", "user-agent: {ua}"}
			}
			return []string{"{user}", "{ct}", "{cl}", "connection: Keep-Alive", "accept-encoding: gzip", "{cookie}", "user-agent: {ua}"}
		},
		h2: func(clVer) int { return 85 }, plain: 10,
	})

	// Apache HttpClient 4.5: RequestContent, RequestTargetHost,
	// RequestClientConnControl (Connection Keep-Alive), RequestUserAgent
	// ("Apache-HttpClient/VERSION (Java/…)"), RequestAcceptEncoding
	// (gzip,deflate). 5.x: ContentCompressionExec adds Accept-Encoding
	// "gzip, x-gzip, deflate" before the protocol interceptors.
	hc := []clVer{}
	for _, x := range [][2]string{{"4.5.2", "1.8.0_121"}, {"4.5.5", "1.8.0_181"}, {"4.5.10", "1.8.0_232"}, {"4.5.12", "11.0.7"},
		{"4.5.13", "1.8.0_292"}, {"4.5.13", "11.0.12"}, {"4.5.14", "17.0.6"}, {"5.1.3", "11.0.15"}, {"5.2.1", "17.0.8"}, {"5.3.1", "21.0.2"}, {"5.4.1", "17.0.12"}} {
		hc = append(hc, clVer{v: x[0], ua: fmt.Sprintf("Apache-HttpClient/%s (Java/%s)", x[0], x[1])})
	}
	ps = append(ps, clProfile{
		id: "train-apache-httpclient", tool: "Apache HttpClient", class: corpus.Library,
		what:     "Apache HttpClient defaults (user-agent Apache-HttpClient/VERSION (Java/…), connection, accept-encoding)",
		where:    "github.com/apache/httpcomponents-client@1778feefd4a3a342050061524d788b0cb646d40d (rel/v4.5.14):httpclient/src/main/java/org/apache/http/impl/client/HttpClientBuilder.java (interceptor order), RequestAcceptEncoding.java; @d8f702fb4d44c746bb0edf00643aa7139cb8bdf7 (rel/v5.2.1):httpclient5/.../impl/classic/HttpClientBuilder.java, ContentCompressionExec.java; versions: Maven Central org.apache.httpcomponents",
		versions: hc,
		tmpl: func(v clVer, _ bool) []string {
			if strings.HasPrefix(v.v, "5.") {
				return []string{"{user}", "accept-encoding: gzip, x-gzip, deflate", "{cl}", "{ct}", "connection: keep-alive", "user-agent: {ua}"}
			}
			return []string{"{user}", "{cl}", "{ct}", "connection: Keep-Alive", "user-agent: {ua}", "accept-encoding: gzip,deflate"}
		},
		h2: clNever, plain: 15,
	})

	// Guzzle (curl handler): the request's headers with User-Agent
	// "GuzzleHttp/7" (6.x: "GuzzleHttp/VERSION curl/… PHP/…"); CurlFactory
	// removes curl's default Accept ("Accept:"); HTTP/1.1 by default.
	gz := []clVer{{v: "7.4.5", ua: "GuzzleHttp/7"}, {v: "7.5.0", ua: "GuzzleHttp/7"}, {v: "7.8.1", ua: "GuzzleHttp/7"},
		{v: "6.3.3", ua: "GuzzleHttp/6.3.3 curl/7.58.0 PHP/7.2.24-0ubuntu0.18.04.17"}, {v: "6.5.5", ua: "GuzzleHttp/6.5.5 curl/7.68.0 PHP/7.4.3"},
		{v: "6.5.8", ua: "GuzzleHttp/6.5.8 curl/7.74.0 PHP/7.4.33"}}
	ps = append(ps, clProfile{
		id: "train-guzzle", tool: "Guzzle", class: corpus.Library,
		what:     "Guzzle defaults (user-agent GuzzleHttp/7, or GuzzleHttp/VERSION curl/… PHP/… in 6.x; no accept)",
		where:    "github.com/guzzle/guzzle@41042bc7ab002487b876a0683fc8dce04ddce104 (7.8.1):src/Utils.php (defaultUserAgent), src/Handler/CurlFactory.php ('Accept:' removal); @a52f0440530b54fa079ce76e8c5d196a42cad981 (6.5.8):src/functions.php (default_user_agent); versions: Packagist guzzlehttp/guzzle",
		versions: gz,
		tmpl:     clFixed("{user}", "user-agent: {ua}", "{ct}", "{cl}"),
		h2:       clNever, plain: 20,
	})

	// Ruby Net::HTTP: GenericRequest#initialize sets Accept-Encoding
	// "gzip;q=1.0,deflate;q=0.6,identity;q=0.3" (Ruby >= 2.0), Accept */*,
	// User-Agent "Ruby", after the user's headers; Host follows.
	rb := []clVer{{v: "1.9.3", ua: "Ruby"}}
	for _, v := range []string{"2.3", "2.5", "2.7", "3.0", "3.1", "3.2", "3.3"} {
		rb = append(rb, clVer{v: v, ua: "Ruby"})
	}
	ps = append(ps, clProfile{
		id: "train-ruby-net-http", tool: "Ruby Net::HTTP", class: corpus.Library,
		what:     "Ruby Net::HTTP defaults (accept-encoding gzip;q=1.0,deflate;q=0.6,identity;q=0.3, accept */*, user-agent Ruby)",
		where:    "github.com/ruby/net-http@21e226c0bcc3b92401cdc49002d47da5f037da8c (v0.4.1):lib/net/http/generic_request.rb (initialize); Ruby 1.9.3 lib/net/http.rb without Accept-Encoding",
		versions: rb,
		tmpl: func(v clVer, _ bool) []string {
			if v.v == "1.9.3" {
				return []string{"{user}", "{ct}", "accept: */*", "user-agent: {ua}", "{cl}"}
			}
			return []string{"{user}", "{ct}", "accept-encoding: gzip;q=1.0,deflate;q=0.6,identity;q=0.3", "accept: */*", "user-agent: {ua}", "{cl}"}
		},
		h2: clNever, plain: 20,
	})

	// libwww-perl: LWP::UserAgent agent "libwww-perl/VERSION"; Net::HTTP
	// writes TE "deflate,gzip;q=0.3" and Connection "TE, close" first;
	// HTTP::Headers orders request headers before User-Agent, others after.
	ps = append(ps, clProfile{
		id: "train-libwww-perl", tool: "libwww-perl", class: corpus.Library,
		what:     "libwww-perl defaults (te deflate,gzip;q=0.3, connection TE, close, user-agent libwww-perl/VERSION)",
		where:    "github.com/libwww-perl/libwww-perl@36e6f99a12c2019ba3773330962483ffef81ac74 (v6.79):lib/LWP/UserAgent.pm (_agent), lib/LWP/Protocol/http.pm; Net-HTTP@6.23:lib/Net/HTTP/Methods.pm (TE, Connection); versions: CPAN libwww-perl releases",
		versions: clVers("libwww-perl/{v}", "5.833", "6.05", "6.15", "6.26", "6.31", "6.36", "6.43", "6.49", "6.52", "6.58", "6.61", "6.67", "6.72", "6.77", "6.79"),
		tmpl:     clFixed("te: deflate,gzip;q=0.3", "connection: TE, close", "{user}", "user-agent: {ua}", "{cookie}", "{ct}", "{cl}"),
		h2:       clNever, plain: 25,
	})

	// PowerShell: PSUserAgent "Mozilla/5.0 (<platform>; <OS>; <culture>)
	// PowerShell/VERSION" (7.x, .NET HttpClient: Host, then headers);
	// Windows PowerShell 5.1 "WindowsPowerShell/5.1.…" over HttpWebRequest
	// (User-Agent, Host, Connection Keep-Alive).
	pw := []clVer{}
	for _, x := range [][2]string{{"7.0.3", "10.0.18363"}, {"7.2.18", "10.0.19045"}, {"7.3.9", "10.0.22621"}, {"7.4.1", "10.0.19045"}, {"7.4.6", "10.0.22631"}, {"7.5.0", "10.0.26100"}} {
		pw = append(pw, clVer{v: x[0], ua: fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0; Microsoft Windows %s; en-US) PowerShell/%s", x[1], x[0])})
	}
	pw = append(pw, clVer{v: "7.4.1-linux", ua: "Mozilla/5.0 (Linux; Linux 6.1.0-17-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.69-1 (2023-12-30); en-US) PowerShell/7.4.1"})
	for _, b := range []string{"5.1.17763.1432", "5.1.19041.1682", "5.1.19041.3803", "5.1.22621.2506"} {
		pw = append(pw, clVer{v: b, ua: "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/" + b})
	}
	ps = append(ps, clProfile{
		id: "train-powershell", tool: "PowerShell Invoke-WebRequest", class: corpus.Library,
		what:     "PowerShell Invoke-WebRequest/Invoke-RestMethod default user agent (Mozilla/5.0 (…) PowerShell/VERSION; WindowsPowerShell/5.1)",
		where:    "github.com/PowerShell/PowerShell@5668713d3c906d63cd68e37d415206a95ac061d0 (v7.4.1):src/Microsoft.PowerShell.Commands.Utility/commands/utility/WebCmdlet/PSUserAgent.cs; Windows PowerShell 5.1 documentation of [Microsoft.PowerShell.Commands.PSUserAgent]",
		versions: pw,
		tmpl: func(v clVer, _ bool) []string {
			if strings.HasPrefix(v.v, "5.1") {
				return []string{"user-agent: {ua}", "{ct}", "{cl}", "{user}", "connection: Keep-Alive"}
			}
			return []string{"user-agent: {ua}", "{user}", "{ct}", "{cl}"}
		},
		h2: clNever, plain: 15,
	})

	// HTTPie: requests underneath, with User-Agent "HTTPie/VERSION" set as
	// a request header: the session's defaults (accept-encoding, accept,
	// connection) come first.
	ps = append(ps, clProfile{
		id: "train-httpie", tool: "HTTPie", class: corpus.Library,
		what:     "HTTPie defaults (user-agent HTTPie/VERSION over python-requests)",
		where:    "github.com/httpie/cli@29de4ce1151936856cda417767f8c507fc2c201c (3.2.2):httpie/client.py (DEFAULT_UA, make_default_headers); versions: PyPI httpie releases",
		versions: clWithAlts(clVers("HTTPie/{v}", "1.0.3", "2.6.0", "3.1.0", "3.2.1", "3.2.2", "3.2.3"), "ae", "gzip, deflate", "gzip, deflate, br"),
		tmpl:     clFixed("accept-encoding: {ae}", "accept: */*", "connection: keep-alive", "{cl}", "user-agent: {ua}", "{user}", "{ct}"),
		h2:       clNever, plain: 20,
	})

	// Scrapy (scraping-framework): DEFAULT_REQUEST_HEADERS Accept and
	// Accept-Language "en", USER_AGENT "Scrapy/VERSION (+https://scrapy.org)",
	// HttpCompressionMiddleware Accept-Encoding; a followed link carries
	// Referer first.
	sc := clVers("Scrapy/{v} (+https://scrapy.org)", "1.5.1", "1.6.0", "1.8.0", "2.4.1", "2.5.1", "2.6.1", "2.8.0", "2.9.0", "2.11.0", "2.11.2", "2.12.0", "2.13.3")
	for i := range sc {
		sc[i].alts = map[string][]string{"ae": {"gzip, deflate", "gzip, deflate, br"}}
		if clVerLess(sc[i].v, "2.11") {
			sc[i].alts["ae"] = []string{"gzip,deflate", "gzip,deflate,br"}
		}
	}
	ps = append(ps, clProfile{
		id: "train-scrapy", tool: "Scrapy", class: corpus.ScrapingFramework,
		what:     "Scrapy defaults (accept text/html,…;q=0.8, accept-language en, user-agent Scrapy/VERSION (+https://scrapy.org), accept-encoding)",
		where:    "github.com/scrapy/scrapy@e8cb5a03b382b98f2c8945355076390f708b918d (2.11.2):scrapy/settings/default_settings.py (DEFAULT_REQUEST_HEADERS, USER_AGENT), scrapy/downloadermiddlewares/httpcompression.py; @be2e910dd06ba4904e7b10eb5a7e3251e8dab099 (1.8.0); versions: PyPI Scrapy releases",
		versions: sc,
		tmpl:     clFixed("{user}", "accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "accept-language: en", "user-agent: {ua}", "accept-encoding: {ae}", "{ct}", "{cl}"),
		h2:       clNever, plain: 25,
	})

	// Colly (scraping-framework): Collector UserAgent
	// "colly - https://github.com/gocolly/colly" and Accept */* set in the
	// request's Header map, sent by Go net/http.
	ps = append(ps, clProfile{
		id: "train-colly", tool: "Colly", class: corpus.ScrapingFramework,
		what:     "Colly defaults (user-agent colly - https://github.com/gocolly/colly, accept */*) over Go net/http",
		where:    "github.com/gocolly/colly@bbf3f10c37205136e9d4f46fe8118205cc505a67 (v2.1.0):colly.go (Init UserAgent, fetch Accept); versions: Go module github.com/gocolly/colly/v2",
		versions: clVers("colly - https://github.com/gocolly/colly", "1.2.0", "2.1.0", "2.2.0"),
		tmpl: func(v clVer, h2 bool) []string {
			if h2 {
				return []string{"accept: */*", "{user}", "{ct}", "{cl}", "accept-encoding: gzip", "user-agent: {ua}"}
			}
			return []string{"user-agent: {ua}", "{cl}", "accept: */*", "{user}", "{ct}", "accept-encoding: gzip"}
		},
		h2: func(clVer) int { return 70 }, plain: 25, sortUser: true,
	})
	return ps
}

// clNoUAProfiles are clients that send no user agent by default: their
// records are empty-ua (train).
func clNoUAProfiles() []clProfile {
	return []clProfile{{
		id: "train-dotnet-httpclient", tool: ".NET HttpClient", class: corpus.EmptyUA,
		what:     ".NET HttpClient (SocketsHttpHandler) defaults: no user agent, no accept; HTTP/1.1 unless the request asks for 2",
		where:    "dotnet-runtime@8.0.0:src/libraries/System.Net.Http/src/System/Net/Http/SocketsHttpHandler/HttpConnection.cs (WriteHeadersAsync: Host, then the request's headers only), HttpRequestMessage.cs (DefaultRequestVersion 1.1)",
		versions: []clVer{{v: "6.0"}, {v: "7.0"}, {v: "8.0"}, {v: "9.0"}},
		tmpl:     clFixed("{user}", "{ct}", "{cl}"),
		h2:       clNever, plain: 15,
	}, {
		id: "train-php-curl", tool: "PHP curl extension", class: corpus.EmptyUA,
		what:     "PHP's curl extension over libcurl: no user agent unless CURLOPT_USERAGENT is set, libcurl's accept */*; HTTP/2 over https with nghttp2",
		where:    "github.com/curl/curl@fdb8a789d2b446b77bd7cdd2eff95f6cbc814cf4 (curl-8_14_1):lib/http.c (User-Agent only when set, Accept: */*); php-src@php-8.2.0:ext/curl/interface.c (no default CURLOPT_USERAGENT)",
		versions: []clVer{{v: "7.4 (libcurl 7.68.0)"}, {v: "8.1 (libcurl 7.81.0)"}, {v: "8.3 (libcurl 8.5.0)"}},
		tmpl:     clFixed("accept: */*", "{user}", "{cl}", "{ct}"),
		h2:       func(clVer) int { return 80 }, plain: 15,
	}}
}

// ---- rendering a profile into records ----

// clUserHeaders are the headers a user's code adds for a request kind.
type clUser struct {
	hs      []corpus.Header // accept, authorization, …
	cookie  string
	ct, cl  string
	variant string // for the note
}

var clTokens = []string{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl", "sk_live_51HxQ2kLmN0pQ", "ghp_Zx81kQmT2vL0aa", "dG9rZW4tNzc3"}

func clUserFor(rng *rand.Rand, k clKind) clUser {
	var u clUser
	switch k {
	case clAPIGet:
		if rng.IntN(2) == 0 {
			u.hs = append(u.hs, corpus.Header{"accept", "application/json"})
		}
		if rng.IntN(3) == 0 {
			u.hs = append(u.hs, corpus.Header{"authorization", "Bearer " + clPick(rng, clTokens)})
		} else if rng.IntN(8) == 0 {
			u.hs = append(u.hs, corpus.Header{"x-api-key", fmt.Sprintf("%016x", rng.Uint64())})
		}
	case clAPIPost:
		if rng.IntN(3) == 0 {
			u.hs = append(u.hs, corpus.Header{"accept", "application/json"})
		}
		if rng.IntN(3) == 0 {
			u.hs = append(u.hs, corpus.Header{"authorization", "Bearer " + clPick(rng, clTokens)})
		}
		u.ct, u.cl = "application/json", clItoa(12+rng.IntN(470))
	case clLogin:
		u.ct, u.cl = "application/x-www-form-urlencoded", clItoa(24+rng.IntN(40))
		if rng.IntN(4) == 0 {
			u.cookie = fmt.Sprintf("session=%016x", rng.Uint64())
		}
	case clPage, clPageHead:
		if rng.IntN(7) == 0 {
			u.cookie = fmt.Sprintf("session=%016x", rng.Uint64())
		}
		if rng.IntN(20) == 0 {
			u.hs = append(u.hs, corpus.Header{"authorization", "Basic YWxpY2U6c2VjcmV0"})
		}
	}
	return u
}

func clMethod(k clKind) string {
	switch k {
	case clPageHead:
		return "HEAD"
	case clAPIPost, clLogin:
		return "POST"
	}
	return "GET"
}

// clRender makes one record of a profile's version.
func clRender(rng *rand.Rand, p *clProfile, v clVer, k clKind) corpus.Record {
	scheme := "https"
	if rng.IntN(100) < p.plain {
		scheme = "http"
	}
	h2 := scheme == "https" && rng.IntN(100) < p.h2(v)
	proto := "HTTP/1.1"
	if h2 {
		proto = "HTTP/2"
	}
	path := clPathFor(rng, k)
	u := clUserFor(rng, k)
	vals := map[string]string{"ua": v.ua}
	for k, x := range v.vals {
		vals[k] = x
	}
	for _, name := range clSortedKeys(v.alts) {
		vals[name] = clPick(rng, v.alts[name])
	}
	hs := clFill(p, p.tmpl(v, h2), vals, u)
	return corpus.Record{
		Label: corpus.Bot, Class: p.class, Source: p.id,
		Method: clMethod(k), Scheme: scheme, Host: clPick(rng, clHosts), Path: path, Protocol: proto,
		Headers: hs, Client: clClient(rng), Route: clRoute(path),
		Note: fmt.Sprintf("%s %s defaults (transcribed)", p.tool, v.v),
	}
}

// clFill fills a template with a version's values and the user's headers.
func clFill(p *clProfile, tmpl []string, vals map[string]string, u clUser) []corpus.Header {
	user := slicesClone(u.hs)
	if p.sortUser {
		sort.SliceStable(user, func(i, j int) bool { return user[i][0] < user[j][0] })
	}
	hasCookieSlot, hasUserSlot, hasCT, hasCL := false, false, false, false
	for _, t := range tmpl {
		switch t {
		case "{cookie}":
			hasCookieSlot = true
		case "{user}":
			hasUserSlot = true
		case "{ct}":
			hasCT = true
		case "{cl}":
			hasCL = true
		}
	}
	var out []corpus.Header
	emitUser := func() {
		out = append(out, user...)
		if u.cookie != "" && !hasCookieSlot {
			out = append(out, corpus.Header{"cookie", u.cookie})
		}
	}
	for _, t := range tmpl {
		switch t {
		case "{user}":
			emitUser()
			continue
		case "{cookie}":
			if u.cookie != "" {
				out = append(out, corpus.Header{"cookie", u.cookie})
			}
			continue
		case "{ct}":
			if u.ct != "" {
				out = append(out, corpus.Header{"content-type", u.ct})
			}
			continue
		case "{cl}":
			if u.cl != "" {
				out = append(out, corpus.Header{"content-length", u.cl})
			}
			continue
		}
		name, value, _ := strings.Cut(t, ": ")
		for k, x := range vals {
			value = strings.ReplaceAll(value, "{"+k+"}", x)
		}
		if name == "user-agent" && vals["ua"] == "" && strings.Contains(t, "{ua}") {
			continue
		}
		if i := clIndex(user, name); i >= 0 {
			if p.inPlace {
				value = user[i][1]
				user = append(user[:i:i], user[i+1:]...)
			} else {
				continue // the user's goes where the user's headers go
			}
		}
		out = append(out, corpus.Header{name, value})
	}
	if !hasUserSlot {
		emitUser()
	}
	if !hasCT && u.ct != "" {
		out = append(out, corpus.Header{"content-type", u.ct})
	}
	if !hasCL && u.cl != "" {
		out = append(out, corpus.Header{"content-length", u.cl})
	}
	if p.sortAll {
		var conn []corpus.Header
		var rest []corpus.Header
		for _, h := range out {
			if h[0] == "connection" {
				conn = append(conn, h)
			} else {
				rest = append(rest, h)
			}
		}
		sort.SliceStable(rest, func(i, j int) bool { return rest[i][0] < rest[j][0] })
		out = append(rest, conn...)
	}
	if out == nil {
		out = []corpus.Header{}
	}
	return out
}

func slicesClone(hs []corpus.Header) []corpus.Header { return append([]corpus.Header(nil), hs...) }

// clTrainFromProfiles makes n records of class from the profiles of that
// class, spread over clients and versions.
func clTrainFromProfiles(rng *rand.Rand, profs []clProfile, class string, n int) []corpus.Record {
	var ps []*clProfile
	for i := range profs {
		if profs[i].class == class {
			ps = append(ps, &profs[i])
		}
	}
	var out []corpus.Record
	for i := 0; i < n; i++ {
		p := ps[i%len(ps)]
		v := clPick(rng, p.versions)
		out = append(out, clRender(rng, p, v, clPickKind(rng)))
	}
	return out
}

// clTrainEmptyUA makes n empty-ua records: clients without a default user
// agent, and train library header sets with the user agent removed (or
// emptied, for clients that send an empty one when told to send none).
func clTrainEmptyUA(rng *rand.Rand, profs []clProfile, n int) []corpus.Record {
	native := clNoUAProfiles()
	var libs []*clProfile
	for i := range profs {
		if profs[i].class == corpus.Library {
			libs = append(libs, &profs[i])
		}
	}
	var out []corpus.Record
	for i := 0; i < n; i++ {
		if i%3 == 0 {
			p := &native[(i/3)%len(native)]
			out = append(out, clRender(rng, p, clPick(rng, p.versions), clPickKind(rng)))
			continue
		}
		p := clPick(rng, libs)
		v := clPick(rng, p.versions)
		r := clRender(rng, p, v, clPickKind(rng))
		r.Class, r.Source = corpus.EmptyUA, "train-constructed-empty-ua"
		if p.uaEmpty && rng.IntN(2) == 0 {
			r.Headers = clSetValue(r.Headers, "user-agent", "")
			r.Note = fmt.Sprintf("%s %s defaults with an empty user-agent", p.tool, v.v)
		} else {
			r.Headers = clDelete(r.Headers, "user-agent")
			r.Note = fmt.Sprintf("%s %s defaults with the user-agent removed", p.tool, v.v)
		}
		out = append(out, r)
	}
	return out
}

// clTrainMissingHeaders makes n missing-headers records: train library
// header sets with a browser user agent (train list), sometimes with the
// browser's accept and accept-language copied; https only.
func clTrainMissingHeaders(rng *rand.Rand, profs []clProfile, n int) []corpus.Record {
	var libs []*clProfile
	for i := range profs {
		if profs[i].class == corpus.Library && profs[i].id != "train-powershell" {
			libs = append(libs, &profs[i])
		}
	}
	var out []corpus.Record
	for len(out) < n {
		p := clPick(rng, libs)
		v := clPick(rng, p.versions)
		r := clRender(rng, p, v, clPickKind(rng))
		if r.Scheme != "https" {
			continue
		}
		bu := clPick(rng, clBrowserUAsTrain)
		r.Class, r.Source = corpus.MissingHeaders, "train-constructed-missing-headers"
		r.Headers = clSpoof(rng, r.Headers, bu)
		r.Note = fmt.Sprintf("%s %s defaults with a %s user agent%s", p.tool, v.v, bu.family, clCopiedNote(r.Headers, bu))
		out = append(out, r)
	}
	return out
}

// clConstructedSources are the sources of constructed records.
func clConstructedSources() []corpus.Source {
	return []corpus.Source{
		{ID: "train-constructed-empty-ua", Split: "train",
			What:  "constructed: train library header sets (train-* transcriptions) with the user-agent removed or emptied",
			Where: "cmd/botcorpus/clients_train.go (clTrainEmptyUA) over the train-* client sources"},
		{ID: "train-constructed-missing-headers", Split: "train",
			What:  "constructed: train library header sets with a real browser user agent (Chrome 100-139, Firefox 102-136, Safari 15.6-18.3, Edge), sometimes with the browser's accept and accept-language; https, no sec-fetch-*/sec-ch-ua",
			Where: "cmd/botcorpus/clients_train.go (clTrainMissingHeaders); user agents from cmd/botcorpus/clients_headless.go (clBrowserUAsTrain)"},
		{ID: "test-constructed-empty-ua", Split: "test",
			What:  "constructed: test library captures (capture-*) with the user-agent removed or emptied",
			Where: "cmd/botcorpus/clients.go (clTestEmptyUA) over the capture-* sources"},
		{ID: "test-constructed-missing-headers", Split: "test",
			What:  "constructed: test library captures with a real browser user agent (Chrome 140-143, Firefox 140-147, Safari 26, Edge 141-143; none of the train list), sometimes with the browser's accept and accept-language; https only",
			Where: "cmd/botcorpus/clients.go (clTestMissingHeaders); user agents from cmd/botcorpus/clients_headless.go (clBrowserUAsTest)"},
	}
}
