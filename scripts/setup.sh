#!/bin/sh
# Installs, on Debian 12, every package the build, the tests and the
# benchmark need, and the Node modules of the e2e clients (NODE_MODULES,
# under build/); with arguments, those packages instead (make image).
# Does nothing when all are present already.
set -e
# The redis: group's Node client (tests/e2e/redis_cases.py), a version
# pinned: the metrics are checked against what it sends.
NODE_MODULES="ioredis@5.9.3"
NODE_DIR="$(dirname "$0")/../build/e2e-node"

PKGS="clang llvm libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make gcc \
libmicrohttpd-dev libgnutls28-dev libyaml-dev libcmocka-dev prometheus python3 python3-fastapi \
python3-uvicorn python3-httpx python3-aiohttp nginx-light golang-go \
redis-server redis-tools python3-redis wrk nodejs npm openssl libssl-dev gdb kubernetes-client python3-yaml podman runc \
containerd python3-grpcio python3-grpc-tools python3-protobuf debootstrap chromium"
[ $# -gt 0 ] && PKGS="$*"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
# Node.js, npm and kubectl may come from outside Debian (a preinstalled
# /usr/bin/node with its npm; another package's /usr/bin/kubectl, which
# Debian's kubernetes-client would clash with): a command present stands
# for its package.
for cmd_pkg in node:nodejs npm:npm kubectl:kubernetes-client; do
	if command -v "${cmd_pkg%%:*}" >/dev/null 2>&1; then
		missing=$(echo "$missing" | sed "s/ ${cmd_pkg#*:}//")
	fi
done

# Each module at its pinned version (its package.json says which).
node_modules() {
	for m in $NODE_MODULES; do
		grep -qs "\"version\": \"${m##*@}\"" "$NODE_DIR/node_modules/${m%@*}/package.json" ||
			npm install --prefix "$NODE_DIR" --no-save --no-package-lock \
				--no-audit --no-fund "$m"
	done
}

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "sse_exporter: missing packages:$missing; run as root (sudo make ...)" >&2
		exit 1
	fi
	echo "installing:$missing"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
[ $# -gt 0 ] || node_modules
