package extauthz

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
	"github.com/botauthz/botauthz/scoring"
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

// TestAllowAnswerWrittenByHand holds appendAllowed, the allow answer as the
// gRPC handler writes it, to respond's CheckResponse for the same decision,
// over scores in and out of range, every band, mode and source, rules
// decided with and without scoring, reasons past the header's bound,
// degraded counts, a clearance, a verified crawler and client-sent x-bot-*
// headers, both those removed and those overwritten.
func TestAllowAnswerWrittenByHand(t *testing.T) {
	model, err := scoring.Load()
	if err != nil {
		t.Fatal(err)
	}
	// Results with no reasons, one, and more than x-bot-reasons holds.
	var results []scoring.Result
	for _, h := range []map[string]string{
		chrome,
		{"user-agent": "curl/8.5.0"},
		// A browser's name with its hints contradicting it, going fast.
		{"user-agent": chrome["user-agent"], "sec-ch-ua-platform": `"Linux"`, "sec-fetch-mode": "navigate"},
	} {
		var r scoring.Result
		model.Score(&scoring.Request{Method: "GET", Headers: h,
			Velocity: []scoring.Velocity{{Code: scoring.VelocityIP, Estimate: 1000, Threshold: 10}}}, &r)
		results = append(results, r)
	}
	if n := len(results[2].Reasons()); n <= maxHeaderReasons {
		t.Fatalf("the contradicting request gave %d reasons; the test wants more than %d", n, maxHeaderReasons)
	}
	crawlers := []crawlerValues{{
		name: set(HeaderVerified, "Googlebot"), category: set(HeaderVerifiedCategory, "search"),
		nameValue: structpb.NewStringValue("Googlebot"), categoryValue: structpb.NewStringValue("search"),
	}}
	headerSets := []map[string]string{
		{"user-agent": uaFirefox},
		{"user-agent": uaFirefox, "x-bot-score": "0", "x-bot-reasons": "none", "x-bot-degraded": "false",
			"x-bot-verified": "Googlebot", "x-bot-whatever": "1", "x-bot-action": "allow"},
	}
	route := structpb.NewStringValue("login")
	cases := 0
	for _, score := range []int{-3, 0, 37, 99, 250} {
		for band := scoring.NotScored; band <= scoring.MaxBand; band++ {
			for mode := range policy.EveryMode() {
				for _, rule := range []policy.Rule{policy.NoRule, policy.RuleAllowCIDR, policy.RuleRequireProof} {
					for ri := range results {
						for _, degraded := range []bool{false, true} {
							for _, verified := range []*crawlerValues{nil, &crawlers[0]} {
								for _, headers := range headerSets {
									d := &Decision{Score: score, Band: band, Route: "login", Mode: mode, ModeSource: rollout.SourceKill,
										Action: policy.ActionChallenge, Enforced: policy.ActionAllow, Rule: rule, Degraded: degraded,
										Result: results[ri]}
									if degraded {
										d.Clearance, d.ModeSource = clearance.Valid, rollout.SourcePolicy
									}
									f := &Facts{HTTP: true, Method: "GET", Path: "/", Headers: headers}
									checkAllowAnswer(t, d, f, route, verified)
									cases++
								}
							}
						}
					}
				}
			}
		}
	}
	// The route's value built per Check when the policy has none.
	checkAllowAnswer(t, &Decision{Route: "search", Enforced: policy.ActionAllow}, &Facts{HTTP: true}, nil, nil)
	t.Logf("%d decisions", cases+1)
}

func checkAllowAnswer(t *testing.T, d *Decision, f *Facts, route *structpb.Value, verified *crawlerValues) {
	t.Helper()
	if !allows(d) {
		t.Fatalf("allows(%v) = false", d.Enforced)
	}
	want := respond(d, f, route, verified, false)
	got := new(authv3.CheckResponse)
	if err := proto.Unmarshal(appendAllowed(nil, d, f, route, verified), got); err != nil {
		t.Fatalf("the hand-written answer does not decode: %v", err)
	}
	// Headers to remove come in the order of a map's iteration.
	for _, r := range []*authv3.CheckResponse{want, got} {
		slices.Sort(r.GetOkResponse().GetHeadersToRemove())
	}
	if !proto.Equal(got, want) {
		t.Fatalf("decision %+v:\nhand-written %v\nrespond      %v", d, got, want)
	}
}

// TestRemovalsFollowHeaderOrder checks the answer's headers to remove when
// the facts carry HeaderOrder (header_map): the same names as from the
// map, in the order sent, each once even when sent twice, in both forms of
// the answer.
func TestRemovalsFollowHeaderOrder(t *testing.T) {
	buf := &headerBuf{}
	for _, h := range [][2]string{
		{":method", "GET"}, {"x-bot-reasons", "none"}, {"user-agent", "curl/8.5.0"},
		{"X-Bot-Verified", "yes"}, {"x-bot-score", "99"}, {"x-bot-reasons", "again"}, {"x-botany", "keep"},
	} {
		buf.add(h[0], h[1])
	}
	d := &Decision{Score: 90, Route: "default", Action: policy.ActionAllow, Enforced: policy.ActionAllow}
	ordered := &Facts{HTTP: true, Headers: buf.m, HeaderOrder: buf.order}
	unordered := &Facts{HTTP: true, Headers: buf.m}

	u := upstreamOf(d, nil, nil)
	got := u.removals(ordered, nil)
	if want := []string{"x-bot-reasons", "x-bot-verified"}; !slices.Equal(got, want) {
		t.Errorf("removals with HeaderOrder = %q, want %q", got, want)
	}
	fromMap := u.removals(unordered, nil)
	slices.Sort(fromMap)
	if !slices.Equal(fromMap, []string{"x-bot-reasons", "x-bot-verified"}) {
		t.Errorf("removals from the map = %q", fromMap)
	}
	checkAllowAnswer(t, d, ordered, nil, nil)
}
