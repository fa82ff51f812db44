"""The exporter's own metrics, each moved by real processes and real
traffic, and checked exactly.

Process-wide gauges and counters (tracked processes, map fill, uncopied
bytes, unattributed TLS calls, untracked connections) have no `service`
label: any process the exporter watches could move them. So these cases
use exporters that select only this file's processes:

- `own`: `--exe=TMP/om-bin/om_*` (copies of the Go server started by the
  cases: a process started later is selected at its exec) and `--port` of
  the two Python helpers (tests/e2e/servers/own_metrics_server.py, run
  through symlinks named om_big_py / om_relay_py: their exe is python's,
  so they are selected by their listening port);
- `own-full`: `--pid` of the leak helpers, no sweep after the first, for
  sse_exporter_connections_untracked_total, which needs a full conns map;
- `own-ring`: `--port` of a flood helper and of a probe helper, streams
  counted from copies (SSE_EXPORTER_NO_KSTREAMS: the kernel would count
  the flood's events itself, and none could be lost), for records lost
  to a full ring buffer.
"""
import math
import os
import resource
import shutil
import signal
import socket
import struct
import time
import urllib.request
from pathlib import Path

import client
import isolated
import launch
import metrics
import procs
import tls
from checks import gauge, inc, inc_at_least
from framework import Group, expect

OWN_SERVER = launch.SERVERS / "own_metrics_server.py"
# The capture bound of one syscall (README, Limits; include/conn_event.h):
# 64 records of 4 KiB, packed from up to 1024 iovecs, the kernel's own
# limit (UIO_MAXIOV), so that only the byte bound can be crossed.
CAPTURE_BYTES = 64 * 4096


# --------------------------------------------------------------------------
# Servers of this file
# --------------------------------------------------------------------------

def om_dir(tmp):
    d = Path(tmp) / "om-bin"
    d.mkdir(exist_ok=True)
    return d


def start_om_go(tmp, name):
    """A copy of the Go server named `name` in om-bin: the `own` exporter's
    --exe glob selects it when it starts."""
    return isolated.start_server(tmp, name, [isolated.go_binary(tmp, name, om_dir(tmp))])


def start_helper(tmp, name, mode, port, args=()):
    """servers/own_metrics_server.py MODE PORT ARGS under comm `name`."""
    exe = isolated.alias(tmp, launch.PYTHON, name)
    return isolated.start_server(tmp, name, [exe, OWN_SERVER, mode, port] + list(args), port, port_arg=False)


def selected_connection(exp, srv, timeout=5.0):
    """A keep-alive connection that the exporter tracks. A process started
    after the exporter is selected once the exporter has handled its exec
    (asynchronously): a connection accepted before that is not followed,
    so connections are opened until one shows in http_connections_active."""
    svc, deadline = srv.service, time.monotonic() + timeout
    while True:
        conn = srv.connect(timeout=10)
        t0, t1 = conn.send(client.get("/health"))
        expect(conn.read_response(t0, t1).status == 200, "ground truth: GET /health failed")
        ok, _ = metrics.wait_for(exp.port, lambda s: metrics.total(
            s, "http_connections_active", service=svc) >= 1, timeout=1.0)
        if ok:
            return conn
        conn.close()
        expect(time.monotonic() < deadline, "%s was never selected by the exporter (--exe)", svc)


# --------------------------------------------------------------------------
# Group `own`
# --------------------------------------------------------------------------

class Own:
    def __init__(self, tmp):
        self.tmp = tmp
        self.ports = {"big": procs.free_port(), "relay": procs.free_port(),
                      "lost": procs.free_port()}
        self.exp = isolated.start_exporter(tmp, "own", ["--exe=%s/om_*" % om_dir(tmp)]
                                     + ["--port=%d" % p for p in self.ports.values()])

    def stop(self):
        self.exp.stop()


def case_tracked_processes(fx):
    """sse_exporter_tracked_processes: none of this group's processes at
    first; a new one holding an HTTP connection makes it 1; its exit
    brings it back to 0."""
    exp = fx.exp
    exp.settle(exp.scrape(), [gauge("sse_exporter_tracked_processes", 0)], stay=False)
    srv = start_om_go(fx.tmp, "om_tracked_go")
    try:
        with selected_connection(exp, srv):
            exp.settle(exp.scrape(), [gauge("sse_exporter_tracked_processes", 1)], stay=False)
    finally:
        launch.stop_server(srv)
    expect(not srv.children[0].alive(), "ground truth: the server still runs")
    exp.settle(exp.scrape(), [gauge("sse_exporter_tracked_processes", 0)])


OPEN_CONNS = 5


def case_map_entries(fx):
    """sse_exporter_map_entries: the conns and sock_owner maps hold one
    entry per open tracked connection (the group's processes only: none
    before), and none once they are closed."""
    exp = fx.exp
    maps = ("conns", "sock_owner")
    exp.settle(exp.scrape(), [gauge("sse_exporter_map_entries", 0, map=m) for m in maps], stay=False)
    srv = start_om_go(fx.tmp, "om_maps_go")
    conns = []
    try:
        conns.append(selected_connection(exp, srv))
        for _ in range(OPEN_CONNS - 1):
            conn = srv.connect(timeout=10)
            t0, t1 = conn.send(client.get("/items/om-maps/1"))
            expect(conn.read_response(t0, t1).status == 200, "ground truth: GET failed")
            conns.append(conn)
        svc = srv.service
        exp.settle(exp.scrape(), [gauge("sse_exporter_map_entries", OPEN_CONNS, map=m) for m in maps]
                   + [gauge("http_connections_active", OPEN_CONNS, service=svc)], stay=False)
        for conn in conns:
            conn.close()
        exp.settle(exp.scrape(), [gauge("sse_exporter_map_entries", 0, map=m) for m in maps]
                   + [gauge("http_connections_active", 0, service=svc)])
    finally:
        for conn in conns:
            conn.close()
        launch.stop_server(srv)


def case_bytes_uncopied(fx):
    """sse_exporter_bytes_uncopied_total: a response body sent in one
    send() of 300 000 bytes leaves 300 000 - 256 KiB uncopied, one of
    100 000 bytes nothing; one sendmsg() of 70 iovecs of 5000 bytes
    leaves 350 000 - 256 KiB, one of 1000 iovecs of 100 bytes nothing
    (iovecs are packed into records). The bodies have a Content-Length,
    so each exchange is still counted, none lost."""
    exp = fx.exp
    srv = start_helper(fx.tmp, "om_big_py", "big", fx.ports["big"])
    try:
        svc = srv.service
        before = isolated.ready(exp, srv)
        sends = [("/big/300000", 300000), ("/big/100000", 100000), ("/iov/70/5000", 350000),
                 ("/iov/1000/100", 100000)]
        for path, size in sends:
            r = srv.request(client.get(path))
            expect(r.status == 200 and r.complete and r.body_bytes == size,
                   "ground truth: GET %s answered %d with %d bytes", path, r.status, r.body_bytes)
        exp.settle(before, [
            inc("sse_exporter_bytes_uncopied_total", sum(max(size - CAPTURE_BYTES, 0) for _, size in sends)),
            inc("sse_exporter_exchanges_lost_total", 0),
            inc("http_requests_total", 2, service=svc, path="/big/:id", status="200"),
            inc("http_requests_total", 2, service=svc, path="/iov/:id/:id", status="200"),
            inc("http_requests_total", len(sends), service=svc),
        ])
    finally:
        launch.stop_server(srv)


def case_exchanges_lost(fx):
    """sse_exporter_exchanges_lost_total says why: an event stream whose
    one event of 300 000 bytes is a single send() crosses the capture
    bound, and the parser cannot know where the chunk after it starts
    (bytes_missed); a stream whose next chunk size is not hex lost its
    framing (framing). Neither counts as a request with an outcome."""
    exp = fx.exp
    srv = start_helper(fx.tmp, "om_lost_py", "big", fx.ports["lost"])
    try:
        svc = srv.service
        before = isolated.ready(exp, srv)
        r = srv.request(client.get("/bigevent/300000"))
        expect(r.status == 200 and r.complete and r.body_bytes == 300000,
               "ground truth: /bigevent answered %d with %d bytes", r.status, r.body_bytes)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw:
            raw.sendall(client.get("/badchunk").encode())
            got = b""
            while True:
                data = raw.recv(65536)
                if not data:
                    break
                got += data
        expect(b"\r\nzz\r\n" in got, "ground truth: /badchunk sent %r", got[-40:])
        exp.settle(before, [
            inc("sse_exporter_exchanges_lost_total", 1, service=svc, reason="bytes_missed"),
            inc("sse_exporter_exchanges_lost_total", 1, service=svc, reason="framing"),
            inc("sse_exporter_exchanges_lost_total", 2, service=svc),
            inc("sse_requests_total", 0, service=svc),
            gauge("sse_active_connections", 0, service=svc),
        ])
    finally:
        launch.stop_server(srv)


RELAYS = 3


def case_tls_calls_unattributed(fx):
    """sse_exporter_tls_calls_unattributed_total: a process selected by its
    listening port (--port) has tracked connections, but the TLS
    connections it opens itself are not selected, so its SSL_write and
    SSL_read calls on them have no known socket. Each GET /relay makes one
    HTTPS call through OpenSSL; the helper reports how many SSL_write_ex
    calls it made and how many SSL_read_ex calls returned data, and
    exactly those are counted (reads that return nothing, and the
    handshake, are not). None of them becomes an upstream call."""
    exp = fx.exp
    peer = launch.start_fastapi(fx.tmp, "om-tls-peer", with_tls=True)
    srv = None
    try:
        cert, _ = tls.cert_files(fx.tmp)
        srv = start_helper(fx.tmp, "om_relay_py", "relay", fx.ports["relay"], [peer.port, cert])
        svc = srv.service
        before = isolated.ready(exp, srv)
        calls = 0
        for i in range(RELAYS):
            r = srv.request(client.get("/relay/%d" % i))
            expect(r.status == 200, "ground truth: GET /relay answered %d", r.status)
            got = r.json()
            expect(got["status"] == 200 and got["ssl_writes"] >= 1 and got["ssl_reads"] >= 1,
                   "ground truth: the HTTPS call: %r", got)
            calls += got["ssl_writes"] + got["ssl_reads"]
        exp.settle(before, [
            inc("sse_exporter_tls_calls_unattributed_total", calls),
            inc("http_requests_total", RELAYS, service=svc, path="/relay/:id", status="200"),
            inc("sse_provider_requests_total", 0, service=svc),
        ])
    finally:
        if srv:
            launch.stop_server(srv)
        launch.stop_server(peer)


# --------------------------------------------------------------------------
# Group `own-full`: a full conns map
# --------------------------------------------------------------------------

MAX_CONNS = 65536            # conns map size (include/conn_event.h); checked below
EXTRA = 100                  # connections accepted once the map is full
FD_MARGIN = 64               # fds a helper needs besides the leaked ones


def leak_helpers_needed():
    """The map is filled with sockets closed unseen, one fd number each,
    so a helper leaks at most its open-file limit: several helpers."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    per = (hard if hard != resource.RLIM_INFINITY else 1 << 20) - FD_MARGIN
    return math.ceil((MAX_CONNS + EXTRA) / per), per


class Full:
    """Leak helpers (servers/own_metrics_server.py leak) and an exporter
    selecting their pids that never sweeps after its first sweep at
    start: a socket whose fd was dup2'ed over stays in the conns map (the
    sweep would drop it), so the map fills with sockets the kernel has
    closed, without 65536 open connections (which would fill the map of
    every other exporter on this host too). By pid, not by port: the
    clients reset their connections at once, and a socket reset before
    its accept() has lost its local port (the kernel unhashed it), so
    --port would not select it."""

    def __init__(self, tmp):
        self.tmp = tmp
        n, self.per = leak_helpers_needed()
        self.helpers, self.exp = [], None
        try:
            for i in range(n):
                self.helpers.append(start_helper(tmp, "om_leak%d_py" % i, "leak", procs.free_port()))
            self.exp = isolated.start_exporter(tmp, "own-full", ["--sweep.interval=1000000"]
                                         + ["--pid=%d" % h.children[0].pid for h in self.helpers])
        except Exception:
            self.stop()
            raise

    def stop(self):
        for srv in self.helpers:
            launch.stop_server(srv)
        if self.exp:
            self.exp.stop()


def connect_and_reset(port, n):
    """n connections, each reset (RST) at once: no TIME_WAIT left over."""
    linger = struct.pack("ii", 1, 0)
    for _ in range(n):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.connect(("127.0.0.1", port))


def leak(srv, n):
    """Makes srv accept n connections and leak each one's fd (see the
    helper); returns once srv serves HTTP again: its GET /leak connection
    is then closed."""
    r = srv.request(client.get("/leak/%d" % n))
    expect(r.status == 200, "ground truth: GET /leak answered %d", r.status)
    connect_and_reset(srv.port, n)
    procs.wait_http(srv.children[0], srv.port, timeout=60)
    fds = len(os.listdir("/proc/%d/fd" % srv.children[0].pid))
    expect(fds >= n, "ground truth: %s holds %d fds after leaking %d", srv.name, fds, n)


def case_connections_untracked(fx):
    """sse_exporter_connections_untracked_total: once the conns map is
    full, every connection accepted is counted there and not followed.
    The helpers, one after the other, accept the map's free entries plus
    EXTRA connections. Each helper's GET /leak connection holds an entry
    while it leaks, so the one during whose leak the map fills leaves
    EXTRA + 1 connections untracked; its close then frees that entry, and
    the map ends one short of full."""
    exp = fx.exp
    # The map gauges are refreshed every second, the first time after start.
    _, before = metrics.wait_for(exp.port, lambda s: metrics.total(
        s, "sse_exporter_map_max_entries", map="conns") > 0)
    size = metrics.total(before, "sse_exporter_map_max_entries", map="conns")
    used = metrics.total(before, "sse_exporter_map_entries", map="conns")
    expect(size == MAX_CONNS, "conns map has %d entries at most, want %d", size, MAX_CONNS)
    todo = int(size - used) + EXTRA
    t0 = time.monotonic()
    for srv in fx.helpers:
        n = min(todo, fx.per)
        leak(srv, n)
        todo -= n
    expect(todo == 0, "test arithmetic: %d connections left", todo)
    exp.settle(before, [inc("sse_exporter_connections_untracked_total", EXTRA + 1),
                        gauge("sse_exporter_map_entries", size - 1, map="conns")],
               timeout=10.0, stay=False)   # no sweep: nothing can move afterwards
    print("NOTE own:connections_untracked: %d connections in %.1f s"
          % (size - used + EXTRA, time.monotonic() - t0), flush=True)


def case_tls_libraries(fx):
    """sse_exporter_tls_libraries: a Node binary (OpenSSL inside) that no
    process ran before is hooked when a process execs it, and counted once,
    for good."""
    exp = fx.exp
    node = om_dir(fx.tmp) / "om_node"
    shutil.copy2(launch.NODE, node)
    before = exp.scrape()
    srv = isolated.start_server(fx.tmp, "om_node", [node, launch.SERVERS / "node_sse.js"])
    try:
        exp.settle(before, [inc("sse_exporter_tls_libraries", 1)], timeout=10.0)
    finally:
        launch.stop_server(srv)


# --------------------------------------------------------------------------
# Group `own-ring`: a full ring buffer
# --------------------------------------------------------------------------

# Events of the flood, one small record each (568 bytes with its header):
# the 16 MiB ring (include/conn_event.h) holds some 29 500.
FLOOD_EVENTS = 40000
MORE_EVENTS = 10


class Ring:
    def __init__(self, tmp):
        self.tmp = tmp
        self.ports = {"flood": procs.free_port(), "probe": procs.free_port()}
        self.exp = isolated.start_exporter(tmp, "ring", ["--port=%d" % p for p in self.ports.values()],
                                           env={launch.NO_KSTREAMS: "1"})

    def stop(self):
        self.exp.stop()


def control(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=60) as r:
        expect(r.status == 200, "ground truth: control %s answered %d", path, r.status)


def drained(exp, probe, timeout=15.0):
    """Returns once the exporter counted a GET /health made to the probe
    server now: it read every record before that one, and the ring has
    room again. A probe whose records found the ring still full is not
    counted: another follows."""
    svc, deadline = probe.service, time.monotonic() + timeout

    def count(samples):
        return metrics.total(samples, "http_requests_total", service=svc, path="/health")
    while True:
        seen = count(exp.scrape())
        r = probe.request(client.get("/health"))
        expect(r.status == 200, "ground truth: the probe's GET /health answered %d", r.status)
        ok, _ = metrics.wait_for(exp.port, lambda s: count(s) > seen, timeout=1.0)
        if ok:
            return
        expect(time.monotonic() < deadline, "the exporter counted no probe after it resumed")


def case_ring_overflow(fx):
    """A full ring buffer drops whole calls' records, which leave no gap
    in any record that arrives: the exporter is stopped (SIGSTOP) while a
    stream writes more events than the ring holds, one send() each, and
    resumed. The stream goes on once the exporter read the ring: the first
    record of the connection after the lost ones carries DATA_F_GAP, and
    the stream is counted lost (bytes_missed), not a success short of
    thousands of events. The next stream on the same connection is counted
    as usual."""
    exp, ctrl = fx.exp, procs.free_port()
    srv = start_helper(fx.tmp, "om_flood_py", "flood", fx.ports["flood"], [ctrl])
    probe = start_helper(fx.tmp, "om_probe_py", "big", fx.ports["probe"])
    conn = None
    try:
        svc = srv.service
        before = isolated.ready(exp, srv)
        conn = srv.connect(timeout=60)
        os.kill(exp.child.pid, signal.SIGSTOP)
        try:
            t0, t1 = conn.send(client.events("/flood/%d/%d" % (FLOOD_EVENTS, MORE_EVENTS)))
            reader, out = isolated.in_background(conn.read_response, t0, t1)
            control(ctrl, "/paused")
        finally:
            os.kill(exp.child.pid, signal.SIGCONT)
        drained(exp, probe)
        control(ctrl, "/resume")
        r = isolated.joined(reader, out, timeout=60.0)
        expect(r.status == 200 and r.complete and r.data_events == FLOOD_EVENTS + MORE_EVENTS,
               "ground truth: /flood answered %d with %d events", r.status, r.data_events)
        t0, t1 = conn.send(client.events("/flood/3/0"))
        r = conn.read_response(t0, t1)
        expect(r.status == 200 and r.complete and r.data_events == 3,
               "ground truth: /flood/3/0 answered %d with %d events", r.status, r.data_events)
        conn.close()
        exp.settle(before, [
            inc_at_least("sse_exporter_events_lost_total", FLOOD_EVENTS // 10),
            inc("sse_exporter_exchanges_lost_total", 1, service=svc, reason="bytes_missed"),
            inc("sse_exporter_exchanges_lost_total", 1, service=svc),
            inc("sse_requests_total", 1, service=svc, status="success"),
            inc("sse_requests_total", 1, service=svc),
            gauge("sse_active_connections", 0, service=svc),
        ])
    finally:
        if conn:
            conn.close()
        launch.stop_server(probe)
        launch.stop_server(srv)


# --------------------------------------------------------------------------

def groups(tmp):
    return [
        Group(lambda: Own(tmp), [("own:tracked_processes", case_tracked_processes),
                                 ("own:map_entries", case_map_entries),
                                 ("own:bytes_uncopied", case_bytes_uncopied),
                                 ("own:exchanges_lost", case_exchanges_lost),
                                 ("own:tls_calls_unattributed", case_tls_calls_unattributed),
                                 ("own:tls_libraries", case_tls_libraries)],
              lambda fx: fx.stop()),
        Group(lambda: Full(tmp), [("own:connections_untracked", case_connections_untracked)],
              lambda fx: fx.stop()),
        Group(lambda: Ring(tmp), [("own:ring_overflow", case_ring_overflow)], lambda fx: fx.stop()),
    ]
