package httpproxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/signpost-dns/signpost/internal/lb/routes"
)

// Client connection states, for draining: Close cuts only idle ones.
const (
	connIdle int32 = iota
	connActive
	connClosed
)

// clientConn is one accepted connection and everything reused across its
// requests.
type clientConn struct {
	p  *Proxy
	nc net.Conn // a *tls.Conn on TLS listeners
	// raw is the accepted connection. Other goroutines (Close, service
	// retirement) cut the client through it: closing a tls.Conn would try
	// to send close_notify, which can block.
	raw   net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	kind  frontendKind
	svc   *svcFrontend // frontService only
	tls   bool
	sni   string // TLS server name, lower-case
	ip    netip.Addr
	ipStr string // X-Forwarded-For value
	port  string // X-Forwarded-Port value: the port the client connected to
	state atomic.Int32

	upMu sync.Mutex
	upNC net.Conn // the server connection in use, for Close to cut

	// avoid is a server the request in hand must not be sent to again: it
	// proved gone after the request was routed to it.
	avoid *serverState

	req  request
	resp response
}

var clientBufPool = sync.Pool{New: func() any {
	return &clientConn{br: bufio.NewReaderSize(nil, 16<<10), bw: bufio.NewWriterSize(nil, 16<<10)}
}}

func newClientConn(p *Proxy, nc net.Conn, l listener) *clientConn {
	c := clientBufPool.Get().(*clientConn)
	c.p, c.nc, c.raw, c.kind, c.svc = p, nc, nc, l.kind, l.svc
	c.tls, c.sni, c.port = false, "", ""
	c.state.Store(connIdle)
	c.ip, c.ipStr = netip.Addr{}, ""
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		c.ip = ap.Addr().Unmap()
		c.ipStr = c.ip.String()
	}
	if ap, err := netip.ParseAddrPort(nc.LocalAddr().String()); err == nil {
		c.port = strconv.Itoa(int(ap.Port()))
	}
	return c
}

// release returns a connection that was never served to the pool.
func (c *clientConn) release() {
	c.br.Reset(nil)
	c.bw.Reset(nil)
	c.p, c.nc, c.raw, c.svc = nil, nil, nil, nil
	clientBufPool.Put(c)
}

func (c *clientConn) setUp(nc net.Conn) {
	c.upMu.Lock()
	c.upNC = nc
	c.upMu.Unlock()
}

func (c *clientConn) closeUpstream() {
	c.upMu.Lock()
	if c.upNC != nil {
		c.upNC.Close()
	}
	c.upMu.Unlock()
}

// startTLS wraps the connection in TLS when its listener terminates TLS
// and runs the handshake, bounded by RequestTimeout. It reports false when
// the connection is to be closed.
func (c *clientConn) startTLS() bool {
	var cfg *tls.Config
	switch c.kind {
	case frontHTTPS:
		cfg = c.p.httpsTLS
	case frontService:
		if g := c.svc.gen.Load(); g != nil && g.tls {
			cfg = c.svc.tlsCfg
		}
	}
	if cfg == nil {
		return true
	}
	tc := tls.Server(c.nc, cfg)
	c.nc, c.tls = tc, true
	tc.SetDeadline(time.Now().Add(c.p.opts.RequestTimeout))
	if err := tc.Handshake(); err != nil {
		c.p.log.Debug("TLS handshake failed", "client", c.ipStr, "local", c.port, "err", err)
		return false
	}
	tc.SetDeadline(time.Time{})
	c.sni = strings.ToLower(strings.TrimSuffix(tc.ConnectionState().ServerName, "."))
	return true
}

func (c *clientConn) serve() {
	p := c.p
	defer func() {
		c.nc.Close()
		p.connDone(c)
		c.release()
		p.connWG.Done()
	}()
	if !c.startTLS() {
		return
	}
	c.br.Reset(c.nc)
	c.bw.Reset(c.nc)
	for {
		c.nc.SetReadDeadline(time.Now().Add(p.opts.KeepAliveTimeout))
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(p.opts.RequestTimeout))
		if err := readRequest(c.br, &c.req, p.opts.MaxHeaderBytes); err != nil {
			if errors.Is(err, errMalformed) || errors.Is(err, errTooLarge) {
				p.stats.badRequests.Add(1)
				c.req.close = true
				c.local(400, "", body400, false)
			}
			return
		}
		if !c.state.CompareAndSwap(connIdle, connActive) {
			return // Close cut us while the head arrived
		}
		keep := c.handle()
		c.state.Store(connIdle)
		if !keep || p.closing.Load() || (c.svc != nil && c.svc.retiringFlag.Load()) {
			return
		}
	}
}

// HAProxy's stock error bodies, so clients see what Marathon-LB sent.
const (
	body400 = "<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n"
	body401 = "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n"
	body403 = "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n"
	body502 = "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n"
	body503 = "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n"
	body504 = "<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n"
)

var statusText = map[int]string{
	301: "Moved Permanently", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
	502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out",
}

// local answers the request itself. The connection stays open only when
// keep is set, the client wants it and no request body is left unread.
func (c *clientConn) local(code int, extra, body string, keep bool) bool {
	keep = keep && c.req.wantsKeepAlive() && !c.req.hasBody()
	w := c.bw
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(code))
	w.WriteByte(' ')
	w.WriteString(statusText[code])
	w.WriteString("\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	w.WriteString("\r\nCache-Control: no-cache\r\n")
	if body != "" {
		w.WriteString("Content-Type: text/html\r\n")
	}
	w.WriteString(extra)
	if !keep {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	if string(c.req.b(c.req.method)) != "HEAD" {
		w.WriteString(body)
	}
	if w.Flush() != nil {
		return false
	}
	return keep
}

// unsafeString views b as a string without copying. It is used only for
// the routing look-ups, which keep none of their arguments.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (c *clientConn) handle() bool {
	start := time.Now()
	defer func() { c.avoid = nil }()
	keep, stale := c.route(start)
	if stale {
		// An Apply removed the servers of the generation this request
		// was routed with, or the server it was sent to proved gone
		// before processing it: route it again (avoiding that server).
		if keep, stale = c.route(start); stale {
			c.p.stats.noServer.Add(1)
			return c.local(503, "", body503, true)
		}
	}
	return keep
}

// route routes the request and forwards it. stale reports that nothing
// was sent because the chosen backend had no usable server and some of
// its servers were removed by an Apply meanwhile.
func (c *clientConn) route(start time.Time) (keep, stale bool) {
	p, r := c.p, &c.req
	st := p.state.Load()
	var b *routes.Backend
	var bs *backendState
	switch c.kind {
	case frontHTTP, frontHTTPS:
		host, path := r.routeHostPath()
		var authz routes.Authorizer
		if r.auth.ok() {
			if user, pass, ok := parseBasic(r.b(r.auth)); ok {
				authz = func(u *routes.Userlist) bool { return checkUserlist(c.p.verify, u, user, pass) }
			}
		}
		var d routes.Decision
		if c.kind == frontHTTP && st.t.HTTP != nil {
			d = st.t.HTTP.Route(unsafeString(host), unsafeString(path), authz)
		} else if c.kind == frontHTTPS && st.t.HTTPS != nil {
			// HAProxy routes the TLS frontend by SNI (ssl_fc_sni), not
			// by the Host header.
			d = st.t.HTTPS.Route(c.sni, unsafeString(path), authz)
		}
		switch d.Action {
		case routes.Forward:
			b = d.Backend
		case routes.RedirectHTTPS:
			p.stats.redirects.Add(1)
			return c.local(301, "Location: https://"+string(host)+string(r.targetPath())+"\r\n", "", true), false
		case routes.Challenge:
			p.stats.challenges.Add(1)
			return c.local(401, "WWW-Authenticate: Basic realm=\""+d.Realm+"\"\r\n", body401, true), false
		default:
			p.stats.noRoute.Add(1)
			return c.local(503, "", body503, true), false
		}
	case frontAppID:
		if st.t.AppID != nil && r.appID.ok() {
			b = st.t.AppID.Route(unsafeString(r.b(r.appID)))
		}
		if b == nil {
			p.stats.noRoute.Add(1)
			return c.local(503, "", body503, true), false
		}
	case frontService:
		if g := c.svc.gen.Load(); g != nil && g.bs != nil {
			bs, b = g.bs, g.bs.b
		}
	}
	if bs == nil && b != nil {
		bs = st.backends[b]
	}
	if bs == nil {
		p.stats.noRoute.Add(1)
		return c.local(503, "", body503, true), false
	}
	if !allowed(b, c.ip) {
		p.stats.forbidden.Add(1)
		return c.local(403, "", body403, true), false
	}
	if h := b.HTTP; h != nil && h.RootRedirect != nil {
		host, path := r.routeHostPath()
		if rootRedirects(h.RootRedirect, host, path) {
			p.stats.redirects.Add(1)
			return c.local(301, "Location: "+h.RootRedirect.Location+"\r\n", "", true), false
		}
	}
	return c.forward(bs, start)
}

// rootRedirects applies HAPROXY_{n}_HTTP_BACKEND_REDIR: exactly "/" on one
// of the vhost names (Host compared like a vhost rule: case-insensitive,
// port ignored).
func rootRedirects(rr *routes.RootRedirect, host, path []byte) bool {
	if len(path) != 1 || path[0] != '/' {
		return false
	}
	if i := indexByte(host, ':'); i >= 0 && host[0] != '[' {
		host = host[:i]
	}
	for _, h := range rr.Hosts {
		if len(h) == len(host) && eqFoldBytes(host, h) {
			return true
		}
	}
	return false
}

func eqFoldBytes(b []byte, s string) bool {
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// targetPath is the request target in origin form, for redirects.
func (r *request) targetPath() []byte {
	t := r.b(r.target)
	if hostInTarget(t) {
		rest := t[indexByte(t, ':')+3:]
		if i := indexAny(rest, "/?"); i >= 0 {
			return rest[i:]
		}
		return []byte("/")
	}
	return t
}

// forward sends the request to a server of bs and relays the response. It
// reports whether the client connection may serve another request.
func (c *clientConn) forward(bs *backendState, start time.Time) (keep, stale bool) {
	p, r := c.p, &c.req
	var tried uint64
	var s *serverState
	var u *upConn
	reused := false
	// A sticky client goes to the server its cookie names while that
	// server is in the table and up; else the balance algorithm decides.
	want := -1
	if bs.byCookie != nil {
		if v, ok := r.cookie(routes.StickyCookie); ok {
			if i, ok := bs.byCookie[unsafeString(v)]; ok && bs.stickyUsable(i) {
				want = i
			}
		}
	}
	h, hashed := uint32(0), false
	if bs.alg >= algSource && bs.alg != algFirst {
		h, hashed = bs.requestHash(c)
	}
	if c.avoid != nil {
		for i, ss := range bs.servers {
			if ss == c.avoid {
				markTried(&tried, i)
			}
		}
	}
	idx := -1
	// Connection failures move on to the next server; nothing has been
	// written anywhere yet, so this is always safe.
	for range p.opts.Retries + 1 {
		if want >= 0 && tried == 0 && idx < 0 {
			idx = want
			markTried(&tried, idx)
		} else if idx = bs.pick(&tried, h, hashed); idx < 0 {
			break
		}
		s = bs.servers[idx]
		if u = s.get(p.opts.IdleConnTimeout); u != nil {
			reused = true
			break
		}
		var err error
		if u, err = p.dial(s); err == nil {
			s.connects.Add(1)
			break
		}
		s.connectErrors.Add(1)
	}
	if u == nil {
		if tried == 0 && bs.anyRemoved() {
			return false, true
		}
		p.stats.noServer.Add(1)
		return c.local(503, "", body503, true), false
	}
	// The cookie is inserted unless the client already holds the one of
	// the server that serves it ("insert indirect").
	var setCookie string
	if bs.byCookie != nil && idx != want {
		setCookie = bs.rs[idx].Cookie
	}
	s.active.Add(1)
	s.requests.Add(1)
	if reused {
		s.reused.Add(1)
	}
	defer s.active.Add(-1)
	c.setUp(u.nc)
	defer c.setUp(nil)
	held := u.nc
	s.hold(held)
	defer func() { s.release(held) }()

	sentContinue := false
	if r.expect && r.hasBody() && r.minor == 1 {
		// Answer 100 ourselves so that the body flows while the server
		// connection is being written; the server's own 100 is dropped.
		c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if c.bw.Flush() != nil {
			u.discard()
			s.clientAborts.Add(1)
			return false, false
		}
		sentContinue = true
	}

	var err error
	var body chan bodyResult
	for {
		c.resp.raw = c.resp.raw[:0]
		body = nil
		err = c.writeHead(u, bs)
		if err == nil && r.hasBody() {
			// The body is sent concurrently with reading the response:
			// a server may answer (or echo) before it has read the whole
			// body, and a sequential proxy would deadlock with it.
			body = make(chan bodyResult, 1)
			go c.sendBody(u, body)
		}
		if err == nil {
			u.nc.SetReadDeadline(time.Now().Add(p.opts.ServerTimeout))
			err = c.readResponseHead(u, sentContinue)
		}
		if err == nil {
			break
		}
		u.nc.Close() // stops the body sender, if any
		if body != nil {
			if res := <-body; res.clientSide {
				u.discard()
				s.clientAborts.Add(1)
				if errors.Is(res.err, errMalformed) {
					c.local(400, "", body400, false)
				}
				return false, false
			}
		}
		u.discard()
		// A pooled connection the server closed while it sat idle fails
		// on first use. The request is sent again on a fresh connection
		// only when it has no body and is idempotent, so a server that
		// did process it cannot be harmed by seeing it twice. (Requests
		// with a body are never sent twice.)
		if reused && r.idempotent() && len(c.resp.raw) == 0 && !isTimeout(err) {
			reused = false
			if u, err = p.dial(s); err == nil {
				s.connects.Add(1)
				c.setUp(u.nc)
				s.release(held)
				held = u.nc
				s.hold(held)
				continue
			}
			s.connectErrors.Add(1)
			// The server is gone (a task killed before its removal
			// reached us) and nothing was processed: as after any
			// failed connect, try another server (HAProxy's redispatch).
			c.avoid = s
			return false, true
		}
		s.serverErrors.Add(1)
		if isTimeout(err) {
			return c.local(504, "", body504, false), false
		}
		return c.local(502, "", body502, false), false
	}

	rs := &c.resp
	if rs.status == 101 {
		if body != nil { // an upgrade with a body: not supported
			u.nc.Close()
			<-body
			u.discard()
			return false, false
		}
		return c.tunnel(u, s, start), false
	}
	keepClient := r.wantsKeepAlive() && !rs.close && !rs.tillEOF && !p.closing.Load()
	keepServer := r.wantsKeepAlive() && !rs.close && !rs.tillEOF && rs.minor == 1
	w := c.bw
	if (bs.b.HTTP == nil || bs.b.HTTP.RevProxyPath == "" || !rs.location.ok()) && (bs.byCookie == nil || len(rs.setCookies) == 0) {
		w.Write(rs.raw[:rs.hdrEnd])
	} else {
		writeEditedResponseHead(w, rs, bs)
	}
	if bs.b.HTTP != nil && bs.b.HTTP.HSTS {
		w.WriteString("Strict-Transport-Security: max-age=15768000\r\n")
	}
	if setCookie != "" {
		w.WriteString("Set-Cookie: " + routes.StickyCookie + "=")
		w.WriteString(setCookie)
		w.WriteString("; path=/\r\nCache-Control: private\r\n")
	}
	if keepClient && r.minor == 0 && !rs.keepTok {
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.Write(rs.raw[rs.hdrEnd:])
	var rerr, werr error
	switch {
	case rs.chunked:
		rerr, werr = copyChunked(w, u.br, u.nc, p.opts.ServerTimeout)
	case rs.clen > 0:
		rerr, werr = copyN(w, u.br, u.nc, p.opts.ServerTimeout, rs.clen)
	case rs.tillEOF:
		rerr, werr = copyN(w, u.br, u.nc, p.opts.ServerTimeout, -1)
	}
	if werr == nil && rerr == nil {
		werr = w.Flush()
	}
	s.status[min(rs.status/100, 5)].Add(1)
	if body != nil {
		if rerr != nil || werr != nil {
			u.nc.Close()
		}
		if res, finished := awaitBody(body, u); !finished || res.err != nil {
			// The server answered without taking the whole body: neither
			// connection is at a message boundary any more.
			keepClient, keepServer = false, false
		}
	}
	if rerr != nil || werr != nil {
		u.discard()
		if rerr != nil {
			s.serverErrors.Add(1)
		} else {
			s.clientAborts.Add(1)
		}
		return false, false
	}
	s.latencySum.Add(int64(time.Since(start)))
	s.latencyCount.Add(1)
	if keepServer && u.br.Buffered() == 0 {
		c.setUp(nil)
		s.put(u)
	} else {
		u.discard()
	}
	return keepClient, false
}

type bodyResult struct {
	clientSide bool
	err        error
}

// awaitBody waits for the body sender after the response is complete. A
// sender still busy shortly after is stopped by closing the server
// connection; finished is then false.
func awaitBody(ch chan bodyResult, u *upConn) (res bodyResult, finished bool) {
	select {
	case res = <-ch:
		return res, true
	default:
	}
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case res = <-ch:
		return res, true
	case <-t.C:
	}
	u.nc.Close()
	return <-ch, false
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// writeHead writes the request head with the X-Forwarded-* headers set the
// way Marathon-LB's HAProxy sets them ("option forwardfor" appends a new
// X-Forwarded-For line; X-Forwarded-Port is replaced by the port the client
// connected to; "X-Forwarded-Proto: https" is added on TLS connections, so
// on plain frontends a client's own value passes through), and the edits
// of the backend's options: PROXYPASS strips the path prefix and sets
// Host, a sticky backend removes its cookie. Every other header byte is
// forwarded as received. Without a body the head is flushed at once.
func (c *clientConn) writeHead(u *upConn, bs *backendState) error {
	r, w := &c.req, u.bw
	ho := bs.b.HTTP
	if (ho == nil || (ho.ProxyPassPath == "" && ho.ProxyPassHost == "")) && (bs.byCookie == nil || len(r.cookies) == 0) {
		// The common case: no edits.
		pos := 0
		for _, sk := range r.skip {
			w.Write(r.raw[pos:sk.s])
			pos = int(sk.e)
		}
		w.Write(r.raw[pos:r.hdrEnd])
	} else {
		c.writeEditedHead(w, bs)
	}
	w.WriteString("X-Forwarded-For: ")
	w.WriteString(c.ipStr)
	w.WriteString("\r\nX-Forwarded-Port: ")
	w.WriteString(c.port)
	if c.tls {
		w.WriteString("\r\nX-Forwarded-Proto: https")
	}
	_, err := w.WriteString("\r\n\r\n")
	if err == nil && !r.hasBody() {
		err = w.Flush()
	}
	return err
}

// sendBody streams the request body (Content-Length or chunked, verbatim)
// and reports on ch. A failure closes the server connection so that the
// response reader stops too.
func (c *clientConn) sendBody(u *upConn, ch chan<- bodyResult) {
	r, w := &c.req, u.bw
	var rerr, werr error
	if r.chunked {
		rerr, werr = copyChunked(w, c.br, c.nc, c.p.opts.ClientTimeout)
	} else {
		rerr, werr = copyN(w, c.br, c.nc, c.p.opts.ClientTimeout, r.clen)
	}
	if rerr == nil && werr == nil {
		werr = w.Flush()
	}
	if rerr != nil || werr != nil {
		u.nc.Close()
	}
	if rerr != nil {
		ch <- bodyResult{clientSide: true, err: rerr}
		return
	}
	ch <- bodyResult{err: werr}
}

// readResponseHead reads the final response head, relaying interim 1xx
// responses to HTTP/1.1 clients (except a 100 we already sent).
func (c *clientConn) readResponseHead(u *upConn, sentContinue bool) error {
	r, rs := &c.req, &c.resp
	head := string(r.b(r.method)) == "HEAD"
	for {
		if err := readResponse(u.br, rs, head, c.p.opts.MaxHeaderBytes); err != nil {
			return err
		}
		if rs.status >= 200 || (rs.status == 101 && r.upgrade) {
			return nil
		}
		if rs.status == 101 {
			return errMalformed // switching protocols nobody asked for
		}
		if r.minor == 1 && !(rs.status == 100 && sentContinue) {
			c.bw.Write(rs.raw)
			if err := c.bw.Flush(); err != nil {
				return err
			}
		}
	}
}

// tunnel relays an upgraded connection (WebSocket and the like) raw in both
// directions until either side closes or TunnelTimeout of silence.
func (c *clientConn) tunnel(u *upConn, s *serverState, start time.Time) bool {
	c.bw.Write(c.resp.raw)
	if err := c.bw.Flush(); err != nil {
		u.discard()
		return false
	}
	s.status[1].Add(1)
	s.latencySum.Add(int64(time.Since(start)))
	s.latencyCount.Add(1)
	to := c.p.opts.TunnelTimeout
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(u.nc, idleReader{c.br, c.nc, to})
		closeWrite(u.nc)
	}()
	io.Copy(c.nc, idleReader{u.br, u.nc, to})
	closeWrite(c.nc)
	<-done
	u.discard()
	return false
}

func closeWrite(nc net.Conn) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	nc.Close()
}

// idleReader moves the read deadline before every read, making the tunnel
// timeout one of inactivity.
type idleReader struct {
	r  io.Reader
	nc net.Conn
	d  time.Duration
}

func (i idleReader) Read(b []byte) (int, error) {
	i.nc.SetReadDeadline(time.Now().Add(i.d))
	return i.r.Read(b)
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func indexAny(b []byte, chars string) int {
	for i := range b {
		for j := range len(chars) {
			if b[i] == chars[j] {
				return i
			}
		}
	}
	return -1
}
