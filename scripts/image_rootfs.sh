#!/bin/sh
# image_rootfs.sh BINARY DEST: the exporter's runtime root file system in
# DEST, run in the image's build stage: BINARY as /usr/bin/sse_exporter,
# the shared libraries ldd names (the loader included) at the paths ldd
# shows, and for each Debian package they come from its dpkg status (in
# /var/lib/dpkg/status.d/, where image scanners look when there is no
# dpkg database) and its copyright file (the licences travel with the
# files). Nothing else: no shell, no package manager.
set -eu
bin=$1
dest=$2

mkdir -p "$dest/usr/bin" "$dest/var/lib/dpkg/status.d"
cp "$bin" "$dest/usr/bin/sse_exporter"
libs=$(ldd "$bin" | grep -o '/[^ ]*')
for lib in $libs; do
	cp -L --parents "$lib" "$dest"
done

# dpkg knows a file by the path its package ships it at, before or after
# the /usr merge: ask for both
for lib in $libs; do
	dpkg-query -S "$lib" 2>/dev/null || dpkg-query -S "$(realpath "$lib")"
done | cut -d: -f1 | sort -u | while read -r pkg; do
	dpkg-query -s "$pkg" >"$dest/var/lib/dpkg/status.d/$pkg"
	mkdir -p "$dest/usr/share/doc/$pkg"
	cp "/usr/share/doc/$pkg/copyright" "$dest/usr/share/doc/$pkg/"
done
