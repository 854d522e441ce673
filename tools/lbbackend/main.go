// Command lbbackend is the backend of scripts/bench-lb.sh: an HTTP/1.1
// server that answers every request with one fixed response, keeping the
// connection alive, and does as little else as it can.
//
// A proxy benchmark measures the proxy only if the backends behind it are
// not what limits the rate. On the benchmark machine the backends share a
// core with wrk, so every microsecond a backend spends per request is taken
// from the load generator and lowers every row, proxied or not. net/http
// spends several times more per request than this loop (a goroutine per
// connection is kept, but no header map, no ResponseWriter, no per-request
// allocation), and the simulator's task listeners (signpost sim -run-tasks)
// are built on net/http; hence this tool. The "direct" row of the benchmark,
// wrk against lbbackend with nothing in between, shows the ceiling it
// leaves.
//
//	lbbackend -addr 127.88.1.1:16201,127.88.1.2:16201 -body-size 16
//
// Every address of -addr gets its own listener; the body starts with the
// address that took the request ("127.88.1.1:16201\n", padded with 'x' to
// -body-size), so a test behind a load balancer can tell which backend it
// reached. The response also carries "X-Backend: <addr>".
//
// Requests are parsed only as far as a proxy's requests need: the end of
// each head ("\r\n\r\n"), a Content-Length body (skipped), and
// "Connection: close" (answered, then the connection is closed, as HAProxy's
// option http-server-close asks). Pipelined requests are answered in order,
// with one write for everything one read delivered. Chunked request bodies
// are refused (400, then close): no benchmark sends them.
//
// It prints "lbbackend: serving <addrs>" once every listener is open, and
// exits on SIGINT or SIGTERM.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

func main() {
	addrs := flag.String("addr", "127.0.0.1:16201", "comma-separated TCP addresses to serve on")
	bodySize := flag.Int("body-size", 0, "body bytes of every response (0: just the address line); at least the address line")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "lbbackend: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if *bodySize < 0 || *bodySize > 1<<20 {
		fmt.Fprintf(os.Stderr, "lbbackend: -body-size %d is outside 0-1048576\n", *bodySize)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var lns []net.Listener
	for _, a := range strings.Split(*addrs, ",") {
		ln, err := net.Listen("tcp", strings.TrimSpace(a))
		if err != nil {
			fmt.Fprintf(os.Stderr, "lbbackend: %v\n", err)
			os.Exit(1)
		}
		lns = append(lns, ln)
	}
	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(ctx, ln, newReplies(ln.Addr().String(), *bodySize))
		}()
	}
	fmt.Printf("lbbackend: serving %s\n", *addrs)
	<-ctx.Done()
	for _, ln := range lns {
		ln.Close()
	}
	wg.Wait()
}

// replies are the pre-built responses of one listener.
type replies struct {
	keep, close, bad []byte
}

func newReplies(addr string, size int) replies {
	body := addr + "\n"
	if size > len(body) {
		body += strings.Repeat("x", size-len(body))
	}
	head := func(status, conn string, n int) string {
		return "HTTP/1.1 " + status + "\r\nContent-Type: text/plain\r\nX-Backend: " + addr +
			"\r\nContent-Length: " + strconv.Itoa(n) + conn + "\r\n\r\n"
	}
	return replies{
		keep:  []byte(head("200 OK", "", len(body)) + body),
		close: []byte(head("200 OK", "\r\nConnection: close", len(body)) + body),
		bad:   []byte(head("400 Bad Request", "\r\nConnection: close", 0)),
	}
}

// serve accepts connections until ctx ends, then closes the open ones and
// returns once their goroutines are gone.
func serve(ctx context.Context, ln net.Listener, r replies) {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // EMFILE and the like: keep serving the open ones
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			handle(c, r)
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
}

// handle answers the requests of one connection until it closes or asks to.
func handle(c net.Conn, r replies) {
	buf := make([]byte, 0, 64<<10)
	out := make([]byte, 0, 64<<10)
	var p parser
	for {
		if len(buf) == cap(buf) {
			if p.pos == 0 { // one head larger than the buffer
				c.Write(r.bad)
				return
			}
			buf = append(buf[:0], buf[p.pos:]...)
			p.pos = 0
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			buf = buf[:len(buf)+n]
			out = out[:0]
			closing := false
			for {
				ev := p.next(buf)
				if ev == needMore {
					break
				}
				switch ev {
				case request:
					out = append(out, r.keep...)
				case requestClose:
					out = append(out, r.close...)
					closing = true
				case malformed:
					out = append(out, r.bad...)
					closing = true
				}
				if closing {
					break
				}
			}
			if len(out) > 0 {
				if _, err := c.Write(out); err != nil {
					return
				}
			}
			if closing {
				return
			}
			if p.pos == len(buf) {
				buf = buf[:0]
				p.pos = 0
			}
		}
		if err != nil {
			return
		}
	}
}

type event int

const (
	needMore event = iota
	request
	requestClose
	malformed
)

// parser finds request boundaries in a connection's byte stream. pos is the
// offset in the buffer of the first byte not yet consumed; skip counts body
// bytes still to be skipped.
type parser struct {
	pos  int
	skip int
}

var headEnd = []byte("\r\n\r\n")

// next consumes one request from buf[p.pos:], if complete.
func (p *parser) next(buf []byte) event {
	if p.skip > 0 {
		n := min(p.skip, len(buf)-p.pos)
		p.pos += n
		p.skip -= n
		if p.skip > 0 {
			return needMore
		}
	}
	rest := buf[p.pos:]
	i := bytes.Index(rest, headEnd)
	if i < 0 {
		return needMore
	}
	head := rest[:i+2]
	p.pos += i + 4
	length, closing, ok := scanHead(head)
	if !ok {
		return malformed
	}
	p.skip = length
	if p.skip > 0 {
		n := min(p.skip, len(buf)-p.pos)
		p.pos += n
		p.skip -= n
	}
	// The response goes out as soon as the head is in; the rest of a body
	// is skipped as it arrives. (A closing request with a body still in
	// flight may then see a reset; no benchmark sends one.)
	if closing {
		return requestClose
	}
	return request
}

// scanHead reads the headers that matter from a request head (every line
// ends with CRLF): Content-Length, Transfer-Encoding and Connection, and
// HTTP/1.0 without keep-alive.
func scanHead(head []byte) (length int, closing, ok bool) {
	first := true
	http10 := false
	keepAlive := false
	for len(head) > 0 {
		j := bytes.Index(head, []byte("\r\n"))
		if j < 0 {
			return 0, false, false
		}
		line := head[:j]
		head = head[j+2:]
		if first {
			first = false
			if !bytes.HasSuffix(line, []byte(" HTTP/1.1")) {
				if !bytes.HasSuffix(line, []byte(" HTTP/1.0")) {
					return 0, false, false
				}
				http10 = true
			}
			continue
		}
		if len(line) < 11 || (line[0]|0x20 != 'c' && line[0]|0x20 != 't') {
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return 0, false, false
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return 0, false, false
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, false, false
		case bytes.EqualFold(name, []byte("Connection")):
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				if bytes.EqualFold(tok, []byte("close")) {
					closing = true
				} else if bytes.EqualFold(tok, []byte("keep-alive")) {
					keepAlive = true
				}
			}
		}
	}
	if http10 && !keepAlive {
		closing = true
	}
	return length, closing, true
}
