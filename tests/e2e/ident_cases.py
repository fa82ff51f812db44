"""Who a process is, seen from the host: the service name a process gives
itself (OTEL_SERVICE_NAME), sse_exporter_target_info, and the series of a
process gone for --series.stale-after dropped and counted. Containers and
pods are the runtime groups' (podman, containerd through CRI).

The group's exporter selects its two servers by pid, so its series see no
other test's traffic; each server is a copy of the Go server under a name
of its own (isolated.go_binary), so its comm is known.
"""
import http.server
import json
import os
import threading
import uuid
from pathlib import Path

import client
import flag_cases
import isolated
import launch
import metrics
import procs
import tls
from checks import inc
from framework import Group, expect

STALE_S = 2     # --series.stale-after of the group's exporter


def start_go_env(tmp, name, env):
    """The Go server copy `name` with env added; its comm is `name`."""
    port = procs.free_port()
    argv = [str(isolated.go_binary(tmp, name)), str(port)]
    child = procs.spawn("%s-%d" % (name, port), argv, tmp, env=dict(os.environ, **env))
    server = launch.Server(name, name, port, [child])
    try:
        procs.wait_http(child, port)
    except Exception:
        launch.stop_server(server)
        raise
    return server


class Ident:
    """`otel`: a server with OTEL_SERVICE_NAME=checkout-N; `gone`: one
    without, stopped by the stale case; both selected by --pid."""

    def __init__(self, tmp):
        n = isolated.short_uid()
        self.otel_name = "checkout-%s" % n
        self.servers, self.exp = {}, None
        try:
            self.servers["otel"] = start_go_env(tmp, "id_otel_" + n, {"OTEL_SERVICE_NAME": self.otel_name})
            self.servers["gone"] = start_go_env(tmp, "id_gone_" + n, {})
            pids = ["--pid=%d" % s.children[0].pid for s in self.servers.values()]
            self.exp = isolated.start_exporter(tmp, "ident", pids + [
                "--series.stale-after=%d" % STALE_S, "--sweep.interval=%d" % isolated.SWEEP_S])
        except Exception:
            self.stop()
            raise

    def stop(self):
        flag_cases.stop_all([self.exp] if self.exp else [], self.servers.values())


def info_of(samples, pid):
    """The labels of the target_info series of pid, or None."""
    for (name, labels), value in samples.items():
        lbl = dict(labels)
        if name == "sse_exporter_target_info" and lbl.get("pid") == str(pid):
            expect(value == 1, "target_info of pid %d is %r, not 1", pid, value)
            return lbl
    return None


def case_otel_service(fx):
    """The service is the name the process gives itself, not its comm; its
    target_info joins that name with the comm and pid, and has no
    namespace, pod or container (a plain process)."""
    srv = fx.servers["otel"]
    before = fx.exp.scrape()
    get_path, label = flag_cases.sse_exchange(srv, "otel")
    after = fx.exp.settle(before, flag_cases.exchange_counted(fx.otel_name, get_path, label)
                          + flag_cases.exchange_not_counted(srv.service))
    info = info_of(after, srv.children[0].pid)
    expect(info == {"service": fx.otel_name, "comm": srv.service, "pid": str(srv.children[0].pid)},
           "target_info of the OTel server: %r", info)


def series_of(samples, svc):
    return [(name, dict(lbl)) for (name, lbl) in samples if dict(lbl).get("service") == svc]


def registry_series(samples):
    """How many series the exporter holds for these samples: a histogram's
    buckets, sum and count are one."""
    out = set()
    for name, lbl in samples:
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix):
                name = name[:-len(suffix)]
        out.add((name, frozenset((k, v) for k, v in lbl.items() if k != "le")))
    return len(out)


def case_stale_series_dropped(fx):
    """A process gone: its target_info leaves at once (exit record), its
    series after --series.stale-after, counted in
    sse_exporter_series_expired_total; a live process keeps its own."""
    srv = fx.servers["gone"]
    pid = srv.children[0].pid
    before = fx.exp.scrape()
    get_path, label = flag_cases.sse_exchange(srv, "gone")
    counted = fx.exp.settle(before, flag_cases.exchange_counted(srv.service, get_path, label))
    # target_info leaves at the exit, the rest at the expiry
    theirs = registry_series(series_of(counted, srv.service)) - 1
    expect(info_of(counted, pid) is not None, "no target_info for the live server %d", pid)
    expired = metrics.total(counted, "sse_exporter_series_expired_total")
    launch.stop_server(srv)
    ok, after = metrics.wait_for(fx.exp.port, lambda s: info_of(s, pid) is None, 5.0)
    expect(ok, "target_info of pid %d stays after its exit", pid)
    expect(series_of(after, srv.service), "series of %s dropped at once, before the grace period",
           srv.service)
    ok, after = metrics.wait_for(fx.exp.port, lambda s: not series_of(s, srv.service),
                                 STALE_S + 4 * isolated.SWEEP_S + 2)
    expect(ok, "series of the gone %s stay: %r", srv.service, series_of(after, srv.service)[:5])
    got = metrics.total(after, "sse_exporter_series_expired_total") - expired
    expect(got == theirs, "sse_exporter_series_expired_total rose by %r, the gone server had %d series",
           got, theirs)
    kept = fx.servers["otel"]
    expect(info_of(after, kept.children[0].pid) is not None and series_of(after, fx.otel_name),
           "the live server's series or target_info went too")
    fx.exp.settle(after, [inc("http_requests_total", 0, service=fx.otel_name)])


def groups(tmp):
    return [Group(lambda: Ident(tmp), [("ident:otel_service", case_otel_service),
                                       ("ident:stale_series_dropped", case_stale_series_dropped)],
                  lambda fx: fx.stop())]


# --------------------------------------------------------------------------
# --kubelet.enrich, against a kubelet of the test's own: no kubelet runs
# here, so its /pods is served by the test (HTTPS, bearer token); the pods'
# cgroups are real, made as the kubelet's cgroupfs driver lays them out.
# --------------------------------------------------------------------------

def pod_list(pods):
    """A PodList as a kubelet writes it, for [(uid, namespace, name, app)]."""
    items = []
    for uid, ns, name, app in pods:
        rs = name.rsplit("-", 1)[0]
        items.append({"metadata": {
            "name": name, "namespace": ns, "uid": uid,
            "labels": {"app.kubernetes.io/name": app, "pod-template-hash": rs.rsplit("-", 1)[1]},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                 "controller": True}]},
            "spec": {"containers": [{"name": "api"}]}, "status": {"phase": "Running"}})
    return json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}).encode()


class FakeKubelet:
    """GET /pods over HTTPS with the run's certificate; answers 401 to any
    other token than `token`, 500 when `broken`."""

    def __init__(self, tmp):
        self.token, self.pods, self.broken, self.seen = "tok-1", [], False, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.seen.append(self.headers.get("Authorization"))
                if self.path != "/pods":
                    return self.answer(404, b"")
                if self.headers.get("Authorization") != "Bearer " + outer.token:
                    return self.answer(401, b"Unauthorized")
                if outer.broken:
                    return self.answer(500, b"boom")
                self.answer(200, pod_list(outer.pods))

            def answer(self, code, body):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = tls.server_context(tmp).wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def pod_uid():
    return str(uuid.uuid4())


class Kubelet:
    """Pods `early` (listed before the exporter starts), `late` (listed
    only after its one timed poll: named through the refresh a miss asks
    for) and `stray` (never listed), each a Go server copy in the cgroup a
    cgroupfs kubelet makes: /kubepods/besteffort/pod<uid>/<container id>."""

    def __init__(self, tmp):
        n = isolated.short_uid()
        self.kubelet, self.exp, self.servers, self.dirs = FakeKubelet(tmp), None, {}, []
        self.token_file = Path(tmp) / ("kubelet-token-%s" % n)
        self.token_file.write_text("tok-1\n")
        self.pods = {"early": (pod_uid(), "shop", "web-7d9c8b6f5d-abc%s" % n, "storefront-%s" % n),
                     "late": (pod_uid(), "shop", "cart-5f6b7c8d9e-xyz%s" % n, "cart-%s" % n),
                     "stray": (pod_uid(), "", "", "")}
        try:
            self.kubelet.pods = [self.pods["early"]]
            for which in ("early", "late", "stray"):
                self.servers[which] = self.start_in_pod(tmp, "kl_%s_%s" % (which, n), self.pods[which][0])
            pids = ["--pid=%d" % s.children[0].pid for s in self.servers.values()]
            self.exp = isolated.start_exporter(tmp, "kubelet", pids + [
                "--kubelet.enrich", "--kubelet.url=https://127.0.0.1:%d" % self.kubelet.port,
                "--kubelet.token-file=%s" % self.token_file,
                "--kubelet.ca-file=%s" % tls.cert_files(tmp)[0],
                "--kubelet.interval=3600", "--sweep.interval=%d" % isolated.SWEEP_S])
        except Exception:
            self.stop()
            raise

    def start_in_pod(self, tmp, name, uid):
        root = flag_cases.cgroup2_root()
        pod = root / "kubepods" / "besteffort" / ("pod" + uid)
        ctr = pod / uuid.uuid4().hex.ljust(64, "0")
        ctr.mkdir(parents=True)
        self.dirs += [ctr, pod]
        return flag_cases.start_go_in(tmp, name, ctr)

    def stop(self):
        flag_cases.stop_all([self.exp] if self.exp else [], self.servers.values())
        flag_cases.remove_cgroups(self.dirs)
        self.kubelet.stop()


def polls(samples, result):
    return metrics.total(samples, "sse_exporter_kubelet_polls_total", result=result)


def case_kubelet_names_pods(fx):
    """A pod the kubelet listed is named from its first request: namespace
    and pod from the kubelet, service from app.kubernetes.io/name;
    target_info carries the pod uid."""
    srv, (uid, ns, name, app) = fx.servers["early"], fx.pods["early"]
    before = fx.exp.scrape()
    get_path, label = flag_cases.sse_exchange(srv, "kl")
    after = fx.exp.settle(before, [inc("http_requests_total", 1, service=app, namespace=ns, pod=name,
                                       path=get_path, status="200"),
                                   inc("sse_chunks_streamed_total", 3, service=app, namespace=ns,
                                       pod=name, path=label),
                                   inc("http_requests_total", 0, service=srv.service)])
    info = info_of(after, srv.children[0].pid)
    expect(info and info.get("pod_uid") == uid and info.get("service") == app,
           "target_info of the pod: %r", info)
    expect("Bearer tok-1" in fx.kubelet.seen, "the kubelet saw no token: %r", fx.kubelet.seen[:3])


def case_kubelet_refresh_on_miss(fx):
    """A pod newer than the last answer (the timed poll is an hour away):
    its first connection asks for a poll, and once the kubelet names it,
    its requests count under the pod's names."""
    srv, (_, ns, name, app) = fx.servers["late"], fx.pods["late"]
    ok_before = polls(fx.exp.scrape(), "success")
    fx.kubelet.pods = [fx.pods["early"], fx.pods["late"]]
    flag_cases.sse_exchange(srv, "miss")
    ok, after = metrics.wait_for(fx.exp.port, lambda s: info_of(s, srv.children[0].pid) and
                                 info_of(s, srv.children[0].pid).get("pod") == name, 10.0)
    expect(ok, "the late pod was never named: target_info %r, polls %r -> %r",
           info_of(after, srv.children[0].pid), ok_before, polls(after, "success"))
    expect(polls(after, "success") > ok_before, "named without a poll?")
    before = fx.exp.scrape()
    get_path, label = flag_cases.sse_exchange(srv, "named")
    fx.exp.settle(before, [inc("http_requests_total", 1, service=app, namespace=ns, pod=name,
                               path=get_path, status="200")])


def case_kubelet_token_and_failures(fx):
    """The token is read anew at each poll (a rotated one is used), and a
    failing kubelet is counted, not fatal. Polls come from misses: the
    stray pod, which the kubelet never lists, asks at each sweep."""
    fx.token_file.write_text("tok-2\n")
    fx.kubelet.token = "tok-2"
    start = fx.exp.scrape()
    expect(fx.servers["stray"].request(client.get("/items/stray")).status == 200, "ground truth: GET")
    ok, after = metrics.wait_for(fx.exp.port, lambda s: polls(s, "success") > polls(start, "success"), 10.0)
    expect(ok and fx.kubelet.seen[-1] == "Bearer tok-2", "no poll with the rotated token: %r",
           fx.kubelet.seen[-3:])
    fx.kubelet.broken = True
    ok, after = metrics.wait_for(fx.exp.port, lambda s: polls(s, "failure") > polls(start, "failure"), 10.0)
    expect(ok, "a failing kubelet was not counted: polls %r", polls(after, "failure"))
    expect(fx.exp.child.popen.poll() is None, "the exporter exited")


def kubelet_groups(tmp):
    return [Group(lambda: Kubelet(tmp), [("ident:kubelet_names_pods", case_kubelet_names_pods),
                                         ("ident:kubelet_refresh_on_miss", case_kubelet_refresh_on_miss),
                                         ("ident:kubelet_token_and_failures", case_kubelet_token_and_failures)],
                  lambda fx: fx.stop())]
