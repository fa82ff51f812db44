"""Faults of the exporter itself (issue 14, item 4): killed with SIGKILL and
restarted while streams are open, and /metrics hammered by many scrapers at
once while streams run.

Each case has a Go server under a name of its own and its own exporters
selecting that server only (--pid), so that their series and gauges are
the server's alone.
"""
import os
import signal
import subprocess
import threading
import time

import client
import launch
import metrics
import procs
from checks import inc
from framework import Group, expect
from isolated import gauges, in_background, joined, ready, start_exporter, start_go, streams, uid

BPFTOOL = "/usr/sbin/bpftool"


class Fixture:
    def __init__(self, tmp):
        self.tmp = tmp


def watching(tmp, name, srv):
    """An exporter that selects srv's process only, and its baseline scrape
    (ready()): the launcher's readiness GET came before the exporter, so
    one more that it sees."""
    exp = start_exporter(tmp, name, ["--pid=%d" % srv.children[0].pid])
    try:
        expect(client.request(srv.port, client.get("/health")).status == 200,
               "ground truth: GET /health failed")
        return exp, ready(exp, srv)
    except Exception:
        exp.stop()
        raise


def bpf_prog_ids(pid):
    """The ids of the BPF programs process pid holds through its fds (its
    links' and its programs')."""
    ids, fdinfo = set(), "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key.strip() == "prog_id":
                        ids.add(int(value))
        except OSError:
            pass  # an fd closed meanwhile
    return ids


def live_progs(ids):
    """Those of ids the kernel still has."""
    return {i for i in ids if subprocess.run([BPFTOOL, "prog", "show", "id", str(i)],
                                             capture_output=True).returncode == 0}


def wait_progs_gone(ids, timeout=10.0):
    """Programs are freed once their last reference goes, after an RCU
    grace period: polled."""
    deadline = time.monotonic() + timeout
    left = live_progs(ids)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)  # poll interval of a wait with a timeout
        left = live_progs(left)
    return left


EVENTS = 150   # 100 ms apart: the streams outlive the kill and the restart
ADOPT_S = 8.0  # from the restart to the gauges showing the open streams


def case_sigkill_restart(fx):
    """An exporter killed with SIGKILL while streams are open leaves nothing
    attached (every program it held is gone from the kernel); a new one
    adopts the open streams (its gauges reach their number within
    seconds) and counts them once they end, as adopted streams are
    (path and model unknown: their requests went by before it)."""
    n = 3
    srv = start_go(fx.tmp, "ft_kill_" + uid()[-5:])
    exp = restarted = None
    try:
        svc = srv.service
        exp, before = watching(fx.tmp, "ft-kill-a", srv)
        req = client.events("/events/ft-kill/%s" % uid(), {"events": EVENTS, "interval_ms": 100})
        worker = in_background(streams, srv.port, req, n)   # ~15 s each
        exp.settle(before, gauges(svc, n), stay=False)
        progs = bpf_prog_ids(exp.child.pid)
        expect(len(progs) >= 20, "the exporter holds %d BPF programs (want its ~38)", len(progs))
        procs.stop(exp.child, sig=signal.SIGKILL)
        left = wait_progs_gone(progs)
        expect(not left, "programs of the killed exporter still loaded: %s", sorted(left))
        t_start = time.monotonic()
        restarted = start_exporter(fx.tmp, "ft-kill-b", ["--pid=%d" % srv.children[0].pid])
        base = restarted.scrape()
        restarted.settle(base, gauges(svc, n), timeout=ADOPT_S, stay=False)
        took = time.monotonic() - t_start
        expect(took <= ADOPT_S, "the open streams were adopted %.1f s after the restart", took)
        resps = joined(*worker)
        expect(all(r.status == 200 and r.complete and r.data_events == EVENTS for r in resps),
               "ground truth: %r", [(r.status, r.complete, r.data_events) for r in resps])
        restarted.settle(base, gauges(svc, 0) + [
            inc("sse_requests_total", n, service=svc, path="unknown", status="success"),
            inc("sse_requests_total", n, service=svc),
        ])
        lost = metrics.total(restarted.scrape(), "sse_exporter_events_lost_total")
        expect(lost == 0, "the restarted exporter lost %s records", lost)
    finally:
        for e in (exp, restarted):
            if e:
                e.stop()
        launch.stop_server(srv)


SCRAPERS = 50
HAMMER_S = 30.0


def hammer(port, stop, times, errors):
    """GET /metrics in a loop until stop is set; each answer must parse and
    carry the build info."""
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            status, _, text = metrics.fetch(port, timeout=10.0)
            if status != 200 or "sse_exporter_build_info" not in text:
                errors.append("status %d, %d bytes" % (status, len(text)))
            else:
                metrics.parse(text)
        except Exception as e:  # noqa: BLE001 - every failure is the case's
            errors.append(repr(e))
        times.append(time.monotonic() - t0)


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def case_scrape_hammer(fx):
    """SCRAPERS clients scraping /metrics back to back for HAMMER_S while
    streams run: every scrape answers a whole exposition, the streams are
    counted exactly (the kernel side and the ring consumer do not stall
    behind the scrapes: no record lost), and the scrape p99 is reported."""
    srv = start_go(fx.tmp, "ft_scrape_" + uid()[-5:])
    exp = None
    try:
        svc = srv.service
        exp, before = watching(fx.tmp, "ft-scrape", srv)
        path = "/events/ft-scrape/%s" % uid()
        req = client.events(path, {"events": 200, "interval_ms": 10})
        stop, times, errors = threading.Event(), [], []
        scrapers = [threading.Thread(target=hammer, args=(exp.port, stop, times, errors), daemon=True)
                    for _ in range(SCRAPERS)]
        for t in scrapers:
            t.start()
        resps, deadline = [], time.monotonic() + HAMMER_S
        try:
            while time.monotonic() < deadline:
                resps += streams(srv.port, req, 8)
        finally:
            stop.set()
            for t in scrapers:
                t.join(15.0)
        expect(not any(t.is_alive() for t in scrapers), "a scraper still waits 15 s after the end")
        expect(not errors, "%d of %d scrapes failed: %s", len(errors), len(times), errors[:3])
        print("    %d scrapes by %d clients in %.0f s: p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (
            len(times), SCRAPERS, HAMMER_S, 1000 * percentile(times, 0.5),
            1000 * percentile(times, 0.99), 1000 * max(times)))
        expect(all(r.status == 200 and r.complete and r.data_events == 200 for r in resps),
               "ground truth: %d streams, incomplete: %r", len(resps),
               [(r.status, r.data_events) for r in resps if not r.complete][:5])
        label = "/events/ft-scrape/:id"
        exp.settle(before, gauges(srv.service, 0) + [
            inc("sse_requests_total", len(resps), service=svc, path=label, status="success"),
            inc("sse_chunks_streamed_total", 200 * len(resps), service=svc, path=label),
        ])
        lost = metrics.total(exp.scrape(), "sse_exporter_events_lost_total")
        expect(lost == 0, "%s records lost while scraped", lost)
    finally:
        if exp:
            exp.stop()
        launch.stop_server(srv)


def groups(tmp):
    return [Group(lambda: Fixture(tmp), [("fault:exporter_sigkill_restart", case_sigkill_restart),
                                         ("fault:scrape_hammer", case_scrape_hammer)])]
