package httpproxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"time"
)

// errMalformed marks a request or response that is not acceptable HTTP/1.x;
// a request gets 400, a response 502.
var errMalformed = errors.New("httpproxy: malformed HTTP message")

// errTooLarge marks a head over MaxHeaderBytes.
var errTooLarge = errors.New("httpproxy: message head too large")

// span is a [start,end) range of a message's raw head.
type span struct{ s, e int32 }

func (s span) ok() bool { return s.e > s.s }

// request is the parsed head of one client request. It lives in its
// clientConn and is reset, not reallocated, for every request: raw keeps its
// capacity, and everything else is offsets into raw.
type request struct {
	raw      []byte // request line and header lines exactly as received
	hdrEnd   int    // offset of the blank line ending the head
	method   span
	target   span
	minor    byte // HTTP/1.<minor>
	host     span
	hostLine span // the whole Host line, for a backend that replaces Host
	appID    span
	auth     span
	skip     []span // header lines not forwarded (X-Forwarded-Port, which is set)
	// cookies are the Cookie header lines (whole line, value), which a
	// sticky backend rewrites to remove its own cookie.
	cookies  []cookieLine
	clen     int64 // -1 when absent
	chunked  bool
	close    bool // "Connection: close"
	keepTok  bool // "Connection: keep-alive"
	upgrade  bool // "Connection: upgrade" with an Upgrade header
	upHeader bool
	expect   bool // "Expect: 100-continue"
}

type cookieLine struct{ line, value span }

func (r *request) reset() {
	*r = request{raw: r.raw[:0], skip: r.skip[:0], cookies: r.cookies[:0], clen: -1}
}

func (r *request) str(s span) string { return string(r.raw[s.s:s.e]) }
func (r *request) b(s span) []byte   { return r.raw[s.s:s.e] }
func (r *request) hasBody() bool     { return r.chunked || r.clen > 0 }
func (r *request) wantsKeepAlive() bool {
	if r.minor == 0 {
		return r.keepTok && !r.close
	}
	return !r.close
}

// idempotent reports whether a request may be sent again on a fresh
// connection after a pooled one turned out to be dead (RFC 9110 9.2.2).
func (r *request) idempotent() bool {
	switch string(r.b(r.method)) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return !r.hasBody()
	}
	return false
}

// response is the parsed head of one server response, reused like request.
type response struct {
	raw     []byte
	hdrEnd  int
	minor   byte
	status  int
	clen    int64
	chunked bool
	close   bool
	keepTok bool
	// tillEOF: the body is delimited by the end of the connection.
	tillEOF bool
	// location is the Location header line (whole line) and its value,
	// for RevProxy rewriting.
	location, locValue span
	// setCookies are the Set-Cookie lines (whole line, value): a sticky
	// backend removes those that set its own cookie.
	setCookies []cookieLine
}

// readLine appends one line (up to and including '\n') to buf, refusing to
// let buf grow beyond limit.
func readLine(br *bufio.Reader, buf []byte, limit int) ([]byte, error) {
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > limit {
			return buf, errTooLarge
		}
		buf = append(buf, frag...)
		if err == nil {
			return buf, nil
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

func trimOWS(b []byte) []byte { return bytes.Trim(b, " \t") }

// tokenChars is the tchar set of RFC 9110 5.6.2, as a table because header
// names are checked on every request.
var tokenChars = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c)
	}
	return
}()

func isTokenChar(c byte) bool { return tokenChars[c] }

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTokenChar(c) {
			return false
		}
	}
	return true
}

// eqFold compares b with a lower-case ASCII string ignoring case.
func eqFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// connTokens reports which of close, keep-alive and upgrade a Connection
// header value lists.
func connTokens(v []byte) (closeTok, keep, upgrade bool) {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		t = trimOWS(t)
		switch {
		case eqFold(t, "close"):
			closeTok = true
		case eqFold(t, "keep-alive"):
			keep = true
		case eqFold(t, "upgrade"):
			upgrade = true
		}
	}
	return
}

// parseLength parses a Content-Length value; -2 means invalid.
func parseLength(v []byte) int64 {
	if len(v) == 0 || len(v) > 18 {
		return -2
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return -2
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// parseVersion accepts exactly HTTP/1.0 and HTTP/1.1.
func parseVersion(v []byte) (byte, bool) {
	if len(v) != 8 || string(v[:7]) != "HTTP/1." || (v[7] != '0' && v[7] != '1') {
		return 0, false
	}
	return v[7] - '0', true
}

// header splits a header line into trimmed name and value, rejecting
// obsolete line folding and whitespace before the colon (both are request
// smuggling vectors, RFC 9112 5.1 and 5.2).
func header(line []byte) (name, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 || !isToken(line[:i]) {
		return nil, nil, false
	}
	value = trimOWS(line[i+1:])
	// A CR or NUL inside a value could be used to inject headers into
	// what we write (redirect Location) or to confuse a server.
	if bytes.IndexByte(value, '\r') >= 0 || bytes.IndexByte(value, 0) >= 0 {
		return nil, nil, false
	}
	return line[:i], value, true
}

// readRequest reads and parses one request head. It returns errMalformed or
// errTooLarge for bad requests (the caller answers 400) and I/O errors as is.
func readRequest(br *bufio.Reader, r *request, limit int) error {
	r.reset()
	var err error
	// RFC 9112 2.2: ignore at least one empty line before a request line.
	for {
		start := len(r.raw)
		if r.raw, err = readLine(br, r.raw, limit); err != nil {
			return err
		}
		if len(trimEOL(r.raw[start:])) > 0 {
			break
		}
		r.raw = r.raw[:0]
	}
	line := trimEOL(r.raw)
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 || !isToken(line[:sp1]) {
		return errMalformed
	}
	target := line[sp1+1 : sp2]
	if bytes.ContainsAny(target, " \t\x00") {
		return errMalformed
	}
	var ok bool
	if r.minor, ok = parseVersion(line[sp2+1:]); !ok {
		return errMalformed
	}
	hosts := 0
	r.method = span{0, int32(sp1)}
	r.target = span{int32(sp1 + 1), int32(sp2)}
	for {
		start := len(r.raw)
		if r.raw, err = readLine(br, r.raw, limit); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		l := trimEOL(r.raw[start:])
		if len(l) == 0 {
			r.hdrEnd = start
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			return errMalformed
		}
		name, value, ok := header(l)
		if !ok {
			return errMalformed
		}
		var vs span // value's offset in raw: value is a subslice of it
		if len(value) > 0 {
			vs.s = int32(cap(r.raw) - cap(value))
			vs.e = vs.s + int32(len(value))
		}
		switch len(name) {
		case 4:
			if eqFold(name, "host") {
				if hosts++; hosts > 1 {
					return errMalformed // RFC 9112 3.2
				}
				r.host = vs
				r.hostLine = span{int32(start), int32(len(r.raw))}
			}
		case 6:
			if eqFold(name, "cookie") {
				r.cookies = append(r.cookies, cookieLine{line: span{int32(start), int32(len(r.raw))}, value: vs})
			} else if eqFold(name, "expect") && eqFold(value, "100-continue") {
				r.expect = true
			}
		case 7:
			if eqFold(name, "upgrade") {
				r.upHeader = true
			}
		case 10:
			if eqFold(name, "connection") {
				c, k, u := connTokens(value)
				r.close = r.close || c
				r.keepTok = r.keepTok || k
				r.upgrade = r.upgrade || u
			}
		case 13:
			if eqFold(name, "authorization") {
				r.auth = vs
			}
		case 14:
			if eqFold(name, "content-length") {
				n := parseLength(value)
				if n < 0 || (r.clen >= 0 && r.clen != n) {
					return errMalformed
				}
				r.clen = n
			}
		case 16:
			if eqFold(name, "x-forwarded-port") {
				r.skip = append(r.skip, span{int32(start), int32(len(r.raw))})
			}
		case 17:
			if eqFold(name, "transfer-encoding") {
				// Only "chunked" alone is accepted: any other coding
				// cannot be delimited, and a list invites smuggling.
				if !eqFold(value, "chunked") || r.chunked {
					return errMalformed
				}
				r.chunked = true
			} else if eqFold(name, "x-marathon-app-id") {
				r.appID = vs
			}
		}
	}
	// A message with both framings is refused rather than guessed at
	// (RFC 9112 6.3 allows either; refusing closes the smuggling gap).
	if r.chunked && r.clen >= 0 {
		return errMalformed
	}
	r.upgrade = r.upgrade && r.upHeader
	return nil
}

func hostInTarget(t []byte) bool {
	return bytes.HasPrefix(t, []byte("http://")) || bytes.HasPrefix(t, []byte("https://"))
}

// routeHostPath returns the Host used for routing and the request path
// without query. An absolute-form target names both (RFC 9112 3.2.2).
func (r *request) routeHostPath() (host, path []byte) {
	host = r.b(r.host)
	t := r.b(r.target)
	if hostInTarget(t) {
		rest := t[bytes.IndexByte(t, ':')+3:]
		i := bytes.IndexAny(rest, "/?")
		if i < 0 {
			i = len(rest)
		}
		if len(host) == 0 {
			host = rest[:i]
		}
		t = rest[i:]
		if len(t) == 0 || t[0] == '?' {
			t = append([]byte("/"), t...)
		}
	}
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	return host, t
}

// readResponse reads and parses one response head to a request with the
// given method being HEAD or not.
func readResponse(br *bufio.Reader, r *response, head bool, limit int) error {
	*r = response{raw: r.raw[:0], setCookies: r.setCookies[:0], clen: -1}
	var err error
	if r.raw, err = readLine(br, r.raw, limit); err != nil {
		return err
	}
	line := trimEOL(r.raw)
	if len(line) < 12 || line[8] != ' ' {
		return errMalformed
	}
	var ok bool
	if r.minor, ok = parseVersion(line[:8]); !ok {
		return errMalformed
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return errMalformed
		}
		r.status = r.status*10 + int(c-'0')
	}
	if len(line) > 12 && line[12] != ' ' {
		return errMalformed
	}
	for {
		start := len(r.raw)
		if r.raw, err = readLine(br, r.raw, limit); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		l := trimEOL(r.raw[start:])
		if len(l) == 0 {
			r.hdrEnd = start
			break
		}
		name, value, ok := header(l)
		if !ok {
			return errMalformed
		}
		switch {
		case len(name) == 8 && eqFold(name, "location"):
			r.location = span{int32(start), int32(len(r.raw))}
			if len(value) > 0 {
				r.locValue.s = int32(cap(r.raw) - cap(value))
				r.locValue.e = r.locValue.s + int32(len(value))
			}
		case len(name) == 10 && eqFold(name, "connection"):
			c, k, _ := connTokens(value)
			r.close = r.close || c
			r.keepTok = r.keepTok || k
		case len(name) == 10 && eqFold(name, "set-cookie"):
			var vs span
			if len(value) > 0 {
				vs.s = int32(cap(r.raw) - cap(value))
				vs.e = vs.s + int32(len(value))
			}
			r.setCookies = append(r.setCookies, cookieLine{line: span{int32(start), int32(len(r.raw))}, value: vs})
		case len(name) == 14 && eqFold(name, "content-length"):
			n := parseLength(value)
			if n < 0 || (r.clen >= 0 && r.clen != n) {
				return errMalformed
			}
			r.clen = n
		case len(name) == 17 && eqFold(name, "transfer-encoding"):
			if eqFold(value, "chunked") {
				r.chunked = true
			} else {
				r.tillEOF = true
			}
		}
	}
	if r.minor == 0 && !r.keepTok {
		r.close = true
	}
	switch {
	case head || r.status < 200 || r.status == 204 || r.status == 304:
		r.chunked, r.tillEOF, r.clen = false, false, 0
	case r.tillEOF:
		r.chunked, r.clen = false, -1
	case r.chunked:
		r.clen = -1
	case r.clen < 0:
		r.tillEOF = true
	}
	return nil
}

// fill makes src hold at least one byte, flushing dst first because the
// read may block and the peer may be waiting for what dst holds. The read
// deadline is moved so that timeout is one of inactivity.
func fill(dst *bufio.Writer, src *bufio.Reader, conn net.Conn, timeout time.Duration) (rerr, werr error) {
	if src.Buffered() > 0 {
		return nil, nil
	}
	if dst.Buffered() > 0 {
		if werr = dst.Flush(); werr != nil {
			return nil, werr
		}
	}
	conn.SetReadDeadline(time.Now().Add(timeout))
	_, rerr = src.Peek(1)
	return rerr, nil
}

// copyN relays n bytes (n < 0: until EOF, which is then no error) without
// copying them through an intermediate buffer.
func copyN(dst *bufio.Writer, src *bufio.Reader, conn net.Conn, timeout time.Duration, n int64) (rerr, werr error) {
	for n != 0 {
		if rerr, werr = fill(dst, src, conn, timeout); rerr != nil || werr != nil {
			if n < 0 && rerr == io.EOF {
				return nil, nil
			}
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			return
		}
		k := src.Buffered()
		if n > 0 && int64(k) > n {
			k = int(n)
		}
		b, _ := src.Peek(k)
		if _, werr = dst.Write(b); werr != nil {
			return nil, werr
		}
		src.Discard(k)
		if n > 0 {
			n -= int64(k)
		}
	}
	return nil, nil
}

// copyChunked relays a chunked body verbatim (sizes, extensions, trailers),
// parsing only as much as needed to find its end.
func copyChunked(dst *bufio.Writer, src *bufio.Reader, conn net.Conn, timeout time.Duration) (rerr, werr error) {
	line := func() ([]byte, error) {
		if rerr, werr = fill(dst, src, conn, timeout); rerr != nil || werr != nil {
			return nil, errors.Join(rerr, werr)
		}
		l, err := src.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			err = errMalformed
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return l, err
	}
	for {
		l, err := line()
		if werr != nil {
			return nil, werr
		}
		if err != nil {
			return err, nil
		}
		size, ok := chunkSize(trimEOL(l))
		if !ok {
			return errMalformed, nil
		}
		if _, werr = dst.Write(l); werr != nil {
			return nil, werr
		}
		if size == 0 {
			for { // trailer section, ended by an empty line
				l, err := line()
				if werr != nil {
					return nil, werr
				}
				if err != nil {
					return err, nil
				}
				if _, werr = dst.Write(l); werr != nil {
					return nil, werr
				}
				if len(trimEOL(l)) == 0 {
					return nil, nil
				}
			}
		}
		if rerr, werr = copyN(dst, src, conn, timeout, size); rerr != nil || werr != nil {
			return
		}
		l, err = line()
		if werr != nil {
			return nil, werr
		}
		if err != nil {
			return err, nil
		}
		if len(trimEOL(l)) != 0 {
			return errMalformed, nil
		}
		if _, werr = dst.Write(l); werr != nil {
			return nil, werr
		}
	}
}

func chunkSize(l []byte) (int64, bool) {
	if i := bytes.IndexByte(l, ';'); i >= 0 {
		l = l[:i]
	}
	l = trimOWS(l)
	if len(l) == 0 || len(l) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range l {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
