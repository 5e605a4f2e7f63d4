package extauthz

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
	"github.com/botauthz/botauthz/scoring"
)

// fixed holds the header options and metadata values whose text comes from a
// small closed set (score 0–99, band, action, mode, statuses), built once so that a
// Check does not rebuild them. Responses share them: nothing mutates them
// after construction, and protobuf marshals a shared message safely (its size
// cache is atomic).
type fixed struct {
	score, category, action, mode                     [100]*corev3.HeaderValueOption
	scoreValue, categoryValue, actionValue, modeValue [100]*structpb.Value
	sourceValue                                       [100]*structpb.Value
	// ruleReasons is x-bot-reasons for a request a rule decided unscored.
	ruleReasons                                 [100]*corev3.HeaderValueOption
	degraded, noStore, contentJSON, contentHTML *corev3.HeaderValueOption
	boolValue                                   [2]*structpb.Value

	statusOK, statusDenied, statusExhausted *rpcstatus.Status
	found, forbidden, tooMany               *typev3.HttpStatus
}

var constants = newFixed()

func newFixed() *fixed {
	f := &fixed{
		degraded:        set(HeaderDegraded, "true"),
		noStore:         set("cache-control", "no-store"),
		contentJSON:     set("content-type", "application/json"),
		contentHTML:     set("content-type", "text/html; charset=utf-8"),
		statusOK:        &rpcstatus.Status{Code: int32(codes.OK)},
		statusDenied:    &rpcstatus.Status{Code: int32(codes.PermissionDenied)},
		statusExhausted: &rpcstatus.Status{Code: int32(codes.ResourceExhausted)},
		found:           &typev3.HttpStatus{Code: typev3.StatusCode_Found},
		forbidden:       &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden},
		tooMany:         &typev3.HttpStatus{Code: typev3.StatusCode_TooManyRequests},
	}
	for i := range 100 {
		f.score[i] = set(HeaderScore, scoreText[i])
		f.scoreValue[i] = structpb.NewNumberValue(float64(i))
	}
	for b := scoring.NotScored; b <= scoring.MaxBand; b++ {
		f.category[b] = set(HeaderCategory, b.String())
		f.categoryValue[b] = structpb.NewStringValue(b.String())
	}
	for a := range policy.EveryAction() {
		f.action[a] = set(HeaderAction, a.String())
		f.actionValue[a] = structpb.NewStringValue(a.String())
	}
	for m := range policy.EveryMode() {
		f.mode[m] = set(HeaderMode, m.String())
		f.modeValue[m] = structpb.NewStringValue(m.String())
	}
	for r := range policy.EveryRule() {
		f.ruleReasons[r] = set(HeaderReasons, r.String())
	}
	for src := rollout.SourceKill; src <= rollout.MaxSource; src++ {
		f.sourceValue[src] = structpb.NewStringValue(src.String())
	}
	f.boolValue[0], f.boolValue[1] = structpb.NewBoolValue(false), structpb.NewBoolValue(true)
	return f
}

// pick returns table[i], or builds the option when i has none (an enum value
// added without updating newFixed), so a gap costs an allocation, not a
// wrong header.
func pick[T any](table *[100]*T, i int, build func() *T) *T {
	if i >= 0 && i < len(table) && table[i] != nil {
		return table[i]
	}
	return build()
}
