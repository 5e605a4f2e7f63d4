package provider

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testSecret    = "0x5ecret-DO-NOT-LEAK-4aa8c1"
	testSiteKey   = "site-key-123"
	testAppKey    = "ak_test_public"
	testAppSecret = "as_5ecret-DO-NOT-LEAK-9f2e"
	testToken     = "XXXX.DUMMY.TOKEN.XXXX"
	testIP        = "203.0.113.7"
)

// reply is what a fake vendor answers.
type reply struct {
	status int
	body   string
	// hang holds the answer until the client gives up.
	hang bool
	// stall sends the status and body, then holds the rest of the body
	// until the client gives up.
	stall bool
	// header is set on the answer (e.g. Location).
	header map[string]string
}

func ok200(body string) reply { return reply{status: http.StatusOK, body: body} }

// vendor is a fake CAPTCHA vendor: check asserts every request against the
// vendor's documented contract, then rep is sent.
type vendor struct {
	srv  *httptest.Server
	hits atomic.Int32
}

func newVendor(t *testing.T, check func(t *testing.T, r *http.Request, body []byte), rep reply) *vendor {
	t.Helper()
	v := &vendor{}
	release := make(chan struct{})
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.hits.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("vendor: reading request body: %v", err)
		}
		check(t, r, body)
		if rep.hang {
			// Hold until the client hangs up (its Timeout fired) or the
			// test ends: a channel, not a sleep.
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		for k, val := range rep.header {
			w.Header().Set(k, val)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
		if rep.stall {
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	}))
	// Cleanups run last-in first-out: release the handler, then close.
	t.Cleanup(v.srv.Close)
	t.Cleanup(func() { close(release) })
	return v
}

func (v *vendor) url(path string) string { return v.srv.URL + path }

// wantResult compares the parts of a Result a test cares about.
func wantResult(t *testing.T, got, want Result) {
	t.Helper()
	if got.OK != want.OK || got.Reason != want.Reason || got.Score != want.Score || !reflect.DeepEqual(got.Codes, want.Codes) {
		t.Errorf("Verify = %+v, want %+v", got, want)
	}
}

// noSecret fails if a secret shows up in anything printable from r or err.
func noSecret(t *testing.T, what string, vals ...any) {
	t.Helper()
	for _, v := range vals {
		for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
			s := fmt.Sprintf(format, v)
			if strings.Contains(s, testSecret) || strings.Contains(s, testAppSecret) {
				t.Errorf("%s: secret leaked through %s: %s", what, format, s)
			}
		}
	}
}

func mustNew(t *testing.T, cfg Config) Verifier {
	t.Helper()
	v, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// verify runs v.Verify with a test-bounded context.
func verify(t *testing.T, v Verifier, token, ip string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return v.Verify(ctx, token, ip)
}

func fails(reason string, codes ...string) Result {
	return Result{Reason: reason, Codes: codes, Score: -1}
}

func okResult(score float64) Result { return Result{OK: true, Reason: ReasonOK, Score: score} }
