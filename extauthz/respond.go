package extauthz

import (
	"encoding/json"
	"html"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botauthz/botauthz/challenge"
	"github.com/botauthz/botauthz/policy"
)

// Upstream headers set on allowed requests. Any other x-bot-* header the
// client sent is removed, so upstreams can trust every x-bot-* they see.
const (
	HeaderScore    = "x-bot-score"
	HeaderCategory = "x-bot-category"
	HeaderAction   = "x-bot-action"
	HeaderMode     = "x-bot-mode"
	HeaderReasons  = "x-bot-reasons"
	HeaderDegraded = "x-bot-degraded"

	botHeaderPrefix = "x-bot-"
	// maxHeaderReasons bounds x-bot-reasons to the reasons that matter most.
	maxHeaderReasons = 5
)

// MetadataNamespace is where Envoy files the dynamic metadata of a Check, for
// access logs: %DYNAMIC_METADATA(envoy.filters.http.ext_authz:bot_score)%.
const MetadataNamespace = "envoy.filters.http.ext_authz"

// scoreText avoids formatting a number per request.
var scoreText = func() (t [100]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// respond turns a decision into Envoy's answer. routeValue is the route's
// name as a metadata value, built once per policy; nil builds it. verified
// holds a verified crawler's headers; nil for any other request. forWire
// writes the dynamic metadata as bytes (setMetadata).
func respond(d *Decision, f *Facts, routeValue *structpb.Value, verified *crawlerValues, forWire bool) *authv3.CheckResponse {
	if !f.HTTP {
		// Plain TCP has no page to show: only a deny rule can stop it.
		if d.Enforced == policy.ActionDeny {
			return &authv3.CheckResponse{Status: constants.statusDenied}
		}
		return &authv3.CheckResponse{Status: constants.statusOK}
	}
	resp := &authv3.CheckResponse{}
	setMetadata(resp, d, routeValue, verified, forWire)
	switch d.Enforced {
	case policy.ActionDeny:
		resp.Status = constants.statusDenied
		resp.HttpResponse = denied(constants.forbidden, f, "forbidden", topReason(d), nil)
	case policy.ActionRateLimit:
		resp.Status = constants.statusExhausted
		resp.HttpResponse = rateLimited(d, f)
	case policy.ActionChallenge:
		resp.Status = constants.statusDenied
		resp.HttpResponse = challenged(f, d.Route)
	default:
		resp.Status = constants.statusOK
		resp.HttpResponse = allowed(d, f, verified)
	}
	return resp
}

// allows reports whether respond answers d with OK, as an allow: an HTTP
// request's answer is then appendAllowed's.
func allows(d *Decision) bool {
	switch d.Enforced {
	case policy.ActionDeny, policy.ActionRateLimit, policy.ActionChallenge:
		return false
	}
	return true
}

func set(key, value string) *corev3.HeaderValueOption {
	// OVERWRITE: on Envoy >= 1.38 the proto default appends a second line,
	// which would let a client-sent copy through beside ours.
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: key, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// maxUpstreamHeaders is the most headers an allowed request's upstream is
// given: score, category, action, mode, reasons, degraded and a verified
// crawler's two.
const maxUpstreamHeaders = 8

// upstream is what an allowed request's upstream is given, in order: the
// header options, of which the one at reasonsAt (-1 for none) is
// x-bot-reasons built for this Check from its value in reasons, and is nil
// in headers.
type upstream struct {
	headers    [maxUpstreamHeaders]*corev3.HeaderValueOption
	n          int
	reasonsAt  int
	reasons    []byte
	hasReasons bool // x-bot-reasons is set, fixed or built
	degraded   bool
	verified   bool
}

// upstreamOf selects the headers of an allowed request's upstream. A
// reasons header built for the Check is appended to buf.
func upstreamOf(d *Decision, verified *crawlerValues, buf []byte) upstream {
	c := constants
	score := min(max(d.Score, 0), 99)
	u := upstream{n: 4, reasonsAt: -1, degraded: d.Degraded, verified: verified != nil}
	u.headers[0] = c.score[score]
	u.headers[1] = pick(&c.category, int(d.Band), func() *corev3.HeaderValueOption { return set(HeaderCategory, d.Band.String()) })
	u.headers[2] = pick(&c.action, int(d.Action), func() *corev3.HeaderValueOption { return set(HeaderAction, d.Action.String()) })
	u.headers[3] = pick(&c.mode, int(d.Mode), func() *corev3.HeaderValueOption { return set(HeaderMode, d.Mode.String()) })
	switch scored := len(d.Result.Reasons()) > 0; {
	case d.Rule != policy.NoRule && !scored:
		u.headers[u.n] = pick(&c.ruleReasons, int(d.Rule), func() *corev3.HeaderValueOption { return set(HeaderReasons, d.Rule.String()) })
		u.n, u.hasReasons = u.n+1, true
	case scored:
		// A rule that decided after scoring (require_proof) leads the
		// score's own reasons, within the same bound.
		n := maxHeaderReasons
		if d.Rule != policy.NoRule {
			buf, n = append(append(buf, d.Rule.String()...), ','), n-1
		}
		u.reasons = d.Result.AppendReasons(buf, n)
		u.reasonsAt, u.n, u.hasReasons = u.n, u.n+1, true
	}
	if d.Degraded {
		u.headers[u.n] = c.degraded
		u.n++
	}
	if verified != nil {
		u.headers[u.n], u.headers[u.n+1] = verified.name, verified.category
		u.n += 2
	}
	return u
}

// removes reports whether the client's header k is removed before the
// request goes upstream: any x-bot-* header that u does not set.
func (u *upstream) removes(k string) bool {
	if !strings.HasPrefix(k, botHeaderPrefix) {
		return false
	}
	switch k {
	case HeaderScore, HeaderCategory, HeaderAction, HeaderMode:
		return false // overwritten
	case HeaderReasons:
		return !u.hasReasons
	case HeaderDegraded:
		return !u.degraded
	case HeaderVerified, HeaderVerifiedCategory:
		return !u.verified
	}
	return true
}

func allowed(d *Decision, f *Facts, verified *crawlerValues) *authv3.CheckResponse_OkResponse {
	u := upstreamOf(d, verified, nil)
	ok := &authv3.OkHttpResponse{Headers: make([]*corev3.HeaderValueOption, u.n)}
	copy(ok.Headers, u.headers[:u.n])
	if u.reasonsAt >= 0 {
		ok.Headers[u.reasonsAt] = set(HeaderReasons, string(u.reasons))
	}
	ok.HeadersToRemove = u.removals(f, nil)
	return &authv3.CheckResponse_OkResponse{OkResponse: ok}
}

// removals appends to dst the names of the request's headers that the
// answer removes (removes), each once. It walks HeaderOrder when Envoy sent
// one rather than the map: ranging over a browser's twenty headers in a
// map cost a Check several times what reading them from a slice does.
// HeaderOrder may name a header twice, hence the check for a repeat.
func (u *upstream) removals(f *Facts, dst []string) []string {
	if f.HeaderOrder == nil {
		for k := range f.Headers {
			if u.removes(k) {
				dst = append(dst, k)
			}
		}
		return dst
	}
	from := len(dst)
	for _, k := range f.HeaderOrder {
		if u.removes(k) && !slices.Contains(dst[from:], k) {
			dst = append(dst, k)
		}
	}
	return dst
}

// Field numbers of the allow answer appendAllowed writes (envoy/service/
// auth/v3/external_auth.proto, envoy/config/core/v3/base.proto).
const (
	fieldCheckResponseStatus     = 1
	fieldCheckResponseOkResponse = 3
	fieldOkHeaders               = 2
	fieldOkHeadersToRemove       = 5
	fieldOptionHeader            = 1
	fieldOptionAppendAction      = 3
	fieldHeaderKey               = 1
	fieldHeaderValue             = 2
)

// appendAllowed appends to b, in the wire format, the CheckResponse that
// respond gives d when it allows an HTTP request, and returns it: the
// same message, written by hand. Nearly every Check is answered so, and
// building the answer as messages cost a Check five allocations and
// protobuf's marshalling of them two passes over it (BENCHMARKS.md, issue
// 17, ninth session). It writes the fields set fills in a header option
// (key, value, append action), which are all an answer's options have.
func appendAllowed(b []byte, d *Decision, f *Facts, routeValue *structpb.Value, verified *crawlerValues) []byte {
	var reasonsBuf [96]byte
	u := upstreamOf(d, verified, reasonsBuf[:0])
	var removeBuf [4]string
	remove := u.removals(f, removeBuf[:0])
	var sizes [maxUpstreamHeaders]int
	okSize := 0
	for i, h := range u.headers[:u.n] {
		if i == u.reasonsAt {
			sizes[i] = optionSize(HeaderReasons, len(u.reasons), corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
		} else {
			sizes[i] = optionSize(h.GetHeader().GetKey(), len(h.GetHeader().GetValue()), h.GetAppendAction())
		}
		okSize += protowire.SizeTag(fieldOkHeaders) + protowire.SizeBytes(sizes[i])
	}
	for _, k := range remove {
		okSize += protowire.SizeTag(fieldOkHeadersToRemove) + protowire.SizeBytes(len(k))
	}
	var entries [maxMetadataEntries]metadataEntry
	n := metadataEntries(d, routeValue, verified, &entries)

	// appendMetadata grows b for its own part.
	b = slices.Grow(b, 2+protowire.SizeTag(fieldCheckResponseOkResponse)+protowire.SizeBytes(okSize))
	// status: google.rpc.Status with code 0, a message with no field set.
	b = protowire.AppendTag(b, fieldCheckResponseStatus, protowire.BytesType)
	b = protowire.AppendVarint(b, 0)
	b = protowire.AppendTag(b, fieldCheckResponseOkResponse, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(okSize))
	for i, h := range u.headers[:u.n] {
		b = protowire.AppendTag(b, fieldOkHeaders, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizes[i]))
		if i == u.reasonsAt {
			b = appendOption(b, HeaderReasons, u.reasons, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
		} else {
			b = appendOption(b, h.GetHeader().GetKey(), h.GetHeader().GetValue(), h.GetAppendAction())
		}
	}
	for _, k := range remove {
		b = protowire.AppendTag(b, fieldOkHeadersToRemove, protowire.BytesType)
		b = protowire.AppendString(b, k)
	}
	return appendMetadata(b, entries[:n])
}

// optionSize is the encoded size of a header option of key, a value of
// valueLen bytes and action, as set builds it.
func optionSize(key string, valueLen int, action corev3.HeaderValueOption_HeaderAppendAction) int {
	size := protowire.SizeTag(fieldOptionHeader) + protowire.SizeBytes(headerSize(key, valueLen))
	if action != 0 {
		size += protowire.SizeTag(fieldOptionAppendAction) + protowire.SizeVarint(uint64(action))
	}
	return size
}

// headerSize is the encoded size of a HeaderValue of key and a value of
// valueLen bytes, both written even when empty.
func headerSize(key string, valueLen int) int {
	return protowire.SizeTag(fieldHeaderKey) + protowire.SizeBytes(len(key)) +
		protowire.SizeTag(fieldHeaderValue) + protowire.SizeBytes(valueLen)
}

// appendOption appends the fields of a header option (optionSize). The
// key and value are written even when empty, which decodes the same;
// the default action is left out, as protobuf's own marshalling does.
func appendOption[V string | []byte](b []byte, key string, value V, action corev3.HeaderValueOption_HeaderAppendAction) []byte {
	b = protowire.AppendTag(b, fieldOptionHeader, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(headerSize(key, len(value))))
	b = protowire.AppendTag(b, fieldHeaderKey, protowire.BytesType)
	b = protowire.AppendString(b, key)
	b = protowire.AppendTag(b, fieldHeaderValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(value)))
	b = append(b, value...)
	if action != 0 {
		b = protowire.AppendTag(b, fieldOptionAppendAction, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(action))
	}
	return b
}

// metadataEntry is one field of the dynamic metadata.
type metadataEntry struct {
	key   string
	value *structpb.Value
}

// maxMetadataEntries is the most fields metadata writes.
const maxMetadataEntries = 11

// setMetadata gives resp the decision's dynamic metadata, a Struct. For a
// response that goes to the wire as it is (forWire), the field is written
// in the wire format directly and kept as the message's unknown fields,
// which protobuf marshals byte for byte where the field belongs: building
// a structpb.Struct costs a Go map per Check, and marshalling that map
// through protobuf's reflection was most of the response's encoding cost
// (BENCHMARKS.md). Whoever decodes the response, Envoy included, reads an
// ordinary dynamic_metadata field. Otherwise (an in-process caller of
// Check) it is resp.DynamicMetadata.
func setMetadata(resp *authv3.CheckResponse, d *Decision, routeValue *structpb.Value, verified *crawlerValues, forWire bool) {
	var entries [maxMetadataEntries]metadataEntry
	n := metadataEntries(d, routeValue, verified, &entries)
	if forWire {
		resp.ProtoReflect().SetUnknown(appendMetadata(nil, entries[:n]))
		return
	}
	fields := make(map[string]*structpb.Value, n)
	for _, e := range entries[:n] {
		fields[e.key] = e.value
	}
	resp.DynamicMetadata = &structpb.Struct{Fields: fields}
}

// metadataEntries fills entries with the decision's dynamic metadata and
// returns how many it holds.
func metadataEntries(d *Decision, routeValue *structpb.Value, verified *crawlerValues, entries *[maxMetadataEntries]metadataEntry) int {
	c := constants
	str := func(s string) func() *structpb.Value {
		return func() *structpb.Value { return structpb.NewStringValue(s) }
	}
	if routeValue == nil {
		routeValue = structpb.NewStringValue(d.Route)
	}
	degraded := c.boolValue[0]
	if d.Degraded {
		degraded = c.boolValue[1]
	}
	*entries = [maxMetadataEntries]metadataEntry{
		{"bot_score", c.scoreValue[min(max(d.Score, 0), 99)]},
		{"bot_category", pick(&c.categoryValue, int(d.Band), str(d.Band.String()))},
		{"bot_action", pick(&c.actionValue, int(d.Action), str(d.Action.String()))},
		{"bot_enforced_action", pick(&c.actionValue, int(d.Enforced), str(d.Enforced.String()))},
		{"bot_mode", pick(&c.modeValue, int(d.Mode), str(d.Mode.String()))},
		{"bot_mode_source", pick(&c.sourceValue, int(d.ModeSource), str(d.ModeSource.String()))},
		{"bot_route", routeValue},
		{"bot_degraded", degraded},
	}
	n := 8
	if d.Clearance != 0 {
		entries[n] = metadataEntry{"bot_clearance", structpb.NewStringValue(d.Clearance.String())}
		n++
	}
	if verified != nil {
		entries[n] = metadataEntry{"bot_verified", verified.nameValue}
		entries[n+1] = metadataEntry{"bot_verified_category", verified.categoryValue}
		n += 2
	}
	return n
}

// Field numbers of the messages metadata writes (envoy/service/auth/v3/
// external_auth.proto, google/protobuf/struct.proto).
const (
	fieldCheckResponseDynamicMetadata = 4
	fieldStructFields                 = 1
	fieldEntryKey                     = 1
	fieldEntryValue                   = 2
	fieldValueNull                    = 1
	fieldValueNumber                  = 2
	fieldValueString                  = 3
	fieldValueBool                    = 4
)

// appendMetadata appends the dynamic_metadata field holding a Struct of
// entries (distinct keys, at most maxMetadataEntries) to b.
func appendMetadata(b []byte, entries []metadataEntry) []byte {
	// Each length prefix needs the size of what follows: sizes are worked
	// out once, then written.
	var entrySizes, valueSizes [maxMetadataEntries]int
	size := 0
	for i, e := range entries {
		valueSizes[i] = valueSize(e.value)
		entrySizes[i] = protowire.SizeTag(fieldEntryKey) + protowire.SizeBytes(len(e.key)) +
			protowire.SizeTag(fieldEntryValue) + protowire.SizeBytes(valueSizes[i])
		size += protowire.SizeTag(fieldStructFields) + protowire.SizeBytes(entrySizes[i])
	}
	b = slices.Grow(b, protowire.SizeTag(fieldCheckResponseDynamicMetadata)+protowire.SizeBytes(size))
	b = protowire.AppendTag(b, fieldCheckResponseDynamicMetadata, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	for i, e := range entries {
		b = protowire.AppendTag(b, fieldStructFields, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(entrySizes[i]))
		b = protowire.AppendTag(b, fieldEntryKey, protowire.BytesType)
		b = protowire.AppendString(b, e.key)
		b = protowire.AppendTag(b, fieldEntryValue, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(valueSizes[i]))
		b = appendValue(b, e.value)
	}
	return b
}

// valueSize is the encoded size of v: a oneof, so a set case is written
// even when it holds its zero value. The metadata holds strings, numbers
// and booleans; anything else would be written as a null.
func valueSize(v *structpb.Value) int {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return protowire.SizeTag(fieldValueString) + protowire.SizeBytes(len(k.StringValue))
	case *structpb.Value_NumberValue:
		return protowire.SizeTag(fieldValueNumber) + protowire.SizeFixed64()
	case *structpb.Value_BoolValue:
		return protowire.SizeTag(fieldValueBool) + protowire.SizeVarint(protowire.EncodeBool(k.BoolValue))
	}
	return protowire.SizeTag(fieldValueNull) + protowire.SizeVarint(0)
}

func appendValue(b []byte, v *structpb.Value) []byte {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		b = protowire.AppendTag(b, fieldValueString, protowire.BytesType)
		return protowire.AppendString(b, k.StringValue)
	case *structpb.Value_NumberValue:
		b = protowire.AppendTag(b, fieldValueNumber, protowire.Fixed64Type)
		return protowire.AppendFixed64(b, math.Float64bits(k.NumberValue))
	case *structpb.Value_BoolValue:
		b = protowire.AppendTag(b, fieldValueBool, protowire.VarintType)
		return protowire.AppendVarint(b, protowire.EncodeBool(k.BoolValue))
	}
	b = protowire.AppendTag(b, fieldValueNull, protowire.VarintType)
	return protowire.AppendVarint(b, 0)
}

// topReason names the heaviest signal for the deny body.
func topReason(d *Decision) string {
	if d.Rule != policy.NoRule {
		return d.Rule.String()
	}
	if r := d.Result.Reasons(); len(r) > 0 {
		return r[0].Code.String()
	}
	return "policy"
}

// wantsHTML reports whether the client prefers an HTML page: browsers put
// text/html in accept for documents; API clients send JSON or */*.
func wantsHTML(f *Facts) bool {
	return containsFold(f.Headers["accept"], "text/html")
}

// isNavigation reports whether the request is a page load a browser can
// follow a redirect for: GET or HEAD asking for HTML.
func isNavigation(f *Facts) bool {
	if f.Method != "GET" && f.Method != "HEAD" {
		return false
	}
	return f.Headers["sec-fetch-mode"] == "navigate" || wantsHTML(f)
}

func challenged(f *Facts, route string) *authv3.CheckResponse_DeniedResponse {
	url := challenge.URL(f.Path, route)
	if isNavigation(f) {
		return &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  constants.found,
			Headers: []*corev3.HeaderValueOption{set("location", url), constants.noStore},
		}}
	}
	// fetch/XHR and non-GET requests cannot follow a redirect to a page:
	// tell them where the challenge is instead.
	body, _ := json.Marshal(struct {
		Error        string `json:"error"`
		ChallengeURL string `json:"challenge_url"`
		RequestID    string `json:"request_id"`
	}{"challenge_required", url, f.RequestID})
	return &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
		Status:  constants.forbidden,
		Headers: []*corev3.HeaderValueOption{constants.contentJSON, constants.noStore},
		Body:    string(body) + "\n",
	}}
}

func rateLimited(d *Decision, f *Facts) *authv3.CheckResponse_DeniedResponse {
	if d.Limit == nil {
		return denied(constants.tooMany, f, "rate_limited", "", []*corev3.HeaderValueOption{set("retry-after", "1")})
	}
	secs := retrySeconds(d.RetryAfter)
	name := strconv.Quote(d.Route + "-" + d.Limit.Key.String())
	extra := []*corev3.HeaderValueOption{
		set("retry-after", strconv.Itoa(secs)),
		// IETF draft-ietf-httpapi-ratelimit-headers: the policy in force and
		// the remaining quota (none) with the seconds until it resets.
		set("ratelimit-policy", name+";q="+strconv.FormatInt(d.Limit.Max, 10)+";w="+strconv.Itoa(int(d.Limit.Window/time.Second))),
		set("ratelimit", name+";r=0;t="+strconv.Itoa(secs)),
	}
	return denied(constants.tooMany, f, "rate_limited", "", extra)
}

// retrySeconds rounds up: a client that waits the advertised seconds must fit.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// The denied page, in pieces: denied answers every automated request
// refused, so it is assembled without a template (html/template cost a
// refusal 24 allocations).
const (
	deniedPageHead = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>`
	deniedPageMid = `</title></head>
<body><main><h1>`
	deniedPageText  = `</h1><p>`
	deniedPageID    = `</p><p><small>Request ID: `
	deniedPageIDEnd = `</small>`
	deniedPageTail  = `</p></main></body></html>
`
)

// denied builds a 403 or 429 with a small HTML page for browsers and JSON for
// everything else.
func denied(status *typev3.HttpStatus, f *Facts, errName, reason string, extra []*corev3.HeaderValueOption) *authv3.CheckResponse_DeniedResponse {
	headers := append(extra, constants.noStore)
	var body string
	if wantsHTML(f) {
		headers = append(headers, constants.contentHTML)
		title, text := "Access denied", "This request looks automated and was refused."
		if status.GetCode() == typev3.StatusCode_TooManyRequests {
			title, text = "Too many requests", "Please wait a moment and try again."
		}
		body = deniedHTML(title, text, f.RequestID)
	} else {
		headers = append(headers, constants.contentJSON)
		body = deniedJSON(errName, reason, f.RequestID)
	}
	return &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
		Status:  status,
		Headers: headers,
		Body:    body,
	}}
}

// deniedHTML is the denied page; title and text are ours, the request ID is
// escaped.
func deniedHTML(title, text, requestID string) string {
	var b strings.Builder
	b.Grow(len(deniedPageHead) + len(deniedPageMid) + len(deniedPageText) + len(deniedPageTail) + 2*len(title) + len(text) +
		len(deniedPageID) + len(deniedPageIDEnd) + len(requestID) + 16)
	b.WriteString(deniedPageHead)
	b.WriteString(title)
	b.WriteString(deniedPageMid)
	b.WriteString(title)
	b.WriteString(deniedPageText)
	b.WriteString(text)
	if requestID != "" {
		b.WriteString(deniedPageID)
		b.WriteString(html.EscapeString(requestID))
		b.WriteString(deniedPageIDEnd)
	}
	b.WriteString(deniedPageTail)
	return b.String()
}

// deniedJSON is {"error":…,"reason":…,"request_id":…} and a newline, as
// encoding/json would write it; reason is left out when empty.
func deniedJSON(errName, reason, requestID string) string {
	b := make([]byte, 0, 64+len(reason)+len(requestID))
	b = append(b, `{"error":`...)
	b = appendJSONString(b, errName)
	if reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, reason)
	}
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, requestID)
	b = append(b, "}\n"...)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// appendJSONString appends s as a JSON string the way encoding/json writes
// it by default: HTML-safe (<, >, & as \u escapes), U+2028 and U+2029
// escaped, invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// panicResponse allows the request after a recovered bug, marked so that the
// upstream and the access log can tell.
func panicResponse() *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: constants.statusOK,
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers: []*corev3.HeaderValueOption{constants.score[0], constants.action[policy.ActionAllow], constants.degraded},
		}},
	}
}

// containsFold reports whether s contains the lower-case ASCII substr,
// ignoring ASCII case in s, without allocating.
func containsFold(s, substr string) bool {
	n := len(substr)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != substr[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}
