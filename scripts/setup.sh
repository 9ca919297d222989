#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks, then builds Berth.
# Idempotent and quiet when everything is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the OCI runtime, kernel tools, busybox for the builtin image,
# python3 (Debian's, for the rare mknod/xattr of image whiteouts),
# redis-server, python3-flask and python3-redis for the builtin redis and python
# images (made from the host's packages, decision 0011),
# tmux for terminal tests, dnsmasq for the lab world's DNS, a reference
# dockerd for side-by-side benchmarks, docker-compose (1.29, docker-py) for
# the compose test, python3-docker (docker-py 5.0.3, under /usr/bin/python3;
# PyPI is not reachable) and python3-websocket for the docker-py suite
# (test/compat/docker-py), iperf3 for the ports benchmark,
# netavark, aardvark-dns and dnsperf for the net-ops and dns benchmarks, and
# etcd-server and etcd-client (3.4) for the cluster lab's store and the etcd
# store's tests, which start a real etcd (issue 13), tini (its static
# build is what --init runs as /sbin/docker-init, decision 0032), and graphviz
# (dot) for berth network graph's SVG and PNG (decision 0030).
PKGS=(runc iproute2 nftables busybox-static tmux curl util-linux make gcc python3 dnsmasq-base docker.io docker-compose python3-docker python3-websocket iperf3 redis-server python3-flask python3-redis netavark aardvark-dns dnsperf etcd-server etcd-client tini graphviz chromium containernetworking-plugins)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages (better-sqlite3 builds from source here: no prebuilt downloads).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

npm run -s build
