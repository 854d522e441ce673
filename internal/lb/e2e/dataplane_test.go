package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/freeport"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// quietFront stands in front of the simulated Marathon and passes its REST
// API through, but serves an event stream that never carries an event: the
// load balancer then learns of a change only by refetching, which is what
// the signal endpoints and SIGHUP must make it do.
type quietFront struct{ addr string }

func (f *quietFront) url() string { return "http://" + f.addr }

func newQuietFront(t *testing.T, addr, target string) *quietFront {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/events" {
			rp.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "event: event_stream_attached\r\ndata: {\"remoteAddress\":\"127.0.0.1\",\"eventType\":\"event_stream_attached\",\"timestamp\":\"2020-01-01T00:00:00.000Z\"}\r\n\r\n")
		fl := w.(http.Flusher)
		fl.Flush()
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				if _, err := io.WriteString(w, "\r\n"); err != nil {
					return
				}
				fl.Flush()
			}
		}
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return &quietFront{addr: ln.Addr().String()}
}

// TestDataPlane checks what the proxies do to requests beyond choosing a
// task — the X-Forwarded-* headers as the task sees them, WebSocket
// upgrades — and the admin endpoints, including the signals that make the
// load balancer refetch from Marathon.
func TestDataPlane(t *testing.T) {
	leakcheck.Verify(t)
	ln := newLoopNet(t)
	xffPort, wsPort, hupPort := freeport.TCP(t), freeport.TCP(t), freeport.TCP(t)
	xff, xffSrv := serverApp(t, ln, "/xff", labels("HAPROXY_0_VHOST", "xff.example"), []int{xffPort}, nil, 1)
	ws, wsSrv := serverApp(t, ln, "/ws", labels("HAPROXY_0_VHOST", "ws.example"), []int{wsPort}, nil, 2, 3)
	s := startSim(t, ln, xff, ws)
	hupTasks := s.addApp(t, webApp("/hup", 1, labels("HAPROXY_0_VHOST", "hup.example"), hupPort))
	quiet := newQuietFront(t, ln.addr(231, 0), s.marathon)
	lb := startLB(t, ln, lbConfig{marathon: []string{quiet.url()}, args: []string{"--group", "external"}})
	xffTask := xffSrv[0][0].task
	wsTasks := set{wsSrv[0][0].task: true, wsSrv[1][0].task: true}
	eventuallyReach(t, "xff.example", set{xffTask: true}, req{addr: lb.http, host: "xff.example"})

	t.Run("X-Forwarded headers", func(t *testing.T) {
		for _, c := range []struct {
			name            string
			r               req
			from            byte
			clientXFF       string
			port, proto     string
			host            string
			clientSentProto bool
		}{
			{name: ":80", r: req{addr: lb.http, host: "xff.example"}, from: 10, port: "80", host: "xff.example"},
			{name: ":80 with the client's own headers", r: req{addr: lb.http, host: "xff.example", header: map[string]string{
				"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Port": "1234",
			}}, from: 11, clientXFF: "203.0.113.7", port: "80", host: "xff.example"},
			{name: ":443", r: req{addr: lb.https, sni: "xff.example", host: "xff.example"}, from: 12, port: "443", proto: "https", host: "xff.example"},
			{name: "service port", r: req{addr: ln.addr(199, xffPort), host: "anything.example"}, from: 13, port: strconv.Itoa(xffPort), host: "anything.example"},
			{name: ":9091", r: req{addr: lb.appID, host: "xff.example", header: map[string]string{"X-Marathon-App-Id": "/xff"}}, from: 14, port: "9091", host: "xff.example"},
		} {
			t.Run(c.name, func(t *testing.T) {
				c.r.from = ln.ip(c.from).String()
				got, _, err := seen(c.r)
				if err != nil {
					t.Fatal(err)
				}
				if got.Task != xffTask {
					t.Errorf("reached %q, want %s", got.Task, xffTask)
				}
				var hops []string
				for _, v := range got.Header.Values("X-Forwarded-For") {
					for h := range strings.SplitSeq(v, ",") {
						hops = append(hops, strings.TrimSpace(h))
					}
				}
				want := []string{c.r.from}
				if c.clientXFF != "" {
					want = []string{c.clientXFF, c.r.from}
				}
				if !slices.Equal(hops, want) {
					t.Errorf("the task saw X-Forwarded-For %q, want %q", got.Header.Values("X-Forwarded-For"), want)
				}
				if p := got.Header.Values("X-Forwarded-Port"); !slices.Equal(p, []string{c.port}) {
					t.Errorf("the task saw X-Forwarded-Port %q, want only %q (the port the client connected to)", p, c.port)
				}
				proto := got.Header.Values("X-Forwarded-Proto")
				if c.proto == "" && len(proto) != 0 || c.proto != "" && !slices.Equal(proto, []string{c.proto}) {
					t.Errorf("the task saw X-Forwarded-Proto %q, want %q", proto, c.proto)
				}
				if got.Host != c.host {
					t.Errorf("the task saw Host %q, want %q", got.Host, c.host)
				}
			})
		}
	})

	t.Run("WebSocket", func(t *testing.T) {
		for _, c := range []struct {
			name, addr string
			tls        bool
		}{
			{":80", lb.http, false},
			{":443", lb.https, true},
			{"service port", ln.addr(199, wsPort), false},
		} {
			t.Run(c.name, func(t *testing.T) {
				reached := set{}
				for range 4 {
					task, err := websocketEcho(c.addr, "ws.example", c.tls)
					if err != nil {
						t.Fatal(err)
					}
					if !wsTasks[task] {
						t.Fatalf("the upgrade was answered by %q, want a task of /ws %s", task, wsTasks)
					}
					reached[task] = true
				}
				if !reached.equal(wsTasks) {
					t.Errorf("4 WebSocket connections reached %s, want both tasks %s", reached, wsTasks)
				}
			})
		}
	})

	t.Run("admin endpoints", func(t *testing.T) {
		admin := "http://" + lb.admin
		if body, err := httpGet(admin + "/_haproxy_health_check"); err != nil {
			t.Errorf("/_haproxy_health_check: %v: %s", err, body)
		}
		cfg, err := httpGet(admin + "/_haproxy_getconfig")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"backend xff_" + strconv.Itoa(xffPort),
			"backend ws_" + strconv.Itoa(wsPort),
			"backend hup_" + strconv.Itoa(hupPort),
			xffSrv[0][0].addr, wsSrv[0][0].addr, wsSrv[1][0].addr,
			"xff.example", "ws.example",
		} {
			if !strings.Contains(cfg, want) {
				t.Errorf("/_haproxy_getconfig does not mention %q:\n%s", want, cfg)
			}
		}
		if strings.Contains(cfg, "e2e-anchor") {
			t.Errorf("/_haproxy_getconfig lists the anchor app, which is in no group:\n%s", cfg)
		}
	})

	t.Run("signals", func(t *testing.T) {
		admin := "http://" + lb.admin
		r := req{addr: lb.http, host: "hup.example"}
		eventuallyReach(t, "hup.example", hupTasks, r)
		metrics := func() string {
			t.Helper()
			body, err := httpGet(admin + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			return body
		}
		// The event stream is silent: a scale-up stays unseen...
		hupTasks = s.scale(t, "/hup", 2)
		time.Sleep(time.Second)
		for range 3 {
			if got, err := reach(4, r); err != nil || len(got) != 1 {
				t.Fatalf("before any refetch, requests reached %s (%v): the load balancer saw the scale-up without a refetch, so this test proves nothing", got, err)
			}
		}
		// ...until /_mlb_signal/hup makes the load balancer refetch.
		m := metrics()
		fetches, _ := metric(m, "signpost_lb_marathon_fetches_total")
		signalled, _ := metric(m, "signpost_lb_rebuilds_total", `trigger="signal"`)
		resp, err := plainClient.Post(admin+"/_mlb_signal/hup", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/_mlb_signal/hup: %s", resp.Status)
		}
		eventuallyReach(t, "the scale-up, after /_mlb_signal/hup", hupTasks, r)
		eventually(t, "the refetch in /metrics", func() error {
			m := metrics()
			f, _ := metric(m, "signpost_lb_marathon_fetches_total")
			sg, _ := metric(m, "signpost_lb_rebuilds_total", `trigger="signal"`)
			if f <= fetches || sg <= signalled {
				return fmt.Errorf("signpost_lb_marathon_fetches_total %v (was %v), signpost_lb_rebuilds_total{trigger=\"signal\"} %v (was %v)", f, fetches, sg, signalled)
			}
			return nil
		})

		// /_mlb_signal/usr1 rebuilds from the last snapshot, without a fetch.
		rebuilt, _ := metric(metrics(), "signpost_lb_rebuilds_total", `trigger="rebuild"`)
		if body, err := httpGet(admin + "/_mlb_signal/usr1"); err != nil {
			t.Fatalf("/_mlb_signal/usr1: %v: %s", err, body)
		}
		eventually(t, "the rebuild in /metrics", func() error {
			if v, _ := metric(metrics(), "signpost_lb_rebuilds_total", `trigger="rebuild"`); v <= rebuilt {
				return fmt.Errorf("signpost_lb_rebuilds_total{trigger=\"rebuild\"} %v (was %v)", v, rebuilt)
			}
			return nil
		})

		// SIGHUP does what /_mlb_signal/hup does.
		hupTasks = s.scale(t, "/hup", 3)
		time.Sleep(500 * time.Millisecond)
		if got, err := reach(6, r); err != nil || len(got) != 2 {
			t.Fatalf("before SIGHUP, requests reached %s (%v), want the 2 tasks known before", got, err)
		}
		if err := lb.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		eventuallyReach(t, "the scale-up, after SIGHUP", hupTasks, r)
	})
}

// websocketEcho opens a WebSocket through the load balancer at addr with
// Host (and SNI) host, exchanges a few frames and closes it; it returns
// the task that accepted the upgrade.
func websocketEcho(addr, host string, useTLS bool) (string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: host})
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", srvWSPath, host, key)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", fmt.Errorf("upgrade response: %w", err)
	}
	task := resp.Header.Get("X-Task-Id")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return task, fmt.Errorf("upgrade: %s from %q: %s", resp.Status, task, b)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wsAccept(key) {
		return task, fmt.Errorf("Sec-WebSocket-Accept %q, want %q", got, wsAccept(key))
	}
	for i, msg := range [][]byte{[]byte("hello"), bytes.Repeat([]byte("0123456789"), 30), []byte("bye")} {
		if err := writeWSFrame(c, 1, msg, true); err != nil {
			return task, err
		}
		op, got, err := readWSFrame(br)
		if err != nil {
			return task, fmt.Errorf("frame %d: %w", i, err)
		}
		if op != 1 || !bytes.Equal(got, msg) {
			return task, fmt.Errorf("frame %d: echo op %d %q, want text %q", i, op, got, msg)
		}
	}
	if err := writeWSFrame(c, 8, []byte{0x03, 0xe8}, true); err != nil {
		return task, err
	}
	if op, _, err := readWSFrame(br); err != nil || op != 8 {
		return task, fmt.Errorf("close: op %d, %v", op, err)
	}
	return task, nil
}
