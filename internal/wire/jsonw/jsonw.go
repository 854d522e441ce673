// Package jsonw holds what the hand-written JSON encoders of the wire
// packages (mesosstate, operator) share: string escaping and number
// formatting that give the same bytes as encoding/json, appended to a byte
// slice without reflection or allocation. Document structure (keys, commas,
// nesting) stays with each encoder, because each writes it differently.
package jsonw

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// ErrNonFinite is AppendFloat's error for NaN and ±Inf.
var ErrNonFinite = errors.New("number is NaN or infinite, which JSON cannot represent")

const hexDigits = "0123456789abcdef"

// safe[c] is true for the ASCII bytes that stand for themselves inside a
// JSON string: everything from space to DEL except '"' and '\\'. Bytes of
// 0x80 and above are false so that they take the UTF-8 path.
var safe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendString appends s as a JSON string, byte for byte as encoding/json
// writes it with SetEscapeHTML(false): quotes, backslashes and control
// characters are escaped (\b \f \n \r \t by name, the rest as \u00XX),
// U+2028 and U+2029 are escaped because they end lines in JavaScript, and
// each byte of invalid UTF-8 becomes \ufffd, so any Go string gives valid
// JSON. <, > and & are not escaped: Mesos and Marathon do not, and label
// values are often URLs.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendFloat appends f as encoding/json writes a float64: the shortest
// representation that reads back as the same value, in exponent form only
// below 1e-6 or from 1e21 in magnitude (Mesos timestamps such as
// 1471134069.16307 come out digit for digit). NaN and ±Inf have no JSON
// form: for them it returns b unchanged and ErrNonFinite.
func AppendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, ErrNonFinite
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 → 1e-7, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}
