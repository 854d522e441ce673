package mesosstate

import (
	"fmt"
	"unicode/utf8"
)

// The decoder is a hand-written pull parser rather than encoding/json for
// three reasons: it knows where it is (so a type error can name
// "statuses[0].timestamp" with the index, which json.UnmarshalTypeError
// cannot), it can step over one malformed agent, framework or task and keep
// going, and it decodes a 100,000-task state without reflection.
//
// The scanner below is the syntax layer. It validates everything it reads,
// including values it skips, so a document it accepts is valid JSON. A syntax
// error is sticky: the first one is kept in err, the read position jumps to
// the end and every later call returns a zero value, so callers may run to
// completion without checking after each step and no loop can spin.

// maxDepth bounds nesting so that hostile input ("[[[[…") cannot exhaust the
// goroutine stack; encoding/json uses the same limit.
const maxDepth = 10000

// kind is the JSON type of the next value.
type kind uint8

const (
	kindEOF kind = iota
	kindInvalid
	kindObject
	kindArray
	kindString
	kindNumber
	kindBool
	kindNull
)

// String names the kind as the error messages do ("expected number, got string").
func (k kind) String() string {
	switch k {
	case kindObject:
		return "object"
	case kindArray:
		return "array"
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindBool:
		return "boolean"
	case kindNull:
		return "null"
	case kindEOF:
		return "end of input"
	}
	return "invalid character"
}

type scanner struct {
	data  []byte
	pos   int
	err   error
	depth int
	// buf holds the decoded form of a string that had escapes or invalid
	// UTF-8; readString returns a slice of it, valid until the next read.
	buf []byte
}

func (s *scanner) fail(msg string) {
	if s.err == nil {
		s.err = &SyntaxError{Offset: s.pos, Msg: msg}
	}
	s.pos = len(s.data)
}

func (s *scanner) failEOF() { s.fail("unexpected end of JSON input") }

func (s *scanner) failChar(context string) {
	if s.pos >= len(s.data) {
		s.failEOF()
		return
	}
	s.fail(fmt.Sprintf("invalid character %q %s", s.data[s.pos], context))
}

func (s *scanner) skipWS() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek skips white space and reports the kind of the next value without
// consuming it.
func (s *scanner) peek() kind {
	if s.err != nil {
		return kindEOF
	}
	s.skipWS()
	if s.pos >= len(s.data) {
		return kindEOF
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return kindObject
	case c == '[':
		return kindArray
	case c == '"':
		return kindString
	case c == 't' || c == 'f':
		return kindBool
	case c == 'n':
		return kindNull
	case c == '-' || (c >= '0' && c <= '9'):
		return kindNumber
	}
	return kindInvalid
}

// skipValue consumes and validates one value of any kind.
func (s *scanner) skipValue() {
	switch s.peek() {
	case kindObject:
		s.beginObject()
		for first := true; ; {
			if _, ok := s.nextMember(&first); !ok {
				break
			}
			s.skipValue()
		}
	case kindArray:
		s.beginArray()
		for first := true; s.nextElem(&first); {
			s.skipValue()
		}
	case kindString:
		s.readString()
	case kindNumber:
		s.readNumber()
	case kindBool:
		s.readBool()
	case kindNull:
		s.readNull()
	case kindEOF:
		if s.err == nil {
			s.failEOF()
		}
	default:
		s.failChar("looking for beginning of value")
	}
}

// beginObject consumes '{'; peek must have returned kindObject.
func (s *scanner) beginObject() {
	s.pos++
	s.depth++
	if s.depth > maxDepth {
		s.fail("exceeded max nesting depth")
	}
}

// nextMember advances to the next member of the object begun with
// beginObject and consumes its key and colon. It returns false (having
// consumed '}') at the end of the object or on a syntax error. first must
// start true and is owned by the loop.
func (s *scanner) nextMember(first *bool) ([]byte, bool) {
	if s.err != nil {
		return nil, false
	}
	s.skipWS()
	if s.pos >= len(s.data) {
		s.failEOF()
		return nil, false
	}
	c := s.data[s.pos]
	if c == '}' {
		// "{}", or the end after a member; "{…,}" is caught below.
		s.pos++
		s.depth--
		return nil, false
	}
	if !*first {
		if c != ',' {
			s.failChar("after object member value")
			return nil, false
		}
		s.pos++
		s.skipWS()
		if s.pos >= len(s.data) {
			s.failEOF()
			return nil, false
		}
		c = s.data[s.pos]
	}
	*first = false
	if c != '"' {
		s.failChar("looking for beginning of object key string")
		return nil, false
	}
	key := s.readString()
	if s.err != nil {
		return nil, false
	}
	s.skipWS()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		s.failChar("after object key")
		return nil, false
	}
	s.pos++
	return key, true
}

// beginArray consumes '['; peek must have returned kindArray.
func (s *scanner) beginArray() {
	s.pos++
	s.depth++
	if s.depth > maxDepth {
		s.fail("exceeded max nesting depth")
	}
}

// nextElem advances to the next element of the array begun with beginArray.
// It returns false (having consumed ']') at the end or on a syntax error.
func (s *scanner) nextElem(first *bool) bool {
	if s.err != nil {
		return false
	}
	s.skipWS()
	if s.pos >= len(s.data) {
		s.failEOF()
		return false
	}
	c := s.data[s.pos]
	if *first {
		*first = false
		if c == ']' {
			s.pos++
			s.depth--
			return false
		}
		return true
	}
	switch c {
	case ']':
		s.pos++
		s.depth--
		return false
	case ',':
		s.pos++
		return true
	}
	s.failChar("after array element")
	return false
}

// readString consumes a string literal (peek returned kindString) and returns
// its decoded bytes: a slice of the input when the literal has no escapes and
// is ASCII, otherwise a slice of s.buf. Invalid UTF-8 and lone surrogates
// become U+FFFD, as encoding/json does, so that every decoded string is valid
// UTF-8 and survives an Encode unchanged.
func (s *scanner) readString() []byte {
	start := s.pos + 1
	for i := start; i < len(s.data); i++ {
		c := s.data[i]
		if c == '"' {
			s.pos = i + 1
			return s.data[start:i]
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return s.readStringSlow(start, i)
		}
	}
	s.pos = len(s.data)
	s.failEOF()
	return nil
}

func (s *scanner) readStringSlow(start, i int) []byte {
	b := append(s.buf[:0], s.data[start:i]...)
	for {
		if i >= len(s.data) {
			s.pos = i
			s.failEOF()
			return nil
		}
		c := s.data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			s.buf = b
			return b
		case c < 0x20:
			s.pos = i
			s.failChar("in string literal")
			return nil
		case c == '\\':
			if i+1 >= len(s.data) {
				s.pos = i + 1
				s.failEOF()
				return nil
			}
			switch e := s.data[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
				i += 2
			case 'b':
				b = append(b, '\b')
				i += 2
			case 'f':
				b = append(b, '\f')
				i += 2
			case 'n':
				b = append(b, '\n')
				i += 2
			case 'r':
				b = append(b, '\r')
				i += 2
			case 't':
				b = append(b, '\t')
				i += 2
			case 'u':
				r, ok := hex4(s.data, i+2)
				if !ok {
					s.pos = i
					s.fail("invalid \\u escape in string literal")
					return nil
				}
				i += 6
				if r >= 0xD800 && r < 0xDC00 {
					// A high surrogate must be followed by an escaped low one.
					if i+1 < len(s.data) && s.data[i] == '\\' && s.data[i+1] == 'u' {
						if r2, ok := hex4(s.data, i+2); ok && r2 >= 0xDC00 && r2 < 0xE000 {
							r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
							i += 6
						} else {
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				} else if r >= 0xDC00 && r < 0xE000 {
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				s.pos = i
				s.fail(fmt.Sprintf("invalid escape \\%c in string literal", e))
				return nil
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(s.data[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, s.data[i:i+size]...)
			}
			i += size
		}
	}
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// readNumber consumes a number literal (peek returned kindNumber), checks it
// against the JSON grammar and returns it.
func (s *scanner) readNumber() []byte {
	d := s.data
	start := s.pos
	i := start
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		s.pos = i
		s.failEOF()
		return nil
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		s.failChar("in numeric literal")
		return nil
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			s.pos = i
			s.failChar("after decimal point in numeric literal")
			return nil
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			s.pos = i
			s.failChar("in exponent of numeric literal")
			return nil
		}
	}
	s.pos = i
	return d[start:i]
}

func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.pos >= len(lit) && string(s.data[s.pos:s.pos+len(lit)]) == lit {
		s.pos += len(lit)
		return true
	}
	// Point at the first byte that differs.
	for i := 0; i < len(lit); i++ {
		if s.pos >= len(s.data) || s.data[s.pos] != lit[i] {
			break
		}
		s.pos++
	}
	s.failChar("in literal " + lit)
	return false
}

// readBool consumes true or false (peek returned kindBool).
func (s *scanner) readBool() bool {
	if s.data[s.pos] == 't' {
		return s.literal("true")
	}
	s.literal("false")
	return false
}

// readNull consumes null (peek returned kindNull).
func (s *scanner) readNull() { s.literal("null") }
