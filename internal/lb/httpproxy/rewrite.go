package httpproxy

import (
	"bufio"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// This file holds the request and response edits of backend options:
// PROXYPASS (path prefix and Host), REVPROXY (Location) and the sticky
// cookie. They run only for backends that have those options, off the
// common path of writeHead.

// writeEditedHead writes the request line and headers with the backend's
// edits (without the X-Forwarded-* lines and the final blank line).
func (c *clientConn) writeEditedHead(w *bufio.Writer, bs *backendState) {
	r := &c.req
	ho := bs.b.HTTP
	var buf [8]span
	skips := append(buf[:0], r.skip...)
	setHost := ho != nil && ho.ProxyPassHost != ""
	if setHost && r.hostLine.ok() {
		skips = append(skips, r.hostLine)
	}
	var stripped [4]span
	strip := stripped[:0]
	if bs.byCookie != nil {
		for _, cl := range r.cookies {
			if _, ok := cookieIn(r.b(cl.value), routes.StickyCookie); ok {
				skips = append(skips, cl.line)
				strip = append(strip, cl.value)
			}
		}
	}
	// A handful of spans: insertion sort keeps them in head order.
	for i := 1; i < len(skips); i++ {
		for j := i; j > 0 && skips[j].s < skips[j-1].s; j-- {
			skips[j], skips[j-1] = skips[j-1], skips[j]
		}
	}
	pos := 0
	if ho != nil && ho.ProxyPassPath != "" {
		if rest, ok := proxyPassRest(r.b(r.target), ho.ProxyPassPath); ok {
			w.Write(r.raw[:r.target.s])
			w.WriteByte('/')
			w.Write(rest)
			pos = int(r.target.e)
		}
	}
	for _, sk := range skips {
		w.Write(r.raw[pos:sk.s])
		pos = int(sk.e)
	}
	w.Write(r.raw[pos:r.hdrEnd])
	if setHost {
		w.WriteString("Host: ")
		w.WriteString(ho.ProxyPassHost)
		w.WriteString("\r\n")
	}
	for _, v := range strip {
		writeCookieWithout(w, r.b(v), routes.StickyCookie)
	}
}

// writeEditedResponseHead writes the response status line and headers
// with the backend's edits (without the final blank line): REVPROXY
// replaces a matching Location, and a sticky backend drops the server's
// own Set-Cookie of its cookie ("indirect": the server never sees nor
// sets the persistence cookie).
func writeEditedResponseHead(w *bufio.Writer, rs *response, bs *backendState) {
	var buf [4]span
	skips := buf[:0]
	ho := bs.b.HTTP
	relocate := ho != nil && ho.RevProxyPath != "" && rs.location.ok() &&
		revProxyMatches(rs.raw[rs.locValue.s:rs.locValue.e], ho.RevProxyHost)
	if relocate {
		skips = append(skips, rs.location)
	}
	if bs.byCookie != nil {
		for _, sc := range rs.setCookies {
			v := rs.raw[sc.value.s:sc.value.e]
			if n, _, _ := nextCookie(v); string(n) == routes.StickyCookie {
				skips = append(skips, sc.line)
			}
		}
	}
	for i := 1; i < len(skips); i++ {
		for j := i; j > 0 && skips[j].s < skips[j-1].s; j-- {
			skips[j], skips[j-1] = skips[j-1], skips[j]
		}
	}
	pos := 0
	for _, sk := range skips {
		w.Write(rs.raw[pos:sk.s])
		pos = int(sk.e)
	}
	w.Write(rs.raw[pos:rs.hdrEnd])
	if relocate {
		w.WriteString("Location: ")
		w.WriteString(ho.RevProxyPath)
		w.WriteString("\r\n")
	}
}

// proxyPassRest applies HAPROXY_{n}_HTTP_BACKEND_PROXYPASS_PATH as
// Marathon-LB's reqirep "^([^ :]*)\ {path}/?(.*)" → "\1\ /\2" does: when
// the origin-form target begins with path (ignoring case), the path and
// one optional "/" after it are removed and the rest follows a "/"
// ("/pp/x" → "/x", "/pp" → "/", and, as the regular expression has it,
// "/ppx" → "/x"). rest is what follows the new leading "/".
func proxyPassRest(target []byte, path string) (rest []byte, ok bool) {
	if len(target) < len(path) || !eqFoldBytes(target[:len(path)], path) {
		return nil, false
	}
	rest = target[len(path):]
	if len(rest) > 0 && rest[0] == '/' {
		rest = rest[1:]
	}
	return rest, true
}

// revProxyMatches reports whether a Location value is rewritten by
// HAPROXY_{n}_HTTP_BACKEND_REVPROXY_PATH, i.e. matches Marathon-LB's
// case-insensitive "^(https?://{host}(:[0-9]+)?)?(/.*)": a path, or an
// absolute http(s) URL on host (any port) with a path.
func revProxyMatches(v []byte, host string) bool {
	if len(v) > 0 && v[0] == '/' {
		return true
	}
	switch {
	case len(v) >= 7 && eqFold(v[:7], "http://"):
		v = v[7:]
	case len(v) >= 8 && eqFold(v[:8], "https://"):
		v = v[8:]
	default:
		return false
	}
	if host == "" || len(v) < len(host) || !eqFoldBytes(v[:len(host)], host) {
		return false
	}
	v = v[len(host):]
	if len(v) > 0 && v[0] == ':' {
		n := 1
		for n < len(v) && '0' <= v[n] && v[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		v = v[n:]
	}
	return len(v) > 0 && v[0] == '/'
}

// cookie returns the value of the first cookie called name in the
// request's Cookie headers.
func (r *request) cookie(name string) ([]byte, bool) {
	for _, cl := range r.cookies {
		if v, ok := cookieIn(r.b(cl.value), name); ok {
			return v, true
		}
	}
	return nil, false
}

// nextCookie splits the first "name=value" pair off a Cookie header value.
func nextCookie(h []byte) (name, value, rest []byte) {
	end := indexByte(h, ';')
	pair := h
	if end >= 0 {
		pair, rest = h[:end], h[end+1:]
	}
	pair = trimOWS(pair)
	if eq := indexByte(pair, '='); eq >= 0 {
		return trimOWS(pair[:eq]), trimOWS(pair[eq+1:]), rest
	}
	return pair, nil, rest
}

func cookieIn(h []byte, name string) ([]byte, bool) {
	for len(h) > 0 {
		var n, v []byte
		n, v, h = nextCookie(h)
		if string(n) == name {
			return v, true
		}
	}
	return nil, false
}

// writeCookieWithout writes a Cookie header with every pair of h except
// those called name, or nothing when none is left (HAProxy removes the
// persistence cookie from requests in insert mode).
func writeCookieWithout(w *bufio.Writer, h []byte, name string) {
	first := true
	for len(h) > 0 {
		start := h
		var n []byte
		n, _, h = nextCookie(h)
		if len(n) == 0 || string(n) == name {
			continue
		}
		pair := start[:len(start)-len(h)]
		if len(h) > 0 || (len(pair) > 0 && pair[len(pair)-1] == ';') {
			pair = pair[:len(pair)-1] // the ';' separator
		}
		if first {
			w.WriteString("Cookie: ")
			first = false
		} else {
			w.WriteString("; ")
		}
		w.Write(trimOWS(pair))
	}
	if !first {
		w.WriteString("\r\n")
	}
}
