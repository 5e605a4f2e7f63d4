package scoring

import (
	"slices"
	"testing"
)

func TestAppendReasons(t *testing.T) {
	var r Result
	r.add(UALibrary, 60)
	r.add(AcceptLanguageMissing, 15)
	r.add(AcceptEncodingMissing, 10)
	tests := []struct {
		name string
		dst  string
		max  int
		want string
	}{
		{"all with a negative max", "", -1, "ua.library,accept_language.missing,accept_encoding.missing"},
		{"top two", "", 2, "ua.library,accept_language.missing"},
		{"max above the count", "", 10, "ua.library,accept_language.missing,accept_encoding.missing"},
		{"zero appends nothing", "x", 0, "x"},
		{"appends after existing bytes", "reasons=", 1, "reasons=ua.library"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(r.AppendReasons([]byte(tt.dst), tt.max)); got != tt.want {
				t.Errorf("AppendReasons(%q, %d) = %q, want %q", tt.dst, tt.max, got, tt.want)
			}
		})
	}
	var empty Result
	if got := empty.AppendReasons(nil, -1); len(got) != 0 {
		t.Errorf("empty result appended %q", got)
	}
}

func TestAddKeepsHeaviestFirstAndTiesInCodeOrder(t *testing.T) {
	var r Result
	for _, reason := range []Reason{{UAMissing, 10}, {AcceptMissing, 30}, {HintsMissing, 10}, {FetchMissing, 30}, {VelocityIP, 50}} {
		r.add(reason.Code, reason.Weight)
	}
	want := []Reason{{VelocityIP, 50}, {AcceptMissing, 30}, {FetchMissing, 30}, {UAMissing, 10}, {HintsMissing, 10}}
	if got := r.Reasons(); !slices.Equal(got, want) {
		t.Errorf("Reasons() = %v, want %v", got, want)
	}
}

func TestAddIgnoresOverflow(t *testing.T) {
	var r Result
	for i := 0; i < 3*int(numCodes); i++ {
		r.add(UAMissing, 1)
	}
	if n := len(r.Reasons()); n != int(numCodes)-1 {
		t.Errorf("%d reasons, want the array's %d", n, numCodes-1)
	}
}
