#!/usr/bin/env bash
# install-deps.sh: install the external programs Signpost's tests drive.
#
# Signpost is tested against the real things it talks to, not fakes: a real
# ZooKeeper (leader detection), HAProxy (the load balancer it configures), and
# dig, dnsperf and wrk for end-to-end and load checks. They come from Debian
# packages. Run as root on a fresh machine (CI does) to install what is
# missing; run as anyone to see which tests would be skipped. The script is
# idempotent and prints nothing when everything is present.
#
# Exit status: 0 when all is present, or when not root (missing tools only
# mean skipped tests there); non-zero when an install as root fails.
set -euo pipefail

packages=(zookeeper haproxy bind9-dnsutils dnsperf wrk socat)

# have NAME: is the command installed? Also looks in the sbin directories,
# which are not in a non-root user's PATH on Debian (haproxy lives in /usr/sbin).
have() {
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]
}

# missing_tools prints "tool<TAB>what is skipped without it" for each missing tool.
missing_tools() {
	[ -f /usr/share/java/zookeeper.jar ] ||
		printf 'zookeeper\ttests that need a real ZooKeeper (internal/testutil/zktest, internal/sim/zkmasters, leader detection) will be skipped\n'
	have haproxy ||
		printf 'haproxy\ttests that run a real HAProxy will be skipped\n'
	have dig ||
		printf 'dig\tend-to-end DNS tests that query with dig will be skipped\n'
	have dnsperf ||
		printf 'dnsperf\tDNS load tests (dnsperf) will be skipped\n'
	have wrk ||
		printf 'wrk\tHTTP load tests (wrk) will be skipped\n'
}

missing=$(missing_tools)
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	while IFS=$'\t' read -r tool effect; do
		echo "install-deps: $tool missing: $effect (run scripts/install-deps.sh as root to install)" >&2
	done <<<"$missing"
	exit 0
fi

echo "install-deps: missing: $(cut -f1 <<<"$missing" | tr '\n' ' ')- installing ${packages[*]}" >&2
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"

still=$(missing_tools)
if [ -n "$still" ]; then
	echo "install-deps: still missing after apt-get install: $(cut -f1 <<<"$still" | tr '\n' ' ')" >&2
	exit 1
fi
