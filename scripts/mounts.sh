#!/bin/sh
# Mounts tracefs and bpffs when they are missing; the exporter needs both.
set -e
if [ ! -d /sys/kernel/tracing/events ]; then
	mount -t tracefs nodev /sys/kernel/tracing
fi
if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
	mount -t bpf bpf /sys/fs/bpf
fi
