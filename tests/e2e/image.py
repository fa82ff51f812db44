#!/usr/bin/python3
"""`make image-test`: the exporter's image run as the DaemonSet runs it,
measuring streams that a server in another container serves.

    /usr/bin/python3 tests/e2e/image.py IMAGE [--caps=CAP,...] [--seccomp=PROFILE]

The exporter's container: the host's PID namespace (it must see every
process, and /proc must be the host's), the host's tracefs read-only (the
container's own sysfs has the kernel's BTF), a read-only root file
system, every capability dropped but --caps, its own network namespace
with its port published on 127.0.0.1 (a DaemonSet pod without
hostNetwork). The server: servers/stdlib_sse.py in a container of the
base image, as the podman group runs it (podman_cases.py), started after
the exporter, but as an unprivileged user. The exporter must count the
streams exactly as client.py received them. Every container is removed
by id when the run ends, whatever the outcome.

Prints one "PASS name" / "FAIL name: reason" line per case, then
"image-test: N passed, N failed"; exits 1 if anything failed.
"""
import sys

sys.dont_write_bytecode = True   # keep the source tree free of __pycache__

import argparse          # noqa: E402
import atexit            # noqa: E402
import random            # noqa: E402
import string            # noqa: E402
import tempfile          # noqa: E402
from dataclasses import dataclass   # noqa: E402
from pathlib import Path            # noqa: E402

import checks            # noqa: E402
import client            # noqa: E402
import framework         # noqa: E402
import metrics           # noqa: E402
import procs             # noqa: E402
from checks import gauge, inc   # noqa: E402
from framework import expect   # noqa: E402
from identity import wait_ready   # noqa: E402
from podman_cases import IMAGE as BASE_IMAGE, RUN_FLAGS, RUNTIME_FLAGS, podman   # noqa: E402

# What the exporter needs on this kernel, measured one by one (README,
# "Container image"): loading (BPF), tracepoint and uprobe programs and
# their perf events (PERFMON), other processes' /proc/PID/{fd,maps,exe,
# root} (SYS_PTRACE), those of processes of other users (DAC_READ_SEARCH).
CAPS = "BPF,PERFMON,SYS_PTRACE,DAC_READ_SEARCH"
# Runtimes' default seccomp profiles (podman's, containerd's) allow bpf(2)
# and perf_event_open(2) only to a holder of CAP_SYS_ADMIN; Kubernetes runs
# a pod Unconfined unless its seccompProfile says otherwise.
SECCOMP = "unconfined"
EXPORTER_PORT = 9476
PODMAN_STATE = "/var/lib/containers/storage/overlay-containers"
SWEEP_S = 1
STREAMS = 6
# Each stream outlives a sweep or more: the sweep asks /proc whether the
# server still holds the socket, and one that cannot read another user's
# /proc/PID/fd would end the stream as closed unseen.
EVENTS_MIN, INTERVAL_MS = 4, 400
STOP_TIMEOUT_S = 10
# Linux capability numbers, for the kernel's view in /proc/PID/status.
CAP_NAMES = ("CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
             "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
             "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
             "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
             "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
             "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
             "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE")

_containers = []


def podman_ok(*args):
    """podman's output; its error fails the case."""
    proc = podman(*args)
    expect(proc.returncode == 0, "podman %s: %s", " ".join(args), proc.stderr.strip())
    return proc.stdout.strip()


@dataclass
class Container:
    name: str
    cid: str

    def inspect(self, field):
        return podman_ok("inspect", "--format", "{{.%s}}" % field, self.cid)

    def running(self):
        return self.inspect("State.Running") == "true"

    def logs(self):
        proc = podman("logs", self.cid)
        return (proc.stdout + proc.stderr)[-3000:]

    def stop(self):
        """SIGTERM, SIGKILL after STOP_TIMEOUT_S; returns the exit code."""
        podman_ok("stop", "-t", str(STOP_TIMEOUT_S), self.cid)
        return int(self.inspect("State.ExitCode"))


def run_container(tmp, name, argv):
    """podman run -d argv as `name`; the id is written to a file before the
    container starts, so that one that fails to start is removed too."""
    cidfile = Path(tmp) / (name + ".cid")
    proc = podman("run", "-d", "--cidfile", str(cidfile), "--name", name, *argv)
    if cidfile.exists():
        _containers.append(Container(name, cidfile.read_text().strip()))
    expect(proc.returncode == 0, "podman run %s: %s", name, proc.stderr.strip())
    return _containers[-1]


def remove_all():
    while _containers:
        podman("rm", "-f", "-t", "0", _containers.pop().cid)


def start(tmp, name, port, argv):
    """run_container(), returning once GET /health answers 200."""
    ctr = run_container(tmp, name, argv)
    wait_ready(port, ctr.running, lambda: "%s exited (code %s):\n%s" % (
        name, ctr.inspect("State.ExitCode"), ctr.logs()))
    return ctr


@dataclass
class Fixture:
    caps: set
    exporter: Container
    port: int
    server: Container
    server_port: int
    tag: str          # the server's paths: /events/<tag>/<n>


def start_exporter(tmp, image, caps, seccomp, suffix):
    port = procs.free_port()
    ctr = start(tmp, "sse-image-exporter-" + suffix, port, RUNTIME_FLAGS + [
        "--pid=host", "--read-only", "--cap-drop=all", "--cap-add=" + caps,
        "--security-opt", "seccomp=" + seccomp,
        "-v", "/sys/kernel/tracing:/sys/kernel/tracing:ro",
        # podman's state, where a container's name is, at the path
        # --ident.host-root names: the default, /proc/1/root, needs ptrace
        # access to PID 1, which this machine's init refuses even to root
        "-v", "%s:/host%s:ro" % (PODMAN_STATE, PODMAN_STATE),
        "-p", "127.0.0.1:%d:%d" % (port, EXPORTER_PORT),
        image, "--sweep.interval=%d" % SWEEP_S, "--ident.host-root=/host"])
    checks.register_sweep(port, SWEEP_S)
    return ctr, port


def start_server(tmp, suffix):
    """stdlib_sse.py as nobody: the exporter reads the /proc of another
    user's process."""
    port = procs.free_port()
    ctr = start(tmp, "sse-image-server-" + suffix, port, RUN_FLAGS + [
        "--user=65534:65534", BASE_IMAGE, "python3", "/srv/stdlib_sse.py", str(port)])
    return ctr, port


def setup(tmp, args):
    suffix = "".join(random.choices(string.ascii_lowercase, k=8))
    exporter, port = start_exporter(tmp, args.image, args.caps, args.seccomp, suffix)
    server, server_port = start_server(tmp, suffix)
    caps = set(args.caps.split(","))
    return Fixture(caps, exporter, port, server, server_port, "image-" + suffix)


def cap_names(mask):
    return {name for bit, name in enumerate(CAP_NAMES) if mask >> bit & 1}


def case_capabilities(fx):
    """The kernel's view of the exporter: no capability beyond --caps in
    its bounding set, none beyond them in effect after its drop."""
    status = Path("/proc/%s/status" % fx.exporter.inspect("State.Pid")).read_text()
    sets = dict(line.split(":\t") for line in status.splitlines() if line.startswith("Cap"))
    bounding, effective = (cap_names(int(sets[k], 16)) for k in ("CapBnd", "CapEff"))
    expect(bounding == fx.caps, "bounding set %s, want %s", sorted(bounding), sorted(fx.caps))
    expect(effective <= fx.caps, "effective set %s beyond %s", sorted(effective), sorted(fx.caps))


def case_streams(fx):
    """Streams of the other container's server, each outliving a sweep,
    counted exactly under that container's name (its service too, by the
    default --ident.service-from), and the server's process named by its
    container in sse_exporter_target_info."""
    label, name = "/events/%s/:id" % fx.tag, fx.server.name
    before = metrics.scrape(fx.port)
    resps = client.concurrently(lambda i: client.request(fx.server_port, client.events(
        "/events/%s/%d" % (fx.tag, i + 1), {"events": EVENTS_MIN + i, "interval_ms": INTERVAL_MS})),
        [(i,) for i in range(STREAMS)])
    for r in resps:
        expect(r.status == 200 and r.is_sse and r.complete,
               "ground truth: status %d, sse=%s, complete=%s", r.status, r.is_sse, r.complete)
    n, chunks = len(resps), sum(r.data_events for r in resps)
    checks.settle(fx.port, before, [
        inc("sse_requests_total", n, path=label, status="success"),
        inc("sse_requests_total", n, path=label, container=name, service=name),
        inc("sse_chunks_streamed_total", chunks, path=label),
        inc("sse_chunks_streamed_total", chunks, path=label, container=name, service=name),
        gauge("sse_exporter_target_info", 1, container=name, container_id=fx.server.cid,
              pid=fx.server.inspect("State.Pid"), comm="python3")],
        own_paths=(label,))


def case_sigterm(fx):
    """SIGTERM (podman stop, a pod's deletion) detaches and exits 0."""
    code = fx.exporter.stop()
    expect(code == 0, "exit code %d after SIGTERM:\n%s", code, fx.exporter.logs())


CASES = [("image:capabilities", case_capabilities), ("image:streams", case_streams),
         ("image:sigterm", case_sigterm)]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", help="the exporter's image, e.g. localhost/sse-exporter:latest")
    p.add_argument("--caps", default=CAPS, help="capabilities of the exporter (default %s)" % CAPS)
    p.add_argument("--seccomp", default=SECCOMP,
                   help="its seccomp profile: a file, or unconfined (default %s)" % SECCOMP)
    return p.parse_args()


def main():
    args = parse_args()
    procs.install_cleanup()          # SIGTERM/SIGHUP unwind to the atexit below
    atexit.register(remove_all)
    results = framework.Results()
    with tempfile.TemporaryDirectory(prefix="sse-image-") as tmp:
        group = framework.Group(lambda: setup(tmp, args), CASES)
        try:
            framework.run_groups([group], lambda name: True, results)
        finally:
            remove_all()
    print("image-test: %d passed, %d failed" % (results.passed, results.failed))
    return 1 if results.failed or not results.passed else 0


if __name__ == "__main__":
    sys.exit(main())
