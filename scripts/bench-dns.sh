#!/usr/bin/env bash
# DNS load benchmark (see docs/benchmarks-dns.md):
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
# and, in the same run with the identical dnsperf command, the peak of
# tools/dnsbare on the same core: a UDP loop that answers every query with
# one pre-built reply of the same size (only the id set), the practical
# ceiling of this machine. Optionally a fixed-answer github.com/miekg/dns
# server too (dnsbare -mode miekg). Then a run limited to half Signpost's
# peak gives latency percentiles (dnsperf -v, per-query latencies).
#
# Each server is measured ROUNDS times, interleaved, and its best run is
# reported: other load on the machine only ever lowers a figure.
#
# Environment:
#   ROUNDS=3            runs per server and case
#   CASES="A1 A20 SRV"  which cases
#   MIEKG=1             also measure dnsbare -mode miekg (0: skip)
#   DNSPERF_OPTS="-c 4 -q 200 -T 1"   load shape (see the doc on tuning)
#   SIGNPOST_BIN=path   use this binary instead of building ./cmd/signpost
#   SIGNPOST_REV=rev    build ./cmd/signpost from this git revision instead
#                       of the working tree (e.g. HEAD while it is mid-edit)
#   KEEP=1              keep the work folder (query files, dnsperf outputs)
#   PORT_BASE=15000     ports used, all on 127.0.0.1: +50 Mesos, +99 sim
#                       control, +353 DNS, +354 dnsbare; 3000+ +80
#                       Marathon, 3000+ +123 DNS HTTP
#
# Everything binds 127.0.0.1 only; every process started here is stopped
# on exit, also on Ctrl-C or error.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

secs=${1:-10}
rounds=${ROUNDS:-3}
cases=${CASES:-A1 A20 SRV}
miekg=${MIEKG:-1}
perfopts=${DNSPERF_OPTS:--c 4 -q 200 -T 1}
base=${PORT_BASE:-15000}
mesos_port=$((base + 50))
control_port=$((base + 99))
dns_port=$((base + 353))
bare_port=$((base + 354))
marathon_port=$((base + 3080))
http_port=$((base + 3123))

for tool in dnsperf dig taskset python3 curl go; do
  command -v "$tool" >/dev/null || { echo "bench-dns: $tool is needed" >&2; exit 2; }
done
if [ "$(nproc)" -lt 2 ]; then
  echo "bench-dns: needs 2 cores (server on core 0, dnsperf on core 1)" >&2
  exit 2
fi

work=$(mktemp -d /tmp/bench-dns.XXXXXX)
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
    echo "bench-dns: work folder kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench-dns: $*" >&2; }

# start NAME CMD...: runs CMD in the background, output in $work/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
}

# stop NAME: stops a process started with start.
stop() {
  local p
  p=$(eval echo "\${pid_$1:-}")
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  eval "pid_$1="
}

for p in $mesos_port $control_port $dns_port $bare_port $marathon_port $http_port; do
  if ss -Hln "sport = :$p" 2>/dev/null | grep -q .; then
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
go build -o "$work/dnsbare" ./tools/dnsbare
bare=$work/dnsbare

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
start dns env GOMAXPROCS=1 taskset -c 0 "$signpost" dns -config "$work/config.json"
for _ in $(seq 600); do
  curl -fs -o /dev/null "127.0.0.1:$http_port/health" && break
  sleep 0.1
done
curl -fs -o /dev/null "127.0.0.1:$http_port/health" || { log "signpost dns is not healthy:"; cat "$work/dns.log" >&2; exit 1; }
log "signpost dns healthy"

# --- helper: query files, latency percentiles --------------------------------
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

def latency(path):
    """p50/p99/p99.9/max in ms from dnsperf -v lines: '> NOERROR name type seconds'."""
    v = []
    for line in open(path, errors="replace"):
        if line.startswith("> "):
            try:
                v.append(float(line.split()[-1]))
            except ValueError:
                pass
    if not v:
        print("n/a n/a n/a n/a 0")
        return
    v.sort()
    pick = lambda p: v[min(len(v) - 1, int(p * len(v)))] * 1000
    print(f"{pick(.5):.3f} {pick(.99):.3f} {pick(.999):.3f} {v[-1]*1000:.3f} {len(v)}")

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
            except (OSError, IndexError):
                pass
    for line in open("/proc/stat"):
        f = line.split()
        if f[0] in ("cpu0", "cpu1"):
            v = [int(x) for x in f[1:]]
            t[f[0]] = [sum(v) - v[3] - v[4], sum(v)]  # busy, all
    json.dump(t, open(path, "w"))

def foreign(t0, t1, server, secs, out):
    """From two ticks snapshots around a dnsperf run and its output: qps,
    lost %, CPU used meanwhile by processes alive in both other than the
    server (in % of one core), how busy cores 0 and 1 were (%), and the
    server's CPU time per completed query (us)."""
    import os
    a, b = json.load(open(t0)), json.load(open(t1))
    hz = os.sysconf("SC_CLK_TCK")
    d = sum(b[p] - a[p] for p in a if p in b and p not in (server, "cpu0", "cpu1"))
    busy = [100 * (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]) for c in ("cpu0", "cpu1")]
    qps = lost = done = 0
    for line in open(out, errors="replace"):
        f = line.split()
        if line.startswith("  Queries per second:"):
            qps = float(f[3])
        elif line.startswith("  Queries lost:"):
            lost = float(f[3].strip("()%"))
        elif line.startswith("  Queries completed:"):
            done = int(f[2])
    cpu = (b.get(server, 0) - a.get(server, 0)) / hz
    us = f"{1e6 * cpu / done:.2f}" if done else "n/a"
    print(f"{qps:.0f} {lost:g} {100 * d / hz / float(secs):.0f} {busy[0]:.0f} {busy[1]:.0f} {us}")

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "select":
        select(args[0], int(args[1]), args[2])
    elif cmd == "latency":
        latency(args[0])
    elif cmd == "meta":
        meta(*args)
    elif cmd == "ticks":
        ticks(args[0])
    elif cmd == "foreign":
        foreign(*args)
PY
helper() { python3 "$work/helper.py" "$@"; }

helper select "http://127.0.0.1:$http_port" "$dns_port" "$work"
for c in $cases; do
  t=$(helper meta "$work/meta.json" "$c" type)
  n=$(helper meta "$work/meta.json" "$c" name)
  e=$(helper meta "$work/meta.json" "$c" edns)
  opt=+noedns
  [ "$e" = 0 ] || opt=+bufsize=$e
  log "dig check $c: $(dig -p "$dns_port" @127.0.0.1 $opt "$n" "$t" | grep -E '^;; (flags|MSG SIZE)' | tr '\n' ' ')"
done

# runperf NAME PORT FILE SERVER_PID EXTRA...: one dnsperf run pinned to
# core 1; prints "qps lost% foreign% core0% core1% us/query". foreign: CPU
# used meanwhile by processes other than the server under test and dnsperf,
# in % of one core: interference (the simulator or Signpost refreshing,
# other jobs on the machine). coreN: how busy each core was; the server's
# core at 100% and dnsperf's below says the server is the bottleneck.
# us/query: the server's CPU time (user + system) per completed query,
# which interference on the other core does not move.
runperf() {
  local name=$1 port=$2 file=$3 server_pid=$4
  shift 4
  local out=$work/$name.out w0 w1
  helper ticks "$work/t0"
  w0=$EPOCHREALTIME
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l "$secs" $perfopts "$@" >"$out" 2>&1 || true
  w1=$EPOCHREALTIME
  helper ticks "$work/t1"
  helper foreign "$work/t0" "$work/t1" "$server_pid" "$(awk -v a="$w0" -v b="$w1" 'BEGIN {print b - a}')" "$out"
}

# col FILE N: the best (largest) value of column N of a runs file;
# lowcol: the smallest.
col() { cut -d' ' -f"$2" "$1" | grep -v n/a | sort -g | tail -1; }
lowcol() { cut -d' ' -f"$2" "$1" | grep -v n/a | sort -g | head -1; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.0f %%", 100 * a / b}'; }
meta() { helper meta "$work/meta.json" "$1" "$2"; }

declare -A rows
for c in $cases; do
  file=$work/$c.txt
  n=$(meta "$c" name)
  t=$(meta "$c" type)
  e=$(meta "$c" edns)
  eopt=()
  [ "$e" = 0 ] || eopt=(-e)
  start bare env GOMAXPROCS=1 taskset -c 0 "$bare" -addr 127.0.0.1:$bare_port \
    -reply-from 127.0.0.1:$dns_port -name "$n" -type "$t" -edns "$e"
  whos="sp bare"
  if [ "$miekg" = 1 ]; then
    start miekg env GOMAXPROCS=1 taskset -c 0 "$bare" -mode miekg -addr 127.0.0.1:$((bare_port + 1)) \
      -reply-from 127.0.0.1:$dns_port -name "$n" -type "$t" -edns "$e"
    whos="sp bare mk"
  fi
  for _ in $(seq 50); do
    grep -q serving "$work/bare.log" && { [ "$miekg" != 1 ] || grep -q serving "$work/miekg.log"; } && break
    sleep 0.1
  done
  log "$(head -1 "$work/bare.log")"
  : >"$work/$c.sp" >"$work/$c.bare" >"$work/$c.mk"
  for r in $(seq "$rounds"); do
    # Rotate the order so that drift (neighbours, refreshes) hits all.
    order=$(echo $whos | tr ' ' '\n' | awk -v r="$r" '{a[NR] = $0} END {for (i = 0; i < NR; i++) print a[(i + r - 1) % NR + 1]}')
    for who in $order; do
      case $who in
        sp) res=$(runperf "$c-sp-$r" "$dns_port" "$file" "$pid_dns" "${eopt[@]}") ;;
        bare) res=$(runperf "$c-bare-$r" "$bare_port" "$file" "$pid_bare" "${eopt[@]}") ;;
        mk) res=$(runperf "$c-mk-$r" $((bare_port + 1)) "$file" "$pid_miekg" "${eopt[@]}") ;;
      esac
      echo "$res" >>"$work/$c.$who"
      log "$c round $r $who: $(echo "$res" | awk '{printf "%s qps, lost %s%%, other processes %s%% of a core, core 0 %s%% busy, core 1 %s%%, server %s us CPU/query", $1, $2, $3, $4, $5, $6}')"
    done
  done
  sp=$(col "$work/$c.sp" 1)
  bq=$(col "$work/$c.bare" 1)
  mk=-
  [ "$miekg" != 1 ] || mk=$(col "$work/$c.mk" 1)
  sp_us=$(lowcol "$work/$c.sp" 6)
  bare_us=$(lowcol "$work/$c.bare" 6)
  interference=$(cat "$work/$c.sp" "$work/$c.bare" | cut -d' ' -f3 | sort -n | tail -1)
  # Latency at half of Signpost's peak, and the bare loop at the same rate.
  half=$((sp / 2))
  got=$(runperf "$c-sp-half" "$dns_port" "$file" "$pid_dns" "${eopt[@]}" -Q "$half" -v | cut -d' ' -f1)
  read -r p50 p99 p999 pmax nlat < <(helper latency "$work/$c-sp-half.out")
  runperf "$c-bare-half" "$bare_port" "$file" "$pid_bare" "${eopt[@]}" -Q "$half" -v >/dev/null
  read -r _ bp99 _ _ _ < <(helper latency "$work/$c-bare-half.out")
  log "$c at $half qps (got $got): Signpost p50 $p50 ms, p99 $p99 ms, p99.9 $p999 ms, max $pmax ms ($nlat queries); bare p99 $bp99 ms"
  stop bare
  stop miekg
  rows[$c]="$(meta "$c" answers)|$(meta "$c" additional)|$(meta "$c" size)|$(meta "$c" names)|$sp|$bq|$mk|$sp_us|$bare_us|$interference|$half|$got|$p50|$p99|$p999|$bp99"
done

# --- report ------------------------------------------------------------------
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo
echo "Signpost: $sp_version; $ntasks tasks; $(nproc) cores ($cpu); dnsperf $perfopts, ${secs} s per run, best of $rounds; $(date -u +%FT%TZ)"
echo
echo "| case | answers (+additional) | reply bytes | Signpost qps | bare qps | Signpost / bare | miekg qps | miekg / bare | CPU us/query Signpost / bare | other load (max % of a core) | p99 at half rate, Signpost (bare) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for c in $cases; do
  IFS='|' read -r an ar size names sp bq mk sp_us bare_us interference half got p50 p99 p999 bp99 <<<"${rows[$c]}"
  case $c in
    A1) desc="A, task name ($names names)" ;;
    A20) desc="A, app name ($names names)" ;;
    SRV) desc="SRV, app ($names names, EDNS0 4096)" ;;
    *) desc=$c ;;
  esac
  echo "| $desc | $an (+$ar) | $size | $sp | $bq | $(pct "$sp" "$bq") | $mk | $(pct "$mk" "$bq") | $sp_us / $bare_us ($(pct "$bare_us" "$sp_us")) | $interference | $p99 ms at $got qps ($bp99 ms) |"
done
