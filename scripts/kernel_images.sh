#!/bin/sh
# Fetches the kernels of the matrix (make kernel-test) from Debian's
# archive into build/kernels/<release>/: vmlinuz, its config and the
# package's version. Each release has an apt state of its own under
# build/kernels/apt/<release>/, so that the host's sources, lists and
# package database are neither read nor changed. A release whose vmlinuz
# is there already is not fetched again.
#
#   scripts/kernel_images.sh [release...]   default: bullseye bookworm trixie
#
# No module is needed: the VM boots from an initramfs with the kernel's
# built-in 8250 serial console, loopback, tracefs, bpffs and BTF, and each
# image's config is checked for those below.
set -e
cd "$(dirname "$0")/.."
KERNELS=${KERNELS:-build/kernels}
mkdir -p "$KERNELS"
KERNELS=$(cd "$KERNELS" && pwd)
[ $# -gt 0 ] || set -- bullseye bookworm trixie

# What the VM's init needs of a kernel, built in (=y), not as a module.
REQUIRED_CONFIG="CONFIG_BLK_DEV_INITRD CONFIG_SERIAL_8250_CONSOLE CONFIG_DEBUG_INFO_BTF \
CONFIG_BPF_SYSCALL CONFIG_BPF_EVENTS CONFIG_UPROBE_EVENTS CONFIG_FTRACE_SYSCALLS \
CONFIG_DEVTMPFS CONFIG_INET CONFIG_UNIX"

# apt-get and apt-cache on the release's private state; the package lists
# only (apt-file's Contents indexes, if the host enables them, are large
# and of no use here); downloads as root into build/.
apt_private() {
	tool=$1
	shift
	"$tool" -q -o Dir::Etc::SourceList="$APTDIR/sources.list" \
		-o Dir::Etc::SourceParts="$APTDIR/sources.list.d" \
		-o Dir::Etc::Preferences=/dev/null \
		-o Dir::Etc::PreferencesParts="$APTDIR/preferences.d" \
		-o Dir::State="$APTDIR/state" -o Dir::State::status="$APTDIR/state/status" \
		-o Dir::Cache="$APTDIR/cache" -o APT::Architecture=amd64 \
		-o APT::Architectures=amd64 -o Acquire::Languages=none \
		-o Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false \
		-o APT::Sandbox::User=root -o Debug::NoLocking=1 "$@"
}

# The kernel image package linux-image-amd64 depends on in that release:
# the release's current kernel, whatever its ABI number.
image_package() {
	apt_private apt-cache depends linux-image-amd64 |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1
}

check_config() {
	missing=""
	for opt in $REQUIRED_CONFIG; do
		grep -qx "$opt=y" "$1" || missing="$missing $opt"
	done
	if [ -n "$missing" ]; then
		echo "$1: not built in:$missing" >&2
		return 1
	fi
}

fetch() {
	release=$1
	out="$KERNELS/$release"
	[ -s "$out/vmlinuz" ] && return 0
	APTDIR="$KERNELS/apt/$release"
	mkdir -p "$APTDIR/sources.list.d" "$APTDIR/preferences.d" \
		"$APTDIR/state/lists/partial" "$APTDIR/cache/archives/partial"
	: >"$APTDIR/state/status"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
		"http://deb.debian.org/debian $release main" >"$APTDIR/sources.list"
	apt_private apt-get update >/dev/null
	pkg=$(image_package)
	if [ -z "$pkg" ]; then
		echo "$release: no kernel image package found" >&2
		return 1
	fi
	tmp="$KERNELS/tmp.$release"
	rm -rf "$tmp"
	mkdir -p "$tmp/x"
	(cd "$tmp" && apt_private apt-get download "$pkg" >/dev/null)
	dpkg-deb -x "$tmp"/*.deb "$tmp/x"
	check_config "$tmp"/x/boot/config-*
	mkdir -p "$out"
	cp "$tmp"/x/boot/config-* "$out/config"
	dpkg-deb -f "$tmp"/*.deb Package Version >"$out/package"
	cp "$tmp"/x/boot/vmlinuz-* "$out/vmlinuz.tmp"
	mv "$out/vmlinuz.tmp" "$out/vmlinuz"
	rm -rf "$tmp"
	echo "$release: $(tr '\n' ' ' <"$out/package")"
}

for release in "$@"; do
	fetch "$release"
done
