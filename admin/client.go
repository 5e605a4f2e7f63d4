package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/botauthz/botauthz/rollout"
)

// maxResponseBytes bounds an answer: a full audit page is well below it.
const maxResponseBytes = 32 << 20

// Client calls the admin API.
type Client struct {
	// Addr is the API's base URL, e.g. "http://127.0.0.1:9090"; a bare
	// host:port means http.
	Addr string
	// Token is the bearer secret; empty sends none.
	Token string
	// Actor names the person behind the token in the audit trail; empty
	// sends none.
	Actor string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// APIError is a non-2xx answer of the admin API.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Message is the server's error message.
	Message string
	// Field names the request field at fault, when the server said.
	Field string
}

// Error reads e.g. "admin API: 400 Bad Request: percent: 101 out of range 0-100".
func (e *APIError) Error() string {
	return fmt.Sprintf("admin API: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// State returns the rollout state in force and every route's mode.
func (c *Client) State(ctx context.Context) (StateResponse, error) {
	var resp StateResponse
	err := c.do(ctx, http.MethodGet, "/v1/state", nil, &resp)
	return resp, err
}

// SetMode sets the mode override of route, or with def of every route;
// mode "inherit" clears it. percent is sent with mode canary (or when
// non-zero, so the server can refuse it).
func (c *Client) SetMode(ctx context.Context, route string, def bool, mode string, percent float64, reason string) (rollout.AuditEntry, error) {
	req := ModeRequest{Route: route, Default: def, Mode: mode, Reason: reason}
	if mode == "canary" || percent != 0 {
		req.Percent = &percent
	}
	var entry rollout.AuditEntry
	err := c.do(ctx, http.MethodPost, "/v1/mode", req, &entry)
	return entry, err
}

// Kill sets the kill switch to kill, "shadow" or "bypass".
func (c *Client) Kill(ctx context.Context, kill, reason string) (rollout.AuditEntry, error) {
	var entry rollout.AuditEntry
	err := c.do(ctx, http.MethodPost, "/v1/kill", KillRequest{Kill: kill, Reason: reason}, &entry)
	return entry, err
}

// Unkill clears the kill switch.
func (c *Client) Unkill(ctx context.Context, reason string) (rollout.AuditEntry, error) {
	var entry rollout.AuditEntry
	err := c.do(ctx, http.MethodPost, "/v1/unkill", UnkillRequest{Reason: reason}, &entry)
	return entry, err
}

// Audit returns up to limit recent changes, newest first; limit <= 0 means
// the server's default.
func (c *Client) Audit(ctx context.Context, limit int) ([]rollout.AuditEntry, error) {
	path := "/v1/audit"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var resp AuditResponse
	err := c.do(ctx, http.MethodGet, path, nil, &resp)
	return resp.Entries, err
}

// do sends in (when not nil) as JSON and decodes a 2xx answer into out.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	u, err := c.url(path)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("admin API %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.Actor != "" {
		req.Header.Set(ActorHeader, c.Actor)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("admin API %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// url joins the base address and path.
func (c *Client) url(path string) (string, error) {
	base := c.Addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("admin API address %q: want http://host:port", c.Addr)
	}
	return strings.TrimRight(base, "/") + path, nil
}

// apiError builds the error of a non-2xx answer, which may come from a
// proxy rather than botauthz and so may not be JSON.
func apiError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var er ErrorResponse
	if err := json.Unmarshal(body, &er); err == nil && er.Error != "" {
		e.Message, e.Field = er.Error, er.Field
		return e
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	e.Message = msg
	return e
}
