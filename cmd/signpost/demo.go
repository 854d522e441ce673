package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/internal/dns/config"
	"github.com/signpost-dns/signpost/internal/dns/service"
	"github.com/signpost-dns/signpost/internal/lb/routes"
	lbservice "github.com/signpost-dns/signpost/internal/lb/service"
	"github.com/signpost-dns/signpost/internal/sim/control"
	"github.com/signpost-dns/signpost/internal/sim/simserver"
	"github.com/signpost-dns/signpost/internal/source/marathon"
)

// demoApps are posted to the simulated Marathon as an operator would: one app
// of each networking kind a real cluster has, with Marathon-LB labels and a
// Mesos health check, and one TCP service. The service ports bind on loopback
// only (HAPROXY_0_BIND_ADDR), so that the demo exposes nothing.
var demoApps = []string{
	`{"id":"/web","instances":3,"cmd":"python3 -m http.server $PORT0",
	  "portDefinitions":[{"port":10000,"protocol":"tcp","name":"http"}],
	  "labels":{"HAPROXY_GROUP":"external","HAPROXY_0_VHOST":"web.example.com","HAPROXY_0_BIND_ADDR":"127.0.0.1"},
	  "healthChecks":[{"protocol":"MESOS_HTTP","path":"/health","portIndex":0,"intervalSeconds":5,"maxConsecutiveFailures":3}]}`,
	`{"id":"/shop/api","instances":2,
	  "container":{"type":"DOCKER","docker":{"image":"shop/api:1.4"},
	    "portMappings":[{"containerPort":8080,"hostPort":0,"servicePort":10001,"protocol":"tcp","name":"api"}]},
	  "networks":[{"mode":"container/bridge"}],
	  "labels":{"HAPROXY_GROUP":"external","HAPROXY_0_VHOST":"shop.example.com","HAPROXY_0_PATH":"/api","HAPROXY_0_BIND_ADDR":"127.0.0.1"}}`,
	`{"id":"/shop/cache","instances":1,
	  "container":{"type":"MESOS","portMappings":[{"containerPort":6379,"protocol":"tcp","name":"redis"}]},
	  "networks":[{"mode":"container","name":"dcos"}],
	  "labels":{"SIGNPOST_SIM_KIND":"tcp"}}`,
}

func setupDemo(fs *flag.FlagSet) func(context.Context, *env) error {
	var f simFlags
	f.register(fs, true)
	once := fs.Bool("once", false, "set up, check and print, then exit instead of running until interrupted")
	dnsAddr := fs.String("dns-addr", "127.0.0.1:5353", "where the demo's signpost dns answers (UDP and TCP)")
	dnsHTTPAddr := fs.String("dns-http-addr", "127.0.0.1:8123", "where the demo's signpost dns serves its HTTP API")
	lbHTTPAddr := fs.String("lb-http-addr", "127.0.0.1:18080", "where the demo's signpost lb serves its shared HTTP vhost frontend")
	lbAppIDAddr := fs.String("lb-appid-addr", "127.0.0.1:19091", "where the demo's signpost lb routes by X-Marathon-App-Id")
	lbAdminAddr := fs.String("lb-admin-addr", "127.0.0.1:19090", "where the demo's signpost lb serves /_haproxy_getconfig, /metrics, ...")
	return func(ctx context.Context, e *env) error {
		cfg, err := f.config(e)
		if err != nil {
			return err
		}
		s, err := simserver.Start(ctx, cfg)
		if err != nil {
			return err
		}
		defer s.Close()
		for _, app := range demoApps {
			resp, err := http.Post(s.MarathonURL+"/v2/apps", "application/json", strings.NewReader(app))
			if err != nil {
				return fmt.Errorf("posting a sample app to Marathon: %w", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				return fmt.Errorf("posting a sample app to Marathon: %s: %s", resp.Status, body)
			}
		}
		dnsCtx, stopDNS := context.WithCancel(ctx)
		dnsSvc, dnsDone, err := startDemoDNS(dnsCtx, e, s, *dnsAddr, *dnsHTTPAddr)
		if err != nil {
			stopDNS()
			return err
		}
		defer func() { stopDNS(); <-dnsDone }()
		lbCtx, stopLB := context.WithCancel(ctx)
		lbSvc, lbDone, err := startDemoLB(lbCtx, e, s, *lbHTTPAddr, *lbAppIDAddr, *lbAdminAddr)
		if err != nil {
			stopLB()
			return err
		}
		defer func() { stopLB(); <-lbDone }()
		if err := printDemo(ctx, e.stdout, s, dnsSvc, lbSvc); err != nil {
			return err
		}
		if *once {
			return nil
		}
		fmt.Fprintln(e.stdout, "\nRunning until interrupted (Ctrl-C).")
		select {
		case <-ctx.Done():
		case err := <-s.Err():
			return err
		}
		return nil
	}
}

// printDemo shows the cluster, proves a task of each app answers over a real
// socket, and lists what to try next.
func printDemo(ctx context.Context, w io.Writer, s *simserver.Server, d *service.Service, lb *lbservice.Service) error {
	var list struct {
		Tasks []control.TaskView `json:"tasks"`
	}
	resp, err := http.Get(s.ControlURL + "/sim/v1/tasks")
	if err != nil {
		return err
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the task list: %w", err)
	}
	fmt.Fprintf(w, "Signpost demo: a simulated Mesos + Marathon cluster with real tasks\n\n")
	fmt.Fprintf(w, "  Mesos master   %s   (try /master/state)\n", s.MasterURLs[0])
	fmt.Fprintf(w, "  Marathon       %s   (try /v2/apps?embed=apps.tasks)\n", s.MarathonURL)
	fmt.Fprintf(w, "  Control API    %s   (try /sim/v1/tasks)\n\n", s.ControlURL)
	fmt.Fprintf(w, "Tasks, each a real listener on loopback:\n")
	var firstWeb string
	for _, t := range list.Tasks {
		addr := t.IP
		if len(t.Ports) > 0 {
			addr = net.JoinHostPort(t.Host, strconv.Itoa(t.Ports[0]))
		} else if t.AppID == "/shop/cache" {
			addr = net.JoinHostPort(t.IP, "6379")
		}
		answer := probe(ctx, addr, t.AppID == "/shop/cache")
		fmt.Fprintf(w, "  %-12s %-48s %-22s %s\n", t.AppID, t.ID, addr, answer)
		if firstWeb == "" && t.AppID == "/web" {
			firstWeb = t.ID
		}
	}
	fmt.Fprintf(w, "\nsignpost dns answers for the cluster on %s (HTTP API on %s):\n", d.DNSAddr, d.HTTPAddr)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"web.marathon.mesos.", dns.TypeA}, {"_web._tcp.marathon.mesos.", dns.TypeSRV}, {"api-shop.marathon.mesos.", dns.TypeA}, {"leader.mesos.", dns.TypeA}} {
		fmt.Fprintf(w, "  %-28s %-4s %s\n", q.name, dns.TypeToString[q.qtype], lookup(d.DNSAddr, q.name, q.qtype))
	}
	lbAddrs := lb.Addrs()
	lbHTTP := lbAddrs.HTTP.String()
	fmt.Fprintf(w, "\nsignpost lb routes group \"external\" (HTTP vhosts on %s, app ids on %s, admin on %s):\n", lbHTTP, lbAddrs.AppID, lbAddrs.Admin)
	for _, r := range []struct{ what, addr, host, path string }{
		{"Host: web.example.com", lbHTTP, "web.example.com", "/"},
		{"Host: shop.example.com, /api", lbHTTP, "shop.example.com", "/api"},
		{"Host: shop.example.com, /", lbHTTP, "shop.example.com", "/"},
		{"service port 10000", "127.0.0.1:10000", "", "/"},
	} {
		fmt.Fprintf(w, "  %-30s %s\n", r.what, probeHTTP(ctx, r.addr, r.host, r.path))
	}
	host, port, _ := net.SplitHostPort(d.DNSAddr)
	fmt.Fprintf(w, "\nTry:\n")
	fmt.Fprintf(w, "  dig @%s -p %s web.marathon.mesos +short\n", host, port)
	fmt.Fprintf(w, "  dig @%s -p %s _web._tcp.marathon.mesos SRV\n", host, port)
	fmt.Fprintf(w, "  curl -s http://%s/v1/enumerate | head -40\n", d.HTTPAddr)
	fmt.Fprintf(w, "  curl -s -H 'Host: web.example.com' http://%s/          # through signpost lb\n", lbHTTP)
	fmt.Fprintf(w, "  curl -s -H 'X-Marathon-App-Id: /web' http://%s/\n", lbAddrs.AppID)
	fmt.Fprintf(w, "  curl -s http://%s/_haproxy_getconfig                  # the route table\n", lbAddrs.Admin)
	fmt.Fprintf(w, "  curl -s http://%s/metrics | grep '^signpost_lb_server'\n", lbAddrs.Admin)
	fmt.Fprintf(w, "  curl -s %s/master/state | head -c 600\n", s.MasterURLs[0])
	fmt.Fprintf(w, "  curl -s -N -H 'Accept: text/event-stream' %s/v2/events &   # follow Marathon's event bus\n", s.MarathonURL)
	fmt.Fprintf(w, "  curl -s -X PUT -d '{\"instances\":5}' %s/v2/apps/web        # scale up\n", s.MarathonURL)
	if firstWeb != "" {
		fmt.Fprintf(w, "  curl -s -X POST -d '{\"healthy\":false}' %s/sim/v1/tasks/%s/health   # fail a health check\n", s.ControlURL, firstWeb)
	}
	fmt.Fprintf(w, "  curl -s -X PUT -d '{\"master\":-1}' %s/sim/v1/leader       # lose the Mesos leader\n", s.ControlURL)
	return nil
}

// startDemoDNS runs signpost dns against the simulated master, refreshing
// every second so that changes show quickly, and waits for its first records.
func startDemoDNS(ctx context.Context, e *env, s *simserver.Server, addr, httpAddr string) (*service.Service, <-chan struct{}, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, usagef("-dns-addr: %v", err)
	}
	hhost, hport, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return nil, nil, usagef("-dns-http-addr: %v", err)
	}
	raw := fmt.Sprintf(`{"masters":[%q],"refreshSeconds":1,"listener":%q,"port":%s,"httplistener":%q,"httpport":%s,"externalon":false}`,
		strings.TrimPrefix(s.MasterURLs[0], "http://"), host, port, hhost, hport)
	cfg, _, err := config.Parse([]byte(raw))
	if err != nil {
		return nil, nil, usagef("demo dns config: %v", err)
	}
	var svc *service.Service
	done := make(chan struct{})
	// With port 0 the DNS server takes a free UDP port and then the same
	// TCP port, which an unrelated TCP connection may hold on a busy
	// machine: try other ports a few times.
	for attempt := 1; ; attempt++ {
		if svc, err = service.New(cfg, service.Options{Version: version(), Logger: e.logger}); err != nil {
			return nil, nil, err
		}
		ready := make(chan struct{})
		done = make(chan struct{})
		errc := make(chan error, 1)
		go func() {
			defer close(done)
			errc <- svc.Run(ctx, ready)
		}()
		select {
		case <-ready:
		case err = <-errc:
		}
		if err == nil {
			break
		}
		if port != "0" || attempt == 5 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("signpost dns: %w", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !svc.Health().OK {
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("signpost dns loaded no records: %s", svc.Health().Reason)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return svc, done, nil
}

// startDemoLB runs signpost lb against the simulated Marathon for group
// "external", and waits until a request through it reaches a /web task.
func startDemoLB(ctx context.Context, e *env, s *simserver.Server, httpAddr, appIDAddr, adminAddr string) (*lbservice.Service, <-chan struct{}, error) {
	flags := routes.DefaultFlags()
	flags.Groups = []string{"external"}
	svc, err := lbservice.New(lbservice.Config{
		Marathon: marathon.Config{URLs: []string{s.MarathonURL}, Coalesce: 50 * time.Millisecond},
		Flags:    flags,
		HTTPAddr: httpAddr, HTTPSAddr: "-", AppIDAddr: appIDAddr, AdminAddr: adminAddr,
		DrainTimeout: 5 * time.Second,
		Logger:       e.logger,
		Version:      version(),
	})
	if err != nil {
		return nil, nil, usagef("demo lb: %v", err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(done)
		errc <- svc.Run(ctx, ready)
	}()
	select {
	case <-ready:
	case err := <-errc:
		return nil, nil, fmt.Errorf("signpost lb: %w", err)
	}
	addr := svc.Addrs().HTTP.String()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasPrefix(probeHTTP(ctx, addr, "web.example.com", "/"), "200 ") {
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("signpost lb routed no request to /web within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return svc, done, nil
}

// probeHTTP requests path from addr with a Host header and summarises the
// answer in one line.
func probeHTTP(ctx context.Context, addr, host, path string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := demoClient.Do(req)
	if err != nil {
		return "unreachable: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.Status[:3] + " " + strings.Join(strings.Fields(string(body)), " ")
}

// demoClient keeps no connections, so that every probe goes through the
// proxy afresh.
var demoClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// lookup asks a DNS server and summarises the answer in one line.
func lookup(server, name string, qtype uint16) string {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(m, server)
	if err != nil {
		return "error: " + err.Error()
	}
	if len(r.Answer) == 0 {
		return dns.RcodeToString[r.Rcode]
	}
	var parts []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			parts = append(parts, rr.A.String())
		case *dns.SRV:
			parts = append(parts, fmt.Sprintf("%s:%d", rr.Target, rr.Port))
		default:
			parts = append(parts, rr.String())
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// probe reaches a task and returns the first thing it says.
func probe(ctx context.Context, addr string, tcp bool) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if tcp {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return "unreachable: " + err.Error()
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			return "no greeting: " + err.Error()
		}
		return "tcp greets with " + strings.TrimSpace(line)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "unreachable: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.Status[:3] + " " + string(bytes.TrimSpace(body))
}
