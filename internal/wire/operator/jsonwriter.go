package operator

import (
	"strconv"

	"github.com/signpost-dns/signpost/internal/wire/jsonw"
)

// jsonWriter appends compact JSON to a byte slice. Commas are placed by
// looking at the last byte written: a value or key that follows anything but
// '{', '[' or ':' needs one. That keeps the encoder free of "first element"
// bookkeeping.
type jsonWriter struct {
	b   []byte
	err error
}

func (w *jsonWriter) sep() {
	if n := len(w.b); n > 0 {
		switch w.b[n-1] {
		case '{', '[', ':':
		default:
			w.b = append(w.b, ',')
		}
	}
}

// key writes "k": — k must be a plain literal needing no escaping.
func (w *jsonWriter) key(k string) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *jsonWriter) obj()    { w.sep(); w.b = append(w.b, '{') }
func (w *jsonWriter) end()    { w.b = append(w.b, '}') }
func (w *jsonWriter) arr()    { w.sep(); w.b = append(w.b, '[') }
func (w *jsonWriter) endArr() { w.b = append(w.b, ']') }

func (w *jsonWriter) str(s string) {
	w.sep()
	w.b = jsonw.AppendString(w.b, s)
}

func (w *jsonWriter) int(i int) {
	w.sep()
	w.b = strconv.AppendInt(w.b, int64(i), 10)
}

func (w *jsonWriter) bool(v bool) {
	w.sep()
	w.b = strconv.AppendBool(w.b, v)
}

// float writes f as encoding/json would; NaN and ±Inf, which JSON cannot
// represent, fail the encoding with jsonw.ErrNonFinite.
func (w *jsonWriter) float(f float64) {
	w.sep()
	var err error
	if w.b, err = jsonw.AppendFloat(w.b, f); err != nil && w.err == nil {
		w.err = err
	}
}

func (w *jsonWriter) strField(k, v string) {
	w.key(k)
	w.str(v)
}

func (w *jsonWriter) optStr(k, v string) {
	if v != "" {
		w.strField(k, v)
	}
}

// id writes a wrapped id, "k":{"value":v}.
func (w *jsonWriter) id(k, v string) {
	w.key(k)
	w.obj()
	w.strField("value", v)
	w.end()
}

func (w *jsonWriter) optID(k, v string) {
	if v != "" {
		w.id(k, v)
	}
}
