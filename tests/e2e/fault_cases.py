"""Faults (issue 14, item 4): of the exporter itself (killed with SIGKILL
and restarted while streams are open, /metrics hammered by many scrapers
at once while streams run, maps too small for the connections); of what
it watches (connections that change hands mid-stream: a forking server's
child, a process that execs, a socket passed over a unix socket, a
server's child killed mid-stream).

Each case has a server under a name of its own and its own exporters
selecting that server only (--pid), so that their series and gauges are
the server's alone.
"""
import contextlib
import os
import re
import signal
import subprocess
import threading
import time

import client
import launch
import metrics
import procs
from checks import gauge, inc, inc_at_least
from flag_cases import fdinfo_values
from framework import Group, expect
from isolated import (alias, gauges, in_background, joined, ready, start_exporter, start_go, start_server,
                      streams, uid)

BPFTOOL = "/usr/sbin/bpftool"


class Fixture:
    def __init__(self, tmp):
        self.tmp = tmp


def watching(tmp, name, srv, flags=(), env=None):
    """An exporter that selects srv's process only, and its baseline scrape
    (ready()): the launcher's readiness GET came before the exporter, so
    one more that it sees."""
    exp = start_exporter(tmp, name, ["--pid=%d" % srv.children[0].pid] + list(flags), env=env)
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


# --------------------------------------------------------------------------
# Maps too small for the connections
# --------------------------------------------------------------------------

MAP_CONNS = 8      # --bpf.max-connections
OVER = 4           # streams more than fit


def case_maps_full(fx):
    """An exporter whose connection maps hold MAP_CONNS entries, and
    MAP_CONNS + OVER streams open at once: the connections beyond the maps
    are counted in sse_exporter_connections_untracked_total, the gauges
    show the MAP_CONNS it follows while they are open and 0 after, each of
    those is counted whole, and nothing crashes; once they are closed, the
    maps hold nothing and a new stream is followed again."""
    srv = start_go(fx.tmp, "ft_full_" + uid()[-5:])
    exp = None
    try:
        svc, n = srv.service, MAP_CONNS + OVER
        exp, before = watching(fx.tmp, "ft-full", srv, ["--bpf.max-connections=%d" % MAP_CONNS])
        path, label, events = "/events/ft-full/%s" % uid(), "/events/ft-full/:id", 30
        for m in ("conns", "sock_owner", "gated_ids", "detached"):
            expect(metrics.total(before, "sse_exporter_map_max_entries", map=m) == MAP_CONNS,
                   "map %s holds %s entries, want %d", m,
                   metrics.total(before, "sse_exporter_map_max_entries", map=m), MAP_CONNS)
        worker = in_background(streams, srv.port, client.events(path, {"events": events, "interval_ms": 100}), n)
        exp.settle(before, gauges(svc, MAP_CONNS) + [
            inc("sse_exporter_connections_untracked_total", OVER),
            gauge("sse_exporter_map_entries", MAP_CONNS, map="conns")], stay=False)
        resps = joined(*worker)
        expect(all(r.status == 200 and r.complete and r.data_events == events for r in resps),
               "ground truth: %r", [(r.status, r.complete, r.data_events) for r in resps])
        after = exp.settle(before, gauges(svc, 0) + [
            inc("sse_exporter_connections_untracked_total", OVER),
            inc("sse_requests_total", MAP_CONNS, service=svc, path=label, status="success", code="200"),
            inc("sse_requests_total", MAP_CONNS, service=svc),
            inc("sse_chunks_streamed_total", MAP_CONNS * events, service=svc, path=label),
            inc("http_requests_total", MAP_CONNS, service=svc),
            gauge("sse_exporter_map_entries", 0, map="conns"),
            gauge("sse_exporter_map_entries", 0, map="gated_ids")])
        expect(exp.child.alive(), "the exporter died: %s", exp.child.tail(10))
        resp = srv.request(client.events(path, {"events": 3}))
        expect(resp.complete and resp.data_events == 3, "ground truth: %r", (resp.status, resp.data_events))
        exp.settle(after, [inc("sse_requests_total", 1, service=svc, path=label, status="success"),
                           inc("sse_exporter_connections_untracked_total", 0)])
    finally:
        if exp:
            exp.stop()
        launch.stop_server(srv)


# --------------------------------------------------------------------------
# A ring buffer too small for a burst
# --------------------------------------------------------------------------

RING_BYTES = 65536     # --bpf.ring-buffer-bytes: ~115 records of a small write
SMALL = BIG = 6        # streams of 2 events, then streams of BIG_EVENTS
BIG_EVENTS = 300


def case_ring_overflow_burst(fx):
    """A 64 KiB ring and a burst while the exporter is stopped (SIGSTOP),
    every stream counted from copies of its writes (no kernel counting):
    SMALL streams of 2 events write first and fit in the ring, then BIG
    streams of BIG_EVENTS events each overflow it. Every stream is counted
    exactly (the small ones: success, each event) or as lost (the big
    ones: their connections carry the gap, their exchanges are counted in
    sse_exporter_exchanges_lost_total, never as a success short of events
    or as another outcome), lost and counted add up to the streams sent,
    the records dropped are counted, and the gauges return to 0. Requests
    and heads are seen before the stop, the connections closed after the
    exporter drained the ring: only the bodies meet a full ring."""
    srv = start_go(fx.tmp, "ft_ring_" + uid()[-5:])
    exp, conns = None, []
    try:
        svc, n = srv.service, SMALL + BIG
        exp, before = watching(fx.tmp, "ft-ring", srv, ["--bpf.ring-buffer-bytes=%d" % RING_BYTES],
                               env={launch.NO_KSTREAMS: "1"})
        small, big = "/events/ft-ring-small/:id", "/events/ft-ring-big/:id"
        reqs = [client.events("/events/ft-ring-small/%s" % uid(), {"events": 2, "first_delay_ms": 1000})
                for _ in range(SMALL)]
        reqs += [client.events("/events/ft-ring-big/%s" % uid(),
                               {"events": BIG_EVENTS, "first_delay_ms": 1400, "interval_ms": 1})
                 for _ in range(BIG)]
        conns = [srv.connect(timeout=30) for _ in reqs]
        sent = [c.send(r) for c, r in zip(conns, reqs)]
        exp.settle(before, [gauge("sse_active_connections", n, service=svc)], stay=False)
        os.kill(exp.child.pid, signal.SIGSTOP)
        try:
            resps = client.concurrently(lambda c, t: c.read_response(*t), list(zip(conns, sent)))
        finally:
            os.kill(exp.child.pid, signal.SIGCONT)
        expect([r.data_events for r in resps if r.complete] == [2] * SMALL + [BIG_EVENTS] * BIG,
               "ground truth: %r", [(r.status, r.complete, r.data_events) for r in resps])
        exp.settle(before, [inc("sse_requests_total", SMALL, service=svc, path=small, status="success"),
                            inc_at_least("sse_exporter_events_lost_total", BIG)], stay=False)
        for c in conns:
            c.close()
        exp.settle(before, gauges(svc, 0) + [
            inc("sse_requests_total", SMALL, service=svc, path=small, status="success", code="200"),
            inc("sse_requests_total", SMALL, service=svc),
            inc("sse_requests_total", 0, service=svc, path=big),
            inc("sse_chunks_streamed_total", 2 * SMALL, service=svc, path=small),
            inc("sse_exporter_exchanges_lost_total", BIG, service=svc, reason="bytes_missed"),
            inc("sse_exporter_exchanges_lost_total", BIG, service=svc),
            inc_at_least("sse_exporter_events_lost_total", BIG),
        ])
    finally:
        for c in conns:
            c.close()
        if exp:
            exp.stop()
        launch.stop_server(srv)


# --------------------------------------------------------------------------
# One ring for all CPUs, its records numbered
# --------------------------------------------------------------------------

SHARED_RING_BYTES = 524288  # below 1 MiB: one ring of 512 KiB for every CPU
# Each stream's records (its open, request, head, events, end: 4 + events),
# ~600 bytes at most each: ~330 KB in all, which the ring holds even if the
# exporter read none of it during the burst (24 streams of 200 events
# overflowed it in one of two runs).
SHARED_STREAMS, SHARED_EVENTS = 16, 30
BPF_MAP_TYPE_RINGBUF = "27"


def possible_cpus():
    """The CPUs the kernel may bring up (libbpf's count, an entry of the
    events map each), from /sys/devices/system/cpu/possible ("0-3,8")."""
    with open("/sys/devices/system/cpu/possible") as f:
        spans = [part.split("-") for part in f.read().strip().split(",")]
    return sum(int(s[-1]) - int(s[0]) + 1 for s in spans)


def case_shared_ring(fx):
    """--bpf.ring-buffer-bytes too small for a ring per CPU of 512 KiB
    (user/kernel/krings.h): the exporter makes one ring, which every CPU's
    entry of the events map names, and numbers its records all the same.
    SHARED_STREAMS streams of the Go server at full rate at once, on the
    copy path (every event a record, from whichever CPU wrote it), fewer
    bytes than the ring holds: every stream and every event counted
    exactly, nothing lost, the gauges back to 0. A merge that waited for
    a number behind a higher one in the same ring, or handed a close
    before its data, would miss counts here."""
    srv = start_go(fx.tmp, "ft_share_" + uid()[-5:])
    exp = None
    try:
        svc, path = srv.service, "/events/ft-share/:id"
        exp, before = watching(fx.tmp, "ft-share", srv, ["--bpf.ring-buffer-bytes=%d" % SHARED_RING_BYTES],
                               env={launch.NO_KSTREAMS: "1"})
        rings, cpus = fdinfo_values(exp.child.pid, "map_type").count(BPF_MAP_TYPE_RINGBUF), possible_cpus()
        expect(rings == 1, "%d ring buffers for %d bytes on %d CPUs, not one", rings,
               SHARED_RING_BYTES, cpus)
        said = "records: 1 ring buffer of 512 KiB " + ("for 1 CPU" if cpus == 1 else "shared by %d CPUs" % cpus)
        expect(said in exp.child.log.read_text(errors="replace"), "the exporter did not log %r", said)
        reqs = [client.events("/events/ft-share/%s" % uid(), {"events": SHARED_EVENTS, "interval_ms": 0})
                for _ in range(SHARED_STREAMS)]
        resps = client.concurrently(lambda r: client.request(srv.port, r), [(r,) for r in reqs])
        expect([r.data_events for r in resps if r.complete] == [SHARED_EVENTS] * SHARED_STREAMS,
               "ground truth: %r", [(r.status, r.complete, r.data_events) for r in resps])
        exp.settle(before, gauges(svc, 0) + [
            inc("sse_requests_total", SHARED_STREAMS, service=svc, path=path, status="success", code="200"),
            inc("sse_chunks_streamed_total", SHARED_STREAMS * SHARED_EVENTS, service=svc, path=path),
            inc("sse_exporter_events_lost_total", 0),
            inc("sse_exporter_exchanges_lost_total", 0, service=svc),
        ])
    finally:
        if exp:
            exp.stop()
        launch.stop_server(srv)


# --------------------------------------------------------------------------
# /proc entries vanishing while the exporter adopts what is there
# --------------------------------------------------------------------------

CHURN_STARTS = 5
FOUND = re.compile(r'msg="found (\d+) connections opened before start"')


def log_lines(exp, level):
    text = exp.child.log.read_text(errors="replace")
    return [line for line in text.splitlines() if "level=%s " % level in line]


def case_adopt_churn(fx):
    """Processes holding connections are born and die by the hundred a
    second (servers/churn.py) while an exporter starts CHURN_STARTS times,
    adopting what /proc shows as processes vanish under it. Each start
    answers /health and a whole /metrics, logs no error and no warning,
    and exits 0 on SIGTERM; some adopt connections (else nothing was
    tested). Once the processes are gone, the last exporter has no
    connection, tracked process or map entry of theirs left."""
    churn_port = procs.free_port()
    name = "ft_churn_" + uid()[-5:]
    srv = start_server(fx.tmp, name, [alias(fx.tmp, launch.PYTHON, name), launch.SERVERS / "churn.py",
                                      churn_port])
    exps = []
    try:
        for i in range(CHURN_STARTS):
            exps.append(start_exporter(fx.tmp, "ft-churn-%d" % i, ["--port=%d" % churn_port,
                                                                   "--sweep.interval=1"]))
            expect(metrics.total(exps[-1].scrape(), "sse_exporter_build_info") == 1, "no build info")
            if i < CHURN_STARTS - 1:
                status = procs.stop(exps[-1].child)
                expect(status == 0, "exporter %d exited %s on SIGTERM: %s", i, status, exps[-1].child.tail(5))
        launch.stop_server(srv)
        last = exps[-1]
        last.settle(last.scrape(), [
            gauge("http_connections_active", 0), gauge("sse_active_connections", 0),
            gauge("sse_exporter_tracked_processes", 0),
            gauge("sse_exporter_map_entries", 0, map="conns"),
            gauge("sse_exporter_map_entries", 0, map="gated_ids"),
            gauge("sse_exporter_map_entries", 0, map="sock_owner")], timeout=10.0)
        found = [int(m.group(1)) for e in exps for m in FOUND.finditer(e.child.log.read_text(errors="replace"))]
        expect(len(found) == CHURN_STARTS and sum(found) > 0,
               "adopted at the %d starts: %s (want some)", CHURN_STARTS, found)
        for i, e in enumerate(exps):
            noisy = log_lines(e, "error") + log_lines(e, "warn")
            expect(not noisy, "exporter %d logged: %s", i, noisy[:3])
        print("    adopted at each start: %s" % found)
    finally:
        for e in exps:
            e.stop()
        launch.stop_server(srv)


# --------------------------------------------------------------------------
# Connections that change hands (servers/handoff_sse.py)
# --------------------------------------------------------------------------

def start_handoff(tmp, mode):
    name = "ft_%s_%s" % (mode, uid()[-5:])
    return start_server(tmp, name, [alias(tmp, launch.PYTHON, name), launch.SERVERS / "handoff_sse.py", mode])


def live_children(pid):
    """The children of pid that are not zombies."""
    out = []
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        for child in map(int, f.read().split()):
            try:
                with open("/proc/%d/stat" % child) as st:
                    if st.read().rsplit(")", 1)[1].split()[0] != "Z":
                        out.append(child)
            except OSError:
                pass   # reaped meanwhile
    return out


def handoff_expects(svc, label, resps):
    """Every stream counted once, whole, and nothing open any more."""
    return gauges(svc, 0) + [
        inc("sse_requests_total", len(resps), service=svc, path=label, status="success", code="200"),
        inc("sse_requests_total", len(resps), service=svc),
        inc("sse_chunks_streamed_total", sum(r.data_events for r in resps), service=svc, path=label),
        inc("http_requests_total", len(resps), service=svc, path=label, status="200"),
        inc("http_requests_total", len(resps), service=svc),
        inc("sse_exporter_exchanges_lost_total", 0),
        inc("sse_exporter_connections_untracked_total", 0),
    ]


def expect_whole(resps, events):
    """Ground truth: each response a whole stream of its number of events."""
    expect(all(r.status == 200 and r.complete for r in resps) and [r.data_events for r in resps] == events,
           "ground truth: %r", [(r.status, r.complete, r.data_events) for r in resps])


@contextlib.contextmanager
def handoff_watched(fx, mode):
    """A handoff_sse.py server in mode, an exporter selecting its first
    process: (server, exporter, baseline scrape, path, path label)."""
    srv, exp = start_handoff(fx.tmp, mode), None
    try:
        exp, before = watching(fx.tmp, "ft-" + mode, srv)
        yield srv, exp, before, "/events/ft-%s/%s" % (mode, uid()), "/events/ft-%s/:id" % mode
    finally:
        if exp:
            exp.stop()
        launch.stop_server(srv)


def case_fork_child_serves(fx):
    """Python's forking server (socketserver.ForkingMixIn): the parent
    accepts, a child it forks serves the connection on the fd it inherited,
    the parent closes its copy at once. The exporter, selecting the parent
    alone, follows each connection into the child that serves it: the
    gauges count the streams while the children write them, each stream is
    counted once, whole, and nothing stays open."""
    with handoff_watched(fx, "fork") as (srv, exp, before, path, label):
        n, events = 3, 20
        worker = in_background(streams, srv.port, client.events(path, {"events": events, "interval_ms": 100}), n)
        exp.settle(before, gauges(srv.service, n), stay=False)
        kids = live_children(srv.children[0].pid)
        expect(len(kids) >= n, "ground truth: %d children serve the %d streams", len(kids), n)
        resps = joined(*worker)
        expect_whole(resps, [events] * n)
        exp.settle(before, handoff_expects(srv.service, label, resps))


def case_fork_child_killed(fx):
    """The forking server's child killed (SIGKILL) mid-stream: its stream
    ends as a failure, once, the other child's is counted whole, and the
    gauges return to 0."""
    with handoff_watched(fx, "fork") as (srv, exp, before, path, label):
        svc, events = srv.service, 40
        worker = in_background(streams, srv.port, client.events(path, {"events": events, "interval_ms": 100}), 2)
        exp.settle(before, gauges(svc, 2), stay=False)
        kids = live_children(srv.children[0].pid)
        expect(len(kids) == 2, "ground truth: children %s serve the 2 streams", kids)
        os.kill(kids[0], signal.SIGKILL)
        resps = joined(*worker)
        cut = [r for r in resps if r.truncated]
        expect(len(cut) == 1, "ground truth: %r", [(r.status, r.truncated, r.data_events) for r in resps])
        expect_whole([r for r in resps if not r.truncated], [events])
        exp.settle(before, gauges(svc, 0) + [
            inc("sse_requests_total", 1, service=svc, path=label, status="success", code="200"),
            inc("sse_requests_total", 1, service=svc, path=label, status="failure", code="200"),
            inc("sse_requests_total", 2, service=svc),
            inc("sse_errors_total", 1, service=svc, error_type="stream_truncated"),
            inc("sse_chunks_streamed_total", sum(r.data_events for r in resps), service=svc, path=label),
            inc("sse_exporter_exchanges_lost_total", 0),
        ])


def case_exec_keeps_stream(fx):
    """A server that execs itself in the middle of a stream, the stream's
    socket and its listening socket kept across exec (no CLOEXEC), as a
    binary upgraded in place: the new image writes the rest of the stream,
    serves the next request of that keep-alive connection and a new
    connection. Same process, same fds: all counted once, whole."""
    with handoff_watched(fx, "exec") as (srv, exp, before, path, label):
        pid = srv.children[0].pid
        resps = srv.keep_alive([client.events(path, {"events": 10, "interval_ms": 50}),
                                client.events(path, {"events": 3})])
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
        expect(b"resume" in argv, "ground truth: %d did not exec: %r", pid, argv)
        resps.append(srv.request(client.events(path, {"events": 4})))
        expect_whole(resps, [10, 3, 4])
        exp.settle(before, handoff_expects(srv.service, label, resps))


def case_fd_passing(fx):
    """An acceptor passes each connection's fd to a worker process over a
    unix socket (SCM_RIGHTS) and closes its copy; the worker, which the
    exporter does not select, serves it. Each connection is followed from
    the acceptor into the worker: the gauges count a stream while the
    worker writes it, each stream (and the next request on a keep-alive
    connection) is counted once, whole."""
    with handoff_watched(fx, "pass") as (srv, exp, before, path, label):
        events = 20
        workers = live_children(srv.children[0].pid)
        expect(len(workers) == 1, "ground truth: the acceptor has workers %s", workers)
        worker = in_background(srv.keep_alive, [client.events(path, {"events": events, "interval_ms": 100}),
                                                client.events(path, {"events": 3})])
        exp.settle(before, gauges(srv.service, 1), stay=False)
        resps = joined(*worker)
        resps += [srv.request(client.events(path, {"events": 5})) for _ in range(2)]
        expect_whole(resps, [events, 3, 5, 5])
        exp.settle(before, handoff_expects(srv.service, label, resps))


def groups(tmp):
    return [Group(lambda: Fixture(tmp), [("fault:exporter_sigkill_restart", case_sigkill_restart),
                                         ("fault:scrape_hammer", case_scrape_hammer),
                                         ("fault:maps_full", case_maps_full),
                                         ("fault:ring_overflow_burst", case_ring_overflow_burst),
                                         ("fault:shared_ring", case_shared_ring),
                                         ("fault:adopt_churn", case_adopt_churn),
                                         ("fault:fork_child_serves", case_fork_child_serves),
                                         ("fault:fork_child_killed", case_fork_child_killed),
                                         ("fault:exec_keeps_stream", case_exec_keeps_stream),
                                         ("fault:fd_passing", case_fd_passing)])]
