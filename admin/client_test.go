package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

func newTestServer(t *testing.T) (*httptest.Server, *fakeRollout) {
	t.Helper()
	f := newFixture(t, testTokens, false)
	srv := httptest.NewServer(f.handler)
	t.Cleanup(srv.Close)
	return srv, f.rollout
}

func TestClient(t *testing.T) {
	srv, _ := newTestServer(t)
	ctx := context.Background()
	c := &Client{Addr: srv.URL + "/", Token: rwSecret, Actor: "alice", HTTP: srv.Client()}

	e, err := c.SetMode(ctx, "search", false, "canary", 12.5, "ramp")
	if err != nil {
		t.Fatalf("SetMode: %v", err)
	}
	if e.Change != "mode search canary 12.5%" || e.Actor != "ops (alice)" {
		t.Errorf("SetMode entry = %+v", e)
	}
	if _, err := c.SetMode(ctx, "", true, "shadow", 0, "calm"); err != nil {
		t.Fatalf("SetMode default: %v", err)
	}
	if _, err := c.Kill(ctx, "shadow", "incident"); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	s, err := c.State(ctx)
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	if s.Kill != rollout.KillShadow || s.Live.Routes["search"] != (rollout.Setting{Mode: policy.ModeCanary, Percent: 12.5}) {
		t.Errorf("State = %+v", s)
	}
	if _, err := c.Unkill(ctx, "over"); err != nil {
		t.Fatalf("Unkill: %v", err)
	}
	entries, err := c.Audit(ctx, 2)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if len(entries) != 2 || entries[0].Change != "kill none" || entries[1].Change != "kill shadow" {
		t.Errorf("Audit = %+v", entries)
	}
}

func TestClientErrors(t *testing.T) {
	srv, store := newTestServer(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		client     Client
		call       func(c *Client) error
		storeDown  bool
		wantStatus int
		wantField  string
		wantInMsg  string
	}{
		{
			name:       "bad token",
			client:     Client{Addr: srv.URL, Token: "nope"},
			call:       func(c *Client) error { _, err := c.State(ctx); return err },
			wantStatus: 401, wantInMsg: "invalid bearer token",
		},
		{
			name:       "read-only",
			client:     Client{Addr: srv.URL, Token: roSecret},
			call:       func(c *Client) error { _, err := c.Kill(ctx, "bypass", "r"); return err },
			wantStatus: 403, wantInMsg: "read-only",
		},
		{
			name:       "percent with enforce",
			client:     Client{Addr: srv.URL, Token: rwSecret},
			call:       func(c *Client) error { _, err := c.SetMode(ctx, "login", false, "enforce", 3, "r"); return err },
			wantStatus: 400, wantField: "percent",
		},
		{
			name:       "store down",
			client:     Client{Addr: srv.URL, Token: rwSecret},
			call:       func(c *Client) error { _, err := c.Unkill(ctx, "r"); return err },
			storeDown:  true,
			wantStatus: 503, wantInMsg: "live state store unavailable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.storeDown {
				store.setFail(errors.New("redis down"))
				defer store.setFail(nil)
			}
			err := tt.call(&tt.client)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T), want *APIError", err, err)
			}
			if ae.Status != tt.wantStatus || ae.Field != tt.wantField || !strings.Contains(ae.Message, tt.wantInMsg) {
				t.Errorf("APIError = %+v, want status %d field %q message with %q", ae, tt.wantStatus, tt.wantField, tt.wantInMsg)
			}
		})
	}
}

func TestClientNonJSONError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream connect error", http.StatusBadGateway)
	}))
	defer srv.Close()
	c := &Client{Addr: strings.TrimPrefix(srv.URL, "http://")}
	_, err := c.State(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Message != "upstream connect error" {
		t.Errorf("error = %v, want a 502 APIError with the proxy's text", err)
	}
}

func TestClientBadAddr(t *testing.T) {
	for _, addr := range []string{"ftp://host", "http://", "://x"} {
		c := &Client{Addr: addr}
		if _, err := c.State(context.Background()); err == nil || !strings.Contains(err.Error(), "want http://host:port") {
			t.Errorf("Addr %q: error %v", addr, err)
		}
	}
}
