package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

// Rollout is the part of *rollout.Controller the admin API needs.
type Rollout interface {
	// View returns the merged rollout state in force.
	View() *rollout.View
	// Apply validates and stores a change and returns its audit entry.
	Apply(ctx context.Context, ch rollout.Change) (rollout.AuditEntry, error)
	// Audit returns up to limit entries, newest first.
	Audit(ctx context.Context, limit int) ([]rollout.AuditEntry, error)
}

// ActorHeader names the person behind a shared token, e.g. "alice"; the
// audit actor then reads "ops (alice)".
const ActorHeader = "X-Botauthz-Actor"

// Limits of GET /v1/audit?limit=N.
const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 1000
)

const (
	// maxBodyBytes bounds a request body; real ones are a few hundred bytes.
	maxBodyBytes = 64 << 10
	// maxReasonLen bounds what one change adds to every replica's audit
	// trail.
	maxReasonLen = 1024
	// maxActorLen bounds the X-Botauthz-Actor value, in characters.
	maxActorLen = 64
	anonymous   = "anonymous"
	modeInherit = "inherit"
)

// Options configures NewHandler.
type Options struct {
	// Rollout reads and changes the live state; required.
	Rollout Rollout
	// Policy returns the current policy, whose route names changes are
	// checked against and the status view lists. Nil, or returning nil,
	// means the embedded default policy.
	Policy func() *policy.Policy
	// Tokens are the accepted credentials. With none, reads are open and
	// writes are refused unless AllowAnonymousWrites.
	Tokens []Token
	// AllowAnonymousWrites lets requests without a token write; cmd sets it
	// only when no token is configured and the admin address is loopback.
	// Even then only requests whose Host is a loopback name or address
	// may write, so a web page cannot reach it through DNS rebinding.
	AllowAnonymousWrites bool
	// Logger receives accepted changes and refused requests; nil discards.
	Logger *slog.Logger
}

// handler serves the admin API.
type handler struct {
	rollout    Rollout
	policy     func() *policy.Policy
	fallback   *policy.Policy
	keys       *keyring
	anonWrites bool
	log        *slog.Logger
	endpoints  map[string]endpoint
}

// endpoint is one /v1 path.
type endpoint struct {
	method string
	write  bool
	serve  func(w http.ResponseWriter, r *http.Request, c caller)
}

// caller is who sent a request, once authenticated.
type caller struct {
	// token is the token's name, or "anonymous".
	token string
	// write says whether the caller may change state.
	write bool
	// actor is the audit actor: the token name, plus the actor header.
	actor string
}

// NewHandler returns the admin API handler. It serves the /v1/ paths:
//
//	GET  /v1/state          the rollout state and every route's mode
//	POST /v1/mode           set or clear (mode "inherit") a mode override
//	POST /v1/kill           set the kill switch (shadow or bypass)
//	POST /v1/unkill         clear the kill switch
//	GET  /v1/audit?limit=N  recent changes, newest first
//
// Every answer is JSON; errors are an ErrorResponse. It panics without
// opts.Rollout, since a handler without state to serve is a wiring bug.
func NewHandler(opts Options) http.Handler {
	if opts.Rollout == nil {
		panic("admin: NewHandler without Options.Rollout")
	}
	return newHandler(opts)
}

// RequireToken guards another read-only endpoint of the admin port, such as
// Go's profiles, with the admin API's credentials: with tokens configured,
// a request must bear one of them (either role) or gets 401 as from the
// API; with none, every request passes, as the API's reads do. Only
// opts.Tokens and opts.Logger are used.
func RequireToken(opts Options, next http.Handler) http.Handler {
	h := newHandler(opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if _, ok := h.authenticate(w, r); ok {
			next.ServeHTTP(w, r)
		}
	})
}

func newHandler(opts Options) *handler {
	h := &handler{
		rollout:    opts.Rollout,
		policy:     opts.Policy,
		keys:       newKeyring(opts.Tokens),
		anonWrites: opts.AllowAnonymousWrites,
		log:        opts.Logger,
	}
	if h.policy == nil || h.policy() == nil {
		h.fallback = policy.Default()
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.endpoints = map[string]endpoint{
		"/v1/state":  {method: http.MethodGet, serve: h.serveState},
		"/v1/audit":  {method: http.MethodGet, serve: h.serveAudit},
		"/v1/mode":   {method: http.MethodPost, write: true, serve: h.serveMode},
		"/v1/kill":   {method: http.MethodPost, write: true, serve: h.serveKill},
		"/v1/unkill": {method: http.MethodPost, write: true, serve: h.serveUnkill},
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Answers describe live state and must never be served from a cache.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")

	c, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	ep, ok := h.endpoints[r.URL.Path]
	if !ok {
		h.fail(w, r, c, http.StatusNotFound, "", fmt.Sprintf("no such endpoint %s", r.URL.Path))
		return
	}
	if r.Method != ep.method {
		w.Header().Set("Allow", ep.method)
		h.fail(w, r, c, http.StatusMethodNotAllowed, "", fmt.Sprintf("%s %s: method not allowed, use %s", r.Method, r.URL.Path, ep.method))
		return
	}
	if ep.write && !h.authorizeWrite(w, r, c) {
		return
	}
	ep.serve(w, r, c)
}

// authenticate identifies the caller, answering 401 when tokens are
// configured and the request carries none of them.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request) (caller, bool) {
	c := caller{token: anonymous}
	if len(h.keys.tokens) == 0 {
		// Any Authorization header is ignored: there is nothing to check
		// it against, and writes stay refused unless anonymous ones are
		// allowed.
		c.write = h.anonWrites && loopbackHost(r.Host)
		c.actor = h.actor(r, c.token)
		return c, true
	}
	secret, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="botauthz-admin"`)
		h.fail(w, r, c, http.StatusUnauthorized, "", `missing bearer token: send "Authorization: Bearer <secret>"`)
		return c, false
	}
	t, ok := h.keys.lookup(secret)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="botauthz-admin", error="invalid_token"`)
		h.fail(w, r, c, http.StatusUnauthorized, "", "invalid bearer token")
		return c, false
	}
	c.token, c.write = t.name, t.write
	c.actor = h.actor(r, c.token)
	return c, true
}

// authorizeWrite answers 403 unless the caller may change state.
func (h *handler) authorizeWrite(w http.ResponseWriter, r *http.Request, c caller) bool {
	if c.write {
		return true
	}
	var msg string
	switch {
	case len(h.keys.tokens) > 0:
		msg = fmt.Sprintf("token %q is read-only", c.token)
	case h.anonWrites:
		msg = "anonymous writes are only accepted with a loopback Host (localhost, 127.0.0.1 or [::1])"
	default:
		msg = `writes need a token: no admin token is configured; configure a read-write token and send it as "Authorization: Bearer <secret>"`
	}
	h.fail(w, r, c, http.StatusForbidden, "", msg)
	return false
}

// actor returns the audit actor: the token name, plus the actor header
// when present and sane, as in "ops (alice)". An insane header is ignored
// rather than refused: it only adds detail to a caller already trusted.
func (h *handler) actor(r *http.Request, token string) string {
	v := strings.TrimSpace(r.Header.Get(ActorHeader))
	if v == "" {
		return token
	}
	if !saneActor(v) {
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "admin: ignoring malformed actor header", slog.String("token", token))
		return token
	}
	return token + " (" + v + ")"
}

func saneActor(s string) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxActorLen {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// bearer extracts the secret of an "Authorization: Bearer <secret>" header.
func bearer(header string) (string, bool) {
	scheme, secret, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	secret = strings.TrimSpace(secret)
	return secret, secret != ""
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (h *handler) currentPolicy() *policy.Policy {
	if h.policy != nil {
		if p := h.policy(); p != nil {
			return p
		}
	}
	if h.fallback == nil {
		// The policy function returned a policy at start and nil now;
		// the defaults are better than a crash.
		return policy.Default()
	}
	return h.fallback
}

func (h *handler) serveState(w http.ResponseWriter, r *http.Request, c caller) {
	v := h.rollout.View()
	if v == nil {
		h.fail(w, r, c, http.StatusServiceUnavailable, "", "live state not loaded yet")
		return
	}
	resp := StateResponse{
		Kill:              v.Kill(),
		KillSource:        "live",
		Live:              v.Live,
		OverrideFile:      v.File,
		OverrideFileError: v.FileError,
	}
	// The stronger kill switch applies; name the file only when its own is
	// the one in force.
	if v.File != nil && v.File.Kill > v.Live.Kill {
		resp.KillSource = "override-file"
	}
	p := h.currentPolicy()
	resp.Routes = make([]RouteState, 0, len(p.Routes))
	for _, name := range p.RouteNames() {
		a := v.Resolve(p.Routes[name])
		rs := RouteState{Route: name, Mode: a.Mode.String(), Source: a.Source.String()}
		if a.Mode == policy.ModeCanary {
			rs.Percent = a.Percent
		}
		resp.Routes = append(resp.Routes, rs)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *handler) serveAudit(w http.ResponseWriter, r *http.Request, c caller) {
	limit := DefaultAuditLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxAuditLimit {
			h.fail(w, r, c, http.StatusBadRequest, "limit", fmt.Sprintf("limit: want an integer from 1 to %d", MaxAuditLimit))
			return
		}
		limit = n
	}
	entries, err := h.rollout.Audit(r.Context(), limit)
	if err != nil {
		h.fail(w, r, c, http.StatusServiceUnavailable, "", "live state store unavailable: "+err.Error())
		return
	}
	if entries == nil {
		entries = []rollout.AuditEntry{} // [] rather than null for scripts
	}
	writeJSON(w, http.StatusOK, AuditResponse{Entries: entries})
}

func (h *handler) serveMode(w http.ResponseWriter, r *http.Request, c caller) {
	var req ModeRequest
	if !h.decode(w, r, c, &req) {
		return
	}
	switch {
	case req.Default && req.Route != "":
		h.fail(w, r, c, http.StatusBadRequest, "route", "route: give a route or default: true, not both")
		return
	case !req.Default && req.Route == "":
		h.fail(w, r, c, http.StatusBadRequest, "route", "route: required (or default: true for every route)")
		return
	case req.Route != "":
		if p := h.currentPolicy(); p.Routes[req.Route] == nil {
			h.fail(w, r, c, http.StatusBadRequest, "route", fmt.Sprintf("route: unknown route %s (known: %s)",
				shortQuote(req.Route), strings.Join(p.RouteNames(), ", ")))
			return
		}
	}
	set, field, msg := parseSetting(req.Mode, req.Percent)
	if msg != "" {
		h.fail(w, r, c, http.StatusBadRequest, field, msg)
		return
	}
	reason, ok := h.reason(w, r, c, req.Reason)
	if !ok {
		return
	}
	h.apply(w, r, c, rollout.Change{Kind: rollout.ChangeMode, Actor: c.actor, Reason: reason, Route: req.Route, Setting: set})
}

// parseSetting turns a requested mode and percent into an override; nil
// for inherit. On failure it returns the field at fault and a message.
func parseSetting(mode string, percent *float64) (set *rollout.Setting, field, msg string) {
	if mode == modeInherit {
		if percent != nil {
			return nil, "percent", "percent: only mode canary takes a percent"
		}
		return nil, "", ""
	}
	m, err := policy.ParseMode(mode)
	if err != nil {
		if mode == "" {
			return nil, "mode", "mode: required (off, shadow, canary, enforce or inherit)"
		}
		return nil, "mode", fmt.Sprintf("mode: unknown mode %s (want off, shadow, canary, enforce or inherit)", shortQuote(mode))
	}
	s := rollout.Setting{Mode: m}
	switch {
	case m == policy.ModeCanary && percent == nil:
		return nil, "percent", "percent: required with mode canary (0-100)"
	case m != policy.ModeCanary && percent != nil:
		return nil, "percent", "percent: only mode canary takes a percent"
	case percent != nil:
		s.Percent = *percent
	}
	if err := s.Validate(); err != nil {
		return nil, errField(err), err.Error()
	}
	return &s, "", ""
}

func (h *handler) serveKill(w http.ResponseWriter, r *http.Request, c caller) {
	var req KillRequest
	if !h.decode(w, r, c, &req) {
		return
	}
	k, err := rollout.ParseKill(req.Kill)
	if err != nil || k == rollout.KillNone {
		h.fail(w, r, c, http.StatusBadRequest, "kill", fmt.Sprintf("kill: want shadow or bypass, not %s (POST /v1/unkill clears the kill switch)", shortQuote(req.Kill)))
		return
	}
	reason, ok := h.reason(w, r, c, req.Reason)
	if !ok {
		return
	}
	h.apply(w, r, c, rollout.Change{Kind: rollout.ChangeKill, Actor: c.actor, Reason: reason, Kill: k})
}

func (h *handler) serveUnkill(w http.ResponseWriter, r *http.Request, c caller) {
	var req UnkillRequest
	if !h.decode(w, r, c, &req) {
		return
	}
	reason, ok := h.reason(w, r, c, req.Reason)
	if !ok {
		return
	}
	h.apply(w, r, c, rollout.Change{Kind: rollout.ChangeKill, Actor: c.actor, Reason: reason, Kill: rollout.KillNone})
}

// reason checks the reason of a change, which the audit trail needs.
func (h *handler) reason(w http.ResponseWriter, r *http.Request, c caller, reason string) (string, bool) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		h.fail(w, r, c, http.StatusBadRequest, "reason", "reason: required: the audit trail records why")
		return "", false
	case len(reason) > maxReasonLen:
		h.fail(w, r, c, http.StatusBadRequest, "reason", fmt.Sprintf("reason: longer than %d bytes", maxReasonLen))
		return "", false
	case !utf8.ValidString(reason):
		h.fail(w, r, c, http.StatusBadRequest, "reason", "reason: not valid UTF-8")
		return "", false
	}
	return reason, true
}

// apply hands a validated change to the rollout controller.
func (h *handler) apply(w http.ResponseWriter, r *http.Request, c caller, ch rollout.Change) {
	// The controller validates too; checking first keeps a bad change from
	// ever looking like a store failure.
	if err := ch.Validate(); err != nil {
		h.fail(w, r, c, http.StatusBadRequest, errField(err), err.Error())
		return
	}
	entry, err := h.rollout.Apply(r.Context(), ch)
	if err != nil {
		if field := errField(err); field != "" {
			h.fail(w, r, c, http.StatusBadRequest, field, err.Error())
			return
		}
		h.fail(w, r, c, http.StatusServiceUnavailable, "", "live state store unavailable: "+err.Error())
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "admin: rollout change applied",
		slog.String("change", entry.Change),
		slog.String("actor", entry.Actor),
		slog.String("reason", entry.Reason),
		slog.Int64("version", entry.After.Version),
		slog.String("remote", r.RemoteAddr))
	writeJSON(w, http.StatusOK, entry)
}

// errField returns the field a rollout validation error names, or "" for
// any other error (a store failure).
func errField(err error) string {
	if errors.Is(err, rollout.ErrNoReason) {
		return "reason"
	}
	msg := err.Error()
	// rollout's validation errors start with the field they refuse.
	for _, f := range []string{"reason", "percent", "mode", "kill", "route", "kind"} {
		if strings.HasPrefix(msg, f+": ") {
			return f
		}
	}
	return ""
}

// decode reads a JSON request body into dst, answering 4xx on failure.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, c caller, dst any) bool {
	// Requiring the JSON media type makes a browser send a CORS preflight,
	// which this API never answers, so a web page cannot post a change.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.fail(w, r, c, http.StatusUnsupportedMediaType, "", "request body: want Content-Type application/json")
		return false
	}
	// encoding/json lets the last of repeated keys win, so
	// {"kill":"shadow","kill":"bypass"} would apply a change the sender may
	// not have meant. The body is kept as it is read and, once encoding/json
	// has accepted it, streamed again for repeated keys; scanning second
	// keeps every other refusal (and the size limit) exactly as it was.
	var body bytes.Buffer
	dec := json.NewDecoder(io.TeeReader(http.MaxBytesReader(w, r.Body, maxBodyBytes), &body))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		_, terr := dec.Token()
		switch {
		case errors.Is(terr, io.EOF):
			if err = duplicateKey(&body); err == nil {
				return true
			}
		case terr == nil || isSyntaxError(terr):
			err = errTrailing
		default:
			err = terr
		}
	}
	status, field, msg := http.StatusBadRequest, "", ""
	var (
		maxErr  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
		dupErr  *duplicateKeyError
	)
	switch {
	case errors.As(err, &maxErr):
		status, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body: larger than %d bytes", maxBodyBytes)
	case errors.Is(err, io.EOF):
		msg = "request body: empty, want a JSON object"
	case errors.Is(err, errTrailing):
		msg = "request body: " + err.Error()
	case errors.As(err, &typeErr) && typeErr.Field == "":
		msg = "request body: want a JSON object, not " + typeErr.Value
	case errors.As(err, &typeErr):
		field, msg = typeErr.Field, fmt.Sprintf("%s: want %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind()), typeErr.Value)
	case errors.As(err, &dupErr):
		field, msg = dupErr.path, dupErr.Error()
	case unknownField(err) != "":
		field = unknownField(err)
		msg = fmt.Sprintf("unknown field %s", shortQuote(field))
	default:
		msg = "request body: malformed JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	h.fail(w, r, c, status, field, msg)
	return false
}

var errTrailing = errors.New("trailing data after the JSON object")

// duplicateKeyError reports an object key given twice in a request body.
type duplicateKeyError struct {
	// path is the repeated key's dotted path from the root, as
	// encoding/json's UnmarshalTypeError.Field names fields.
	path string
	// key and first are the second and the first spelling, which differ
	// only in case when they do.
	key, first string
}

func (e *duplicateKeyError) Error() string {
	if e.key != e.first {
		return fmt.Sprintf("duplicate field %s (same field as %s)", shortQuote(e.path), shortQuote(e.first))
	}
	return fmt.Sprintf("duplicate field %s", shortQuote(e.path))
}

// duplicateKey streams the first JSON value in r token by token and returns
// a *duplicateKeyError for the first key that repeats a key of the same
// object, at any depth; sibling objects may share keys. Keys are compared
// the way encoding/json matches them to struct fields, case-insensitively,
// since "kill" and "KILL" set the same field. A value cut short is
// io.ErrUnexpectedEOF.
func duplicateKey(r io.Reader) error {
	dec := json.NewDecoder(r)
	// Numbers are only skipped: UseNumber keeps 1e999 from failing as a
	// float64.
	dec.UseNumber()
	// level is an object or array still open.
	type level struct {
		keys    map[string]string // folded key to first spelling; nil for an array
		path    string            // of the object or array itself
		key     string            // the key whose value is being read
		wantKey bool              // the next token is a key or the closing '}'
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if err != nil {
			// Token answers io.EOF even inside an unfinished object.
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		n := len(stack)
		switch {
		case n > 0 && stack[n-1].wantKey && tok != json.Delim('}'):
			top := &stack[n-1]
			key, ok := tok.(string)
			if !ok {
				return fmt.Errorf("object key %v is not a string", tok) // Token refuses these first
			}
			folded := foldKey(key)
			if first, dup := top.keys[folded]; dup {
				return &duplicateKeyError{path: joinPath(top.path, key), key: key, first: first}
			}
			top.keys[folded] = key
			top.key, top.wantKey = key, false
			continue
		case tok == json.Delim('{') || tok == json.Delim('['):
			l := level{}
			if n > 0 {
				l.path = stack[n-1].path
				if stack[n-1].keys != nil {
					l.path = joinPath(l.path, stack[n-1].key)
				}
			}
			if tok == json.Delim('{') {
				l.keys, l.wantKey = map[string]string{}, true
			}
			stack = append(stack, l)
			continue
		case tok == json.Delim('}') || tok == json.Delim(']'):
			stack = stack[:n-1] // Token has checked the nesting
		}
		// A value has ended: a scalar, or the object or array just closed.
		if len(stack) == 0 {
			return nil
		}
		if top := &stack[len(stack)-1]; top.keys != nil {
			top.wantKey = true
		}
	}
}

// joinPath appends key to a dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// foldKey maps each rune of s to the smallest rune of its case-fold set, as
// encoding/json does when it matches keys to fields, so two keys fold alike
// exactly when bytes.EqualFold holds.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		for {
			f := unicode.SimpleFold(r)
			if f <= r {
				return f
			}
			r = f
		}
	}, s)
}

// jsonKind names a Go kind the way the API's users think of it.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	}
	return "a " + k.String()
}

func isSyntaxError(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

// unknownField returns the field named by encoding/json's unknown-field
// error, which has no type of its own.
func unknownField(err error) string {
	const marker = `unknown field "`
	msg := err.Error()
	i := strings.Index(msg, marker)
	if i < 0 {
		return ""
	}
	name, _, ok := strings.Cut(msg[i+len(marker):], `"`)
	if !ok {
		return ""
	}
	return name
}

// fail answers an error and logs it: refused writes and refused
// credentials as warnings, store failures as errors.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, c caller, status int, field, msg string) {
	level := slog.LevelDebug
	switch {
	case status >= http.StatusInternalServerError:
		level = slog.LevelError
	case r.Method != http.MethodGet, status == http.StatusUnauthorized, status == http.StatusForbidden:
		level = slog.LevelWarn
	}
	actor := c.actor
	if actor == "" {
		actor = c.token
	}
	h.log.LogAttrs(r.Context(), level, "admin: request refused",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.String("actor", actor),
		slog.String("field", field),
		slog.String("error", msg),
		slog.String("remote", r.RemoteAddr))
	writeJSON(w, status, ErrorResponse{Error: msg, Field: field})
}

// writeJSON answers v as indented JSON, readable with curl.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		// Only a NaN or Inf percent could fail here, and validation
		// refuses those; answer something well-formed regardless.
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, "{\"error\": %q}\n", "encode answer: "+err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the client is gone if this fails
}

// shortQuote quotes caller-supplied text for a message, shortened so a
// message stays readable whatever was sent.
func shortQuote(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return strconv.Quote(s)
}
