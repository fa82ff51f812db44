"""Who a process is, seen from the host: the service name a process gives
itself (OTEL_SERVICE_NAME), sse_exporter_target_info, and the series of a
process gone for --series.stale-after dropped and counted. Containers and
pods are the runtime groups' (podman, containerd through CRI).

The group's exporter selects its two servers by pid, so its series see no
other test's traffic; each server is a copy of the Go server under a name
of its own (isolated.go_binary), so its comm is known.
"""
import os

import flag_cases
import isolated
import launch
import metrics
import procs
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
