package main

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botauthz/botauthz/extauthz"
)

// decodedAnswer is checkAnswer as protobuf's own decoding gives it: what
// readAnswer must agree with.
func decodedAnswer(t testing.TB, b []byte) (checkAnswer, bool) {
	t.Helper()
	var resp authv3.CheckResponse
	if err := proto.Unmarshal(b, &resp); err != nil {
		return checkAnswer{}, false
	}
	a := checkAnswer{code: resp.GetStatus().GetCode()}
	for _, h := range resp.GetOkResponse().GetHeaders() {
		if h.GetHeader().GetKey() == degradedHeader {
			a.degraded = true
		}
	}
	return a, true
}

func answerCases(t testing.TB) map[string][]byte {
	t.Helper()
	header := func(k, v string) *corev3.HeaderValueOption {
		return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v}}
	}
	meta, err := structpb.NewStruct(map[string]any{"bot_score": 12, "bot_degraded": true, "bot_route": "login"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[string]*authv3.CheckResponse{
		"noop":  {Status: &status.Status{}},
		"empty": {},
		"allowed": {Status: &status.Status{}, DynamicMetadata: meta, HttpResponse: &authv3.CheckResponse_OkResponse{
			OkResponse: &authv3.OkHttpResponse{
				Headers:         []*corev3.HeaderValueOption{header("x-bot-score", "12"), header("x-bot-reasons", "x-bot-degraded")},
				HeadersToRemove: []string{degradedHeader},
			}}},
		"degraded": {Status: &status.Status{}, HttpResponse: &authv3.CheckResponse_OkResponse{
			OkResponse: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{header("x-bot-score", "0"), header(degradedHeader, "1")}}}},
		"denied": {Status: &status.Status{Code: 7}, HttpResponse: &authv3.CheckResponse_DeniedResponse{
			DeniedResponse: &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: 403}, Body: "no",
				Headers: []*corev3.HeaderValueOption{header(degradedHeader, "1")}}}},
		"rate-limited": {Status: &status.Status{Code: 8, Message: "slow down"}},
		"ok-degraded-code": {Status: &status.Status{Code: 16}, HttpResponse: &authv3.CheckResponse_OkResponse{
			OkResponse: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{header(degradedHeader, "1")}}}},
	}
	out := make(map[string][]byte, len(msgs))
	for name, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// TestReadAnswerAgreesWithProtobuf holds the generator's reader to
// protobuf's decoding on each case and on every pair of cases concatenated,
// which protobuf merges: a later status code overrides, a later
// denied_response discards an ok_response's headers, and two ok_responses'
// headers add up.
func TestReadAnswerAgreesWithProtobuf(t *testing.T) {
	cases := answerCases(t)
	check := func(name string, b []byte) {
		t.Helper()
		want, ok := decodedAnswer(t, b)
		if !ok {
			t.Fatalf("%s: protobuf cannot decode the case", name)
		}
		var got checkAnswer
		if err := readAnswer(b, &got); err != nil {
			t.Fatalf("%s: readAnswer: %v", name, err)
		}
		if got != want {
			t.Errorf("%s: readAnswer = %+v, protobuf says %+v", name, got, want)
		}
	}
	seen := map[outcome]bool{}
	for name, b := range cases {
		check(name, b)
		var a checkAnswer
		_ = readAnswer(b, &a)
		seen[a.outcome()] = true
		for name2, b2 := range cases {
			check(name+"+"+name2, append(append([]byte(nil), b...), b2...))
		}
	}
	for _, o := range []outcome{outOK, outDegraded, outNotOK} {
		if !seen[o] {
			t.Errorf("no case classifies as outcome %d", o)
		}
	}
}

func TestReadAnswerRefusesMalformed(t *testing.T) {
	b := answerCases(t)["degraded"]
	for _, cut := range []int{1, 3, len(b) - 1} {
		var a checkAnswer
		if err := readAnswer(b[:cut], &a); err == nil {
			t.Errorf("readAnswer of the first %d of %d bytes: no error", cut, len(b))
		}
	}
}

func TestDegradedHeaderIsBotauthzs(t *testing.T) {
	if degradedHeader != extauthz.HeaderDegraded {
		t.Errorf("degradedHeader = %q, botauthz marks degraded answers with %q", degradedHeader, extauthz.HeaderDegraded)
	}
}

// FuzzReadAnswer: whatever protobuf decodes, readAnswer reads alike.
func FuzzReadAnswer(f *testing.F) {
	for _, b := range answerCases(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got checkAnswer
		err := readAnswer(b, &got)
		want, ok := decodedAnswer(t, b)
		if !ok {
			return // a server never sends what protobuf cannot decode
		}
		if err != nil {
			t.Fatalf("protobuf decodes %x, readAnswer: %v", b, err)
		}
		if got != want {
			t.Fatalf("%x: readAnswer = %+v, protobuf says %+v", b, got, want)
		}
	})
}

func BenchmarkReadAnswer(b *testing.B) {
	resp := answerCases(b)["allowed"]
	b.Run("wire", func(b *testing.B) {
		b.ReportAllocs()
		var a checkAnswer
		for b.Loop() {
			if err := readAnswer(resp, &a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protobuf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodedAnswer(b, resp); !ok {
				b.Fatal("decode failed")
			}
		}
	})
}
