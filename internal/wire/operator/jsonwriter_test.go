package operator

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{`quote " backslash \ slash /`, `quote " backslash \ slash /`},
		{"ctl \x00\x01\x1f\b\f\n\r\t", "ctl \x00\x01\x1f\b\f\n\r\t"},
		{"html <a href=\"x\">&amp;</a>", "html <a href=\"x\">&amp;</a>"},
		{"ünïcödé ✓ 𝄞", "ünïcödé ✓ 𝄞"},
		{"bad utf8 \xff\xfe end", "bad utf8 \uFFFD\uFFFD end"}, // one U+FFFD per bad byte
		{"sep \u2028 \u2029", "sep \u2028 \u2029"},
	}
	for _, tt := range tests {
		got := appendString(nil, tt.in)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", tt.in, got, err)
		}
		if back != tt.want {
			t.Errorf("%q → %s → %q, want %q", tt.in, got, back, tt.want)
		}
		if strings.ContainsAny(tt.in, "<>&") && !strings.Contains(string(got), "<a") {
			t.Errorf("HTML characters escaped in %s", got)
		}
		if strings.ContainsRune(tt.in, '\u2028') && !strings.Contains(string(got), `\u2028`) {
			t.Errorf("U+2028 not escaped in %s", got)
		}
	}
}

func TestFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 15, 0.1, 128, 1520884850.64141, 1566970625.9117131, 604800000, -3.5,
		1e-7, 1.5e-9, 1e21, 1.7976931348623157e308, 5e-324, math.Copysign(0, -1)} {
		w := &jsonWriter{}
		w.float(f)
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if string(w.b) != string(want) {
			t.Errorf("float(%v) = %s, encoding/json writes %s", f, w.b, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		w := &jsonWriter{}
		w.float(f)
		if w.err == nil {
			t.Errorf("float(%v) accepted", f)
		}
	}
}

func TestJSONWriterCommas(t *testing.T) {
	w := &jsonWriter{}
	w.obj()
	w.key("a")
	w.arr()
	w.int(1)
	w.str("x")
	w.obj()
	w.end()
	w.arr()
	w.endArr()
	w.bool(true)
	w.endArr()
	w.key("b")
	w.obj()
	w.end()
	w.end()
	if got, want := string(w.b), `{"a":[1,"x",{},[],true],"b":{}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
