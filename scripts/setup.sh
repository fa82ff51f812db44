#!/bin/sh
# Installs, on Debian 12, every package the build, the tests and the
# benchmark need. Does nothing when all are present already.
set -e
PKGS="clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make gcc \
libmicrohttpd-dev libgnutls28-dev libcmocka-dev prometheus python3 python3-fastapi \
python3-uvicorn python3-httpx python3-aiohttp nginx-light golang-go \
redis-server wrk nodejs openssl libssl-dev gdb podman runc containerd python3-grpcio \
python3-grpc-tools python3-protobuf"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
# Node.js may come from outside Debian (a preinstalled /usr/bin/node).
if command -v node >/dev/null 2>&1; then
	missing=$(echo "$missing" | sed 's/ nodejs//')
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "sse_exporter: missing packages:$missing; run as root (sudo make ...)" >&2
	exit 1
fi
echo "installing:$missing"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
