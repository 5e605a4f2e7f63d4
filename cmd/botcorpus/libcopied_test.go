package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/internal/corpus"
)

// Which libraries keep the browser's order of the headers they are given
// (their own headers may come before or after them), by source and by
// capture alike:
//
//   - keep it: aiohttp; httpx (its connection: keep-alive first); Node's
//     fetch (its connection: keep-alive first, sec-fetch-mode made cors in
//     place); curl;
//   - change it: python-requests (its session defaults user-agent,
//     accept-encoding, accept and connection first); axios (accept first,
//     connection last); Go net/http (HTTP/2: Go's random map order;
//     HTTP/1.1: user-agent, then sorted by name).
//
// Libraries that keep the order can send a set exactly as the browser did
// when they speak the browser's protocol: curl and httpx with http2=True
// over HTTP/2, aiohttp and curl over HTTP/1.1. Then only the TLS fingerprint
// tells (the captures have it; the train records have none).
var lcCapturedKeepsOrder = map[string]bool{
	"python-requests": false, "axios": false, "go-net-http": false,
	"httpx": true, "aiohttp": true, "fetch": true, "curl": true,
}

// lcCapturedTool is the captures' name of each transcribed library.
var lcCapturedTool = map[string]string{
	"python-requests": "python-requests", "httpx": "httpx", "aiohttp": "aiohttp", "Go net/http": "go-net-http",
	"Node fetch (undici)": "fetch", "axios": "axios", "curl": "curl",
}

// lcMayBeUnchanged reports whether a library may send a copied set with
// the browser's headers, values, order and protocol unchanged.
func lcMayBeUnchanged(tool, protocol string) bool {
	switch tool {
	case "curl":
		return true
	case "httpx":
		return protocol == "HTTP/2"
	case "aiohttp":
		return protocol == "HTTP/1.1"
	}
	return false
}

// lcCheck checks one library-copied record against the browser set it was
// made from: the browser's user agent, every header of the set with its
// value (but for sec-fetch-mode, which Node's fetch makes cors), in the
// set's order when the library keeps it. It reports whether the set's
// order is kept, and whether the record is the set unchanged, protocol
// included. A library that changes the order keeps it only where the set's
// order is the library's already (axios puts accept first: some Safari
// sets have it first), and then the record must differ all the same.
func lcCheck(t *testing.T, where string, r corpus.Record, src []corpus.Header, srcProto string, keepsOrder bool) (inOrder, unchanged bool) {
	t.Helper()
	ua := r.Get("user-agent")
	if u := parseUA(ua); u.engine == "" || u.odd != "" {
		t.Errorf("%s: user agent %q is not a browser's (%s)", where, ua, u.odd)
	}
	if want, _ := hget(src, "user-agent"); ua != want {
		t.Errorf("%s: user agent %q, the set's is %q", where, ua, want)
	}
	pos := make([]int, 0, len(src))
	for _, h := range src {
		i := clIndex(r.Headers, h[0])
		if i < 0 {
			t.Errorf("%s: the set's %s is missing: %v", where, h[0], r.Headers)
			return false, false
		}
		if v := r.Headers[i][1]; v != h[1] && !(h[0] == "sec-fetch-mode" && v == "cors") {
			t.Errorf("%s: %s %q, the set's is %q", where, h[0], v, h[1])
		}
		pos = append(pos, i)
	}
	inOrder = true
	for i := 1; i < len(pos); i++ {
		if pos[i] < pos[i-1] {
			inOrder = false
		}
	}
	if keepsOrder && !inOrder {
		t.Errorf("%s: the set's order not kept: %s", where, clNameList(r.Headers))
	}
	unchanged = r.Protocol == srcProto && reflect.DeepEqual(r.Headers, src)
	if unchanged && !keepsOrder {
		t.Errorf("%s: the set unchanged from a library that changes the order", where)
	}
	return inOrder, unchanged
}

// lcOrderTally counts, per library, the records that kept the set's order
// and all records.
type lcOrderTally map[string]*[2]int

func (o lcOrderTally) add(tool string, inOrder bool) {
	if o[tool] == nil {
		o[tool] = &[2]int{}
	}
	if inOrder {
		o[tool][0]++
	}
	o[tool][1]++
}

// check holds the libraries that change the order to changing it in at
// least nine records in ten.
func (o lcOrderTally) check(t *testing.T, keeps func(tool string) bool) {
	t.Helper()
	for tool, n := range o {
		if !keeps(tool) && n[0]*10 > n[1] {
			t.Errorf("%s kept the set's order in %d of %d records", tool, n[0], n[1])
		}
	}
}

// lcTrainSets runs the browsers and library-copied parts as generate does
// and returns the part's records with the browser set of each.
func lcTrainSets(t *testing.T) ([]corpus.Record, []corpus.Record, []int) {
	t.Helper()
	b, err := browsers(testSources, partRNG("browsers"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := libraryCopied(testSources, partRNG("library-copied"), b)
	if err != nil {
		t.Fatal(err)
	}
	sets := lcSourceSets(b.train)
	recs, from := lcTrain(partRNG("library-copied"), lcLibraries(), sets, lcTrainCount)
	if !reflect.DeepEqual(recs, s.train) {
		t.Fatal("lcTrain does not make the part's records")
	}
	return recs, sets, from
}

// TestLibraryCopiedTrain: every train record is a header-generator set of
// the train split sent through a transcribed library, with the browser's
// user agent and headers, over https mostly, spread over libraries and
// browser families.
func TestLibraryCopiedTrain(t *testing.T) {
	recs, sets, from := lcTrainSets(t)
	libs := map[string]lcLibrary{}
	for _, l := range lcLibraries() {
		libs[l.id] = l
	}
	perLib, perFamily, unchanged, plain, order := map[string]int{}, map[int]int{}, map[string]int{}, 0, lcOrderTally{}
	for i, r := range recs {
		src := sets[from[i]]
		lib, ok := libs[r.Source]
		where := fmt.Sprintf("train %d (%s, %s)", i, r.Source, r.Note)
		if !ok || r.Label != corpus.Bot || r.Class != corpus.LibraryCopied {
			t.Fatalf("%s: label %q class %q", where, r.Label, r.Class)
		}
		if src.Label != corpus.Human || !strings.HasPrefix(src.Source, "header-generator-") || src.Scheme != "https" {
			t.Fatalf("%s: made from %s %s record of %s", where, src.Label, src.Scheme, src.Source)
		}
		inOrder, same := lcCheck(t, where, r, src.Headers, src.Protocol, lib.keepsOrder)
		order.add(lib.tool, inOrder)
		if same {
			unchanged[lib.tool+" "+r.Protocol]++
			if !lcMayBeUnchanged(lcCapturedTool[lib.tool], r.Protocol) {
				t.Errorf("%s: %s sent the set unchanged", where, lib.tool)
			}
		}
		if r.Protocol == "HTTP/2" && (r.Scheme != "https" || lib.h2 == 0) {
			t.Errorf("%s: HTTP/2 over %s from a library without it", where, r.Scheme)
		}
		if r.Scheme == "http" {
			plain++
		}
		perLib[r.Source]++
		perFamily[lcFamilyOf(src.Class)]++
	}
	t.Logf("sent unchanged: %v", unchanged)
	order.check(t, func(tool string) bool { return lcCapturedKeepsOrder[lcCapturedTool[tool]] })
	if len(recs) < 300 || plain > len(recs)/4 {
		t.Errorf("%d records, %d over plain http", len(recs), plain)
	}
	for id := range libs {
		if perLib[id] < 40 {
			t.Errorf("%d records of %s", perLib[id], id)
		}
	}
	for f := range lcFamilies {
		if perFamily[f] < 60 {
			t.Errorf("%d records of %v", perFamily[f], lcFamilies[f])
		}
	}
}

// The transcribed libraries cite their sources as clients_train.go's do,
// and keep or change the order as the captures of the same libraries do.
func TestLibraryCopiedTranscriptionsCited(t *testing.T) {
	commit := regexp.MustCompile(`@[0-9a-f]{40}\b.*:[\w./-]+\.\w+`)
	pkg := regexp.MustCompile(`^[\w.-]+@[\w.+-]+:[\w./-]+`)
	for _, l := range lcLibraries() {
		if !commit.MatchString(l.where) && !pkg.MatchString(l.where) {
			t.Errorf("%s: where %q cites no repository@commit:path or package@version:path", l.id, l.where)
		}
		if !strings.HasPrefix(l.id, "train-library-copied-") || l.tool == "" || l.version == "" || l.what == "" || l.send == nil {
			t.Errorf("%s: incomplete", l.id)
		}
		if keeps, ok := lcCapturedKeepsOrder[lcCapturedTool[l.tool]]; !ok || keeps != l.keepsOrder {
			t.Errorf("%s: keeps order %v, the captures of %q: %v (%v)", l.id, l.keepsOrder, lcCapturedTool[l.tool], keeps, ok)
		}
	}
}

// What the transcriptions make of one set, as the source code says (and
// the captures show for the captured versions).
func TestLibraryCopiedSend(t *testing.T) {
	set := []corpus.Header{{"sec-ch-ua", `"Chromium";v="140"`}, {"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"},
		{"accept", "text/html"}, {"sec-fetch-mode", "navigate"}, {"accept-encoding", "gzip, deflate, br, zstd"}, {"accept-language", "de"}}
	names := func(hs []corpus.Header) string { return strings.TrimSuffix(clNameList(hs), ",") }
	libs := map[string]lcLibrary{}
	for _, l := range lcLibraries() {
		libs[l.tool] = l
	}
	rng := partRNG("test")
	for _, c := range []struct {
		tool, scheme string
		h2           bool
		want         string
	}{
		{"python-requests", "https", false, "user-agent,accept-encoding,accept,connection,sec-ch-ua,sec-fetch-mode,accept-language"},
		{"httpx", "https", false, "connection,sec-ch-ua,user-agent,accept,sec-fetch-mode,accept-encoding,accept-language"},
		{"httpx", "https", true, "sec-ch-ua,user-agent,accept,sec-fetch-mode,accept-encoding,accept-language"},
		{"aiohttp", "https", false, "sec-ch-ua,user-agent,accept,sec-fetch-mode,accept-encoding,accept-language"},
		{"Go net/http", "http", false, "user-agent,accept,accept-encoding,accept-language,sec-ch-ua,sec-fetch-mode"},
		{"Node fetch (undici)", "https", false, "connection,sec-ch-ua,user-agent,accept,sec-fetch-mode,accept-encoding,accept-language"},
		{"axios", "https", false, "accept,sec-ch-ua,user-agent,sec-fetch-mode,accept-encoding,accept-language,connection"},
		{"curl", "https", true, "sec-ch-ua,user-agent,accept,sec-fetch-mode,accept-encoding,accept-language"},
	} {
		got := libs[c.tool].send(rng, set, c.scheme, c.h2)
		if names(got) != c.want {
			t.Errorf("%s (h2 %v): %s, want %s", c.tool, c.h2, names(got), c.want)
		}
	}
	if got := libs["Node fetch (undici)"].send(rng, set, "https", false); clIndex(got, "sec-fetch-mode") < 0 || got[clIndex(got, "sec-fetch-mode")][1] != "cors" {
		t.Errorf("Node fetch: sec-fetch-mode not cors: %v", got)
	}
	// Go's HTTP/2 order is a new draw for every request.
	orders := map[string]bool{}
	for range 20 {
		orders[names(libs["Go net/http"].send(rng, set, "https", true))] = true
	}
	if len(orders) < 2 {
		t.Errorf("Go HTTP/2: one order in 20 requests: %v", orders)
	}
}

// lcCopiedSet is a copied browser set of the capture scripts.
type lcCopiedSet struct {
	From     string          `json:"from"`
	Protocol string          `json:"protocol"`
	Headers  []corpus.Header `json:"headers"`
}

func lcReadCopied(t *testing.T, name string) lcCopiedSet {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testSources, "clients", "capture-scripts", name))
	if err != nil {
		t.Fatal(err)
	}
	var s lcCopiedSet
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// The copied sets the capture scripts gave the clients are test split
// browser sets, exactly as their source has them (hop-by-hop headers left
// out, as the corpus does).
func TestLibraryCopiedSetsAreTestBrowsers(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testSources, "clients", "capture-scripts", "copied", "*.json"))
	if err != nil || len(files) < 3 {
		t.Fatalf("copied sets: %v, %v", files, err)
	}
	for _, f := range files {
		s := lcReadCopied(t, filepath.Join("copied", filepath.Base(f)))
		path, line, _ := strings.Cut(s.From, ":")
		var want []corpus.Header
		switch {
		case strings.HasPrefix(path, "browsers/captures/") && strings.HasSuffix(path, ".jsonl"):
			recs, err := corpus.ReadFile(filepath.Join(testSources, path))
			n, _ := strconv.Atoi(line)
			if err != nil || n < 1 || n > len(recs) {
				t.Fatalf("%s: from %s: %v", f, s.From, err)
			}
			r := recs[n-1]
			if r.Label != corpus.Human || r.Scheme != "https" || r.Protocol != s.Protocol || requestKind(r.Headers, r.Path) != "navigate" {
				t.Errorf("%s: %s is no https navigation over %s", f, s.From, s.Protocol)
			}
			want = hdel(r.Headers, hopByHop...)
		case strings.HasPrefix(path, "browsers/curl-impersonate/") && strings.HasSuffix(path, ".yaml"):
			sigs, err := readSignatures(filepath.Join(testSources, path))
			if err != nil || len(sigs) != 1 || s.Protocol != "HTTP/2" {
				t.Fatalf("%s: from %s: %d signatures, %v", f, s.From, len(sigs), err)
			}
			want = sigs[0].headers
		default:
			t.Fatalf("%s: from %q is no test split browser source", f, s.From)
		}
		if !reflect.DeepEqual(s.Headers, want) {
			t.Errorf("%s: headers %v, the source has %v", f, s.Headers, want)
		}
		if why := inconsistency(s.Headers, "https"); why != "" {
			t.Errorf("%s: not a complete browser set: %s", f, why)
		}
	}
}

// TestLibraryCopiedCaptures: every test record of the class comes from a
// real capture of a client given a copied set; it has the set's user agent
// and headers, in the set's order where the client keeps it and in another
// where it does not, and the capture's TLS fingerprint.
func TestLibraryCopiedCaptures(t *testing.T) {
	caps, err := clLoadCaptures(filepath.Join(testSources, "clients", "captures"))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*clCapture{}
	tools, order := map[string]int{}, lcOrderTally{}
	for _, c := range caps {
		byID[c.meta.ID] = c
		if c.meta.Class != corpus.LibraryCopied {
			continue
		}
		if _, ok := lcCapturedKeepsOrder[c.meta.Tool]; !ok || c.meta.Copied == "" {
			t.Errorf("%s: tool %q, copied %q", c.meta.ID, c.meta.Tool, c.meta.Copied)
		}
		tools[c.meta.Tool]++
		s := lcReadCopied(t, c.meta.Copied)
		for i, r := range c.recs {
			where := fmt.Sprintf("%s record %d", c.meta.ID, i)
			inOrder, same := lcCheck(t, where, r, s.Headers, s.Protocol, lcCapturedKeepsOrder[c.meta.Tool])
			order.add(c.meta.Tool, inOrder)
			if same && !lcMayBeUnchanged(c.meta.Tool, r.Protocol) {
				t.Errorf("%s: %s sent the set unchanged", where, c.meta.Tool)
			}
		}
	}
	order.check(t, func(tool string) bool { return lcCapturedKeepsOrder[tool] })
	if len(tools) < len(lcCapturedKeepsOrder) {
		t.Errorf("captured tools %v, want all of %v", tools, lcCapturedKeepsOrder)
	}
	n := 0
	for _, r := range clientsSet(t).test {
		if r.Class != corpus.LibraryCopied {
			continue
		}
		n++
		c := byID[r.Source]
		if c == nil || c.meta.Class != corpus.LibraryCopied || r.TLS == "" && r.Scheme == "https" {
			t.Errorf("test record of %s (%s), TLS %q", r.Source, r.Note, r.TLS)
		}
	}
	if n < 300 {
		t.Errorf("%d test records of %s", n, corpus.LibraryCopied)
	}
}
