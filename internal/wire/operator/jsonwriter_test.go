package operator

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/signpost-dns/signpost/internal/wire/jsonw"
)

// TestJSONWriterValues checks the writer's glue around jsonw: strings and
// numbers in a list come out as encoding/json (without HTML escaping)
// writes the same list. jsonw's own tests cover the escaping and
// formatting in depth.
func TestJSONWriterValues(t *testing.T) {
	strs := []string{"", "plain", `quote " backslash \ slash /`, "ctl \x00\x1f\b\f\n\r\t",
		"html <a href=\"x\">&amp;</a>", "ünïcödé ✓ 𝄞", "bad utf8 \xff\xfe end", "sep \u2028 \u2029"}
	floats := []float64{0, 15, 0.1, 1520884850.64141, -3.5, 1e-7, 1e21, math.Copysign(0, -1)}
	w := &jsonWriter{}
	w.arr()
	var want []any
	for _, s := range strs {
		w.str(s)
		want = append(want, s)
	}
	for _, f := range floats {
		w.float(f)
		want = append(want, f)
	}
	w.int(-7)
	w.bool(false)
	w.endArr()
	want = append(want, -7, false)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(want); err != nil {
		t.Fatal(err)
	}
	if got, want := string(w.b), string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))); got != want || w.err != nil {
		t.Errorf("got %s (err %v)\nencoding/json writes %s", got, w.err, want)
	}
}

func TestJSONWriterRejectsNonFinite(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		w := &jsonWriter{}
		w.float(f)
		if !errors.Is(w.err, jsonw.ErrNonFinite) {
			t.Errorf("float(%v): err = %v, want jsonw.ErrNonFinite", f, w.err)
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
