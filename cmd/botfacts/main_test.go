package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// fakeBCD builds a data.json holding every cited feature, each supported by
// chrome (as a lone statement) and safari (as a list), plus a browser the
// extract leaves out.
func fakeBCD(t *testing.T, drop string) string {
	t.Helper()
	data := map[string]any{"__meta": map[string]any{"version": "9.9.9", "timestamp": "2026-01-01T00:00:00.000Z"}}
	for _, path := range features {
		if path == drop {
			continue
		}
		node := data
		for _, key := range strings.Split(path, ".") {
			next, ok := node[key].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[key] = next
			}
			node = next
		}
		node["__compat"] = map[string]any{
			"spec_url": "https://example.org/spec",
			"support": map[string]any{
				"chrome":  map[string]any{"version_added": "80"},
				"safari":  []any{map[string]any{"version_added": "16.4"}, map[string]any{"version_added": "15", "flags": []any{}}},
				"ie":      map[string]any{"version_added": false},
				"firefox": map[string]any{"version_added": "<b>90</b>"},
			},
		}
	}
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	// BCD writes HTML in its values as is; json.Marshal escapes it.
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">").Replace(string(b))
}

func TestExtract(t *testing.T) {
	out, err := extractFrom(strings.NewReader(fakeBCD(t, "")))
	if err != nil {
		t.Fatalf("extractFrom: %v", err)
	}
	var x extract
	if err := json.Unmarshal(out, &x); err != nil {
		t.Fatalf("the extract is not JSON: %v", err)
	}
	if x.Version != "9.9.9" || !strings.Contains(x.About, "CC0") || len(x.Features) != len(features) {
		t.Fatalf("extract: version %q, about %q, %d features", x.Version, x.About, len(x.Features))
	}
	br := x.Features["http.headers.Accept-Encoding.br"]
	if len(br.Support["chrome"]) != 1 || len(br.Support["safari"]) != 2 {
		t.Errorf("support not normalised to lists: %v", br.Support)
	}
	if _, ok := br.Support["ie"]; ok {
		t.Error("a browser outside the families was kept")
	}
	if !strings.Contains(string(out), "<b>90</b>") {
		t.Error("HTML in BCD's values was escaped")
	}
	if !strings.HasSuffix(string(out), "}\n") {
		t.Error("no final newline")
	}
}

func TestExtractRefusesMissingFeature(t *testing.T) {
	_, err := extractFrom(strings.NewReader(fakeBCD(t, "http.headers.Priority")))
	if err == nil || !strings.Contains(err.Error(), "http.headers.Priority") {
		t.Errorf("extractFrom without Priority: error %v, want one naming it", err)
	}
	if _, err := extractFrom(strings.NewReader(`{"http": {}}`)); err == nil || !strings.Contains(err.Error(), "__meta.version") {
		t.Errorf("extractFrom without __meta: error %v", err)
	}
}
