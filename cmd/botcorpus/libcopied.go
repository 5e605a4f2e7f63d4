package main

// The library-copied class: a browser's complete header set sent through an
// HTTP library. A script copies every header of a browser's navigation
// (user-agent, sec-ch-ua*, sec-fetch-*, accept, accept-language,
// accept-encoding, upgrade-insecure-requests, …, as DevTools shows them) and
// hands them to its HTTP library as a dict or map, in the browser's order.
// The library then sends them its own way: in its own order, over its own
// protocol (mostly HTTP/1.1, even over TLS), with headers of its own added
// or values replaced. copied-browser (browsers_adv.go) is the browser's set
// exactly as the browser sends it; this class is what scripts really send.
//
// The split rule holds as everywhere:
//
//   - train (this file, the "library-copied" part): the train split's
//     browser sets — header-generator's https navigations, the human
//     records the browsers part made — each given to one of the libraries
//     below, whose handling of a user's headers is transcribed from its
//     source code at a pinned version (lcLibraries; each cites
//     repository@commit:path or package@version:path);
//   - test (clients.go): real captures of the same libraries, each given a
//     test split browser set whole (sources/clients/capture-scripts/copied/:
//     a Chromium 156 and a Firefox 153 ESR navigation captured here, and
//     curl-impersonate's Safari 26 signature), recorded by `botcorpus
//     capture` (capture-scripts/copied.sh) and turned into records as every
//     client capture is.
//
// What the libraries do with a complete set, by source and by capture alike:
// python-requests puts its session defaults first (user-agent,
// accept-encoding, accept, connection), with the browser's values in their
// places; axios puts accept first and connection last; Go's HTTP/2 writes
// the header map in Go's random map order and its HTTP/1.1 sorts it by name
// after user-agent. aiohttp, httpx (connection first), Node's fetch
// (connection first, sec-fetch-mode replaced by cors) and curl keep the
// browser's order; over HTTP/2 httpx (http2=True) and curl send the set as
// the browser sent it, and only the TLS fingerprint of the captures tells
// them apart.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/botauthz/botauthz/internal/corpus"
)

// lcTrainCount is how many train records the part makes.
const lcTrainCount = 350

// lcLibrary is an HTTP library as a script uses it to send a copied browser
// header set.
type lcLibrary struct {
	id, tool, version string
	what, where       string
	// keepsOrder: the browser's headers go out in the order they were
	// given (the library's own may come before or after them).
	keepsOrder bool
	// h2 is the percentage of https requests over HTTP/2; plain the
	// percentage of requests over plain http.
	h2, plain int
	// send is what the library writes for a user's headers hs, names
	// lower-cased, Host left out.
	send func(rng *rand.Rand, hs []corpus.Header, scheme string, h2 bool) []corpus.Header
}

// lcFamilies are the browser families the copied sets come from, by human
// class.
var lcFamilies = [][]string{
	{corpus.ChromeDesktop, corpus.ChromeAndroid},
	{corpus.EdgeDesktop},
	{corpus.FirefoxDesktop, corpus.FirefoxAndroid},
	{corpus.SafariDesktop, corpus.SafariIOS},
}

const lcFrom = "constructed: the train split's header-generator https navigation sets (the browsers part's human records) "

// lcLibraries lists the transcribed libraries.
func lcLibraries() []lcLibrary {
	return []lcLibrary{{
		id: "train-library-copied-python-requests", tool: "python-requests", version: "2.32.3 (urllib3 2.2.3)",
		what: lcFrom + "passed whole as headers= to a python-requests Session: the session's defaults (user-agent, accept-encoding, accept, connection: keep-alive) " +
			"come first, with the browser's values in their places, the browser's other headers after them in its order; HTTP/1.1",
		where: "github.com/psf/requests@0e322af87745eff34caffe4df68456ebc20d9068 (v2.32.3):src/requests/sessions.py (merge_setting into a CaseInsensitiveDict), " +
			"src/requests/utils.py (default_headers), src/requests/structures.py (CaseInsensitiveDict: a key set again keeps its place); " +
			"github.com/urllib3/urllib3@2458bfcd3dacdf6c196e98d077fc6bb02a5fc1df (2.2.3):src/urllib3/connection.py (HTTPConnection.request: Host, then the headers in order)",
		h2: 0, plain: 15,
		send: func(_ *rand.Rand, hs []corpus.Header, _ string, _ bool) []corpus.Header {
			return lcMergeInPlace([]corpus.Header{
				{"user-agent", "python-requests/2.32.3"}, {"accept-encoding", "gzip, deflate"}, {"accept", "*/*"}, {"connection", "keep-alive"},
			}, hs)
		},
	}, {
		id: "train-library-copied-httpx", tool: "httpx", version: "0.27.2 (httpcore 1.0.5, h2 4.1.0)", keepsOrder: true,
		what: lcFrom + "passed whole as headers= to an httpx Client: the defaults the browser's headers replace are dropped, the browser's headers follow " +
			"what is left (connection: keep-alive) in its order; HTTP/1.1, or HTTP/2 with http2=True (1 in 4 https requests), where h2 strips connection",
		where: "github.com/encode/httpx@609df7ecc0f7cb10a1c998aa9c269bba77337c5f (0.27.2):httpx/_client.py (Client.headers defaults, _merge_headers), " +
			"httpx/_models.py (Headers.update: pop, then extend; Request._prepare: Host first); " +
			"github.com/encode/httpcore@1851ac30900a38a9cef4e56975f40267352c6012 (1.0.5):httpcore/_sync/http2.py (_send_request_headers); " +
			"github.com/python-hyper/h2@799b1eab3958aa3fcbab8f5eca39e8d17f7c1cf9 (v4.1.0):src/h2/utilities.py (_strip_connection_headers)",
		h2: 25, plain: 15,
		send: func(_ *rand.Rand, hs []corpus.Header, _ string, h2 bool) []corpus.Header {
			out := lcReplaceThenAppend([]corpus.Header{
				{"accept", "*/*"}, {"accept-encoding", "gzip, deflate"}, {"connection", "keep-alive"}, {"user-agent", "python-httpx/0.27.2"},
			}, hs)
			if h2 {
				out = hdel(out, "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade")
			}
			return out
		},
	}, {
		id: "train-library-copied-aiohttp", tool: "aiohttp", version: "3.10.10", keepsOrder: true,
		what: lcFrom + "passed whole as headers= to an aiohttp ClientSession: Host, then the browser's headers in its order; its defaults (accept, " +
			"accept-encoding, user-agent) only where missing, no connection header on a keep-alive HTTP/1.1 connection; HTTP/1.1 only",
		where: "github.com/aio-libs/aiohttp@47475c5b74768e516fee3c9546917e8688caf998 (v3.10.10):aiohttp/client.py (ClientSession._prepare_headers), " +
			"aiohttp/client_reqrep.py (ClientRequest.update_headers, update_auto_headers, send: connection only for close or HTTP/1.0)",
		h2: 0, plain: 15,
		send: func(_ *rand.Rand, hs []corpus.Header, _ string, _ bool) []corpus.Header {
			return lcAppendMissing(hs, corpus.Header{"accept", "*/*"}, corpus.Header{"accept-encoding", "gzip, deflate"},
				corpus.Header{"user-agent", "Python/3.12 aiohttp/3.10.10"})
		},
	}, {
		id: "train-library-copied-go-net-http", tool: "Go net/http", version: "go1.22.0",
		what: lcFrom + "set with Header.Set on a Go net/http request: over https HTTP/2 by default (7 in 10; the rest through a Transport with its own " +
			"TLS config and no ForceAttemptHTTP2), else HTTP/1.1; HTTP/2 writes the header map in Go's random map order, HTTP/1.1 writes user-agent, " +
			"then the rest sorted by name; accept-encoding: gzip only where the set has none",
		where: "go@1.22.0:src/net/http/h2_bundle.go (http2ClientConn.encodeHeaders: for k, vv := range req.Header), src/net/http/request.go " +
			"(Request.write: Host, User-Agent, Header.writeSubset, then the transport's extra headers), src/net/http/header.go (sortedKeyValues), " +
			"src/net/http/transport.go (onceSetNextProtoDefaults, requestedGzip); read from the Go module golang.org/toolchain@v0.0.1-go1.22.0.linux-amd64",
		h2: 70, plain: 15,
		send: lcGo,
	}, {
		id: "train-library-copied-node-fetch-undici", tool: "Node fetch (undici)", version: "undici 6.21.0", keepsOrder: true,
		what: lcFrom + "given as the headers of Node's fetch (undici): connection: keep-alive first, then the browser's headers in its order with " +
			"sec-fetch-mode set to cors where it stands; accept, accept-language, user-agent and accept-encoding only where missing; HTTP/1.1",
		where: "github.com/nodejs/undici@61ec3531a64ffeec953a990c11735ff09455de4e (v6.21.0):lib/web/fetch/util.js (appendFetchMetadata: " +
			"headersList.set sec-fetch-mode), lib/web/fetch/index.js (fetching, httpNetworkOrCacheFetch: defaults only when missing), " +
			"lib/web/fetch/headers.js (HeadersList: set keeps the place, entries in insertion order), lib/dispatcher/client-h1.js (writeH1: host, connection, then the headers)",
		h2: 0, plain: 15,
		send: lcNodeFetch,
	}, {
		id: "train-library-copied-axios", tool: "axios", version: "1.7.9 (Node http adapter)",
		what: lcFrom + "given as axios' headers (Node http adapter): accept first (the place of axios' default Accept, with the browser's value), " +
			"the browser's other headers after it in its order, connection last (keep-alive with a keep-alive agent, Node's default from 19, else close); HTTP/1.1",
		where: "github.com/axios/axios@b2cb45d5a533a5465c99559b16987e4d5fc08cbc (v1.7.9):lib/core/Axios.js (AxiosHeaders.concat(contextHeaders, headers)), " +
			"lib/core/AxiosHeaders.js (set keeps an existing key's place), lib/defaults/index.js (headers.common Accept), lib/adapters/http.js " +
			"(User-Agent and Accept-Encoding only when missing); github.com/nodejs/node@0040866fe91eea2b61583f8e18e57a7679decc22:lib/_http_client.js " +
			"(ClientRequest: the headers in key order, then Host) and @003e581088b6da260b11b37c8a9b2f80ac7cd90e:lib/_http_outgoing.js (_storeHeader: Connection after them)",
		h2: 0, plain: 15,
		send: lcAxios,
	}, {
		id: "train-library-copied-curl", tool: "curl", version: "8.14.1", keepsOrder: true,
		what: lcFrom + "given to curl as -H options, one per header in the browser's order: no user-agent or accept of curl's own, the order kept; " +
			"over https HTTP/2 by ALPN (4 in 5; the rest --http1.1), where connection-specific headers are dropped and te is kept only as trailers",
		where: "github.com/curl/curl@fdb8a789d2b446b77bd7cdd2eff95f6cbc814cf4 (curl-8_14_1):lib/http.c (http_useragent, Accept: */* only without " +
			"the user's, Curl_add_custom_headers in order, Curl_http_req_to_h2 and h2_permissible_field)",
		h2: 80, plain: 15,
		send: lcCurl,
	}}
}

// ---- what the libraries do with a user's headers ----

// lcMergeInPlace is requests' merge into a CaseInsensitiveDict: the
// defaults first, a user's value replacing a default's where it stands,
// the user's other headers after them in order.
func lcMergeInPlace(defaults, user []corpus.Header) []corpus.Header {
	out := slices.Clone(defaults)
	for _, h := range user {
		if i := clIndex(out, h[0]); i >= 0 {
			out[i][1] = h[1]
		} else {
			out = append(out, h)
		}
	}
	return out
}

// lcReplaceThenAppend is httpx's Headers.update: the defaults the user
// sets are removed, the user's headers appended in order.
func lcReplaceThenAppend(defaults, user []corpus.Header) []corpus.Header {
	var out []corpus.Header
	for _, d := range defaults {
		if clIndex(user, d[0]) < 0 {
			out = append(out, d)
		}
	}
	return append(out, user...)
}

// lcAppendMissing appends each default the headers do not have yet.
func lcAppendMissing(hs []corpus.Header, defaults ...corpus.Header) []corpus.Header {
	out := slices.Clone(hs)
	for _, d := range defaults {
		if clIndex(out, d[0]) < 0 {
			out = append(out, d)
		}
	}
	return out
}

// lcConnectionSpecific are the headers HTTP/2 clients leave out.
var lcConnectionSpecific = []string{"connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade", "host"}

// lcGo is Go net/http: over HTTP/2 the header map in Go's map order (a
// random order, drawn again for every request), then accept-encoding and
// user-agent where missing; over HTTP/1.1 user-agent first, then the rest
// sorted by name, then the transport's accept-encoding where missing.
func lcGo(rng *rand.Rand, hs []corpus.Header, _ string, h2 bool) []corpus.Header {
	if h2 {
		var out []corpus.Header
		hasUA := false
		for _, h := range hs {
			switch {
			case slices.Contains(lcConnectionSpecific, h[0]):
				continue
			case h[0] == "user-agent":
				hasUA = true
			}
			out = append(out, h)
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		if clIndex(out, "accept-encoding") < 0 {
			out = append(out, corpus.Header{"accept-encoding", "gzip"})
		}
		if !hasUA {
			out = append(out, corpus.Header{"user-agent", "Go-http-client/2.0"})
		}
		return out
	}
	ua := "Go-http-client/1.1"
	if i := clIndex(hs, "user-agent"); i >= 0 {
		ua = hs[i][1]
	}
	rest := clDelete(hs, "user-agent")
	sort.SliceStable(rest, func(i, j int) bool { return rest[i][0] < rest[j][0] })
	out := append([]corpus.Header{{"user-agent", ua}}, rest...)
	if clIndex(out, "accept-encoding") < 0 {
		out = append(out, corpus.Header{"accept-encoding", "gzip"})
	}
	return out
}

// lcNodeFetch is Node's fetch (undici): accept and accept-language where
// missing, sec-fetch-mode set to the request's mode (cors) in place or
// appended, user-agent and accept-encoding where missing; the HTTP/1.1
// writer puts connection: keep-alive before them all.
func lcNodeFetch(_ *rand.Rand, hs []corpus.Header, scheme string, _ bool) []corpus.Header {
	out := lcAppendMissing(hs, corpus.Header{"accept", "*/*"}, corpus.Header{"accept-language", "*"})
	out = clSetValue(out, "sec-fetch-mode", "cors")
	ae := "gzip, deflate"
	if scheme == "https" {
		ae = "br, gzip, deflate"
	}
	out = lcAppendMissing(out, corpus.Header{"user-agent", "node"}, corpus.Header{"accept-encoding", ae})
	return append([]corpus.Header{{"connection", "keep-alive"}}, out...)
}

// lcAxios is axios on Node: accept first (its default's place), the other
// headers in order, user-agent and accept-encoding where missing, then
// Node's connection header: keep-alive with a keep-alive agent (Node's
// global agent from Node 19), close without.
func lcAxios(rng *rand.Rand, hs []corpus.Header, _ string, _ bool) []corpus.Header {
	accept := "application/json, text/plain, */*"
	if i := clIndex(hs, "accept"); i >= 0 {
		accept = hs[i][1]
	}
	out := append([]corpus.Header{{"accept", accept}}, clDelete(hs, "accept")...)
	out = lcAppendMissing(out, corpus.Header{"user-agent", "axios/1.7.9"}, corpus.Header{"accept-encoding", "gzip, compress, deflate, br"})
	conn := "keep-alive"
	if rng.IntN(3) == 0 {
		conn = "close"
	}
	return append(out, corpus.Header{"connection", conn})
}

// lcCurl is curl with one -H per header: its own user-agent and accept
// only where the user gave none, then the user's headers in order; over
// HTTP/2 the connection-specific ones dropped and te kept only as trailers.
func lcCurl(_ *rand.Rand, hs []corpus.Header, _ string, h2 bool) []corpus.Header {
	var out []corpus.Header
	if clIndex(hs, "user-agent") < 0 {
		out = append(out, corpus.Header{"user-agent", "curl/8.14.1"})
	}
	if clIndex(hs, "accept") < 0 {
		out = append(out, corpus.Header{"accept", "*/*"})
	}
	for _, h := range hs {
		if h2 && slices.Contains(lcConnectionSpecific, h[0]) {
			continue
		}
		if h2 && h[0] == "te" {
			if !strings.Contains(h[1], "trailers") {
				continue
			}
			h[1] = "trailers"
		}
		out = append(out, h)
	}
	return out
}

// ---- the part ----

// libraryCopied is the part that makes the train split's library-copied
// records from the browsers part's human train records.
func libraryCopied(_ string, rng *rand.Rand, before *set) (*set, error) {
	sets := lcSourceSets(before.train)
	if len(sets) == 0 {
		return nil, fmt.Errorf("no header-generator https navigations among %d train records: the browsers part must come first", len(before.train))
	}
	libs := lcLibraries()
	recs, _ := lcTrain(rng, libs, sets, lcTrainCount)
	out := &set{train: recs}
	for _, l := range libs {
		out.sources = append(out.sources, corpus.Source{ID: l.id, What: l.what, Where: l.where, Split: "train"})
	}
	return out, nil
}

// lcSourceSets are the train human records a script copies: the
// header-generator https navigations of the families in lcFamilies.
func lcSourceSets(train []corpus.Record) []corpus.Record {
	var out []corpus.Record
	for _, r := range train {
		if r.Label == corpus.Human && strings.HasPrefix(r.Source, "header-generator-") && r.Scheme == "https" && lcFamilyOf(r.Class) >= 0 {
			out = append(out, r)
		}
	}
	return out
}

// lcFamilyOf is the index of a human class' family in lcFamilies, or -1.
func lcFamilyOf(class string) int {
	for i, f := range lcFamilies {
		if slices.Contains(f, class) {
			return i
		}
	}
	return -1
}

// lcTrain makes n records, the libraries in turn and the families in turn,
// each from a set picked at random in its family; from[i] is the index in
// sets of record i's set.
func lcTrain(rng *rand.Rand, libs []lcLibrary, sets []corpus.Record, n int) (recs []corpus.Record, from []int) {
	byFamily := make([][]int, len(lcFamilies))
	var all []int
	for i, s := range sets {
		f := lcFamilyOf(s.Class)
		byFamily[f] = append(byFamily[f], i)
		all = append(all, i)
	}
	for i := 0; i < n; i++ {
		lib := &libs[i%len(libs)]
		pool := byFamily[i%len(byFamily)]
		if len(pool) == 0 {
			pool = all
		}
		j := pool[rng.IntN(len(pool))]
		src := &sets[j]
		scheme := "https"
		if rng.IntN(100) < lib.plain {
			scheme = "http"
		}
		h2 := scheme == "https" && rng.IntN(100) < lib.h2
		proto := "HTTP/1.1"
		if h2 {
			proto = "HTTP/2"
		}
		path := clPathFor(rng, clPage)
		recs = append(recs, corpus.Record{
			Label: corpus.Bot, Class: corpus.LibraryCopied, Source: lib.id,
			Method: "GET", Scheme: scheme, Host: clPick(rng, clHosts), Path: path, Protocol: proto,
			Headers: lib.send(rng, slices.Clone(src.Headers), scheme, h2), Client: clClient(rng), Route: clRoute(path),
			Note: fmt.Sprintf("%s %s given a header-generator set (%s, %s navigation) whole, in its order (transcribed)",
				lib.tool, lib.version, src.Class, src.Protocol),
		})
		from = append(from, j)
	}
	return recs, from
}
