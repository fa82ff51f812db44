"""podman (issue 11, point 5): two containers of the base image
(localhost/sse-debian:bookworm, scripts/base_image.sh) run the same server,
servers/stdlib_sse.py bind-mounted read-only, so both are comm `python3`
on the host's network. The exporter (no selection) starts first; each
container's streams must be counted under container = service = the name
podman gave it, with no namespace or pod, from its first request.

This host's podman needs `--runtime runc` and explicit rlimits: its
default ones exceed what the nested VM lets a container set.
"""
import subprocess

import identity
import isolated
import launch
import procs
from framework import expect

PODMAN = "/usr/bin/podman"
IMAGE = "localhost/sse-debian:bookworm"
RUNTIME_FLAGS = ["--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
RUN_FLAGS = RUNTIME_FLAGS + ["--network", "host", "-v", "%s:/srv:ro" % launch.SERVERS]
STREAMS = {"a": 3, "b": 2}     # different counts: a swap of labels shows


def podman(*args, timeout=60):
    return subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=timeout)


class Podman:
    def __init__(self, tmp):
        self.ids, self.exp = [], None
        try:
            expect(podman("image", "exists", IMAGE).returncode == 0,
                   "no image %s: run scripts/base_image.sh", IMAGE)
            self.exp = identity.start_exporter(tmp, "podman")
            uid = isolated.short_uid()
            self.targets = [self.start("e2e-%s-%s" % (x, uid), n) for x, n in STREAMS.items()]
        except BaseException:   # an interrupted run too: containers outlive the runner
            self.stop()
            raise

    def start(self, name, streams):
        port = procs.free_port()
        run = podman("run", "-d", "--name", name, *RUN_FLAGS, IMAGE,
                     "python3", "/srv/stdlib_sse.py", str(port))
        expect(run.returncode == 0, "podman run %s failed: %s", name, run.stderr.strip())
        cid = run.stdout.strip()
        self.ids.append(cid)
        target = identity.Target(name, port, identity.who(name, container=name), streams=streams)
        target.probes = identity.wait_ready(port, lambda: self.state(cid) == "running",
                                            lambda: podman("logs", cid).stderr[-2000:])
        pid = int(podman("inspect", "-f", "{{.State.Pid}}", cid).stdout)
        expect(isolated.comm_of(pid) == "python3", "ground truth: %s runs as %r", name, isolated.comm_of(pid))
        return target

    def state(self, cid):
        return podman("inspect", "-f", "{{.State.Status}}", cid).stdout.strip()

    def stop(self):
        for cid in self.ids:
            rm = podman("rm", "-f", "-t", "0", cid)
            if rm.returncode != 0:
                print("NOTE podman rm %s failed: %s" % (cid, rm.stderr.strip()), flush=True)
        if self.exp is not None:
            self.exp.stop()


def groups(tmp):
    return [identity.group(lambda: Podman(tmp), [("podman:first_requests", identity.case_first_requests),
                                                 ("podman:split_by_container", identity.case_streams)])]
