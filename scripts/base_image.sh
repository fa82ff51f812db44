#!/bin/sh
# Builds localhost/sse-debian:bookworm, a Debian 12 root file system made
# here with debootstrap: no registry is reachable, so every image of the
# project (the exporter's, the test servers') starts from it. Idempotent:
# an existing image is kept. Extra packages: BASE_IMAGE_INCLUDE.
set -eu
IMAGE=localhost/sse-debian:bookworm
INCLUDE=${BASE_IMAGE_INCLUDE:-python3,ca-certificates}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if podman image exists "$IMAGE"; then
	exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
}
root=$(mktemp -d /var/tmp/sse-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include="$INCLUDE" bookworm "$root" "$MIRROR" >"$root.log" 2>&1 || {
	echo "base_image: debootstrap failed, see $root.log" >&2
	exit 1
}
rm -f "$root.log"
# apt in later stages uses the same mirror as this host
cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/" 2>/dev/null || true
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
echo "base_image: built $IMAGE"
