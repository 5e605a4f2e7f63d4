package extauthz

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzDeniedJSON holds the hand-written denial body to what encoding/json
// writes for the same fields.
func FuzzDeniedJSON(f *testing.F) {
	f.Add("forbidden", "ua.library", "req-1")
	f.Add("rate_limited", "", "<script>&\u2028\"\\\x01\xff")
	f.Fuzz(func(t *testing.T, errName, reason, requestID string) {
		want, err := json.Marshal(struct {
			Error     string `json:"error"`
			Reason    string `json:"reason,omitempty"`
			RequestID string `json:"request_id"`
		}{errName, reason, requestID})
		if err != nil {
			t.Fatal(err)
		}
		if got := deniedJSON(errName, reason, requestID); got != string(want)+"\n" {
			t.Fatalf("deniedJSON = %q, encoding/json %q", got, want)
		}
	})
}

func TestDeniedHTMLEscapesTheRequestID(t *testing.T) {
	page := deniedHTML("Access denied", "This request looks automated and was refused.", `<img src=x onerror="alert(1)">&`)
	if strings.Contains(page, "<img") || !strings.Contains(page, "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;") {
		t.Errorf("request ID not escaped:\n%s", page)
	}
	for _, want := range []string{"<title>Access denied</title>", "<h1>Access denied</h1>", "<p>This request looks automated and was refused.</p>", "Request ID: "} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if page := deniedHTML("Too many requests", "Please wait.", ""); strings.Contains(page, "Request ID") {
		t.Errorf("a page without a request ID names one:\n%s", page)
	}
}
