package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/internal/testutil/fixtures"
)

// binary builds signpost once for the end-to-end tests, which run it as a
// user would: as separate processes talking over real sockets.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "signpost-e2e")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "signpost")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// needTool skips when a real tool is missing, except in CI where every test
// must run.
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (scripts/install-deps.sh installs it as root)", name)
		}
		t.Skipf("%s not installed: run scripts/install-deps.sh as root", name)
	}
}

// process is a running signpost subcommand with its output.
type process struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	lines  chan string // stderr lines
}

func start(t *testing.T, args ...string) *process {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stdout: bufio.NewReader(stdout), lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("signpost %s did not stop on SIGINT", args[0])
		}
	})
	return p
}

// waitLog waits for a stderr line matching re and returns its submatches.
func (p *process) waitLog(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("process ended before logging %q", re)
			}
			if m := rx.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("no log line matching %q", re)
		}
	}
}

// digResult is what dig printed, parsed.
type digResult struct {
	status string
	flags  []string
	answer []string
	opt    bool
	raw    string
}

func dig(t *testing.T, server string, args ...string) digResult {
	t.Helper()
	host, port, _ := net.SplitHostPort(server)
	full := append([]string{"@" + host, "-p", port, "+tries=1", "+time=5"}, args...)
	out, err := exec.Command("dig", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", args, err, out)
	}
	r := digResult{raw: string(out)}
	section := ""
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.Contains(line, "status: "):
			r.status = strings.TrimSuffix(strings.Fields(line[strings.Index(line, "status: "):])[1], ",")
		case strings.HasPrefix(line, ";; flags: "):
			f := strings.TrimPrefix(line, ";; flags: ")
			r.flags = strings.Fields(f[:strings.IndexByte(f, ';')])
		case strings.HasPrefix(line, ";; OPT PSEUDOSECTION"):
			r.opt = true
		case strings.HasPrefix(line, ";; ") && strings.HasSuffix(line, "SECTION:"):
			section = strings.TrimSuffix(strings.TrimPrefix(line, ";; "), " SECTION:")
		case line == "":
			section = ""
		case section == "ANSWER" && !strings.HasPrefix(line, ";"):
			r.answer = append(r.answer, strings.Join(strings.Fields(line), " "))
		}
	}
	slices.Sort(r.answer)
	return r
}

func lowerAll(rrs []string) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = strings.ToLower(rr)
	}
	slices.Sort(out)
	return out
}

// TestDNSEndToEnd runs `signpost sim` with Mesos-DNS's test state and
// `signpost dns` against it, and queries with a real dig over UDP and TCP:
// the answers the real Mesos-DNS gives, forwarding to a second DNS server,
// truncation and EDNS0.
func TestDNSEndToEnd(t *testing.T) {
	needTool(t, "dig")
	sim := start(t, "sim", "-state", fixtures.Path(t, "mesos-dns/fake.json"),
		"-mesos-addr", "127.0.0.1:0", "-marathon-addr", "127.0.0.1:0", "-control-addr", "127.0.0.1:0")
	urls := map[string]string{}
	for range 3 {
		line, err := sim.stdout.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		urls[k] = v
	}
	master := strings.TrimPrefix(urls["mesos"], "http://")
	_, masterPort, _ := net.SplitHostPort(master)

	upstream := startUpstream(t)
	dir := t.TempDir()
	cfg := map[string]any{
		"masters": []string{master}, "refreshSeconds": 1, "port": 0, "httpport": 0,
		"listener": "127.0.0.1", "httplistener": "127.0.0.1",
		"resolvers": []string{upstream}, "timeout": 2, "healthFilter": false,
		"IPSources": []string{"netinfo", "mesos", "host"},
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "config.json")
	os.WriteFile(cfgPath, b, 0o644)
	dnsProc := start(t, "dns", "-config", cfgPath, "-log-level", "debug")
	m := dnsProc.waitLog(t, `msg=serving dns=(\S+) http=(\S+)`)
	server, httpAddr := m[1], m[2]
	dnsProc.waitLog(t, `msg="records loaded"`)

	t.Run("golden answers over TCP and UDP", func(t *testing.T) {
		var golden []struct {
			Q, Type, Rcode string
			Answer         []string
		}
		raw, err := os.ReadFile(fixtures.Path(t, "mesos-dns/peer-output/golden-dig-default-config.json"))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(raw, &golden)
		checked := 0
		for _, g := range golden {
			// Positive A/AAAA/SRV answers are the same as Mesos-DNS's; the
			// name server's own address depends on the machine, and
			// negative and SOA/NS answers differ on purpose (tested in
			// internal/dns/server).
			if len(g.Answer) == 0 || g.Type == "ANY" || strings.HasPrefix(g.Q, "ns1.") {
				continue
			}
			for _, transport := range []string{"+tcp", "+notcp"} {
				r := dig(t, server, transport, "+ignore", g.Q, g.Type)
				want := lowerAll(g.Answer)
				// The fixture's master listened on 15050; ours on a free port.
				for i := range want {
					want[i] = strings.Replace(want[i], " 15050 leader.mesos.", " "+masterPort+" leader.mesos.", 1)
				}
				// Signpost echoes the question's owner name as sent
				// (Mesos-DNS answered with the ".*"-stripped name).
				for i := range r.answer {
					r.answer[i] = strings.ReplaceAll(r.answer[i], ".*.", ".")
				}
				if r.status != g.Rcode || !slices.Equal(lowerAll(r.answer), want) {
					t.Errorf("%s %s %s:\n got %s %v\nwant %s %v", transport, g.Q, g.Type, r.status, lowerAll(r.answer), g.Rcode, want)
				}
			}
			checked++
		}
		if checked < 30 {
			t.Errorf("only %d golden queries checked", checked)
		}
	})

	t.Run("forwarding", func(t *testing.T) {
		for _, transport := range []string{"+tcp", "+notcp"} {
			r := dig(t, server, transport, "www.example.test", "A")
			if r.status != "NOERROR" || len(r.answer) != 1 || !strings.HasSuffix(r.answer[0], "A 192.0.2.7") {
				t.Errorf("%s forwarded: %s %v\n%s", transport, r.status, r.answer, r.raw)
			}
		}
	})

	t.Run("truncation and EDNS0", func(t *testing.T) {
		resp, err := http.Post(urls["marathon"]+"/v2/apps", "application/json", strings.NewReader(
			`{"id":"/bigapp","instances":60,"networks":[{"mode":"container","name":"dcos"}],"container":{"type":"MESOS","portMappings":[{"containerPort":80}]}}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("creating /bigapp: %s", resp.Status)
		}
		deadline := time.Now().Add(20 * time.Second)
		var full digResult
		for {
			full = dig(t, server, "+tcp", "bigapp.marathon.mesos", "A")
			if len(full.answer) == 60 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if len(full.answer) != 60 {
			t.Fatalf("over TCP: %d answers for 60 tasks", len(full.answer))
		}
		small := dig(t, server, "+notcp", "+ignore", "+noedns", "bigapp.marathon.mesos", "A")
		if !slices.Contains(small.flags, "tc") || len(small.answer) == 0 || len(small.answer) >= 60 || small.opt {
			t.Errorf("UDP without EDNS: flags %v, %d answers, OPT %v; want tc, a 512-byte share, no OPT", small.flags, len(small.answer), small.opt)
		}
		big := dig(t, server, "+notcp", "+ignore", "+bufsize=4096", "bigapp.marathon.mesos", "A")
		if slices.Contains(big.flags, "tc") || len(big.answer) != 60 || !big.opt {
			t.Errorf("UDP with EDNS 4096: flags %v, %d answers, OPT %v; want all 60 with OPT", big.flags, len(big.answer), big.opt)
		}
	})

	t.Run("http api", func(t *testing.T) {
		resp, err := http.Get("http://" + httpAddr + "/v1/hosts/leader.mesos")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"ip": "127.0.0.1"`) {
			t.Errorf("/v1/hosts/leader.mesos: %s", body)
		}
		resp, err = http.Get("http://" + httpAddr + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("/health: %s", resp.Status)
		}
	})
}

// startUpstream runs a second DNS server on loopback (UDP and TCP on one
// port) that knows www.example.test, for forwarding.
func startUpstream(t *testing.T) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 && strings.EqualFold(r.Question[0].Name, "www.example.test.") {
			rr, _ := dns.NewRR("www.example.test. 30 IN A 192.0.2.7")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	// A free UDP port may be taken for TCP (by an outgoing connection's
	// ephemeral port, on a busy machine): try a few.
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if attempt == 20 {
			t.Fatal(err)
		}
	}
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		udp.ShutdownContext(ctx)
		tcp.ShutdownContext(ctx)
	})
	return pc.LocalAddr().String()
}
