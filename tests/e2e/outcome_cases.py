"""Outcome tests: how streams end, on an exporter of their own
(`--sse.idle-timeout=1`): idle and 408/504 timeouts, the error stages
request and first_byte, and the queue stage once per keep-alive
connection. Servers run under names of their own (isolated.py), so
`service`-only series see no foreign traffic.
"""
import json
import time
from contextlib import contextmanager

import client
import launch
from checks import gauge, inc, near
from framework import Group, expect
from isolated import SWEEP_S, gauges, ready, start_exporter, start_fastapi, start_go, uid
from robustness_cases import start_proxy_nginx

IDLE_S = 1         # --sse.idle-timeout of the outcomes exporter
PROXY_READ_S = 2   # nginx's proxy_read_timeout: it closes a stream silent this long


class Outcomes:
    """An exporter of every process with a 1 s idle timeout; each case
    starts its own servers under names of their own."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.exp = start_exporter(tmp, "outcomes", ["--sse.idle-timeout=%d" % IDLE_S,
                                                    "--sweep.interval=%g" % SWEEP_S])

    def stop(self):
        self.exp.stop()


def servers_ready(exp, *servers):
    """ready() for each server; the last scrape is the baseline."""
    before = None
    for srv in servers:
        before = ready(exp, srv)
    return before


def timed_request(port, req):
    """(response, seconds between the last bytes received and the return:
    the silence before the server closed, for a truncated response)."""
    resp = client.request(port, req)
    return resp, time.monotonic() - resp.t_end


def case_idle_timeout(fx):
    """A stream whose source falls silent without closing: nginx in front
    gives up after proxy_read_timeout (2 s) and closes the client's
    stream. That is a server closing a stream silent for longer than
    --sse.idle-timeout (1 s): status timeout (code 200), error timeout at
    stage streaming. The same nginx closing a stream right after its last
    event (the backend aborted) is failure/stream_truncated: the silence,
    not the close, makes the timeout. For the backend, nginx hung up on
    the silent stream (client_closed) and it cut the other itself."""
    exp = fx.exp
    backend = start_go(fx.tmp, "rb_idle_go")
    proxy = None
    try:
        proxy = start_proxy_nginx(fx.tmp, "rb_idle_nginx", backend.port, PROXY_READ_S)
        svc, bsvc = proxy.service, backend.service
        path, label = "/events/rb-idle/%s" % uid(), "/events/rb-idle/:id"
        before = servers_ready(exp, backend, proxy)
        silent, silent_s = timed_request(proxy.port, client.events(path, {"events": 2, "interval_ms": 3000}))
        cut, cut_s = timed_request(proxy.port, client.events(path, {"events": 3, "abort_after": 1}))
        for what, r, quiet, ok in (("silent", silent, silent_s, silent_s >= IDLE_S + 0.5),
                                   ("cut", cut, cut_s, cut_s < IDLE_S / 2)):
            expect(r.status == 200 and r.truncated and r.data_events == 1 and ok,
                   "ground truth (%s stream): status %d, truncated %s, %d events, closed %.2f s after them",
                   what, r.status, r.truncated, r.data_events, quiet)
        exp.settle(before, gauges(svc, 0) + [
            gauge("sse_active_connections", 0, service=bsvc),
            inc("sse_requests_total", 1, service=svc, path=label, status="timeout", code="200"),
            inc("sse_requests_total", 1, service=svc, path=label, status="failure", code="200"),
            inc("sse_requests_total", 2, service=svc),
            inc("sse_errors_total", 1, service=svc, error_type="timeout", stage="streaming"),
            inc("sse_errors_total", 1, service=svc, error_type="stream_truncated", stage="streaming"),
            inc("sse_errors_total", 2, service=svc),
            inc("sse_requests_total", 1, service=bsvc, path=label, status="client_closed"),
            inc("sse_requests_total", 1, service=bsvc, path=label, status="failure"),
            inc("sse_requests_total", 2, service=bsvc),
        ])
    finally:
        if proxy:
            launch.stop_server(proxy)
        launch.stop_server(backend)


@contextmanager
def go_case(fx, tag):
    """A Go server of the case's own (rb_TAG_go) for the duration of the
    block: (server, request path, its path label, baseline scrape)."""
    srv = start_go(fx.tmp, "rb_%s_go" % tag)
    try:
        yield srv, "/events/rb-%s/%s" % (tag, uid()), "/events/rb-%s/:id" % tag, ready(fx.exp, srv)
    finally:
        launch.stop_server(srv)


def case_timeout_status(fx):
    """408 and 504 answers to stream requests are timeouts: status timeout
    with the code, error timeout at stage first_byte (no event was
    written). A 503 beside them is failure/server_error: the code, not
    the mere error, makes the timeout."""
    with go_case(fx, "408") as (srv, path, label, before):
        svc, codes = srv.service, (408, 504, 503)
        for code in codes:
            r = srv.request(client.events(path, {"status": code}))
            expect(r.status == code and r.complete, "ground truth: answered %d, want %d", r.status, code)
        fx.exp.settle(before, gauges(svc, 0) + [
            inc("sse_requests_total", 1, service=svc, path=label, status="timeout", code="408"),
            inc("sse_requests_total", 1, service=svc, path=label, status="timeout", code="504"),
            inc("sse_requests_total", 1, service=svc, path=label, status="failure", code="503"),
            inc("sse_requests_total", len(codes), service=svc),
            inc("sse_errors_total", 2, service=svc, error_type="timeout", stage="first_byte"),
            inc("sse_errors_total", 1, service=svc, error_type="server_error", stage="first_byte"),
            inc("sse_errors_total", len(codes), service=svc),
        ] + [inc("http_requests_total", 1, service=svc, path=label, status=str(c)) for c in codes])


def read_head_only(conn):
    """Reads the response head; returns any body bytes that came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.sock.recv(65536)
        expect(chunk, "ground truth: the server closed before its response head")
        data += chunk
    return data.split(b"\r\n\r\n", 1)[1]


def case_error_stage_first_byte(fx):
    """The client leaves after the response head and before the first
    event (the server holds it back 2 s): client_closed with code 200,
    error client_disconnect at stage first_byte."""
    with go_case(fx, "fbyte") as (srv, path, label, before):
        svc = srv.service
        with srv.connect(timeout=10) as conn:
            conn.send(client.events(path, {"first_delay_ms": 2000, "events": 2}))
            early = read_head_only(conn)
            expect(b"data:" not in early, "ground truth: an event came with the head: %r", early[:200])
        fx.exp.settle(before, [
            gauge("sse_active_connections", 0, service=svc),
            inc("sse_requests_total", 1, service=svc, path=label, status="client_closed", code="200"),
            inc("sse_requests_total", 1, service=svc),
            inc("sse_errors_total", 1, service=svc, error_type="client_disconnect", stage="first_byte"),
            inc("sse_errors_total", 1, service=svc),
            inc("sse_chunks_streamed_total", 0, service=svc),
        ])


def server_read_all(server_port, client_port, timeout=5.0):
    """Waits until the server's end of the connection has nothing left
    unread (rx_queue 0 in /proc/net/tcp): it has read what was sent."""
    local, remote = ":%04X" % server_port, ":%04X" % client_port
    deadline = time.monotonic() + timeout
    while True:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1].endswith(local) and fields[2].endswith(remote):
                    if int(fields[4].split(":")[1], 16) == 0:
                        return
        expect(time.monotonic() < deadline, "ground truth: the server did not read the request in %.0f s",
               timeout)
        time.sleep(0.02)


def leave_mid_body(port, path, rst):
    """The head and part of the body of a stream request, all read by the
    server, then the client goes away: FIN, or RST."""
    body = json.dumps({"model": "rb-req", "stream": True, "messages": []}).encode()
    head = ("POST %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (path, len(body) + 100))
    with client.Connection(port, timeout=10) as conn:
        conn.sock.sendall(head.encode() + body)    # 100 bytes short
        server_read_all(port, conn.sock.getsockname()[1])
        conn.close(rst=rst)


def case_error_stage_request(fx):
    """A client that leaves while the server waits for the rest of its
    request body (FastAPI reads the whole body first): client_closed with
    code 0, error client_disconnect (FIN) or connection_reset (RST) at
    stage request; never answered, so no http_requests_total. Both
    requests opened their connections: two queue stages."""
    exp = fx.exp
    srv = start_fastapi(fx.tmp, "rb_req_py")
    try:
        svc, path = srv.service, "/rb-req/v1/chat/completions"
        before = ready(exp, srv)
        leave_mid_body(srv.port, path, rst=False)
        leave_mid_body(srv.port, path, rst=True)
        exp.settle(before, gauges(svc, 0) + [
            inc("sse_requests_total", 2, service=svc, path=path, status="client_closed", code="0"),
            inc("sse_requests_total", 2, service=svc),
            inc("sse_errors_total", 1, service=svc, error_type="client_disconnect", stage="request"),
            inc("sse_errors_total", 1, service=svc, error_type="connection_reset", stage="request"),
            inc("sse_errors_total", 2, service=svc),
            inc("http_requests_total", 0, service=svc, path=path),
            inc("sse_stage_duration_seconds_count", 2, service=svc, stage="queue"),
            inc("sse_stage_duration_seconds_count", 2, service=svc, stage="total"),
            inc("sse_stage_duration_seconds_count", 0, service=svc, stage="first_byte"),
        ])
    finally:
        launch.stop_server(srv)


QUEUE_S = 0.4   # the client idles this long between connect and first request
# Allowed difference per connection between the exporter's queue stage
# (server's accept -> its read of the first byte) and the client's (connect
# returned -> send): two wakeups of the server, a few ms, far more when
# other test runs load the 2 cores; well below QUEUE_S, so a stage measured
# between other points (a zero queue, or one that includes a stream) fails.
QUEUE_TOL_S = 0.1


def two_streams_on_one_connection(port, path):
    """Connects, idles QUEUE_S, then two short streams one after the other
    on the connection; returns (seconds from connect to the first request
    byte, [responses])."""
    with client.Connection(port, timeout=10) as conn:
        t_conn = time.monotonic()
        time.sleep(QUEUE_S)   # the idle client under test, not a wait for readiness
        resps = []
        for _ in range(2):
            t_start, t_sent = conn.send(client.events(path, {"events": 2}))
            resps.append(conn.read_response(t_start, t_sent))
    return resps[0].t_start - t_conn, resps


def case_queue_stage_keep_alive(fx):
    """Two keep-alive connections with two streams each: the queue stage
    (accept -> first request byte) is observed once per connection and
    lasts about as long as the client idled; every other stage once per
    request."""
    with go_case(fx, "queue") as (srv, path, label, before):
        svc = srv.service
        conns = [two_streams_on_one_connection(srv.port, path) for _ in range(2)]
        resps = [r for _, rs in conns for r in rs]
        expect(all(r.status == 200 and r.complete and r.data_events == 2 for r in resps),
               "ground truth: %r", [(r.status, r.complete, r.data_events) for r in resps])
        queued = sum(q for q, _ in conns)
        stages = [inc("sse_stage_duration_seconds_count", len(resps), service=svc, stage=stage)
                  for stage in ("first_byte", "first_chunk", "streaming", "total")]
        fx.exp.settle(before, gauges(svc, 0) + stages + [
            inc("sse_requests_total", len(resps), service=svc, path=label, status="success"),
            inc("sse_stage_duration_seconds_count", len(conns), service=svc, stage="queue"),
            near("sse_stage_duration_seconds_sum", queued, QUEUE_TOL_S * len(conns), service=svc,
                 stage="queue"),
        ])


# --------------------------------------------------------------------------


def groups(tmp):
    return [Group(lambda: Outcomes(tmp), [("outcome:timeout_idle_stream", case_idle_timeout),
                                          ("outcome:timeout_status_408_504", case_timeout_status),
                                          ("outcome:error_stage_first_byte", case_error_stage_first_byte),
                                          ("outcome:error_stage_request", case_error_stage_request),
                                          ("outcome:queue_stage_keep_alive", case_queue_stage_keep_alive)],
                  lambda fx: fx.stop())]
