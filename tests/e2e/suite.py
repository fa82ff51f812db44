"""Exporter tests against each real server (`run.py` without --selfcheck).

Every case: scrape, send traffic with the raw client, check the client got
what it asked for (ground truth), then poll the exporter until the deltas
match that ground truth. Cases run one after the other and filter by
service (the server's process name) and by a path used only by that case,
so they do not see each other's traffic, nor that of other processes with
the same name (the chat endpoint gets a per-case prefix because other
python3 services on the host, benchmarks for one, serve the bare
/v1/chat/completions). Metrics labelled by service only (gauges, errors,
stages) cannot be isolated that way: checks.settle() names any foreign
traffic it saw when such a check fails.
"""
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import adopt_cases
import checks
import client
import cri_cases
import dashboard_cases
import exporter_cases
import fault_cases
import flag_cases
import host_ident_cases
import ident_cases
import isolated
import kstream_cases
import launch
import metrics
import node_gateway_cases
import openssl_cli_cases
import outcome_cases
import own_metrics_cases
import page_cases
import podman_cases
import redis_cases
import robustness_cases
import timing
import upstream_cases
import webconfig_cases
from checks import gauge, gauge_at_least, inc
from framework import Group, expect



def chat_path(case):
    """Prefix and path label of the chat endpoint for one case."""
    return "/e2e-%s" % case, "/e2e-%s/v1/chat/completions" % case


@dataclass
class Ctx:
    port: int                 # the exporter's
    server: launch.Server

    @property
    def svc(self):
        return self.server.service

    def scrape(self):
        return metrics.scrape(self.port)

    def settle(self, before, expects, timeout=checks.SETTLE_TIMEOUT, own_paths=(), stay=True):
        return checks.settle(self.port, before, expects, timeout, own_paths, stay)

    def baseline(self, before, name):
        return metrics.total(before, name, service=self.svc)


def sse_path(case):
    """(request path, expected path label) of an SSE endpoint for one case."""
    return "/events/%s/%s" % (case, isolated.uid()), "/events/%s/:id" % case


def ground_truth_ok(resps, data_events=None):
    for r in resps:
        expect(r.status == 200 and r.is_sse and r.complete,
               "ground truth: status %d sse=%s complete=%s", r.status, r.is_sse, r.complete)
        if data_events is not None:
            expect(r.data_events == data_events, "ground truth: %d data events, want %d",
                   r.data_events, data_events)


def line_ends(body):
    """{"crlf", "lf", "cr"}: the line ends a body uses."""
    crlf = body.count(b"\r\n")
    counts = {"crlf": crlf, "lf": body.count(b"\n") - crlf, "cr": body.count(b"\r") - crlf}
    return {k for k, v in counts.items() if v}


def wire_ok(resps, q):
    """The server sent what the query asked for, so that a server ignoring
    heartbeats=, eol= or multiline= cannot turn a case into another one."""
    want_eol, lines = q.get("eol", "lf"), 2 if q.get("multiline") == "1" else 1
    for r in resps:
        expect(r.heartbeats == int(q.get("heartbeats", 0)), "ground truth: %d heartbeats, want %s",
               r.heartbeats, q.get("heartbeats", 0))
        expect(line_ends(r.body) == {want_eol}, "ground truth: line ends %s, want %s",
               sorted(line_ends(r.body)), want_eol)
        data = [e.data for e in r.events if e.kind == "data"]
        bad = [d for d in data[:-1] if d.count("\n") + 1 != lines] + [d for d in data[-1:] if d != "[DONE]"]
        expect(not bad, "ground truth: data events %r, want %d line(s) each and [DONE] last", bad[:2], lines)


def data_event_bytes(resps):
    """Bytes of the data events (heartbeats excluded) as received, line ends
    included, chunk framing excluded: what sse_chunk_size_bytes observes
    (the spec's "size of each SSE event on the wire" is read that way, the
    same way as sse_bytes_streamed_total)."""
    return sum(e.size for r in resps for e in r.events if e.kind == "data")


def gaps(resps):
    """Gaps between consecutive data events; heartbeats do not split a gap
    (sse_inter_chunk_gap_seconds counts 5-1 gaps for a 5-event stream)."""
    return sum(max(r.data_events - 1, 0) for r in resps)


def parallel(ctx, reqs, **kw):
    return client.concurrently(lambda req: ctx.server.request(req, **kw),
                               [(r,) for r in reqs])


def back_to_baseline(ctx, before):
    """Both connection gauges of the service are back where they started."""
    return [gauge(name, ctx.baseline(before, name), service=ctx.svc)
            for name in ("sse_active_connections", "http_connections_active")]


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

def case_basic_streams(ctx):
    """10 concurrent chat streams of 5 events: the full server-side catalog,
    durations to the millisecond."""
    n, model = 10, "e2e-basic-" + ctx.server.name
    prefix, chat = chat_path("basic")
    # first_delay_ms separates time-to-first-chunk and stream lifetime from
    # the time to response headers (http_request_duration for SSE).
    q = {"events": 5, "interval_ms": 10, "first_delay_ms": 200}
    before = ctx.scrape()
    resps = parallel(ctx, [client.chat(q, model, prefix=prefix)] * n)
    ground_truth_ok(resps, 5)
    svc, chunks = ctx.svc, sum(r.data_events for r in resps)
    ctx.settle(before, [
        inc("sse_requests_total", n, service=svc, path=chat, model=model, status="success", code="200"),
        inc("sse_requests_total", n, service=svc, path=chat),
        inc("sse_chunks_streamed_total", chunks, service=svc, path=chat),
        inc("sse_bytes_streamed_total", sum(r.body_bytes for r in resps), service=svc, path=chat),
        inc("sse_chunk_size_bytes_count", chunks, service=svc, path=chat),
        inc("sse_chunk_size_bytes_sum", data_event_bytes(resps), service=svc, path=chat),
        inc("sse_heartbeats_total", 0, service=svc, path=chat),
        inc("http_requests_total", n, service=svc, method="POST", path=chat, status="200"),
        # Each request was the first on its connection: queue once each.
        inc("sse_stage_duration_seconds_count", n, service=svc, stage="queue"),
    ] + duration_expects(ctx, resps, chat, chat, model) + back_to_baseline(ctx, before))


def duration_expects(ctx, resps, path, label, model):
    """Every duration family of the case's streams (the only traffic of the
    service meanwhile: stages are labelled by service alone)."""
    svc = ctx.svc
    if ctx.server.times_log is None:
        return proxied_duration_expects(ctx, resps, path, label, model)
    f, c = timing.truths(ctx.server, path, resps)
    out = timing.durations(f, c, svc, label, model)
    for stage, what in (("first_byte", "head"), ("total", "request")):
        out += timing.from_request("sse_stage_duration_seconds", f, c, what, service=svc, stage=stage)
    for stage in ("first_chunk", "streaming"):
        out += timing.histogram("sse_stage_duration_seconds", f[stage], service=svc, stage=stage)
    return out


def proxied_duration_expects(ctx, resps, path, label, model):
    """nginx logs no times of its own writes. Its interval from a request
    read to a write holds its backend's (FastAPI's times log), and lies
    inside the client's from before its send() to after its recv(); the
    nginx worker may read a request some ms after the client sent it, when
    it has other connections' handshakes to do. Between two of its writes:
    the client's times, within one wakeup each way."""
    n, svc, tol = len(resps), ctx.svc, timing.TOLERANCE_S
    f, c = timing.truths(ctx.server.backend, path, resps)
    by_label = {"service": svc, "path": label}
    return [
        *timing.from_request("sse_request_duration_seconds", f, c, "request", **by_label),
        *timing.from_request("http_request_duration_seconds", f, c, "head", **by_label),
        *timing.from_request("sse_time_to_first_chunk_seconds", f, c, "ttfc", model=model, **by_label),
        *timing.histogram("sse_stream_duration_seconds", [r.stream_duration for r in resps], 2 * tol,
                          **by_label),
        inc("sse_inter_chunk_gap_seconds_count", gaps(resps), **by_label),
        *[inc("sse_stage_duration_seconds_count", n, service=svc, stage=stage)
          for stage in ("first_byte", "first_chunk", "streaming", "total")],
    ]


def stream_case(tag, q, n=3):
    """n streams with the given query: events, heartbeats and bytes exact,
    what the server sent checked against the query, gaps to the ms."""
    def case(ctx):
        path, label = sse_path(tag)
        before = ctx.scrape()
        resps = parallel(ctx, [client.events(path, q)] * n)
        ground_truth_ok(resps, int(q.get("events", 5)))
        wire_ok(resps, q)
        svc, chunks = ctx.svc, sum(r.data_events for r in resps)
        ctx.settle(before, [
            inc("sse_requests_total", n, service=svc, path=label, status="success", code="200"),
            inc("sse_chunks_streamed_total", chunks, service=svc, path=label),
            inc("sse_heartbeats_total", sum(r.heartbeats for r in resps), service=svc, path=label),
            inc("sse_bytes_streamed_total", sum(r.body_bytes for r in resps), service=svc, path=label),
            inc("sse_chunk_size_bytes_count", chunks, service=svc, path=label),
            inc("sse_chunk_size_bytes_sum", data_event_bytes(resps), service=svc, path=label),
        ] + gap_expects(ctx, resps, path, label) + back_to_baseline(ctx, before))
    return case


def gap_expects(ctx, resps, path, label):
    """Gaps counted; with the server's times, every duration family of the
    path to the millisecond (gaps between events with heartbeats, CR line
    ends, multi-line data)."""
    if ctx.server.times_log is None:
        return [inc("sse_inter_chunk_gap_seconds_count", gaps(resps), service=ctx.svc, path=label)]
    return timing.stream_expects(ctx.server, path, label, resps)


def case_keep_alive(ctx):
    """3 SSE requests one after the other on one connection."""
    path, label = sse_path("keepalive")
    before = ctx.scrape()
    resps = ctx.server.keep_alive([client.events(path, {"events": 4})] * 3)
    ground_truth_ok(resps, 4)
    ctx.settle(before, [
        inc("sse_requests_total", 3, service=ctx.svc, path=label, status="success", code="200"),
        inc("http_requests_total", 3, service=ctx.svc, method="GET", path=label, status="200"),
        inc("sse_chunks_streamed_total", sum(r.data_events for r in resps), service=ctx.svc, path=label),
    ] + back_to_baseline(ctx, before))


def case_pipelining(ctx):
    """2 plain GETs written back to back before reading either answer."""
    tag = "pipelined"
    before = ctx.scrape()
    resps = ctx.server.pipelined([client.get("/items/%s/%s" % (tag, isolated.uid()))] * 2)
    expect(all(r.status == 200 for r in resps), "ground truth: statuses %r", [r.status for r in resps])
    label = "/items/%s/:id" % tag
    ctx.settle(before, [
        inc("http_requests_total", 2, service=ctx.svc, method="GET", path=label, status="200"),
        inc("http_request_duration_seconds_count", 2, service=ctx.svc, method="GET", path=label),
    ] + back_to_baseline(ctx, before))


def status_case(code, status, extra):
    """An SSE request answered at once with an error code."""
    def case(ctx):
        path, label = sse_path("status-%d" % code)
        before = ctx.scrape()
        resp = ctx.server.request(client.events(path, {"status": code}))
        expect(resp.status == code, "ground truth: status %d, want %d", resp.status, code)
        ctx.settle(before, [
            inc("sse_requests_total", 1, service=ctx.svc, path=label, status=status, code=str(code)),
            inc("sse_requests_total", 1, service=ctx.svc, path=label),
            inc("http_requests_total", 1, service=ctx.svc, method="GET", path=label, status=str(code)),
        ] + extra(ctx, label) + back_to_baseline(ctx, before))
    return case


def rate_limit_extra(ctx, label):
    return [inc("sse_rate_limit_exceeded_total", 1, service=ctx.svc, path=label)]


def server_error_extra(ctx, label):
    return [inc("sse_errors_total", 1, service=ctx.svc, error_type="server_error")]


def client_abort_case(rst):
    """The client goes away after 2 of 10 events (FIN, or RST via SO_LINGER 0)."""
    def case(ctx):
        path, label = sse_path("client-abort-rst" if rst else "client-abort")
        before = ctx.scrape()
        resp = ctx.server.request(client.events(path, {"events": 10, "interval_ms": 100}),
                              abort_after_events=2, rst=rst)
        expect(resp.client_aborted and resp.data_events == 2,
               "ground truth: aborted=%s after %d events", resp.client_aborted, resp.data_events)
        # The spec does not say whether a client RST is a client_disconnect or
        # a connection_reset; a FIN must be client_disconnect.
        kinds = ("client_disconnect", "connection_reset") if rst else "client_disconnect"
        ctx.settle(before, [
            inc("sse_requests_total", 1, service=ctx.svc, path=label, status="client_closed"),
            inc("sse_requests_total", 1, service=ctx.svc, path=label),
            inc("sse_errors_total", 1, service=ctx.svc, error_type=kinds),
        ] + back_to_baseline(ctx, before))
    return case


def case_server_abort(ctx):
    """The server closes after 2 of 10 events without ending the body."""
    path, label = sse_path("server-abort")
    before = ctx.scrape()
    resp = ctx.server.request(client.events(path, {"events": 10, "abort_after": 2}))
    expect(resp.truncated and resp.data_events == 2,
           "ground truth: truncated=%s after %d events", resp.truncated, resp.data_events)
    ctx.settle(before, [
        inc("sse_requests_total", 1, service=ctx.svc, path=label, status="failure"),
        inc("sse_requests_total", 1, service=ctx.svc, path=label),
        inc("sse_errors_total", 1, service=ctx.svc, error_type="stream_truncated"),
        inc("sse_chunks_streamed_total", resp.data_events, service=ctx.svc, path=label),
    ] + back_to_baseline(ctx, before))


def backpressure_case(tag, pace):
    """A client that stops reading for a second through a small receive
    buffer, then reads at full speed, or (pace) slowly to the end: the
    server's writes block and are retried (over TLS, SSL_write is called
    again with the bytes it was given before, maybe more); every event and
    byte counts once."""
    def case(ctx):
        n, model = 3000, "e2e-%s-%s" % (tag, ctx.server.name)
        prefix, chat = chat_path(tag)
        before = ctx.scrape()
        resp, stall = client.stalled(ctx.server.port, client.chat({"events": n, "interval_ms": 0}, model,
                                                                 prefix=prefix),
                                     1.0, tls=ctx.server.tls, pace=pace)
        ground_truth_ok([resp], n)
        # The server had bytes it could not hand to its socket when the
        # reader resumed: it wrote as fast as it could, so it was blocked.
        expect(0 < stall.server_unsent and stall.server_unsent + stall.client_unread < resp.body_bytes,
               "the server's writes never blocked: %d bytes queued in its socket, %d in the client's, "
               "of a %d-byte body", stall.server_unsent, stall.client_unread, resp.body_bytes)
        ctx.settle(before, [
            inc("sse_requests_total", 1, service=ctx.svc, path=chat, model=model, status="success", code="200"),
            inc("sse_chunks_streamed_total", n, service=ctx.svc, path=chat),
            inc("sse_bytes_streamed_total", resp.body_bytes, service=ctx.svc, path=chat),
        ] + back_to_baseline(ctx, before))
    return case


def case_active_gauge(ctx):
    """5 slow streams: the gauges rise by 5 while open, then come back."""
    n = 5
    path, label = sse_path("active")
    before = ctx.scrape()
    base_sse = ctx.baseline(before, "sse_active_connections")
    base_conn = ctx.baseline(before, "http_connections_active")
    out = {}
    worker = threading.Thread(target=lambda: out.update(
        resps=parallel(ctx, [client.events(path, {"events": 20, "interval_ms": 100})] * n)), daemon=True)
    worker.start()
    try:
        # The streams last ~2 s: poll while they are open.
        ctx.settle(before, [gauge("sse_active_connections", base_sse + n, service=ctx.svc),
                            gauge_at_least("http_connections_active", base_conn + n, service=ctx.svc)],
                   timeout=1.8, own_paths=[label], stay=False)
    finally:
        worker.join()
    ground_truth_ok(out.get("resps", []), 20)
    ctx.settle(before, [inc("sse_requests_total", n, service=ctx.svc, path=label, status="success")]
               + back_to_baseline(ctx, before))


def case_http_duration(ctx):
    """Plain GETs: http_request_duration_seconds, and no SSE series."""
    n, tag = 5, "duration"
    label = "/items/%s/:id" % tag
    before = ctx.scrape()
    resps = [ctx.server.request(client.get("/items/%s/%s" % (tag, isolated.uid()))) for _ in range(n)]
    expect(all(r.status == 200 and not r.is_sse for r in resps), "ground truth: %r",
           [(r.status, r.headers.get("content-type")) for r in resps])
    ctx.settle(before, [
        inc("http_requests_total", n, service=ctx.svc, method="GET", path=label, status="200"),
        inc("sse_requests_total", 0, service=ctx.svc, path=label),
    ] + timing.client_bounded("http_request_duration_seconds", [r.duration for r in resps],
                              service=ctx.svc, method="GET", path=label)
      + back_to_baseline(ctx, before))


def case_path_normalisation(ctx):
    """Numeric, UUID and long-hex segments collapse to :id; the query goes."""
    tag = "normalise"
    ids = ["12345", str(uuid.uuid4()), uuid.uuid4().hex, "77?page=2"]
    before = ctx.scrape()
    resps = [ctx.server.request(client.get("/items/%s/%s" % (tag, i))) for i in ids]
    expect(all(r.status == 200 for r in resps), "ground truth: %r", [r.status for r in resps])
    ctx.settle(before, [inc("http_requests_total", len(ids), service=ctx.svc, method="GET",
                            path="/items/%s/:id" % tag, status="200")])


def case_json_not_sse(ctx):
    """A chat request with stream=false is plain HTTP, not an SSE request."""
    prefix, chat = chat_path("json")
    before = ctx.scrape()
    resp = ctx.server.request(client.chat(model="e2e-json", stream=False, prefix=prefix))
    expect(resp.status == 200 and not resp.is_sse, "ground truth: %d %r", resp.status,
           resp.headers.get("content-type"))
    ctx.settle(before, [
        inc("http_requests_total", 1, service=ctx.svc, method="POST", path=chat, status="200"),
        inc("http_request_duration_seconds_count", 1, service=ctx.svc, method="POST", path=chat),
        inc("sse_requests_total", 0, service=ctx.svc, path=chat),
    ] + back_to_baseline(ctx, before))


def case_counted_once(ctx):
    """One connection: an SSE stream, then a plain GET on it (keep-alive).
    Every count is exactly what the client received, on the case's paths
    and over the whole service. Over TLS this is the no-double-counting
    proof: the socket hooks see the same exchange as ciphertext, which must
    not be counted as well, not as SSE bytes (more than the plaintext
    body), nor as requests under another path, nor as errors."""
    tag = "once"
    path, label = sse_path(tag)
    item, item_label = "/items/%s/%s" % (tag, isolated.uid()), "/items/%s/:id" % tag
    before = ctx.scrape()
    stream, plain = ctx.server.keep_alive([client.events(path, {"events": 5, "heartbeats": 2}),
                                           client.get(item)])
    ground_truth_ok([stream], 5)
    expect(plain.status == 200 and not plain.is_sse, "ground truth: GET %s answered %d %r", item,
           plain.status, plain.headers.get("content-type"))
    svc = ctx.svc
    per_stream = []
    for where in ({"path": label}, {}):      # the case's path, then the whole service
        per_stream += [
            inc("sse_requests_total", 1, service=svc, **where),
            inc("sse_bytes_streamed_total", stream.body_bytes, service=svc, **where),
            inc("sse_chunks_streamed_total", stream.data_events, service=svc, **where),
            inc("sse_heartbeats_total", stream.heartbeats, service=svc, **where),
            inc("sse_chunk_size_bytes_sum", data_event_bytes([stream]), service=svc, **where),
        ]
    ctx.settle(before, per_stream + [
        inc("http_requests_total", 1, service=svc, method="GET", path=label, status="200"),
        inc("http_requests_total", 1, service=svc, method="GET", path=item_label, status="200"),
        inc("http_requests_total", 2, service=svc),
        inc("http_request_duration_seconds_count", 2, service=svc),
        inc("sse_errors_total", 0, service=svc),
    ] + back_to_baseline(ctx, before))


SERVER_CASES = [
    ("basic_streams", case_basic_streams),
    ("heartbeats", stream_case("heartbeats", {"events": 5, "heartbeats": 3})),
    ("eol_crlf", stream_case("eol-crlf", {"events": 5, "eol": "crlf"})),
    ("eol_cr", stream_case("eol-cr", {"events": 5, "eol": "cr"})),
    ("multiline", stream_case("multiline", {"events": 5, "multiline": "1"})),
    ("multiline_cr_heartbeats", stream_case("multiline-cr", {"events": 4, "multiline": "1", "eol": "cr",
                                                             "heartbeats": 2})),
    ("keep_alive", case_keep_alive),
    ("pipelining", case_pipelining),
    ("status_429", status_case(429, "rate_limited", rate_limit_extra)),
    ("status_503", status_case(503, "failure", server_error_extra)),
    ("status_504", status_case(504, "timeout", lambda ctx, label: [])),
    ("client_abort", client_abort_case(rst=False)),
    ("client_abort_rst", client_abort_case(rst=True)),
    ("server_abort", case_server_abort),
    ("active_gauge", case_active_gauge),
    ("http_duration", case_http_duration),
    ("path_normalisation", case_path_normalisation),
    ("json_not_sse", case_json_not_sse),
    ("backpressure", backpressure_case("stall", None)),
    ("slow_reader", backpressure_case("slow", (1024, 0.001))),
    ("counted_once", case_counted_once),
]


def settled(ctx, before):
    """The launcher's readiness probe (GET /health, `before` was scraped
    before the launch) is counted and its connection closed: wait until the
    exporter has seen that, so no case starts from a moving baseline. (The
    gauge alone is 0 too before the exporter has seen the probe at all.)"""
    def quiet(samples):
        probes = (metrics.total(samples, "http_requests_total", service=ctx.svc, path="/health")
                  - metrics.total(before, "http_requests_total", service=ctx.svc, path="/health"))
        return probes >= 1 and metrics.total(samples, "http_connections_active", service=ctx.svc) == 0
    ok, samples = metrics.wait_for(ctx.port, quiet, timeout=10.0)
    expect(ok, "the launcher's probe of %s never settled: /health requests %s, http_connections_active %s",
           ctx.svc, metrics.total(samples, "http_requests_total", service=ctx.svc, path="/health"),
           metrics.total(samples, "http_connections_active", service=ctx.svc))
    return ctx


# A libssl the exporter cannot know at start: a private copy, loaded by a
# server started later through LD_LIBRARY_PATH. Only the periodic scan of
# /proc/*/maps finds it (--tls.scan-interval, default 5 s).
SYSTEM_LIBSSL = "/usr/lib/x86_64-linux-gnu/libssl.so.3"
SCAN_INTERVAL_S = 5.0


def tls_libraries(samples):
    return metrics.total(samples, "sse_exporter_tls_libraries")


def start_libssl_copy(tmp, exporter_port):
    """fastapi-tls on its own copy of libssl, started after the exporter;
    ready once the exporter counts one more hooked library."""
    libdir = Path(tmp) / "libssl-copy"
    libdir.mkdir(exist_ok=True)
    shutil.copy2(os.path.realpath(SYSTEM_LIBSSL), libdir / "libssl.so.3")
    before = metrics.scrape(exporter_port)
    t0 = time.monotonic()
    server = launch.start_fastapi(tmp, "fastapi-tls-libcopy", with_tls=True,
                                  env=dict(os.environ, LD_LIBRARY_PATH=str(libdir)))
    maps = Path("/proc/%d/maps" % server.children[0].pid).read_text()
    expect(str(libdir) in maps, "the server does not map the copy of libssl in %s", libdir)
    ok, _ = metrics.wait_for(exporter_port, lambda s: tls_libraries(s) > tls_libraries(before),
                             timeout=SCAN_INTERVAL_S + 5.0)
    delay = time.monotonic() - t0
    expect(ok, "the copy of libssl was not hooked within %.0f s of the server's start",
           SCAN_INTERVAL_S + 5.0)
    print("NOTE fastapi-tls-libcopy: libssl copy hooked %.1f s after the server started "
          "(scan interval %.0f s)" % (delay, SCAN_INTERVAL_S), flush=True)
    # The launcher's probe came before the hook: its plaintext was not
    # seen. A probe now is, and settles like any server's.
    before = metrics.scrape(exporter_port)
    expect(server.request(client.get("/health")).status == 200, "GET /health failed after the hook")
    return settled(Ctx(exporter_port, server), before)


def case_library_found_later(ctx):
    """After the scan hooked its copy of libssl, the server's TLS streams
    are measured like any other."""
    prefix, chat = chat_path("libcopy")
    model = "e2e-libcopy"
    before = ctx.scrape()
    resps = parallel(ctx, [client.chat({"events": 4, "interval_ms": 10}, model, prefix=prefix)] * 3)
    ground_truth_ok(resps, 4)
    ctx.settle(before, [
        inc("sse_requests_total", 3, service=ctx.svc, path=chat, model=model, status="success", code="200"),
        inc("sse_chunks_streamed_total", sum(r.data_events for r in resps), service=ctx.svc, path=chat),
        inc("sse_bytes_streamed_total", sum(r.body_bytes for r in resps), service=ctx.svc, path=chat),
    ])


def groups(tmp):
    exporter = exporter_cases.Exporter(tmp)
    out = exporter_cases.first_groups(tmp, exporter)
    # The TLS servers (fastapi-tls, node-tls, nginx-tls) run the very same
    # cases: the client's ground truth is the decrypted stream, and every
    # server-side metric must come out as in plaintext.
    for kind, start in {**launch.STARTERS, **launch.TLS_STARTERS}.items():
        def setup(start=start):
            before = metrics.scrape(exporter.port())
            return settled(Ctx(exporter.port(), start(tmp)), before)
        cases = [("%s:%s" % (kind, name), fn) for name, fn in SERVER_CASES]
        out.append(Group(setup, cases, lambda ctx: launch.stop_server(ctx.server)))
    out.append(Group(lambda: start_libssl_copy(tmp, exporter.port()),
                     [("fastapi-tls-libcopy:found_by_scan", case_library_found_later)],
                     lambda ctx: launch.stop_server(ctx.server)))
    return (out + exporter_cases.groups(tmp, exporter) + kstream_cases.groups(tmp) + robustness_cases.groups(tmp)
            + fault_cases.groups(tmp)
            + upstream_cases.groups(tmp) + dashboard_cases.groups(tmp) + node_gateway_cases.groups(tmp) + flag_cases.groups(tmp) + ident_cases.groups(tmp) + ident_cases.kubelet_groups(tmp)
            + webconfig_cases.groups(tmp) + outcome_cases.groups(tmp) + own_metrics_cases.groups(tmp)
            + openssl_cli_cases.groups(tmp) + adopt_cases.groups(tmp) + podman_cases.groups(tmp)
            + cri_cases.groups(tmp) + host_ident_cases.groups(tmp) + page_cases.groups(tmp) + redis_cases.groups(tmp))
