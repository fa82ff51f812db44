"""Processes under names of their own, and exporters of their own.

A server started through a copy of the Go binary or a symlink to python3
(in tmp/rb-bin) has its own comm, hence its own `service` label: series
labelled by service alone see no other test's traffic. A dedicated
exporter (`start_exporter`) runs with the flags a group needs, often a
selection (--pid, --port, --exe) of only its processes. The robustness,
outcome, own-metrics, flag and exporter groups build on these.
"""
import random
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import checks
import client
import launch
import metrics
import procs
from checks import gauge
from framework import expect

SWEEP_S = 1.0    # --sweep.interval of the dedicated exporters that sweep


def uid():
    """A numeric path segment: the exporter must collapse it to :id."""
    return str(random.randint(1, 10 ** 9))


def short_uid():
    """Digits for process names: comm keeps 15 bytes, so names stay short."""
    return uid()[-5:]


# --------------------------------------------------------------------------
# Exporters and servers under unique names
# --------------------------------------------------------------------------

@dataclass
class Exp:
    child: procs.Child
    port: int

    def scrape(self):
        return metrics.scrape(self.port)

    def settle(self, before, expects, timeout=checks.SETTLE_TIMEOUT, stay=True):
        return checks.settle(self.port, before, expects, timeout, stay=stay)

    def settle_within(self, before, expects, seconds, since):
        """The expectations hold at most `seconds` after `since` (a
        monotonic time), and then stay."""
        self.settle(before, expects, timeout=seconds, stay=False)
        elapsed = time.monotonic() - since
        expect(elapsed <= seconds, "settled %.1f s after the event (want <= %.1f s)", elapsed, seconds)
        return self.settle(before, expects)

    def stop(self):
        procs.stop(self.child)


def start_exporter(tmp, name, args, timeout=30.0, env=None):
    """An exporter with `args` (and `env`); returns once /health answers 200."""
    child, port = launch.start_exporter(tmp, timeout, args, name="sse_exporter-%s" % name, env=env)
    return Exp(child, port)


def start_exporters(tmp, specs):
    """Several exporters started in parallel: {name: Exp}."""
    out, errors = {}, []

    def one(name, args):
        try:
            out[name] = start_exporter(tmp, name, args)
        except Exception as e:   # noqa: BLE001 - re-raised below
            errors.append(e)
    threads = [threading.Thread(target=one, args=item, daemon=True) for item in specs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for exp in out.values():
            exp.stop()
        raise errors[0]
    return out


def bin_dir(tmp):
    d = Path(tmp) / "rb-bin"
    d.mkdir(exist_ok=True)
    return d


def go_binary(tmp, name, directory=None):
    """A copy of the Go server named `name` (in `directory`, else
    tmp/rb-bin): its own comm and exe path."""
    dst = Path(directory or bin_dir(tmp)) / name
    if not dst.exists():
        shutil.copy2(launch.build_go(tmp), dst)
    return dst


def alias(tmp, target, name):
    """A symlink `name` -> target: exec through it gives comm `name`."""
    dst = bin_dir(tmp) / name
    if not dst.exists():
        dst.symlink_to(target)
    return dst


def comm_of(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def start_server(tmp, name, argv, port=None, port_arg=True):
    """argv + [port] (unless port_arg is false: the port is in argv's
    config); the service label is the comm, checked here."""
    port = port or procs.free_port()
    child = procs.spawn("%s-%d" % (name, port), list(map(str, argv)) + ([str(port)] if port_arg else []), tmp)
    server = launch.Server(name, name[:15], port, [child])
    try:
        procs.wait_http(child, port)
        comm = comm_of(child.pid)
        expect(comm == server.service, "server %s runs as comm %r, not %r", name, comm, server.service)
    except Exception:
        launch.stop_server(server)
        raise
    return server


def start_go(tmp, name, port=None):
    return start_server(tmp, name, [go_binary(tmp, name)], port)


def start_fastapi(tmp, name):
    return start_server(tmp, name, [alias(tmp, launch.PYTHON, name), launch.SERVERS / "fastapi_sse.py"])


def start_fd_drop(tmp, name):
    return start_server(tmp, name, [alias(tmp, launch.PYTHON, name), launch.SERVERS / "fd_drop_server.py"])


# --------------------------------------------------------------------------
# Readiness and background clients
# --------------------------------------------------------------------------

def ready(exp, srv, timeout=checks.SETTLE_TIMEOUT):
    """The baseline scrape of a case: taken once the exporter has counted
    the server's readiness GET /health (it lags by up to ~100 ms) and its
    connection, so that they do not count as the case's traffic."""
    svc = srv.service
    ok, samples = metrics.wait_for(exp.port, lambda s: (
        metrics.total(s, "http_requests_total", service=svc, path="/health") >= 1
        and metrics.total(s, "http_connections_active", service=svc) == 0), timeout)
    if not ok:
        seen = {"%s %s" % (n, dict(lbl)): v for (n, lbl), v in samples.items()
                if dict(lbl).get("service") == svc and n in (
                    "http_requests_total", "http_connections_active",
                    "sse_exporter_exchanges_lost_total")}
        expect(False, "the exporter never counted %s's readiness GET /health; it has %r, "
               "events lost %s", svc, seen, metrics.total(samples, "sse_exporter_events_lost_total"))
    return samples


def in_background(fn, *args):
    """Run fn(*args) in a thread; returns (thread, {"value"|"error": ...})."""
    out = {}

    def run():
        try:
            out["value"] = fn(*args)
        except Exception as e:   # noqa: BLE001 - checked by the caller
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def joined(thread, out, timeout=15.0):
    thread.join(timeout)
    expect(not thread.is_alive(), "ground truth: client still running after %.0f s", timeout)
    if "error" in out:
        raise out["error"]
    return out["value"]


def streams(port, req, n):
    return client.concurrently(lambda: client.request(port, req), [()] * n)


def gauges(svc, value):
    return [gauge(name, value, service=svc) for name in ("sse_active_connections", "http_connections_active")]
