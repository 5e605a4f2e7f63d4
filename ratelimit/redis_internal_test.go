package ratelimit

import (
	"slices"
	"testing"
	"time"
)

func TestHashTagFollowsRedisCluster(t *testing.T) {
	tests := []struct{ key, want string }{
		{"ba:v1:{ip:203.0.113.7}:60s", "ip:203.0.113.7"},
		{"ba:v1:{ip:203.0.113.7}:rt:login:10s", "ip:203.0.113.7"},
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

func TestGroupByTagKeepsTheCallersOrderWithinAndAcrossGroups(t *testing.T) {
	counters := []Counter{
		{Key: "{a}:1", Window: time.Second},
		{Key: "{b}:1", Window: 2 * time.Second},
		{Key: "{a}:2", Window: 3 * time.Second, Peek: true},
		{Key: "c", Window: 4 * time.Second, Peek: true},
	}
	groups := groupByTag(counters, 1234)
	type want struct {
		idx  []int
		args []any
	}
	sha := hitScript.Hash()
	wants := []want{
		// A peek's window goes negated.
		{[]int{0, 2}, []any{"evalsha", sha, 2, "{a}:1", "{a}:2", int64(1234), int64(1000), int64(-3000)}},
		{[]int{1}, []any{"evalsha", sha, 1, "{b}:1", int64(1234), int64(2000)}},
		{[]int{3}, []any{"evalsha", sha, 1, "c", int64(1234), int64(-4000)}},
	}
	if len(groups) != len(wants) {
		t.Fatalf("%d groups, want %d", len(groups), len(wants))
	}
	for i, w := range wants {
		if !slices.Equal(groups[i].idx, w.idx) || !slices.Equal(groups[i].args, w.args) {
			t.Errorf("group %d: idx %v args %v, want idx %v args %v", i, groups[i].idx, groups[i].args, w.idx, w.args)
		}
	}
}
