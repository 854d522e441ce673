package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// TestServe sends request streams the way proxies and load generators send
// them, in one piece and split byte by byte, and checks the responses that
// come back: one per request, in order, and a close exactly when asked.
func TestServe(t *testing.T) {
	leakcheck.Verify(t)
	get := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	// A closing case sends nothing after its last request: bytes the server
	// never reads would make its close a reset, which can discard the
	// response before the client reads it.
	cases := []struct {
		name   string
		send   string
		status []int // statuses expected, in order
		closed bool  // the server closes after the last one
	}{
		{"one", get, []int{200}, false},
		{"pipelined", get + get + get, []int{200, 200, 200}, false},
		{"body skipped", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" + get, []int{200, 200}, false},
		{"connection close", get + "GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n", []int{200, 200}, true},
		{"http/1.0", "GET / HTTP/1.0\r\n\r\n", []int{200}, true},
		{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get, []int{200, 200}, false},
		{"chunked refused", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", []int{400}, true},
		{"bad version", "GET / HTTP/2.0\r\n\r\n", []int{400}, true},
		{"bad length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", []int{400}, true},
	}
	addr, stop := start(t, 40)
	defer stop()
	for _, tc := range cases {
		for _, split := range []bool{false, true} {
			name := tc.name
			if split {
				name += "/byte by byte"
			}
			t.Run(name, func(t *testing.T) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				go func() {
					if !split {
						c.Write([]byte(tc.send))
						return
					}
					for i := range len(tc.send) {
						if _, err := c.Write([]byte{tc.send[i]}); err != nil {
							return
						}
						time.Sleep(100 * time.Microsecond)
					}
				}()
				br := bufio.NewReader(c)
				for i, want := range tc.status {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatalf("response %d: %v", i, err)
					}
					body, err := io.ReadAll(resp.Body)
					if err != nil {
						t.Fatalf("response %d body: %v", i, err)
					}
					if resp.StatusCode != want {
						t.Fatalf("response %d: status %d, want %d", i, resp.StatusCode, want)
					}
					if want == 200 {
						if len(body) != 40 || !strings.HasPrefix(string(body), addr+"\n") {
							t.Errorf("response %d: body %q, want %s and a newline, padded to 40 bytes", i, body, addr)
						}
						if got := resp.Header.Get("X-Backend"); got != addr {
							t.Errorf("response %d: X-Backend %q, want %q", i, got, addr)
						}
					}
				}
				if !tc.closed {
					// Nothing more, and the connection stays open.
					c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
					if n, err := br.Read(make([]byte, 1)); n > 0 || !isTimeout(err) {
						t.Fatalf("after the responses: %d bytes, %v; want a timeout on an open connection", n, err)
					}
					return
				}
				if n, err := br.Read(make([]byte, 1)); n > 0 || err != io.EOF {
					t.Fatalf("after the last response: %d bytes, %v; want EOF", n, err)
				}
			})
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestOversizedHead checks that a head larger than the read buffer is
// refused instead of growing the buffer or hanging: a 400, or a reset when
// the server closes while the rest of the head is still arriving (the
// kernel may then discard the 400).
func TestOversizedHead(t *testing.T) {
	leakcheck.Verify(t)
	addr, stop := start(t, 0)
	defer stop()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go c.Write([]byte("GET / HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		if isTimeout(err) || !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("%v; want a 400 or a reset", err)
		}
		return
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}

// start serves on a loopback port until stop, which returns only once
// every goroutine of the server has ended.
func start(t *testing.T, bodySize int) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(ctx, ln, newReplies(ln.Addr().String(), bodySize))
	}()
	return ln.Addr().String(), func() {
		cancel()
		ln.Close()
		<-done
	}
}
