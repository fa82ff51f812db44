#!/bin/sh
# Installs, on Debian 12, every package the build, the tests and the
# benchmark need; with arguments, those packages instead (make image).
# Does nothing when all are present already.
set -e
PKGS="clang llvm libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make gcc \
libmicrohttpd-dev libgnutls28-dev libyaml-dev libcmocka-dev prometheus python3 python3-fastapi \
python3-uvicorn python3-httpx python3-aiohttp nginx-light golang-go \
redis-server wrk nodejs openssl libssl-dev gdb kubernetes-client python3-yaml podman runc \
containerd python3-grpcio python3-grpc-tools python3-protobuf debootstrap chromium"
[ $# -gt 0 ] && PKGS="$*"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
# Node.js and kubectl may come from outside Debian (a preinstalled
# /usr/bin/node; another package's /usr/bin/kubectl, which Debian's
# kubernetes-client would clash with): a command present stands for its
# package.
for cmd_pkg in node:nodejs kubectl:kubernetes-client; do
	if command -v "${cmd_pkg%%:*}" >/dev/null 2>&1; then
		missing=$(echo "$missing" | sed "s/ ${cmd_pkg#*:}//")
	fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "sse_exporter: missing packages:$missing; run as root (sudo make ...)" >&2
	exit 1
fi
echo "installing:$missing"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
