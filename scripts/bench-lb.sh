#!/usr/bin/env bash
# Load benchmarks of `signpost lb` (issue #4; figures and notes:
# docs/benchmarks-lb.md):
#
#   scripts/bench-lb.sh [seconds per wrk run]        (default 10)
#
# Four parts, each on its own simulated cluster (`signpost sim`), all on
# loopback:
#
# throughput  wrk, pinned to core 1 with the backends, against the same two
#             backend tasks reached directly, through HAProxy (Debian's 2.6)
#             and through `signpost lb`, each proxy pinned alone to core 0
#             (taskset -c 0, GOMAXPROCS=1 / nbthread 1), interleaved, ROUNDS
#             rounds, best round reported. Three cases: tcp (an app with
#             HAPROXY_0_MODE=tcp, HTTP keep-alive traffic through an L4
#             proxy), http (HAPROXY_0_MODE=http on the service port, L7,
#             keep-alive on both sides) and vhost (the shared HTTP frontend,
#             routing by Host). HAProxy runs the config Marathon-LB writes
#             for the same apps in two variants: with Marathon-LB's default
#             "option http-server-close" (a new backend connection per
#             request) and with "option http-keep-alive" (HAProxy 2.6's own
#             default, and what Signpost does: pooled keep-alive upstream
#             connections). The goals are judged against the keep-alive
#             variant, the equivalent one. The backends are tools/lbbackend
#             (a fixed-response HTTP/1.1 loop); the "direct" row is their
#             ceiling on core 1. Every run also records the proxy's CPU time
#             per request and how busy both cores were: when core 1 (wrk +
#             backends) is saturated, it, not the proxy, sets the rate, and
#             the CPU time per request is the figure that compares proxies.
# update      route update latency with UPDATE_APPS apps in Marathon: the app
#             /bench/probe (vhost probe.bench.example) is scaled 0 -> 1 and
#             1 -> 0 through the simulated Marathon's API, UPDATES times
#             each; after each PUT a client polls the lb every POLL_MS with
#             Host: probe.bench.example until the change serves (200 from
#             the new task; then 503 once it is gone). Reported: p50, p99,
#             max, measured from just before the PUT was sent (the sim
#             publishes the Marathon event inside the PUT, so this includes
#             the API call and is an upper bound of event -> serving).
# memory      RSS and Go heap of the lb once it follows MEMORY_APPS apps x
#             MEMORY_INSTANCES tasks (every app with a vhost and a service
#             port, so the lb has MEMORY_APPS listeners), 10 s after it
#             routes them all, and again after MEMORY_REBUILDS forced
#             rebuilds (/_mlb_signal/usr1), with the rebuild time.
# drops       wrk at steady load (DROPS_CONNS connections, not pinned to a
#             rate) through the lb's vhost frontend to /bench/drops (3 real
#             tasks, signpost sim -run-tasks), while (a) the simulator
#             scales it 3 -> 6 -> 3, restarts it and kills single tasks,
#             DROPS_ACTIONS changes in all, and then (b) UPDATE_APPS new apps
#             are deployed; every status code and socket error is counted.
#             /bench/drops always has at least 3 running tasks, so every
#             5xx and every socket error is a drop.
#
# Environment:
#   PARTS="throughput update memory drops"   which parts
#   ROUNDS=3            throughput runs per target and case
#   CASES="tcp http vhost"
#   TARGETS="direct ha hamlb sp"   direct; HAProxy keep-alive; HAProxy with
#                       Marathon-LB's http-server-close (http, vhost only);
#                       signpost lb
#   WRK_OPTS="-t1 -c32" load shape of the throughput runs
#   BODY_SIZE=32        response body bytes of the backends
#   UPDATE_APPS=1000    apps in Marathon for update and drops
#   UPDATES=100         scale-ups (and as many scale-downs) measured
#   POLL_MS=1           poll interval of the update client
#   MEMORY_APPS=10000 MEMORY_INSTANCES=3 MEMORY_REBUILDS=3
#   MEMORY_SETTLE=130   seconds after the rebuilds for a third reading, past
#                       the Go runtime's forced collection every 2 minutes
#                       (so the heap then is what the lb keeps; 0 skips)
#   DROPS_ACTIONS=100 DROPS_CONNS=16 DROPS_PAUSE_MS=200
#   KILL_GRACE=3s       how long the simulator keeps a killed task serving
#                       as TASK_KILLING (signpost sim -kill-grace; 0: none)
#   SIGNPOST_BIN=path   use this binary instead of building ./cmd/signpost
#   SIGNPOST_REV=rev    build ./cmd/signpost from this git revision instead
#                       of the working tree
#   LB_FLAGS="..."      extra flags for signpost lb
#   KEEP=1              keep the work folder (logs, configs, wrk outputs)
#   PORT_BASE=16000     fixed ports: +50 Mesos, +99 sim control, +3080
#                       Marathon, +80/+443/+91/+90 the proxies' HTTP,
#                       HTTPS, app-id and admin frontends, +201 backends,
#                       +300.. bench service ports
#   SERVICE_PORT_BASE=20000   service ports of the many-app clusters
#                       (20000 .. 20000 + MEMORY_APPS)
#
# Addresses: everything is in 127.88.0.0/16 (local on Linux without setup),
# so that no listener of this script collides with tests running on the
# same machine: HAProxy binds 127.88.0.1 (keep-alive) and 127.88.0.3
# (http-server-close), signpost lb 127.88.0.2 (its service listeners via
# HAPROXY_0_BIND_ADDR), backends 127.88.1.1-4. Every process started here is
# stopped on exit, also on Ctrl-C or error.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-10}
parts=${PARTS:-throughput update memory drops}
rounds=${ROUNDS:-3}
cases=${CASES:-tcp http vhost}
targets=${TARGETS:-direct ha hamlb sp}
wrkopts=${WRK_OPTS:--t1 -c32}
body_size=${BODY_SIZE:-32}
update_apps=${UPDATE_APPS:-1000}
updates=${UPDATES:-100}
poll_ms=${POLL_MS:-1}
memory_apps=${MEMORY_APPS:-10000}
memory_instances=${MEMORY_INSTANCES:-3}
memory_rebuilds=${MEMORY_REBUILDS:-3}
memory_settle=${MEMORY_SETTLE:-130}
drops_actions=${DROPS_ACTIONS:-100}
drops_conns=${DROPS_CONNS:-16}
drops_pause=${DROPS_PAUSE_MS:-200}
base=${PORT_BASE:-16000}
svc_base=${SERVICE_PORT_BASE:-20000}
mesos_port=$((base + 50))
control_port=$((base + 99))
marathon_port=$((base + 3080))
http_port=$((base + 80))
https_port=$((base + 443))
appid_port=$((base + 91))
admin_port=$((base + 90))
backend_port=$((base + 201))
tcp_svc=$((base + 300))
http_svc=$((base + 301))
probe_svc=$((base + 302))
drops_svc=$((base + 303))
haproxy=/usr/sbin/haproxy
declare -A label=([direct]="direct (no proxy)" [ha]="HAProxy 2.6 (keep-alive)" [hamlb]="HAProxy 2.6, Marathon-LB defaults (http-server-close)" [sp]="signpost lb")

[ -x "$haproxy" ] || haproxy=$(command -v haproxy || true)
for tool in wrk taskset python3 curl go git ss openssl; do
  command -v "$tool" >/dev/null || { echo "bench-lb: $tool is needed (scripts/install-deps.sh installs wrk and haproxy)" >&2; exit 2; }
done
[ -n "$haproxy" ] || { echo "bench-lb: haproxy is needed (scripts/install-deps.sh)" >&2; exit 2; }
if [ "$(nproc)" -lt 2 ]; then
  echo "bench-lb: needs 2 cores (proxy on core 0, wrk and backends on core 1)" >&2
  exit 2
fi
# The memory part opens one listener per app in the lb.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ " $parts " == *" memory "* ]] && [ "$(ulimit -n)" -lt $((memory_apps + 2000)) ]; then
  echo "bench-lb: the memory part needs ulimit -n of at least $((memory_apps + 2000)) (have $(ulimit -n)); lower MEMORY_APPS" >&2
  exit 2
fi

work=$(mktemp -d /tmp/bench-lb.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  if [ "${KEEP:-0}" = 1 ]; then
    echo "bench-lb: work folder kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench-lb: $*" >&2; }

# start NAME CMD...: runs CMD in the background, output in $work/NAME.log.
declare -A pid
start() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  pid[$name]=$!
}

# stop NAME: stops a process started with start.
stop() {
  local p=${pid[$1]:-}
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  pid[$1]=
}

# waitfor WHAT SECONDS CMD...: retries CMD every 0.1 s until it succeeds.
waitfor() {
  local what=$1 n=$(($2 * 10))
  shift 2
  for _ in $(seq "$n"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "$what: not ready after $((n / 10)) s"
  return 1
}

for p in $mesos_port $control_port $marathon_port $http_port $https_port $appid_port $admin_port $backend_port $tcp_svc $http_svc $probe_svc $drops_svc; do
  if [ -n "$(ss -Hlnt "sport = :$p")" ]; then
    log "port $p is in use (set PORT_BASE)"
    exit 2
  fi
done

# --- build -------------------------------------------------------------------
if [ -n "${SIGNPOST_BIN:-}" ]; then
  signpost=$SIGNPOST_BIN
  sp_version="binary $SIGNPOST_BIN"
elif [ -n "${SIGNPOST_REV:-}" ]; then
  mkdir -p "$work/src"
  git archive "$SIGNPOST_REV" | tar -x -C "$work/src"
  (cd "$work/src" && go build -o "$work/signpost" ./cmd/signpost)
  signpost=$work/signpost
  sp_version="git $(git rev-parse --short "$SIGNPOST_REV")"
else
  go build -o "$work/signpost" ./cmd/signpost
  signpost=$work/signpost
  sp_version="working tree at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- cmd internal go.mod || echo ' + local changes')"
fi
go build -o "$work/lbbackend" ./tools/lbbackend

# signpost lb is usable when its help lists --marathon; until then the
# script measures everything else and says so.
lb_help=$("$signpost" lb -h 2>&1 || true)
lb_ok=0
if grep -q -- '-marathon' <<<"$lb_help"; then
  lb_ok=1
else
  log "signpost lb does not run yet (its -h lists no --marathon): its rows and the update, memory and drops parts are skipped"
  targets=$(sed 's/\bsp\b//' <<<"$targets")
fi
has() { [[ " $targets " == *" $1 "* ]]; }
part() { [[ " $parts " == *" $1 "* ]]; }

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench.example \
  -keyout "$work/key.pem" -out "$work/crt.pem" >/dev/null 2>&1
cat "$work/crt.pem" "$work/key.pem" >"$work/cert.pem"

# lb_args: the command line of signpost lb, one word a line: the
# flags Marathon-LB has, plus the listen addresses (all on 127.88.0.2).
lb_args() {
  local a=(lb --marathon "http://127.0.0.1:$marathon_port" --group external --sse
    --http-addr "127.88.0.2:$http_port" --https-addr "127.88.0.2:$https_port"
    --appid-addr "127.88.0.2:$appid_port" --admin-addr "127.88.0.2:$admin_port")
  if grep -q -- '-ssl-certs' <<<"$lb_help"; then a+=(--ssl-certs "$work/cert.pem"); fi
  if grep -q -- '-log-level' <<<"$lb_help"; then a+=(--log-level WARNING); fi
  # shellcheck disable=SC2206
  a+=(${LB_FLAGS:-})
  printf '%s\n' "${a[@]}"
}

cat >"$work/helper.py" <<'PY'
import collections, http.client, json, os, socket, sys, time, urllib.request

BACKENDS = ["127.88.1.%d" % i for i in range(1, 5)]

def task(app, i, host, port):
    return {"id": "%s.%08d-0000-0000-0000-000000000000" % (app.strip("/").replace("/", "_"), i),
            "appId": app, "host": host, "ports": [port], "slaveId": "bench-agent-" + host,
            "ipAddresses": [{"ipAddress": host, "protocol": "IPv4"}],
            "stagedAt": "2026-01-01T00:00:00.000Z", "startedAt": "2026-01-01T00:00:00.000Z",
            "state": "TASK_RUNNING", "version": "2026-01-01T00:00:00.000Z"}

def app(id, port, labels, tasks, instances=None):
    return {"id": id, "cmd": "bench", "cpus": 0.1, "mem": 32,
            "instances": len(tasks) if instances is None else instances,
            "labels": dict({"HAPROXY_GROUP": "external", "HAPROXY_0_BIND_ADDR": "127.88.0.2"}, **labels),
            "networks": [{"mode": "host"}],
            "portDefinitions": [{"port": port, "protocol": "tcp", "name": "http"}],
            "healthChecks": [], "tasks": tasks}

def doc(out, kind, bport, tcp_svc, http_svc, probe_svc, napps, ninst, svc_base):
    """Writes a Marathon /v2/apps?embed=apps.tasks document for signpost sim
    -state. Every task points at a tools/lbbackend address, so the loaded
    tasks answer without -run-tasks; tasks the simulator starts later (scale,
    restart) are placed on the same hosts and, with -run-tasks, answer
    themselves on ports 31000-32000."""
    bport, tcp_svc, http_svc, probe_svc, napps, ninst, svc_base = map(int, (bport, tcp_svc, http_svc, probe_svc, napps, ninst, svc_base))
    apps = []
    if kind == "throughput":
        apps.append(app("/bench/tcp", tcp_svc, {"HAPROXY_0_MODE": "tcp"},
                        [task("/bench/tcp", i, BACKENDS[i], bport) for i in range(2)]))
        apps.append(app("/bench/http", http_svc, {"HAPROXY_0_MODE": "http", "HAPROXY_0_VHOST": "bench.example"},
                        [task("/bench/http", i, BACKENDS[i], bport) for i in range(2)]))
    else:
        # Keeps every backend host an agent of the simulator, so that tasks
        # it starts can be placed on all four.
        apps.append(app("/bench/static", http_svc, {"HAPROXY_0_VHOST": "static.bench.example"},
                        [task("/bench/static", i, BACKENDS[i], bport) for i in range(4)]))
        apps.append(app("/bench/probe", probe_svc, {"HAPROXY_0_VHOST": "probe.bench.example"}, [], instances=0))
        for a in range(napps):
            id = "/fill/app-%d" % a
            apps.append(app(id, svc_base + a, {"HAPROXY_0_VHOST": "app-%d.fill.bench.example" % a},
                            [task(id, i, BACKENDS[(a + i) % 4], bport) for i in range(ninst)]))
    json.dump({"apps": apps}, open(out, "w"))

def stat_ticks(p):
    f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])

def ticks(path, *procs):
    """Saves the CPU ticks used so far by the given processes and by cores 0
    and 1."""
    t = {}
    for p in procs:
        try:
            t[p] = stat_ticks(p)
        except (OSError, IndexError):
            pass
    for line in open("/proc/stat"):
        f = line.split()
        if f[0] in ("cpu0", "cpu1"):
            v = [int(x) for x in f[1:]]
            t[f[0]] = [sum(v) - v[3] - v[4], sum(v)]
    t["time"] = time.time()
    json.dump(t, open(path, "w"))

def wrkout(path):
    """Parses wrk --latency output: req/s, p99 ms, requests, socket errors,
    non-2xx/3xx."""
    rps = p99 = "-"
    reqs = errs = non2 = 0
    for line in open(path, errors="replace"):
        f = line.split()
        if line.startswith("Requests/sec:"):
            rps = "%.0f" % float(f[1])
        elif line.strip().startswith("99%"):
            v = f[1]
            mult = {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}
            for u in ("us", "ms", "s", "m"):
                if v.endswith(u):
                    p99 = "%.2f" % (float(v[:-len(u)]) * mult[u])
                    break
        elif "requests in" in line:
            reqs = int(f[0])
        elif line.startswith("  Socket errors:"):
            errs = sum(int(x.strip(",")) for x in f if x.strip(",").isdigit())
        elif line.startswith("  Non-2xx or 3xx responses:"):
            non2 = int(f[-1])
    return rps, p99, reqs, errs, non2

def run(t0, t1, proxy, backend, wrk, wrk_cpu):
    """One throughput run: req/s, p99 ms, proxy CPU us per request, core 0
    busy %, core 1 busy %, socket errors + non-2xx, and the CPU used
    meanwhile by everything but the proxy, the backends and wrk, in % of
    one core (other jobs on the machine, the simulator, kernel threads)."""
    a, b = json.load(open(t0)), json.load(open(t1))
    hz = os.sysconf("SC_CLK_TCK")
    rps, p99, reqs, errs, non2 = wrkout(wrk)
    busy = [100 * (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]) for c in ("cpu0", "cpu1")]
    us = "-"
    if proxy in a and proxy in b and reqs:
        us = "%.2f" % (1e6 * (b[proxy] - a[proxy]) / hz / reqs)
    used = sum(b[p] - a[p] for p in {proxy, backend} if p in a and p in b)
    allbusy = sum(b[c][0] - a[c][0] for c in ("cpu0", "cpu1"))
    other = max(0, allbusy - used - float(wrk_cpu) * hz) / hz / max(0.001, b["time"] - a["time"])
    print(rps, p99, us, "%.0f" % busy[0], "%.0f" % busy[1], errs + non2, "%.0f" % (100 * other))

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]

def put(marathon, path, body):
    req = urllib.request.Request(marathon + path, data=json.dumps(body).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()

def probe(addr, host):
    """One request through the lb on a fresh connection: its status, or 0."""
    h, p = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(h, int(p), timeout=2)
    try:
        c.request("GET", "/", headers={"Host": host})
        r = c.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        c.close()

def update(marathon, lb, n, poll_ms, out):
    """Scales /bench/probe 0 -> 1 and back n times; after each PUT polls the
    lb until the change serves. Prints p50 p99 max (ms) of scale-up and of
    scale-down, and the number of timeouts."""
    host = "probe.bench.example"
    poll = int(poll_ms) / 1000.0
    ups, downs, timeouts = [], [], 0
    log = open(out, "w")
    for i in range(int(n)):
        for instances, want, lst in ((1, lambda s: s == 200, ups), (0, lambda s: s in (502, 503), downs)):
            t0 = time.monotonic()
            put(marathon, "/v2/apps/bench/probe", {"instances": instances})
            tput = time.monotonic()
            while True:
                s = probe(lb, host)
                now = time.monotonic()
                if want(s):
                    lst.append((now - t0) * 1000)
                    break
                if now - t0 > 10:
                    timeouts += 1
                    break
                time.sleep(poll)
            print("%d instances=%d put=%.2fms served=%.2fms status=%d" % (i, instances, (tput - t0) * 1000, (now - t0) * 1000, s), file=log)
        time.sleep(0.02)
    f = lambda xs: "%.1f %.1f %.1f" % (pct(xs, .5), pct(xs, .99), max(xs)) if xs else "- - -"
    print(f(ups), f(downs), timeouts, len(ups), len(downs))

def services(admin):
    """How many services the lb routes, from the "# services: N" line of
    /_haproxy_getconfig."""
    with urllib.request.urlopen("http://%s/_haproxy_getconfig" % admin, timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("# services:"):
                return int(line.split()[2].strip(","))
    return -1

def waitservices(admin, n, timeout):
    deadline = time.time() + float(timeout)
    got = -1
    while time.time() < deadline:
        try:
            got = services(admin)
            if got >= int(n):
                print(got)
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit("the lb routes %d services after %s s, want %s" % (got, timeout, n))

def metric(admin, name):
    """The sum of a metric's samples on the lb's /metrics (0 if absent)."""
    total = 0.0
    with urllib.request.urlopen("http://%s/metrics" % admin, timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rpartition(" ")[2])
    return total

def rebuilds(admin):
    """Route-table rebuilds so far and their total seconds."""
    print("%d %.6f" % (metric(admin, "signpost_lb_rebuild_duration_seconds_count"),
                       metric(admin, "signpost_lb_rebuild_duration_seconds_sum")))

def rebuild(admin, n, timeout):
    """Asks for n rebuilds (/_mlb_signal/usr1), one at a time, each once the
    previous one is done; prints the mean seconds of one."""
    c0 = metric(admin, "signpost_lb_rebuild_duration_seconds_count")
    s0 = metric(admin, "signpost_lb_rebuild_duration_seconds_sum")
    for i in range(int(n)):
        urllib.request.urlopen("http://%s/_mlb_signal/usr1" % admin, timeout=30).read()
        deadline = time.time() + float(timeout)
        while metric(admin, "signpost_lb_rebuild_duration_seconds_count") < c0 + i + 1:
            if time.time() > deadline:
                raise SystemExit("rebuild %d not done after %s s" % (i + 1, timeout))
            time.sleep(0.1)
    c1 = metric(admin, "signpost_lb_rebuild_duration_seconds_count")
    s1 = metric(admin, "signpost_lb_rebuild_duration_seconds_sum")
    print("%.0f" % (1000 * (s1 - s0) / max(1, c1 - c0)))

def memory(p, admin):
    """RSS, peak RSS (MiB) from /proc; heap in use, heap obtained from the
    OS and the next GC's heap goal (MiB) and goroutines from the lb's
    /metrics; threads."""
    st = {}
    for line in open("/proc/%s/status" % p):
        k, v = line.split(":", 1)
        st[k] = v.split()
    m = {}
    try:
        with urllib.request.urlopen("http://%s/metrics" % admin, timeout=30) as r:
            for line in r.read().decode().splitlines():
                if line and not line.startswith("#"):
                    k, _, v = line.rpartition(" ")
                    m[k] = v
    except OSError:
        pass
    mib = lambda k: "%.0f" % (float(m[k]) / 2**20) if k in m else "-"
    print("%.0f %.0f %s %s %s %s %s" % (int(st["VmRSS"][0]) / 1024, int(st["VmHWM"][0]) / 1024,
          mib("go_memstats_heap_inuse_bytes"), mib("go_memstats_heap_sys_bytes"),
          mib("go_memstats_next_gc_bytes"), m.get("go_goroutines", "-"), st["Threads"][0]))

def actions(marathon, kind, n, pause_ms, out):
    """n changes of one kind to /bench/drops: "scale" alternates 3 -> 6 and
    6 -> 3; "kill" kills one task (Marathon replaces it); "restart" is
    Marathon's restart (the new tasks are started, then the old ones
    killed). The app never has fewer than 3 running tasks."""
    log = open(out, "a")
    def req(method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(marathon + path, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=30) as resp:
            return json.loads(resp.read() or b"null")
    for i in range(int(n)):
        t = time.time()
        if kind == "scale":
            req("PUT", "/v2/apps/bench/drops", {"instances": 6 if i % 2 == 0 else 3})
        elif kind == "kill":
            tasks = req("GET", "/v2/apps/bench/drops/tasks")["tasks"]
            req("DELETE", "/v2/apps/bench/drops/tasks/" + tasks[i % len(tasks)]["id"])
        elif kind == "restart":
            req("POST", "/v2/apps/bench/drops/restart", {})
        else:
            raise SystemExit("unknown action " + kind)
        print("%.3f %s %d" % (t, kind, i), file=log)
        time.sleep(int(pause_ms) / 1000)
    if kind == "scale" and int(n) % 2:
        req("PUT", "/v2/apps/bench/drops", {"instances": 3})

def deploy(marathon, n, svc_base, out):
    """Deploys n new apps (one task each, a vhost and a service port) one
    POST at a time."""
    log = open(out, "w")
    t0 = time.time()
    for a in range(int(n)):
        body = {"id": "/deploy/app-%d" % a, "cmd": "bench", "instances": 1, "cpus": 0.1, "mem": 32,
                "labels": {"HAPROXY_GROUP": "external", "HAPROXY_0_BIND_ADDR": "127.88.0.2",
                           "HAPROXY_0_VHOST": "app-%d.deploy.bench.example" % a},
                "portDefinitions": [{"port": int(svc_base) + a, "protocol": "tcp", "name": "http"}]}
        r = urllib.request.Request(marathon + "/v2/apps", data=json.dumps(body).encode(), method="POST",
                                   headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=30) as resp:
            resp.read()
    print("%d apps in %.1f s" % (int(n), time.time() - t0), file=log)
    print("%.1f" % (time.time() - t0))

def statuses(path):
    """The status counts printed by the wrk script (lines 'status N COUNT')
    and wrk's own totals: requests, socket errors (connect read write
    timeout), non-2xx."""
    counts = {}
    errs = "0 0 0 0"
    reqs = 0
    for line in open(path, errors="replace"):
        f = line.split()
        if line.startswith("status "):
            counts[f[1]] = int(f[2])
        elif line.startswith("  Socket errors:"):
            errs = " ".join(x.strip(",") for x in f if x.strip(",").isdigit())
        elif "requests in" in line:
            reqs = int(f[0])
    print(reqs, errs.replace(" ", "/"), ",".join("%s:%d" % kv for kv in sorted(counts.items())) or "-")

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    globals()[cmd](*args)
PY
helper() { python3 "$work/helper.py" "$@"; }

cat >"$work/status.lua" <<'LUA'
-- Counts responses by status; done() prints "status N COUNT" lines.
-- counts is global: thread:get reads a thread's globals.
counts = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("counts")) do total[s] = (total[s] or 0) + n end
  end
  for s, n in pairs(total) do io.write(string.format("status %d %d\n", s, n)) end
end
LUA

# start_sim STATE_FILE EXTRA...: the simulator, on core 1 (it only works
# when something changes, and core 0 belongs to the proxy). A killed task
# stays TASK_KILLING, still serving, for KILL_GRACE (default 3s, Mesos'
# default grace period) before it stops, when the binary has -kill-grace.
start_sim() {
  local state=$1 grace=()
  shift
  if grep -q -- '-kill-grace' <<<"$("$signpost" sim -h 2>&1 || true)"; then
    grace=(-kill-grace "${KILL_GRACE:-3s}")
  fi
  start sim taskset -c 1 "$signpost" sim -log-level warn -state "$state" \
    -mesos-addr 127.0.0.1:$mesos_port -marathon-addr 127.0.0.1:$marathon_port \
    -control-addr 127.0.0.1:$control_port "${grace[@]}" "$@"
  waitfor "simulator" 300 curl -fs "127.0.0.1:$marathon_port/ping"
}

# start_lb: signpost lb pinned to core 0, following the simulator.
start_lb() {
  mapfile -t args < <(lb_args)
  echo "GOMAXPROCS=1 taskset -c 0 signpost ${args[*]}" >"$work/lb.cmd"
  start lb env GOMAXPROCS=1 taskset -c 0 "$signpost" "${args[@]}"
  waitfor "signpost lb admin" 60 curl -fs "127.88.0.2:$admin_port/_haproxy_health_check" || { tail -20 "$work/lb.log" >&2; return 1; }
}

start backend env GOMAXPROCS=1 taskset -c 1 "$work/lbbackend" -body-size "$body_size" \
  -addr "$(for i in 1 2 3 4; do printf '127.88.1.%d:%d,' "$i" "$backend_port"; done | sed 's/,$//')"
waitfor "lbbackend" 10 grep -q serving "$work/backend.log"

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
report=()
out() { report+=("$*"); }

# --- throughput --------------------------------------------------------------
if part throughput; then
  helper doc "$work/throughput.json" throughput "$backend_port" "$tcp_svc" "$http_svc" 0 0 0 0
  start_sim "$work/throughput.json"
  # The config Marathon-LB writes for these two apps (conformance cases 01
  # and 10: frontend and backend per service port, the vhost ACL on the
  # shared HTTP frontend), less what has no bearing on the data path or
  # cannot run here: the Lua services, stats socket, server-state file and
  # syslog lines (no syslog here: per-request logging would only slow it).
  # maxconn 50000 needs 100k file descriptors, so 4096 (wrk opens 32).
  # nbthread 1: HAProxy 2.6 would start one thread per CPU of its affinity
  # set, which taskset -c 0 makes one anyway.
  {
    cat <<EOF
global
  maxconn 4096
  nbthread 1
  spread-checks 5
  max-spread-checks 15000
  tune.ssl.default-dh-param 2048
EOF
    for v in ka mlb; do
      ip=127.88.0.1 opt=http-keep-alive
      [ $v = ka ] || ip=127.88.0.3 opt=http-server-close
      cat <<EOF
# --- $v: option $opt
defaults
  retries                   3
  backlog               10000
  maxconn               4096
  timeout connect          3s
  timeout client          30s
  timeout server          30s
  timeout tunnel        3600s
  timeout http-keep-alive  1s
  timeout http-request    15s
  timeout queue           30s
  timeout tarpit          60s
  option            dontlognull
  option            $opt
  option            redispatch

frontend marathon_http_in_$v
  bind $ip:$http_port
  mode http
  acl host_bench_example_bench_http hdr(host) -i bench.example
  use_backend bench_http_${http_svc}_$v if host_bench_example_bench_http

frontend bench_tcp_${tcp_svc}_$v
  bind $ip:$tcp_svc
  mode tcp
  use_backend bench_tcp_${tcp_svc}_$v

backend bench_tcp_${tcp_svc}_$v
  balance roundrobin
  mode tcp
  server 127_88_1_1_$backend_port 127.88.1.1:$backend_port id 1
  server 127_88_1_2_$backend_port 127.88.1.2:$backend_port id 2

frontend bench_http_${http_svc}_$v
  bind $ip:$http_svc
  mode http
  use_backend bench_http_${http_svc}_$v

backend bench_http_${http_svc}_$v
  balance roundrobin
  mode http
  option forwardfor
  http-request set-header X-Forwarded-Port %[dst_port]
  http-request add-header X-Forwarded-Proto https if { ssl_fc }
  server 127_88_1_1_$backend_port 127.88.1.1:$backend_port id 1
  server 127_88_1_2_$backend_port 127.88.1.2:$backend_port id 2

EOF
    done
  } >"$work/haproxy.cfg"
  "$haproxy" -c -q -f "$work/haproxy.cfg" || { log "haproxy refuses the config:"; "$haproxy" -c -f "$work/haproxy.cfg" >&2; exit 1; }
  start haproxy taskset -c 0 "$haproxy" -db -f "$work/haproxy.cfg"
  waitfor haproxy 10 curl -fs -o /dev/null "127.88.0.1:$http_svc/"
  if has sp; then
    start_lb
    waitfor "signpost lb route" 60 curl -fs -o /dev/null -H "Host: bench.example" "127.88.0.2:$http_port/"
  fi
  log "proxies up; $(curl -s -D - -o /dev/null "127.88.0.1:$http_svc/" | grep -i x-backend | tr -d '\r')"

  # url CASE TARGET: what wrk loads; empty when the pair is not measured.
  url() {
    local ip
    case $2 in
      direct) echo "http://127.88.1.1:$backend_port/"; return ;;
      ha) ip=127.88.0.1 ;;
      hamlb) [ "$1" != tcp ] || return 0; ip=127.88.0.3 ;;
      sp) ip=127.88.0.2 ;;
    esac
    case $1 in
      tcp) echo "http://$ip:$tcp_svc/" ;;
      http) echo "http://$ip:$http_svc/" ;;
      vhost) echo "http://$ip:$http_port/" ;;
    esac
  }
  proxy_pid() {
    case $1 in
      ha | hamlb) echo "${pid[haproxy]}" ;;
      sp) echo "${pid[lb]}" ;;
      direct) echo "${pid[backend]}" ;;
    esac
  }
  wrk_cmd="taskset -c 1 wrk $wrkopts -d${secs}s --latency"
  for c in $cases; do
    for t in $targets; do : >"$work/$c.$t"; done
    for r in $(seq "$rounds"); do
      order=$(echo $targets | tr ' ' '\n' | awk -v r="$r" '{a[NR] = $0} END {for (i = 0; i < NR; i++) print a[(i + r - 1) % NR + 1]}')
      for t in $order; do
        u=$(url "$c" "$t")
        [ -n "$u" ] || continue
        hdr=()
        [ "$c" != vhost ] || hdr=(-H "Host: bench.example")
        pp=$(proxy_pid "$t")
        helper ticks "$work/t0" "$pp" "${pid[backend]}"
        TIMEFORMAT='%U %S'
        # shellcheck disable=SC2086
        { time $wrk_cmd "${hdr[@]}" "$u" >"$work/$c-$t-$r.wrk" 2>&1 || true; } 2>"$work/time"
        helper ticks "$work/t1" "$pp" "${pid[backend]}"
        res=$(helper run "$work/t0" "$work/t1" "$pp" "${pid[backend]}" "$work/$c-$t-$r.wrk" "$(awk '{print $1 + $2}' "$work/time")")
        echo "$res" >>"$work/$c.$t"
        log "$c round $r ${label[$t]}: $(awk '{printf "%s req/s, p99 %s ms, %s us CPU/request, core 0 %s%% busy, core 1 %s%%, %s errors, other load %s%% of a core", $1, $2, $3, $4, $5, $6, $7}' <<<"$res")"
      done
    done
  done
  # The best round by req/s, with its other columns.
  bestrow() { [ -s "$1" ] && sort -g -k1,1 "$1" | tail -1 || echo "- - - - - - -"; }
  lowus() { [ -s "$1" ] && cut -d' ' -f3 "$1" | grep -v -- - | sort -g | head -1 || echo -; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || a == "-" || b == "-" || b == 0) print "-"; else printf "%.0f %%", 100 * a / b}'; }
  out ""
  out "### Throughput"
  out ""
  out "wrk \`$wrkopts -d${secs}s --latency\` pinned to core 1 with the backends (tools/lbbackend, GOMAXPROCS=1, 2 tasks, $body_size-byte bodies); each proxy alone on core 0. Best of $rounds interleaved rounds by req/s, with that round's p99, core load, other load (CPU used by anything but the proxy, the backends and wrk, in % of one core) and errors (socket errors + non-2xx); \"CPU/req\" is the proxy process's CPU time (user + system) per request, lowest of the rounds (for \"direct\": the backend's)."
  out ""
  out "| case | target | req/s | p99 | CPU/req | core 0 / core 1 busy | other load | errors | vs HAProxy keep-alive: req/s, CPU/req |"
  out "|---|---|---|---|---|---|---|---|---|"
  for c in $cases; do
    read -r ha_rps _ <<<"$(bestrow "$work/$c.ha")"
    ha_us=$(lowus "$work/$c.ha")
    for t in $targets; do
      [ -n "$(url "$c" "$t")" ] || continue
      read -r rps p99 _ b0 b1 errs other <<<"$(bestrow "$work/$c.$t")"
      us=$(lowus "$work/$c.$t")
      cmp=
      [ "$t" = direct ] || [ "$t" = ha ] || cmp="$(ratio "$rps" "$ha_rps"), $(ratio "$ha_us" "$us")"
      out "| $c | ${label[$t]} | $rps | $p99 ms | $us us | $b0 % / $b1 % | $other % | $errs | $cmp |"
    done
  done
  if has sp && has ha; then
    out ""
    for c in $cases; do
      read -r ha_rps _ <<<"$(bestrow "$work/$c.ha")"
      read -r sp_rps _ <<<"$(bestrow "$work/$c.sp")"
      goal=70
      [ "$c" != tcp ] || goal=90
      out "- $c: signpost lb at $(ratio "$sp_rps" "$ha_rps") of HAProxy's req/s and $(ratio "$(lowus "$work/$c.ha")" "$(lowus "$work/$c.sp")") of its CPU efficiency (goal: at least $goal %)."
    done
  fi
  stop lb
  stop haproxy
  stop sim
fi

# --- update and drops: UPDATE_APPS apps, real tasks --------------------------
if { part update || part drops; } && [ "$lb_ok" = 1 ]; then
  helper doc "$work/many.json" many "$backend_port" 0 "$http_svc" "$probe_svc" "$update_apps" 1 "$svc_base"
  start_sim "$work/many.json" -run-tasks
  start_lb
  n=$(helper waitservices "127.88.0.2:$admin_port" "$((update_apps + 1))" 120)
  log "signpost lb routes $n services"
  if part update; then
    read -r rc0 rs0 < <(helper rebuilds "127.88.0.2:$admin_port")
    read -r u50 u99 umax d50 d99 dmax timeouts nu nd < <(helper update "http://127.0.0.1:$marathon_port" "127.88.0.2:$http_port" "$updates" "$poll_ms" "$work/update.log")
    read -r rc1 rs1 < <(helper rebuilds "127.88.0.2:$admin_port")
    rbn=$((rc1 - rc0))
    rbms=$(awk -v a="$rs0" -v b="$rs1" -v n="$rbn" 'BEGIN {printf "%.1f", n ? 1000 * (b - a) / n : 0}')
    log "update: scale-up p50 $u50 ms, p99 $u99 ms, max $umax ms ($nu); scale-down p50 $d50 ms, p99 $d99 ms, max $dmax ms ($nd); $timeouts timeouts"
    out ""
    out "### Route update ($update_apps apps in Marathon)"
    out ""
    out "From just before \`PUT /v2/apps/bench/probe\` to the first request through the lb (fresh connection, polled every $poll_ms ms, Host: probe.bench.example) that shows the change; $updates changes each way."
    out ""
    out "| change | served after: p50 | p99 | max | timeouts (10 s) |"
    out "|---|---|---|---|---|"
    out "| scale 0 -> 1 (200 from the new task) | $u50 ms | $u99 ms | $umax ms | $timeouts |"
    out "| scale 1 -> 0 (503, no task) | $d50 ms | $d99 ms | $dmax ms | |"
    out ""
    out "The lb rebuilt its route table $rbn times during these $((2 * updates)) changes, $rbms ms per rebuild on average (signpost_lb_rebuild_duration_seconds). Scale-down is served as soon as the task is gone: the simulator closes a killed task's listener at once, and the lb answers 503 when it cannot connect; it does not measure the route update."
  fi
  if part drops; then
    curl -fs -X POST -H 'Content-Type: application/json' "127.0.0.1:$marathon_port/v2/apps" \
      -d "{\"id\":\"/bench/drops\",\"cmd\":\"bench\",\"instances\":3,\"labels\":{\"HAPROXY_GROUP\":\"external\",\"HAPROXY_0_BIND_ADDR\":\"127.88.0.2\",\"HAPROXY_0_VHOST\":\"drops.bench.example\"},\"portDefinitions\":[{\"port\":$drops_svc,\"protocol\":\"tcp\"}]}" >/dev/null
    waitfor "route to /bench/drops" 30 curl -fs -o /dev/null -H "Host: drops.bench.example" "127.88.0.2:$http_port/"
    # wrk runs until stopped with SIGINT (it then prints its results and
    # runs done()), 3 s after the last change; one run per kind of change,
    # so that any error is attributed.
    declare -A nact=([scale]=$((drops_actions / 2)) [kill]=$((drops_actions / 4)) [restart]=$((drops_actions - drops_actions / 2 - drops_actions / 4)))
    declare -A what=([scale]="scale 3 -> 6 and back" [kill]="kill one task (replaced)" [restart]="restart (new tasks, then old ones killed)")
    drows=()
    for k in scale kill restart; do
      [ "${nact[$k]}" -gt 0 ] || continue
      start "wrk-$k" taskset -c 1 wrk -t1 -c"$drops_conns" -d1h -s "$work/status.lua" -H "Host: drops.bench.example" "http://127.88.0.2:$http_port/"
      sleep 2
      helper actions "http://127.0.0.1:$marathon_port" "$k" "${nact[$k]}" "$drops_pause" "$work/actions.log"
      sleep 3
      kill -INT "${pid[wrk-$k]}"
      wait "${pid[wrk-$k]}" || true
      read -r reqs errs st < <(helper statuses "$work/wrk-$k.log")
      log "drops, ${nact[$k]} x ${what[$k]}: $reqs requests, socket errors (connect/read/write/timeout) $errs, statuses $st"
      drows+=("| ${nact[$k]} x ${what[$k]}, ${drops_pause} ms apart | $reqs | $errs | $st |")
    done
    start wrk2 taskset -c 1 wrk -t1 -c"$drops_conns" -d1h -s "$work/status.lua" -H "Host: drops.bench.example" "http://127.88.0.2:$http_port/"
    sleep 2
    took=$(helper deploy "http://127.0.0.1:$marathon_port" "$update_apps" "$((svc_base + update_apps))" "$work/deploy.log")
    # Until the lb routes every new app, then 3 s more.
    w0=$EPOCHREALTIME
    helper waitservices "127.88.0.2:$admin_port" "$((2 * update_apps + 2))" 300 >/dev/null
    routed=$(awk -v a="$w0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
    sleep 3
    kill -INT "${pid[wrk2]}"
    wait "${pid[wrk2]}" || true
    read -r reqs2 errs2 st2 < <(helper statuses "$work/wrk2.log")
    log "drops while deploying $update_apps apps (${took} s, all routed ${routed} s after the last POST): $reqs2 requests, socket errors $errs2, statuses $st2"
    out ""
    out "### Zero drops"
    out ""
    out "wrk \`-t1 -c$drops_conns -s status.lua\` through the lb's vhost frontend to /bench/drops (3 tasks of \`signpost sim -run-tasks\`, never fewer), $update_apps other apps in Marathon."
    out ""
    out "| while | requests | socket errors connect/read/write/timeout | responses by status |"
    out "|---|---|---|---|"
    for r in "${drows[@]}"; do out "$r"; done
    out "| deploying $update_apps new apps, one POST each (${took} s; all routed ${routed} s after the last) | $reqs2 | $errs2 | $st2 |"
  fi
  stop lb
  stop sim
fi

# --- memory ------------------------------------------------------------------
if part memory && [ "$lb_ok" = 1 ]; then
  helper doc "$work/memory.json" memory "$backend_port" 0 "$http_svc" "$probe_svc" "$memory_apps" "$memory_instances" "$svc_base"
  start_sim "$work/memory.json"
  t0=$EPOCHREALTIME
  start_lb
  n=$(helper waitservices "127.88.0.2:$admin_port" "$((memory_apps + 1))" 600)
  loaded=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
  log "signpost lb routes $n services, $loaded s after start"
  sleep 10
  read -r rss hwm heap heapsys goal gor _ < <(helper memory "${pid[lb]}" "127.88.0.2:$admin_port")
  read -r _ initial_s < <(helper rebuilds "127.88.0.2:$admin_port")
  rb_ms=$(helper rebuild "127.88.0.2:$admin_port" "$memory_rebuilds" 300)
  sleep 10
  read -r rss2 hwm2 heap2 heapsys2 goal2 gor2 _ < <(helper memory "${pid[lb]}" "127.88.0.2:$admin_port")
  log "memory: RSS $rss MiB (peak $hwm), heap in use $heap MiB; after $memory_rebuilds rebuilds ($rb_ms ms each): RSS $rss2 MiB (peak $hwm2), heap $heap2 MiB"
  out ""
  out "### Memory ($memory_apps apps x $memory_instances tasks, a vhost and a service port each)"
  out ""
  out "The lb (GOMAXPROCS=1, core 0) routed every service $loaded s after it started; its first route table took $(awk -v s="$initial_s" 'BEGIN {printf "%.0f", 1000 * s}') ms to build and apply, a rebuild (/_mlb_signal/usr1) $rb_ms ms (mean of $memory_rebuilds). Heap figures from its /metrics; \"next GC goal\" is the heap size at which the Go runtime collects next (twice the heap live after the last collection, GOGC=100)."
  out ""
  out "| when | RSS | peak RSS | Go heap in use | Go heap from the OS | next GC goal | goroutines |"
  out "|---|---|---|---|---|---|---|"
  out "| every service routed, + 10 s | $rss MiB | $hwm MiB | $heap MiB | $heapsys MiB | $goal MiB | $gor |"
  out "| after $memory_rebuilds rebuilds, + 10 s | $rss2 MiB | $hwm2 MiB | $heap2 MiB | $heapsys2 MiB | $goal2 MiB | $gor2 |"
  if [ "$memory_settle" -gt 0 ]; then
    sleep "$memory_settle"
    read -r rss3 hwm3 heap3 heapsys3 goal3 gor3 _ < <(helper memory "${pid[lb]}" "127.88.0.2:$admin_port")
    log "memory: $memory_settle s later (past the runtime's periodic collection): RSS $rss3 MiB, heap in use $heap3 MiB, next GC goal $goal3 MiB"
    out "| idle $memory_settle s more (a periodic collection ran) | $rss3 MiB | $hwm3 MiB | $heap3 MiB | $heapsys3 MiB | $goal3 MiB | $gor3 |"
  fi
  stop lb
  stop sim
fi

# --- report ------------------------------------------------------------------
echo
echo "Signpost $sp_version; $(nproc) cores ($cpu); $("$haproxy" -v | head -1 | cut -d' ' -f1-3); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); ${secs} s per wrk run; $(date -u +%FT%TZ)"
[ "$lb_ok" = 1 ] || echo "signpost lb did not run (its -h lists no --marathon): no signpost rows, no update, memory or drops figures."
[ ! -s "$work/lb.cmd" ] || echo "signpost lb command: \`$(cat "$work/lb.cmd")\`"
printf '%s\n' "${report[@]}"
