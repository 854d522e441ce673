package operator

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// jsonWriter appends compact JSON to a byte slice. Commas are placed by
// looking at the last byte written: a value or key that follows anything but
// '{', '[' or ':' needs one. That keeps the encoder free of "first element"
// bookkeeping.
type jsonWriter struct {
	b   []byte
	err error
}

var errNonFinite = errors.New("number is NaN or infinite, which JSON cannot represent")

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
	w.b = appendString(w.b, s)
}

func (w *jsonWriter) int(i int) {
	w.sep()
	w.b = strconv.AppendInt(w.b, int64(i), 10)
}

func (w *jsonWriter) bool(v bool) {
	w.sep()
	w.b = strconv.AppendBool(w.b, v)
}

// float formats like encoding/json: shortest representation, exponent form
// only for very small or very large magnitudes.
func (w *jsonWriter) float(f float64) {
	w.sep()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		if w.err == nil {
			w.err = errNonFinite
		}
		w.b = append(w.b, '0')
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.b = strconv.AppendFloat(w.b, f, format, -1, 64)
	if format == 'e' {
		// Shorten e-09 to e-9, as encoding/json does.
		n := len(w.b)
		if n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
			w.b[n-2] = w.b[n-1]
			w.b = w.b[:n-1]
		}
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

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Unlike encoding/json's default it
// does not escape <, > and &: Mesos does not, and label values are often
// URLs. Invalid UTF-8 becomes U+FFFD, and U+2028/U+2029 are escaped so the
// output is also valid JavaScript, as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
