#!/bin/sh
# Builds the kernel matrix's initramfs (a gzip'd newc cpio): busybox-static,
# tests/kernel/init as /init, the exporter and the SSE pair with every
# shared library ldd names for them (libssl.so.3 among the pair's, where
# the exporter looks for OpenSSL), and a self-signed certificate for the
# pair's TLS run.
#
#   tests/kernel/initramfs.sh OUT EXPORTER SSEPAIR
set -e
[ $# -eq 3 ] || {
	echo "usage: $0 OUT EXPORTER SSEPAIR" >&2
	exit 2
}
out=$1
exporter=$2
pair=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

# The merged /usr of Debian 12, so that a library has one path, the one
# the exporter hooks OpenSSL at.
mkdir -p "$root/usr/lib/x86_64-linux-gnu" "$root/usr/lib64" "$root/bin" \
	"$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/etc/ktest"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"

ldd /bin/busybox >/dev/null 2>&1 && {
	echo "$0: /bin/busybox is not static: install busybox-static" >&2
	exit 1
}
cp /bin/busybox "$root/bin/busybox"
cp "$here/init" "$root/init"
cp "$exporter" "$root/sse_exporter"
cp "$pair" "$root/ssepair"

# Each library at its real path, and a link where ldd named it otherwise
# (/lib64/ld-linux-x86-64.so.2).
for lib in $( (ldd "$exporter" && ldd "$pair") | grep -o '/[^ ]*' | sort -u); do
	real=$(realpath "$lib")
	mkdir -p "$root${real%/*}"
	cp "$real" "$root$real"
	[ -e "$root$lib" ] || ln -s "$real" "$root$lib"
done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=localhost -days 3650 -keyout "$root/etc/ktest/key.pem" \
	-out "$root/etc/ktest/cert.pem" 2>/dev/null

(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
