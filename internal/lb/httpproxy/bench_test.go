package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawBackend answers every request with a 5-byte body, keeping the
// connection alive. It does as little as possible so that the proxy under
// test, not the backend, limits the rate.
func rawBackend(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	const resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if err := skipHead(br); err != nil {
						return
					}
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// skipHead reads a message head, returning its Content-Length (0 if none).
func skipHead(br *bufio.Reader) error {
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(l) <= 2 {
			return nil
		}
	}
}

func readResp(br *bufio.Reader) error {
	n := 0
	first := true
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if first {
			if !bytes.HasPrefix(l, []byte("HTTP/1.1 200")) {
				return fmt.Errorf("status line %q", l)
			}
			first = false
		}
		if len(l) <= 2 {
			break
		}
		// HAProxy 2.x sends header names in lower case.
		if len(l) > 15 && bytes.EqualFold(l[:15], []byte("Content-Length:")) {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(l[15:])))
		}
	}
	_, err := br.Discard(n)
	return err
}

// hammer sends keep-alive GETs to addr from parallel raw clients and
// reports requests per second.
func hammer(b *testing.B, addr string) {
	req := []byte("GET /bench HTTP/1.1\r\nHost: a.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if err := readResp(br); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkKeepAlive compares small keep-alive requests direct to the
// backend, through this proxy, through httputil.ReverseProxy and, when the
// haproxy binary is installed, through HAProxy with a Marathon-LB-like
// configuration (but http-reuse for server keep-alive, like ours).
func BenchmarkKeepAlive(b *testing.B) {
	b.Run("direct", func(b *testing.B) { hammer(b, rawBackend(b)) })
	// The proxies run in a process of their own, as HAProxy does, so that
	// they do not share the Go scheduler with the clients and the backend.
	b.Run("httpproxy", func(b *testing.B) { hammer(b, helperProxy(b, "httpproxy", rawBackend(b))) })
	b.Run("reverseproxy", func(b *testing.B) { hammer(b, helperProxy(b, "reverseproxy", rawBackend(b))) })
	b.Run("httpproxy-inprocess", func(b *testing.B) {
		be := rawBackend(b)
		p := startProxy(b, tableOf(hostRule(backend("a", be), "a.example")), Options{MaxIdlePerServer: 256})
		hammer(b, p.HTTPAddr().String())
	})
	b.Run("haproxy", func(b *testing.B) {
		bin, err := exec.LookPath("haproxy")
		if err != nil {
			b.Skip("haproxy not installed")
		}
		be := rawBackend(b)
		addr := deadAddrB(b)
		cfg := fmt.Sprintf(`global
  maxconn 4000
  nbthread 2
defaults
  mode http
  timeout connect 3s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  option forwardfor
  http-reuse always
frontend f
  bind %s
  http-request set-header X-Forwarded-Port %%[dst_port]
  use_backend b if { hdr(host) -i a.example }
backend b
  balance roundrobin
  server s1 %s
`, addr, be)
		path := filepath.Join(b.TempDir(), "haproxy.cfg")
		os.WriteFile(path, []byte(cfg), 0o644)
		cmd := exec.Command(bin, "-db", "-f", path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Skip("haproxy:", err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		for i := 0; ; i++ {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if i > 200 {
				b.Skip("haproxy did not start: ", stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		hammer(b, addr)
	})
}

func deadAddrB(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// helperProxy runs TestHelperProxyProcess in a child process serving kind
// in front of backend, and returns its address.
func helperProxy(b *testing.B, kind, backend string) string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProxyProcess$")
	cmd.Env = append(os.Environ(), "HTTPPROXY_HELPER_KIND="+kind, "HTTPPROXY_HELPER_BACKEND="+backend)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal("helper:", err)
	}
	return strings.TrimSpace(addr)
}

// TestHelperProxyProcess is not a test: BenchmarkKeepAlive runs it in a
// child process to serve a proxy until its stdin closes.
func TestHelperProxyProcess(t *testing.T) {
	be := os.Getenv("HTTPPROXY_HELPER_BACKEND")
	if be == "" {
		t.Skip("helper process for BenchmarkKeepAlive")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch os.Getenv("HTTPPROXY_HELPER_KIND") {
	case "httpproxy":
		p, err := New(Options{HTTPListener: ln, HTTPSAddr: "-", AppIDAddr: "-", MaxIdlePerServer: 256})
		if err != nil {
			t.Fatal(err)
		}
		p.Apply(tableOf(hostRule(backend("a", be), "a.example")))
		go p.Serve(context.Background())
		defer p.Close()
	default:
		rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: be})
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
		srv := &http.Server{Handler: rp}
		go srv.Serve(ln)
		defer srv.Close()
	}
	fmt.Println(ln.Addr())
	io.Copy(io.Discard, os.Stdin)
}
