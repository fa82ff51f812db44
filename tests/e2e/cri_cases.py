"""containerd driven through the CRI (issue 11, point 5), the calls a
kubelet makes (cri_client.py), so that the pods' cgroups and OCI bundles
are the real ones: two pods of one Deployment (web-7d9c8b6f5d-*) and one
whose container sets OTEL_SERVICE_NAME, all in namespace `shop` with a
container `api` running servers/stdlib_sse.py (comm python3) from the base
image, on the node's network.

A private containerd (Debian's) runs for the group: its config, socket
and state in the run's tmp dir, the CRI plugin with the cgroupfs driver
(SystemdCgroup = false) and the overlayfs snapshotter, oom_score_adj not
below its own (the nested VM refuses the pause container's -998). Its
state dir is <tmp>/containerd/host/run/containerd, where a node's is
/run/containerd: the exporter is given --ident.host-root=<tmp>/containerd/host
and finds the bundles where it would on a node. Its root (images,
snapshots) is kept in CACHE across runs, so the images are imported once
(podman save | ctr import); pods an interrupted run left there are
removed first. The sandbox (pause) image is the base image sleeping.

The exporter starts before the pods: their readiness probes, their first
requests, must carry namespace, pod, container and service (the container
name, or OTEL_SERVICE_NAME).
"""
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import cri_client
import identity
import isolated
import launch
import procs
from checks import Expect
from flag_cases import remove_cgroups
from framework import expect
from podman_cases import IMAGE, podman

CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
CACHE = Path("/var/tmp/sse-e2e-containerd")
PAUSE = "localhost/sse-pause:e2e"
NAMESPACE = "shop"
CONTAINER = "api"
# (pod name, environment, streams): a Deployment's two pods, then a pod
# that names its service.
PODS = [("web-7d9c8b6f5d-abcde", {}, 3), ("web-7d9c8b6f5d-fghij", {}, 2),
        ("checkout-6c4f8d9b7-klmno", {"OTEL_SERVICE_NAME": "checkout"}, 2)]
BUNDLES = "io.containerd.runtime.v2.task/k8s.io"   # under the state dir

CONFIG = """version = 2
root = "{root}"
state = "{state}"
disabled_plugins = []
[grpc]
  address = "{socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{runc_root}"
"""


class Containerd:
    """The private containerd and a CRI client to it."""

    def __init__(self, tmp):
        self.dir = Path(tmp) / "containerd"
        self.host = self.dir / "host"
        self.state = self.host / "run" / "containerd"
        self.socket = self.dir / "containerd.sock"
        self.state.mkdir(parents=True)
        CACHE.mkdir(exist_ok=True)
        (self.dir / "config.toml").write_text(CONFIG.format(
            root=CACHE / "root", state=self.state, socket=self.socket, pause=PAUSE,
            runc_root=self.dir / "runc"))
        self.child = procs.spawn("containerd", [CONTAINERD, "--config", str(self.dir / "config.toml")], tmp)
        self.cri = None
        try:
            self.wait_socket()
            self.cri = cri_client.Cri(self.socket, self.dir / "gen")
            self.cri.version()
            self.import_images()
            self.remove_pods(self.cri.pod_ids())
        except BaseException:   # an interrupted run too: containers outlive the runner
            self.stop()
            raise

    def wait_socket(self, timeout=15.0):
        """The CRI socket exists (a first gRPC call before it would put the
        channel in a reconnect backoff of a second or more)."""
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            expect(self.child.alive(), "containerd exited: %s", self.child.tail())
            expect(time.monotonic() < deadline, "no %s after %.0f s: %s", self.socket, timeout, self.child.tail())
            time.sleep(0.02)

    def ctr(self, *args, stdin=None):
        return subprocess.run([CTR, "-a", str(self.socket), "-n", "k8s.io", *args], stdin=stdin,
                              capture_output=True, text=True, timeout=300)

    def import_images(self):
        """The base and pause images, from podman's store, unless the cached
        root has them."""
        if {IMAGE, PAUSE} <= set(self.ctr("images", "ls", "-q").stdout.split()):
            return
        if podman("image", "exists", PAUSE).returncode != 0:
            (self.dir / "Containerfile").write_text('FROM %s\nCMD ["/bin/sleep", "infinity"]\n' % IMAGE)
            build = podman("build", "-q", "--runtime", "runc", "-t", PAUSE, "-f",
                           str(self.dir / "Containerfile"), str(self.dir), timeout=300)
            expect(build.returncode == 0, "podman build %s failed: %s", PAUSE, build.stderr.strip())
        save = subprocess.Popen(["/usr/bin/podman", "save", "-q", "-m", IMAGE, PAUSE], stdout=subprocess.PIPE)
        imported = self.ctr("images", "import", "-", stdin=save.stdout)
        save.stdout.close()
        expect(save.wait() == 0 and imported.returncode == 0, "podman save | ctr import failed: %s",
               imported.stderr.strip())

    def bundle(self, container_id):
        return self.state / BUNDLES / container_id / "config.json"

    def remove_pods(self, pod_ids):
        """Every pod, even when one fails: a teardown must not stop early."""
        for pod_id in pod_ids:
            try:
                self.cri.remove_pod(pod_id)
            except cri_client.grpc.RpcError as e:
                print("NOTE cri: removing pod %s failed: %s" % (pod_id, e), flush=True)

    def stop(self):
        if self.cri is not None:
            self.cri.close()
        procs.stop(self.child)


def cgroup_mounts():
    """Mount points of every cgroup hierarchy (v1 and v2)."""
    with open("/proc/self/mounts") as f:
        return [Path(fields[1]) for fields in (line.split() for line in f)
                if fields[2] in ("cgroup", "cgroup2")]


def pod_cgroup(uid):
    """The pod's cgroup as the kubelet's cgroupfs driver names it."""
    return "/kubepods/besteffort/pod%s" % uid


@dataclass
class PodTarget(identity.Target):
    cid: str = ""     # container id
    uid: str = ""     # pod uid
    pid: int = 0      # the server's, on the host


class Cri:
    def __init__(self, tmp):
        self.pods, self.exp, self.ctd = [], None, None
        t0 = time.monotonic()
        try:
            self.ctd = Containerd(tmp)
            t1 = time.monotonic()
            self.exp = identity.start_exporter(tmp, "cri", ["--ident.host-root=%s" % self.ctd.host])
            t2 = time.monotonic()
            self.targets = [self.start_pod(name, env, n) for name, env, n in PODS]
        except BaseException:   # an interrupted run too: containers outlive the runner
            self.stop()
            raise
        print("NOTE cri: containerd ready with its images in %.1f s, 3 pods serving in %.1f s "
              "(exporter start %.1f s apart)" % (t1 - t0, time.monotonic() - t2, t2 - t1), flush=True)

    def start_pod(self, name, env, streams):
        cri, port = self.ctd.cri, procs.free_port()
        logs = self.ctd.dir / "pods" / name
        logs.mkdir(parents=True)
        pod = cri.run_pod(name, NAMESPACE, logs)
        self.pods.append(pod)
        cid = cri.start_container(pod, CONTAINER, IMAGE, ["python3", "/srv/stdlib_sse.py", str(port)],
                                  env, [(launch.SERVERS, "/srv")])
        target = PodTarget("cri-%s-%s" % (name[-5:], isolated.short_uid()), port,
                           identity.who(env.get("OTEL_SERVICE_NAME", CONTAINER), container=CONTAINER,
                                        namespace=NAMESPACE, pod=name), streams=streams, cid=cid, uid=pod.uid)
        running = cri.pb.CONTAINER_RUNNING
        target.probes = identity.wait_ready(port, lambda: cri.container_status(cid)[0].state == running,
                                            lambda: (logs / ("%s.log" % CONTAINER)).read_text()[-2000:])
        target.pid = cri.container_status(cid)[1]["pid"]
        self.check_node_layout(target)
        return target

    def check_node_layout(self, t):
        """Ground truth: the server is python3 in the cgroup and bundle a
        node's containerd (cgroupfs driver) gives a pod's container."""
        expect(isolated.comm_of(t.pid) == "python3", "ground truth: pid %d is %r", t.pid, isolated.comm_of(t.pid))
        want = "%s/%s" % (pod_cgroup(t.uid), t.cid)
        lines = Path("/proc/%d/cgroup" % t.pid).read_text().splitlines()
        expect(lines and all(line.split(":", 2)[2] == want for line in lines),
               "ground truth: pid %d's cgroups %r, want all %s", t.pid, lines, want)
        expect(self.ctd.bundle(t.cid).exists(), "ground truth: no bundle %s", self.ctd.bundle(t.cid))

    def stop(self):
        """Pods, then their cgroups (the kubelet's to remove), containerd,
        the exporter."""
        if self.ctd is not None:
            self.ctd.remove_pods([pod.id for pod in self.pods])
            self.ctd.stop()
        remove_cgroups([m / pod_cgroup(pod.uid)[1:] for m in cgroup_mounts() for pod in self.pods])
        if self.exp is not None:
            self.exp.stop()


def target_info(t):
    labels = dict(t.labels, container_id=t.cid, pod_uid=t.uid, image=IMAGE, comm="python3", pid=str(t.pid))
    return Expect("sse_exporter_target_info", labels, lambda v: v == 1, "== 1", absolute=True)


def case_target_info(fx):
    """The info metric joins each pod's labels with its container id, pod
    uid, image, comm and pid."""
    fx.exp.settle(fx.exp.scrape(), [target_info(t) for t in fx.targets])


def groups(tmp):
    return [identity.group(lambda: Cri(tmp), [
        ("cri:first_requests", identity.case_first_requests),
        ("cri:deployment_pods", lambda fx: identity.streams(fx.exp, fx.targets[:2])),
        ("cri:otel_service_name", lambda fx: identity.streams(fx.exp, fx.targets[2:])),
        ("cri:target_info", case_target_info),
    ])]
