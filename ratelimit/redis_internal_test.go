package ratelimit

import (
	"slices"
	"testing"
	"time"
)

func TestHashTagFollowsRedisCluster(t *testing.T) {
	tests := []struct{ key, want string }{
		{"ba:v2:{ip:203.0.113.7}", "ip:203.0.113.7"},
		{"ba:v2:{net:203.0.113.0/24}", "net:203.0.113.0/24"},
		{"foo{bar}{zap}", "bar"},     // only the first tag counts
		{"foo{}{bar}", "foo{}{bar}"}, // an empty tag hashes the whole key
		{"foo{bar", "foo{bar"},
		{"}foo{bar}", "bar"},
		{"untagged", "untagged"},
	}
	for _, tt := range tests {
		if got := hashTag(tt.key); got != tt.want {
			t.Errorf("hashTag(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestPlanHitGroupsLanesByKeyAndKeysByTag(t *testing.T) {
	counters := []Counter{
		{Key: "{a}:1", Lane: "x", Window: time.Second},
		{Key: "{b}:1", Lane: "x", Window: 2 * time.Second},
		{Key: "{a}:2", Lane: "", Window: 3 * time.Second, Peek: true},
		{Key: "c", Lane: "y", Window: 4 * time.Second, Peek: true},
		{Key: "{a}:1", Lane: "z", Window: 5 * time.Second, Peek: true},
	}
	sha := hitScript.Hash()
	type want struct {
		idx  []int
		args []any
	}
	tests := []struct {
		name  string
		byTag bool
		want  []want
	}{
		{"one script", false, []want{
			// Keys in order of first appearance, each with its lanes'
			// fields in the caller's order, then their windows; a peek's
			// window goes negated.
			{[]int{0, 4, 1, 2, 3}, []any{"evalsha", sha, 4, "{a}:1", "{b}:1", "{a}:2", "c", int64(1234),
				2, "x", "z", int64(1000), int64(-5000),
				1, "x", int64(2000),
				1, "", int64(-3000),
				1, "y", int64(-4000)}},
		}},
		{"one script per hash tag", true, []want{
			{[]int{0, 4, 2}, []any{"evalsha", sha, 2, "{a}:1", "{a}:2", int64(1234),
				2, "x", "z", int64(1000), int64(-5000),
				1, "", int64(-3000)}},
			{[]int{1}, []any{"evalsha", sha, 1, "{b}:1", int64(1234), 1, "x", int64(2000)}},
			{[]int{3}, []any{"evalsha", sha, 1, "c", int64(1234), 1, "y", int64(-4000)}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups := planHit(counters, 1234, tt.byTag)
			if len(groups) != len(tt.want) {
				t.Fatalf("%d groups, want %d", len(groups), len(tt.want))
			}
			for i, w := range tt.want {
				if !slices.Equal(groups[i].idx, w.idx) || !slices.Equal(groups[i].args, w.args) {
					t.Errorf("group %d:\n idx %v args %v\nwant idx %v args %v", i, groups[i].idx, groups[i].args, w.idx, w.args)
				}
			}
		})
	}
}

func TestParseReplyFollowsThePlan(t *testing.T) {
	counters := []Counter{
		{Key: "k1", Lane: "a", Window: time.Minute},
		{Key: "k2", Lane: "a", Window: time.Second},
		{Key: "k1", Lane: "b", Window: time.Minute, Peek: true},
	}
	groups := planHit(counters, 90_500, false)
	obs := make([]Observation, len(counters))
	// Replies come by key: k1's a and b, then k2's a.
	if err := groups[0].parseReply(90_500, counters, obs, []int64{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	want := []Observation{
		{Prev: 1, Cur: 2, Elapsed: 30500 * time.Millisecond, Window: time.Minute},
		{Prev: 5, Cur: 6, Elapsed: 500 * time.Millisecond, Window: time.Second},
		{Prev: 3, Cur: 4, Elapsed: 30500 * time.Millisecond, Window: time.Minute},
	}
	if !slices.Equal(obs, want) {
		t.Errorf("observations %+v, want %+v", obs, want)
	}
	if err := groups[0].parseReply(90_500, counters, obs, []int64{1, 2}); err == nil {
		t.Error("a reply of 2 counts for 3 counters was accepted")
	}
}
