package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/signpost-dns/signpost/internal/lb/routes"
	"github.com/signpost-dns/signpost/internal/lb/service"
	"github.com/signpost-dns/signpost/internal/source/marathon"
)

// dryTimeout bounds --dry: Marathon-LB's one-shot run fails when Marathon
// does not answer; Signpost retries like the follower does, for this long.
const dryTimeout = time.Minute

// runLB is `signpost lb`. It reads Marathon-LB's command line itself
// (argparse syntax: --name value, -m URL URL..., abbreviations), so that an
// operator's unit file or Marathon app definition keeps working unchanged;
// main's Go-style flag parsing never sees these arguments.
func runLB(ctx context.Context, e *env) error {
	cfg := service.Config{Version: version()}
	insecure := false
	extra := []routes.Option{
		{Name: "--http-addr", Set: func(v string) error { cfg.HTTPAddr = v; return nil }},
		{Name: "--https-addr", Set: func(v string) error { cfg.HTTPSAddr = v; return nil }},
		{Name: "--appid-addr", Set: func(v string) error { cfg.AppIDAddr = v; return nil }},
		{Name: "--admin-addr", Set: func(v string) error { cfg.AdminAddr = v; return nil }},
		{Name: "--drain-timeout", Set: func(v string) (err error) {
			cfg.DrainTimeout, err = parseSeconds(v)
			return err
		}},
		{Name: "--insecure-skip-verify", Bool: true, Set: func(string) error { insecure = true; return nil }},
	}
	cl, err := routes.ParseCommandLine(e.args, extra...)
	if err != nil {
		return usagef("%v (see 'signpost lb -h')", err)
	}
	if cl.Help {
		lbUsage(e.stdout)
		return nil
	}
	level, err := parseLBLogLevel(cl.LogLevel)
	if err != nil {
		return usagef("argument --log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	e.logger = log
	for _, p := range cl.Process {
		log.Warn("flag ignored: Signpost proxies by itself and runs no HAProxy process", "flag", p)
	}
	if cl.DCOSAuthCredentials != "" {
		return usagef("argument --dcos-auth-credentials: DC/OS service-account authentication is not supported; use --auth-credentials or --marathon-auth-credential-file")
	}
	cfg.Marathon = marathon.Config{
		URLs:               cl.Marathon,
		CredentialFile:     cl.CredentialFile,
		CACert:             cl.CACert,
		InsecureSkipVerify: insecure,
	}
	if cl.AuthCredentials != "" {
		if cfg.Marathon.Username, cfg.Marathon.Password, err = marathon.ParseCredentials(cl.AuthCredentials); err != nil {
			return usagef("argument --auth-credentials: %v", err)
		}
	}
	if cl.MaxBackoff > 0 {
		cfg.Marathon.BackoffMax = time.Duration(cl.MaxBackoff) * time.Second
		cfg.Marathon.BackoffMin = min(marathon.DefaultBackoffMin, cfg.Marathon.BackoffMax)
	}
	cfg.Flags = cl.Flags
	cfg.Flags.FrameworkName = os.Getenv("FRAMEWORK_NAME")
	cfg.Logger = log
	svc, err := service.New(cfg)
	if err != nil {
		return usageError{err}
	}

	if cl.Dry {
		dctx, cancel := context.WithTimeout(ctx, dryTimeout)
		defer cancel()
		out, err := svc.Once(dctx)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(out)
		return err
	}
	if !cl.SSE {
		log.Info("--sse not given: following Marathon's event stream anyway (Marathon-LB would configure once and exit; use --dry for a one-shot run)")
	}

	// SIGHUP and SIGUSR1 as in Marathon-LB: refetch everything, rebuild
	// from the last snapshot.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1)
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-sctx.Done():
				return
			case s := <-sigs:
				log.Info("signal received", "signal", s)
				if s == syscall.SIGHUP {
					svc.Refetch()
				} else {
					svc.Rebuild()
				}
			}
		}
	}()
	defer func() {
		signal.Stop(sigs)
		stop()
		wg.Wait()
	}()
	return svc.Run(ctx, nil)
}

// parseSeconds reads a duration as Go writes it ("30s", "1m30s") or a whole
// number of seconds, as Marathon-LB's time flags are given.
func parseSeconds(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, err2 := strconv.Atoi(v)
		if err2 != nil {
			return 0, fmt.Errorf("%q is not a duration (30s, 2m) or a number of seconds", v)
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: must be positive", v)
	}
	return d, nil
}

// parseLBLogLevel takes Marathon-LB's level names (Python logging's, in any
// case) and slog's. Marathon-LB defaults to DEBUG; Signpost to INFO, which
// still logs every route change.
func parseLBLogLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(s) {
	case "", "INFO":
		return slog.LevelInfo, nil
	case "DEBUG":
		return slog.LevelDebug, nil
	case "WARNING", "WARN":
		return slog.LevelWarn, nil
	case "ERROR", "CRITICAL":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL", s)
}

func lbUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: signpost lb --marathon URL [URL ...] --group GROUP [--group GROUP ...] [flags]

Load balancer following Marathon, a drop-in for Marathon-LB: the same command
line and app labels, with a native data plane instead of HAProxy.

Marathon-LB flags (argparse syntax: --name value or --name=value, unambiguous
abbreviations of these long names, -m URL URL ...):
  --marathon, -m URL [URL ...]   Marathon base URLs, tried in order (default http://master.mesos:8080)
  --group GROUP                  route services of this HAPROXY_GROUP (repeatable, required; * = all)
  --sse, -s                      follow the event stream (Signpost always does)
  --health-check, -H             route a task only once Marathon's health checks pass
  --strict-mode                  route only services with HAPROXY_{n}_ENABLED=true
  --haproxy-map                  route plain vhosts and app ids through a map lookup
  --dont-bind-http-https         no shared HTTP and HTTPS frontends
  --group-https-by-vhost         per-vhost TLS certificates on the HTTPS frontend
  --ssl-certs FILES              comma list of PEM files for the HTTPS frontend (default /etc/ssl/cert.pem)
  --min-serv-port-ip-per-task N  first service port assigned to IP-per-task apps (default 10050; 0 disables)
  --max-serv-port-ip-per-task N  last one (default 10100)
  --auth-credentials USER:PASS   HTTP basic auth for Marathon
  --marathon-auth-credential-file FILE
                                 the same, from the first line of FILE
  --marathon-ca-cert FILE        CAs to verify Marathon's certificate with
  --max-backoff SECONDS          longest wait between reconnection rounds (default 30)
  --dry, -d                      fetch once, print the route table and exit
  --log-level LEVEL              DEBUG, INFO (default), WARNING, ERROR or CRITICAL
  --help, -h, --longhelp         this text
Accepted and ignored with a warning (no HAProxy process): --haproxy-config,
--command/-c, --reload-interval, --max-reload-retries, --archive-versions,
--skip-validation, --skip-config-cleanup, --syslog-socket, --log-format,
--lru-cache-capacity. Refused: --dcos-auth-credentials.

Signpost's own (spelled in full):
  --http-addr ADDR               shared HTTP vhost frontend (default :80)
  --https-addr ADDR              shared HTTPS vhost frontend (default :443)
  --appid-addr ADDR              X-Marathon-App-Id frontend (default :9091)
  --admin-addr ADDR              /_haproxy_*, /_mlb_signal/*, /metrics (default :9090)
  --drain-timeout DURATION       how long connections to removed servers may go on (default 30s)
  --insecure-skip-verify         do not verify Marathon's TLS certificate
An ADDR is [IP]:PORT, or - to disable that listener.

Signals: SIGHUP refetches from Marathon, SIGUSR1 rebuilds the routes from the
last snapshot. The FRAMEWORK_NAME environment variable names the load
balancer's own app, which is not routed.
`)
}
