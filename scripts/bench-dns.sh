#!/usr/bin/env bash
# DNS load benchmark (figures and notes: docs/benchmarks-dns.md):
#
#   scripts/bench-dns.sh [seconds per run]        (default 10)
#
# A simulated cluster of 10,000 tasks (500 agents, 500 apps x 20 instances)
# is served by `signpost dns` pinned to core 0 with GOMAXPROCS=1; dnsperf,
# pinned to core 1, measures its peak UDP throughput for three cases:
#
#   A1   A of canonical task names            (1 answer)
#   A20  A of app names                       (20 answers)
#   SRV  SRV of _app._tcp names, EDNS0 4096   (20 answers + 20 additional)
#
# In the same run, with the identical dnsperf command and on the same core,
# tools/dnsbare answers every query with one pre-built reply of the same
# size (only the id set), the practical ceiling of the machine: once with
# recvmmsg/sendmmsg (32 datagrams per call, as Signpost reads and writes),
# once the same with raw system calls (no Go scheduler bookkeeping), and
# once with one read and one write call per query. A fixed-answer
# github.com/miekg/dns server (dnsbare -mode miekg) gives the conventional
# figure. Then dnsperf limited to half Signpost's peak gives latency
# percentiles (from dnsperf -v, one latency per query), and tools/dnslat at
# the same rate gives them with every reply timed by the kernel as it
# reaches the client's socket (dnsperf times a reply when its thread reads
# it, on a core it shares with its sender: a floor over 1 ms under any
# server here, the bare loop's included).
#
# Every run also records the server's CPU time per answered query and how
# busy both cores were: when dnsperf's core is saturated (about 100%),
# dnsperf, not the server, sets the qps, and the CPU time per query is the
# figure that compares servers; it is measured once more at one fixed rate
# (CPU_RATE) for every server, where all see the same load.
#
# Each server is measured ROUNDS times, interleaved, and its best run is
# reported: other load on the machine only ever lowers a figure.
#
# Environment:
#   ROUNDS=3            runs per server and case
#   LATENCY_SECS=60     length of the half-rate runs; 60 s holds one
#                       refresh (refreshSeconds 60), as any minute does;
#                       0 skips them
#   LATENCY_RATE=       rate of the latency runs instead of half the peak
#   DNSLAT=1            0 skips the tools/dnslat latency runs (kernel-
#                       timed replies, paced queries) after dnsperf's
#   DNSLAT_NICE=-10     dnslat's nice value: the simulator shares core 1,
#                       and a sender held up by it sends what it owes in a
#                       burst that queues at the server (measured: the
#                       steady seconds' p99 0.1 ms instead of 0.1-3 ms)
#   KTHREADS_OFF_CORE0=1  0 leaves DAMON's kernel thread (kdamond) where it
#                       is; by default it is kept on core 1 for the run
#                       and its affinity restored at the end (see below)
#   PEAK=1              0 skips the peak runs (then set LATENCY_RATE or
#                       LATENCY_SECS=0)
#   SIGNPOST_GOMAXPROCS=1  GOMAXPROCS of signpost dns (still on core 0
#                       only); the bare loops always run with 1
#   CPU_RATE=50000      fixed rate of the CPU-per-query runs (0: skip);
#                       must be below every server's peak
#   CASES="A1 A20 SRV"  which cases
#   SERVERS="sp bare raw bare1 mk"  which servers: Signpost; dnsbare with
#                       recvmmsg/sendmmsg, as Signpost; the same with raw
#                       system calls (-raw); one call per datagram
#                       (-batch 1); dnsbare -mode miekg
#   DNSPERF_OPTS="-c 4 -q 200 -b 4096 -T 1"   load shape
#   SIGNPOST_BIN=path   use this binary instead of building ./cmd/signpost
#   SIGNPOST_REV=rev    build ./cmd/signpost from this git revision instead
#                       of the working tree (e.g. HEAD while it is mid-edit)
#   KEEP=1              keep the work folder (query files, dnsperf outputs;
#                       the -v latency outputs take about 1 GB)
#   PORT_BASE=15000     ports used, all on 127.0.0.1: +50 Mesos, +99 sim
#                       control, +353 DNS, +354..+357 dnsbare, +3080
#                       Marathon, +3123 DNS HTTP
#
# Quick side-by-side check (about 5 minutes; noisy, for deciding between
# changes, not for the record): CPU per query at 50k qps and 60 s of
# latency at a fixed rate, Signpost against the batched bare loops only:
#
#   PEAK=0 ROUNDS=2 LATENCY_RATE=50000 SERVERS="sp bare raw" scripts/bench-dns.sh 5
#
# Everything binds 127.0.0.1 only; every process started here is stopped
# on exit, also on Ctrl-C or error.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-10}
lsecs=${LATENCY_SECS:-60}
cpu_rate=${CPU_RATE:-50000}
rounds=${ROUNDS:-3}
peak=${PEAK:-1}
sp_procs=${SIGNPOST_GOMAXPROCS:-1}
latency_rate=${LATENCY_RATE:-}
dnslat_on=${DNSLAT:-1}
dnslat_nice=${DNSLAT_NICE:--10}
if [ "$peak" = 0 ] && [ -z "$latency_rate" ] && [ "$lsecs" != 0 ]; then
  echo "bench-dns: PEAK=0 needs LATENCY_RATE (or LATENCY_SECS=0)" >&2
  exit 2
fi
cases=${CASES:-A1 A20 SRV}
servers=${SERVERS:-sp bare raw bare1 mk}
perfopts=${DNSPERF_OPTS:--c 4 -q 200 -b 4096 -T 1}
base=${PORT_BASE:-15000}
mesos_port=$((base + 50))
control_port=$((base + 99))
dns_port=$((base + 353))
marathon_port=$((base + 3080))
http_port=$((base + 3123))
declare -A port=([sp]=$dns_port [bare]=$((base + 354)) [bare1]=$((base + 355)) [mk]=$((base + 356)) [raw]=$((base + 357)))
declare -A label=([sp]=Signpost [bare]="bare (batch 32)" [raw]="bare (batch 32, raw syscalls)" [bare1]="bare (1 call per datagram)" [mk]="miekg/dns")

for tool in dnsperf dig taskset python3 curl go git ss; do
  command -v "$tool" >/dev/null || { echo "bench-dns: $tool is needed" >&2; exit 2; }
done
if [ "$(nproc)" -lt 2 ]; then
  echo "bench-dns: needs 2 cores (server on core 0, dnsperf on core 1)" >&2
  exit 2
fi

work=$(mktemp -d /tmp/bench-dns.XXXXXX)
pids=()
# Kernel threads that can move are kept off the server's core for the run
# (KTHREADS_OFF_CORE0=0 leaves them): this VM runs DAMON (kdamond), which
# every ~0.5 s walks page tables for 4–6 ms on whichever core it lands on.
# On core 0 that is a stall of the server being measured, and it hit
# Signpost's large heap harder than the bare loop's (docs/benchmarks-dns.md,
# "Refresh and the steady tail"). Their affinity is put back at the end.
declare -A kthread_mask=()
move_kthreads() {
  [ "${KTHREADS_OFF_CORE0:-1}" = 1 ] || return 0
  local p
  for p in $(pgrep '^kdamond' || true); do
    kthread_mask[$p]=$(taskset -p "$p" 2>/dev/null | awk '{print $NF}') || continue
    taskset -p 2 "$p" >/dev/null 2>&1 && log "kernel thread $(cat /proc/$p/comm 2>/dev/null) ($p) kept on core 1 for the run" || unset "kthread_mask[$p]"
  done
}
cleanup() {
  local p
  for p in "${!kthread_mask[@]}"; do
    taskset -p "${kthread_mask[$p]}" "$p" >/dev/null 2>&1 || true
  done
  for p in "${pids[@]}"; do
    kill -CONT "$p" 2>/dev/null || true # a stopped process (alone) would not take the TERM
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  if [ "${KEEP:-0}" = 1 ]; then
    echo "bench-dns: work folder kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench-dns: $*" >&2; }
move_kthreads

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
# alone WHO: every other server on core 0 is stopped (SIGSTOP) for a
# latency run, so that the one measured has the core to itself: an idle Go
# process still wakes (its monitor thread, timers), and Signpost refreshes
# its state every minute, which used to land in the bare loop's runs too.
# together: all of them run again.
alone() {
  local w
  for w in dns bare raw bare1 mk; do
    [ "$w" = "$1" ] || [ -z "${pid[$w]:-}" ] || kill -STOP "${pid[$w]}" 2>/dev/null || true
  done
}
together() {
  local w
  for w in dns bare raw bare1 mk; do
    [ -z "${pid[$w]:-}" ] || kill -CONT "${pid[$w]}" 2>/dev/null || true
  done
}

stop() {
  local p=${pid[$1]:-}
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  pid[$1]=
}

for p in $mesos_port $control_port $dns_port ${port[bare]} ${port[bare1]} ${port[mk]} ${port[raw]} $marathon_port $http_port; do
  if [ -n "$(ss -Hlnu "sport = :$p"; ss -Hlnt "sport = :$p")" ]; then
    log "port $p is in use (set PORT_BASE)"
    exit 2
  fi
done

# --- build -------------------------------------------------------------------
if [ -n "${SIGNPOST_BIN:-}" ]; then
  signpost=$SIGNPOST_BIN
  sp_version="binary $SIGNPOST_BIN"
  dns_rev=unknown
elif [ -n "${SIGNPOST_REV:-}" ]; then
  mkdir -p "$work/src"
  git archive "$SIGNPOST_REV" | tar -x -C "$work/src"
  (cd "$work/src" && go build -o "$work/signpost" ./cmd/signpost)
  signpost=$work/signpost
  sp_version="git $(git rev-parse --short "$SIGNPOST_REV")"
  dns_rev=$(git log -1 --format=%h "$SIGNPOST_REV" -- internal/dns internal/source cmd/signpost/dns.go)
else
  go build -o "$work/signpost" ./cmd/signpost
  signpost=$work/signpost
  sp_version="working tree at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- cmd internal go.mod || echo ' + local changes')"
  dns_rev=$(git log -1 --format=%h HEAD -- internal/dns internal/source cmd/signpost/dns.go)
fi
go build -o "$work/dnsbare" ./tools/dnsbare
bare=$work/dnsbare
go build -o "$work/dnslat" ./tools/dnslat
declare -A lat=()

# --- cluster and server ------------------------------------------------------
# The simulator only works at start-up and once per refresh; it shares
# dnsperf's core so that core 0 holds nothing but the server under test.
start sim taskset -c 1 "$signpost" sim -log-level warn \
  -mesos-addr 127.0.0.1:$mesos_port -marathon-addr 127.0.0.1:$marathon_port \
  -control-addr 127.0.0.1:$control_port -agents 500 -apps 500 -instances 20
for _ in $(seq 300); do
  curl -fs -o /dev/null "127.0.0.1:$control_port/sim/v1/agents" && break
  sleep 0.1
done
ntasks=$(curl -fs "127.0.0.1:$control_port/sim/v1/tasks" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["tasks"]))')
log "simulator up: $ntasks tasks"

cat >"$work/config.json" <<EOF
{
  "masters": ["127.0.0.1:$mesos_port"],
  "refreshSeconds": 60,
  "port": $dns_port,
  "listener": "127.0.0.1",
  "httpport": $http_port,
  "httplistener": "127.0.0.1",
  "externalon": false,
  "resolvers": ["127.0.0.1"],
  "IPSources": ["netinfo", "mesos", "host"]
}
EOF
start dns env GOMAXPROCS="$sp_procs" taskset -c 0 "$signpost" dns -config "$work/config.json"
for _ in $(seq 600); do
  curl -fs -o /dev/null "127.0.0.1:$http_port/health" && break
  sleep 0.1
done
curl -fs -o /dev/null "127.0.0.1:$http_port/health" || { log "signpost dns is not healthy:"; cat "$work/dns.log" >&2; exit 1; }
log "signpost dns healthy"

cat >"$work/helper.py" <<'PY'
import collections, json, random, re, socket, struct, sys, urllib.request

def query(sock, addr, name, qtype, edns):
    qid = random.getrandbits(16)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    for l in name.rstrip(".").split("."):
        q += bytes([len(l)]) + l.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    if edns:
        q += b"\0" + struct.pack(">HHIH", 41, edns, 0, 0)
    for _ in range(3):
        sock.sendto(q, addr)
        try:
            while True:
                r = sock.recv(65535)
                if r[:2] == q[:2]:
                    _, fl, _, an, ns, ar = struct.unpack(">HHHHHH", r[:12])
                    return len(r), an, ar, fl & 0xF, bool(fl & 0x0200)
        except socket.timeout:
            pass
    raise SystemExit("no reply for " + name)

def select(http, dnsport, out):
    """Writes a query file per case, every name of a case with the same
    reply size (the size the bare loop serves), and prints what it chose."""
    enum = json.load(urllib.request.urlopen(http + "/v1/enumerate"))
    a, srv = collections.defaultdict(set), collections.defaultdict(set)
    for fw in enum["frameworks"]:
        for t in fw["tasks"]:
            for r in t["records"]:
                {"A": a, "SRV": srv}.get(r["rtype"], {}).setdefault(r["name"], set()).add(r["host"])
    cases = [
        # case, qtype, edns, answers wanted, candidate names
        ("A1", 1, 0, 1, [n for n in a if re.fullmatch(r"app-\d+-group-\d+-[a-z0-9]+-s\d+\.marathon\.mesos\.", n) and len(a[n]) == 1]),
        ("A20", 1, 0, 20, [n for n in a if re.fullmatch(r"app-\d+-group-\d+\.marathon\.mesos\.", n) and len(a[n]) == 20]),
        ("SRV", 33, 4096, 20, [n for n in srv if re.fullmatch(r"_app-\d+-group-\d+\._tcp\.marathon\.mesos\.", n) and len(srv[n]) == 20]),
    ]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1)
    addr = ("127.0.0.1", dnsport)
    meta = {}
    for case, qtype, edns, want, names in cases:
        got = {}
        answers = collections.Counter()
        for n in sorted(names):
            size, an, ar, rc, tc = query(sock, addr, n, qtype, edns)
            answers[(an, ar, rc, tc)] += 1
            if an == want and rc == 0 and not tc:
                got[n] = (size, an, ar)
        sizes = collections.Counter(s for s, _, _ in got.values())
        if not sizes:
            raise SystemExit(f"{case}: no name answers with {want} records: {dict(answers)}")
        size = sizes.most_common(1)[0][0]
        chosen = [n for n in got if got[n][0] == size]
        random.Random(1).shuffle(chosen)
        tname = {1: "A", 33: "SRV"}[qtype]
        with open(f"{out}/{case}.txt", "w") as f:
            for n in chosen:
                f.write(f"{n.rstrip('.')} {tname}\n")
        an, ar = got[chosen[0]][1:]
        meta[case] = dict(type=tname, edns=edns, name=chosen[0].rstrip("."), names=len(chosen),
                          candidates=len(names), size=size, answers=an, additional=ar,
                          seen={f"an={k[0]} ar={k[1]} rcode={k[2]} tc={int(k[3])}": v for k, v in answers.items()})
        print(f"{case}: {len(chosen)} of {len(names)} {tname} names with {an} answers, {ar} additional, "
              f"all replies {size} bytes; answer counts seen: {meta[case]['seen']}", file=sys.stderr)
    json.dump(meta, open(f"{out}/meta.json", "w"), indent=1)

def latency(path, rate):
    """Latency percentiles in ms from dnsperf -v lines ('> NOERROR name
    type seconds', in completion order): p50, p99, p99.9 and max over the
    whole run, then the median and the worst p99 of one-second windows
    (rate queries each), which tells a steady tail from one stall."""
    v = []
    for line in open(path, errors="replace"):
        if line.startswith("> "):
            try:
                v.append(float(line.split()[-1]) * 1000)
            except ValueError:
                pass
    if not v:
        print("- - - - - - 0")
        return
    def p(xs, q):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(q * len(xs)))]
    w = max(1, int(float(rate)))
    win = sorted(p(v[i:i + w], .99) for i in range(0, len(v) - w + 1, w)) or [p(v, .99)]
    print(f"{p(v, .5):.3f} {p(v, .99):.3f} {p(v, .999):.3f} {max(v):.3f} {win[len(win) // 2]:.3f} {win[-1]:.3f} {len(v)}")

def meta(path, case, key):
    print(json.load(open(path))[case][key])

def ticks(path):
    """Saves the CPU ticks used so far by every user-space process."""
    import os
    t = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
                if f[1] != "2":  # not a kernel thread
                    t[p] = int(f[11]) + int(f[12])
                    t["name/" + p] = open(f"/proc/{p}/comm").read().strip()
            except (OSError, IndexError):
                pass
    for line in open("/proc/stat"):
        f = line.split()
        if f[0] in ("cpu0", "cpu1"):
            v = [int(x) for x in f[1:]]
            t[f[0]] = [sum(v) - v[3] - v[4], sum(v)]  # busy, all
    json.dump(t, open(path, "w"))

def foreign(t0, t1, server, secs, out, perf_seconds):
    """From two ticks snapshots around a dnsperf run and its output: qps,
    lost %, CPU used meanwhile by everything but the server and dnsperf
    (both cores' busy time minus theirs, in % of one core), how busy cores
    0 and 1 were (%), the server's CPU time per completed query (us), and
    the processes alive through the run that used the most CPU besides."""
    import os
    a, b = json.load(open(t0)), json.load(open(t1))
    hz = os.sysconf("SC_CLK_TCK")
    use = collections.Counter()
    for p in a:
        if p in b and p not in (server, "cpu0", "cpu1") and not p.startswith("name/"):
            use[f"{b.get('name/' + p, '?')}[{p}]"] += b[p] - a[p]
    top = ",".join(f"{k}:{100 * v / hz / float(secs):.0f}%" for k, v in use.most_common(2) if v > 0) or "-"
    busy = [100 * (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]) for c in ("cpu0", "cpu1")]
    srv = b.get(server, 0) - a.get(server, 0)
    allbusy = sum(b[c][0] - a[c][0] for c in ("cpu0", "cpu1"))
    other = max(0, allbusy - srv - float(perf_seconds) * hz)
    qps = lost = done = 0
    for line in open(out, errors="replace"):
        f = line.split()
        if line.startswith("  Queries per second:"):
            qps = float(f[3])
        elif line.startswith("  Queries lost:"):
            lost = float(f[3].strip("()%"))
        elif line.startswith("  Queries completed:"):
            done = int(f[2])
    us = f"{1e6 * srv / hz / done:.2f}" if done else "n/a"
    print(f"{qps:.0f} {lost:g} {100 * other / hz / float(secs):.0f} {busy[0]:.0f} {busy[1]:.0f} {us} {top}")

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "select":
        select(args[0], int(args[1]), args[2])
    elif cmd == "latency":
        latency(*args)
    elif cmd == "meta":
        meta(*args)
    elif cmd == "ticks":
        ticks(args[0])
    elif cmd == "foreign":
        foreign(*args)
PY
helper() { python3 "$work/helper.py" "$@"; }

helper select "http://127.0.0.1:$http_port" "$dns_port" "$work"
meta() { helper meta "$work/meta.json" "$1" "$2"; }
for c in $cases; do
  e=$(meta "$c" edns)
  opt=+noedns
  [ "$e" = 0 ] || opt=+bufsize=$e
  log "dig check $c: $(dig -p "$dns_port" @127.0.0.1 $opt "$(meta "$c" name)" "$(meta "$c" type)" | grep -E '^;; (flags|MSG SIZE)' | tr '\n' ' ')"
done

# drop_output FILE: a dnsperf -v output is about 1 GB; once read it goes
# (unless KEEP=1), and the disk catches up before the next measurement:
# writeback of the previous run's gigabyte, by kernel threads on either
# core, was measured in the next run's tail (p99 1.7 instead of 0.9 ms).
drop_output() {
  [ "${KEEP:-0}" = 1 ] || rm -f "$1"
  sync
}

# runperf NAME PORT FILE SERVER_PID EXTRA...: one dnsperf run pinned to
# core 1; prints "qps lost% other% core0% core1% us/query top". other: CPU
# used meanwhile by anything but the server under test and dnsperf (both
# cores' busy time minus theirs), in % of one core: interference (the
# simulator or Signpost refreshing, other jobs on the machine, kernel
# threads). coreN: how busy each core was. us/query: the server's CPU time
# (user + system, which includes the kernel's work for its packets) per
# answered query. top: the other processes alive through the run that used
# the most.
runperf() {
  local name=$1 port=$2 file=$3 server_pid=$4
  shift 4
  local out=$work/$name.out w0 w1
  helper ticks "$work/t0"
  w0=$EPOCHREALTIME
  TIMEFORMAT='%U %S'
  { time taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l "$secs" $perfopts "$@" >"$out" 2>&1 || true; } 2>"$work/time"
  w1=$EPOCHREALTIME
  helper ticks "$work/t1"
  helper foreign "$work/t0" "$work/t1" "$server_pid" "$(awk -v a="$w0" -v b="$w1" 'BEGIN {print b - a}')" "$out" "$(awk '{print $1 + $2}' "$work/time")"
}

# best FILE COL: the largest value of column COL over a server's runs;
# low: the smallest. The column values of the run with the best qps: at.
best() { cut -d' ' -f"$2" "$1" | { grep -v n/a || true; } | sort -g | tail -1; }
low() { cut -d' ' -f"$2" "$1" | { grep -v n/a || true; } | sort -g | head -1; }
at() { sort -g -k1,1 "$1" | tail -1 | cut -d' ' -f"$2"; }
generations() { curl -fs "127.0.0.1:$http_port/metrics" | awk '/^signpost_dns_generations_total/ {print $2}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || a == "-" || b == "-" || b == 0) print "-"; else printf "%.0f %%", 100 * a / b}'; }
has() { [[ " $servers " == *" $1 "* ]]; }

declare -A rows detail
for c in $cases; do
  file=$work/$c.txt
  n=$(meta "$c" name)
  t=$(meta "$c" type)
  e=$(meta "$c" edns)
  eopt=()
  [ "$e" = 0 ] || eopt=(-e)
  common=(-reply-from "127.0.0.1:$dns_port" -name "$n" -type "$t" -edns "$e")
  has bare && start bare env GOMAXPROCS=1 taskset -c 0 "$bare" -addr "127.0.0.1:${port[bare]}" -batch 32 "${common[@]}"
  has raw && start raw env GOMAXPROCS=1 taskset -c 0 "$bare" -addr "127.0.0.1:${port[raw]}" -batch 32 -raw "${common[@]}"
  has bare1 && start bare1 env GOMAXPROCS=1 taskset -c 0 "$bare" -addr "127.0.0.1:${port[bare1]}" -batch 1 "${common[@]}"
  has mk && start mk env GOMAXPROCS=1 taskset -c 0 "$bare" -mode miekg -addr "127.0.0.1:${port[mk]}" "${common[@]}"
  for who in bare raw bare1 mk; do
    has $who || continue
    for _ in $(seq 100); do
      grep -q serving "$work/$who.log" && break
      sleep 0.1
    done
    grep -q serving "$work/$who.log" || { log "dnsbare ($who) did not start:"; cat "$work/$who.log" >&2; exit 1; }
  done
  has bare && log "$(head -1 "$work/bare.log")"
  for who in $servers; do : >"$work/$c.$who"; done
  for r in $(seq "$rounds"); do
    [ "$peak" = 1 ] || break
    # Rotate the order so that drift (neighbours, refreshes) hits all.
    order=$(echo $servers | tr ' ' '\n' | awk -v r="$r" '{a[NR] = $0} END {for (i = 0; i < NR; i++) print a[(i + r - 1) % NR + 1]}')
    for who in $order; do
      server_pid=${pid[$who]:-}
      [ "$who" != sp ] || server_pid=${pid[dns]}
      res=$(runperf "$c-$who-$r" "${port[$who]}" "$file" "$server_pid" "${eopt[@]}")
      echo "$res" >>"$work/$c.$who"
      log "$c round $r ${label[$who]}: $(echo "$res" | awk '{printf "%s qps, lost %s%%, other CPU %s%% of a core (top: %s), core 0 %s%% busy, core 1 %s%%, server %s us CPU/query", $1, $2, $3, $7, $4, $5, $6}')"
    done
  done
  declare -A q us busy1
  for who in $servers; do
    q[$who]=$(best "$work/$c.$who" 1)
    us[$who]=$(low "$work/$c.$who" 6)
    busy1[$who]=$(at "$work/$c.$who" 5)
  done
  interference=$(cat "$work/$c".* | cut -d' ' -f3 | sort -g | tail -1)
  # CPU per query at one fixed rate, below every server's peak: with
  # dnsperf's core saturated at the peak, this is the figure that compares
  # the servers' own cost (same offered load, so the same batch sizes).
  declare -A fus=([sp]=- [bare]=- [raw]=- [bare1]=- [mk]=-)
  if [ "$cpu_rate" -gt 0 ]; then
    for who in $servers; do : >"$work/$c.$who.fixed"; done
    for r in $(seq "$rounds"); do
      for who in $servers; do
        [ "$who" != mk ] || continue # cannot sustain the rate in every case
        server_pid=${pid[$who]:-}
        [ "$who" != sp ] || server_pid=${pid[dns]}
        res=$(runperf "$c-$who-fixed-$r" "${port[$who]}" "$file" "$server_pid" "${eopt[@]}" -Q "$cpu_rate")
        echo "$res" >>"$work/$c.$who.fixed"
        log "$c at $cpu_rate qps, round $r ${label[$who]}: $(echo "$res" | awk '{printf "%s qps, server %s us CPU/query, other CPU %s%% of a core", $1, $6, $3}')"
      done
    done
    for who in $servers; do
      fus[$who]=-
      [ -s "$work/$c.$who.fixed" ] || continue
      # The median; a run that fell short of the rate is marked with *.
      fus[$who]=$(cut -d' ' -f6 "$work/$c.$who.fixed" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
      awk -v r="$cpu_rate" '$1 < 0.98 * r {bad = 1} END {exit !bad}' "$work/$c.$who.fixed" && fus[$who]="${fus[$who]}*"
    done
  fi
  # Latency at half of Signpost's peak, and the batched bare loop at the
  # same rate.
  p50=- p99=- p999=- pmax=- wmed=- wmax=- bp99=- half=- got=- gens=-
  if has sp && [ "$lsecs" != 0 ]; then
    half=${latency_rate:-$((q[sp] / 2))}
    sync
    g0=$(generations)
    alone dns
    got=$(secs=$lsecs runperf "$c-sp-half" "$dns_port" "$file" "${pid[dns]}" "${eopt[@]}" -Q "$half" -v | cut -d' ' -f1)
    together
    gens=$(($(generations) - g0))
    read -r p50 p99 p999 pmax wmed wmax nlat < <(helper latency "$work/$c-sp-half.out" "$half")
    drop_output "$work/$c-sp-half.out"
    log "$c Signpost at $half qps (got $got, $gens refreshes during the run): p50 $p50 ms, p99 $p99 ms, p99.9 $p999 ms, max $pmax ms ($nlat queries); p99 of 1-s windows: median $wmed ms, worst $wmax ms"
    if has bare; then
      alone bare
      secs=$lsecs runperf "$c-bare-half" "${port[bare]}" "$file" "${pid[bare]}" "${eopt[@]}" -Q "$half" -v >/dev/null
      together
      read -r _ bp99 _ bmax bwmed bwmax _ < <(helper latency "$work/$c-bare-half.out" "$half")
      drop_output "$work/$c-bare-half.out"
      log "$c bare (batch 32) at $half qps: p99 $bp99 ms, max $bmax ms; p99 of 1-s windows: median $bwmed ms, worst $bwmax ms"
    fi
    # The same rate through tools/dnslat: paced per query, replies timed by
    # the kernel (what the server adds, not dnsperf's own scheduling).
    if [ "$dnslat_on" = 1 ]; then
      for who in sp bare; do
        has $who || continue
        p=${port[$who]}
        sync # no writeback of earlier outputs during the measurement
        g0=$(generations)
        w=$who
        [ "$w" != sp ] || w=dns
        alone "$w"
        nice -n "$dnslat_nice" taskset -c 1 env GOMAXPROCS=1 "$work/dnslat" -s "127.0.0.1:$p" -d "$file" -Q "$half" -l "$lsecs" "${eopt[@]}" >"$work/$c-$who-lat.out" 2>"$work/$c-$who-lat.log" || { together; cat "$work/$c-$who-lat.log" >&2; exit 1; }
        together
        lgens=$(($(generations) - g0))
        read -r lq l50 l99 l999 lmax lwmed lwmax ln llost lu99 <"$work/$c-$who-lat.out"
        log "$c dnslat ${label[$who]} at $half qps: answered $lq qps ($llost lost), kernel-timed p50 $l50 ms, p99 $l99 ms, p99.9 $l999 ms, max $lmax ms; 1-s windows p99 median $lwmed ms, worst $lwmax ms; read by dnslat p99 $lu99 ms; $lgens refreshes"
        lat[$c.$who]="$lq|$l50|$l99|$l999|$lmax|$lwmed|$lwmax|$llost|$lu99|$lgens"
      done
    fi
  fi
  for who in bare raw bare1 mk; do stop $who; done
  # The ceiling: the fastest bare loop by qps.
  ceil=
  for who in bare raw bare1; do
    has $who || continue
    if [ -z "$ceil" ] || awk -v a="${q[$who]}" -v b="${q[$ceil]}" 'BEGIN {exit !(a > b)}'; then ceil=$who; fi
  done
  v() { has "$1" && echo "${2}" || echo -; }
  rows[$c]="$(meta "$c" answers)|$(meta "$c" additional)|$(meta "$c" size)|$(meta "$c" names)|$(v sp "${q[sp]:-}")|${ceil:+${q[$ceil]}}|${ceil:+${label[$ceil]}}|$(pct "${q[sp]:-}" "${ceil:+${q[$ceil]}}")|$half|$got|$p50|$p99|$p999|$bp99|$wmed|$wmax|$gens"
  detail[$c]="$(for w in sp bare raw bare1 mk; do v $w "${q[$w]:-}"; done | paste -sd/ | sed 's|/| / |g')|$(for w in sp bare raw bare1 mk; do v $w "${us[$w]:-}"; done | paste -sd/ | sed 's|/| / |g')|${ceil:+${busy1[$ceil]}}|$interference|$(for w in sp bare raw bare1; do v $w "${fus[$w]:-}"; done | paste -sd/ | sed 's|/| / |g')|$(pct "${fus[bare]%\*}" "${fus[sp]%\*}")|$(pct "${fus[raw]%\*}" "${fus[sp]%\*}")"
done

# --- report ------------------------------------------------------------------
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
desc() {
  case $1 in
    A1) echo "A, task name" ;;
    A20) echo "A, app name" ;;
    SRV) echo "SRV, app (EDNS0 4096)" ;;
    *) echo "$1" ;;
  esac
}
echo
echo "Signpost $sp_version (DNS code last changed in $dns_rev); $ntasks tasks; $(nproc) cores ($cpu); dnsperf $perfopts; ${secs} s per run, best of $rounds; $(date -u +%FT%TZ)"
echo
echo "| case | answers (+additional) | reply bytes | names | Signpost qps | bare qps (fastest loop) | Signpost / bare | p99 at half Signpost's peak, ${lsecs} s: Signpost (bare) | Signpost p99 of 1-s windows: median / worst | refreshes in the latency run |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for c in $cases; do
  IFS='|' read -r an ar size names sp cq clabel ratio half got p50 p99 p999 bp99 wmed wmax gens <<<"${rows[$c]}"
  echo "| $(desc "$c") | $an (+$ar) | $size | $names | $sp | $cq ${clabel#bare } | $ratio | $p99 ms ($bp99 ms) at $got qps | $wmed / $wmax ms | $gens |"
done
if [ "$dnslat_on" = 1 ] && [ "$lsecs" != 0 ] && has sp; then
  echo
  echo "Latency at half Signpost's peak through tools/dnslat ($lsecs s, queries paced one by one, 4 sockets, replies timed by the kernel's SO_TIMESTAMPNS), Signpost and the bare loop (batch 32) at the same rate; last column: p99 as read by dnslat itself."
  echo
  echo "| case | rate | server | answered qps (lost) | p50 | p99 | p99.9 | max | p99 of 1-s windows: median / worst | refreshes | p99 read in user space |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  for c in $cases; do
    IFS='|' read -r _ _ _ _ _ _ _ _ half _ <<<"${rows[$c]}"
    for who in sp bare; do
      [ -n "${lat[$c.$who]:-}" ] || continue
      IFS='|' read -r lq l50 l99 l999 lmax lwmed lwmax llost lu99 lgens <<<"${lat[$c.$who]}"
      echo "| $(desc "$c") | $half | ${label[$who]} | $lq ($llost) | $l50 ms | $l99 ms | $l999 ms | $lmax ms | $lwmed / $lwmax ms | $lgens | $lu99 ms |"
    done
  done
fi
echo
echo "Per server, best of $rounds at the peak: Signpost / bare batch 32 / bare batch 32 raw syscalls / bare 1 call per datagram / miekg."
echo
echo "| case | peak qps | server CPU us per query at the peak | dnsperf core busy (fastest bare run) | other load, max % of a core |"
echo "|---|---|---|---|---|"
for c in $cases; do
  IFS='|' read -r qs uss busy interference _ <<<"${detail[$c]}"
  echo "| $(desc "$c") | $qs | $uss | $busy % | $interference |"
done
if [ "$cpu_rate" -gt 0 ]; then
  echo
  echo "Server CPU time per query at $cpu_rate qps (median of $rounds; * a run fell short of the rate): Signpost / bare batch 32 / bare raw syscalls / bare 1 call per datagram."
  echo
  echo "| case | server CPU us per query | Signpost efficiency: bare batch 32 us / Signpost us | same vs raw syscalls |"
  echo "|---|---|---|---|"
  for c in $cases; do
    IFS='|' read -r _ _ _ _ fixed eff effraw <<<"${detail[$c]}"
    echo "| $(desc "$c") | $fixed | $eff | $effraw |"
  done
fi
