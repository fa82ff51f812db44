"""`run.py --selfcheck`: the servers and the client checked against each
other, without the exporter.

The exporter tests compare the exporter with the client's ground truth, so
that ground truth must be right first: here every server is asked for a
specific stream and the client must see exactly that, byte for byte.
"""
import time

import client
import launch
import timing
from framework import Group, expect

CHUNK = '{"id":"x","object":"chat.completion.chunk","choices":[{"delta":{"content":"tok"}}]}'
CHUNK_LINES = ['{"id":"x","object":"chat.completion.chunk",',
               '"choices":[{"delta":{"content":"tok"}}]}']
EOLS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}
TIMER_SLACK_S = 0.002   # a server's timer firing early by the client's clock (case_first_delay)


# --------------------------------------------------------------------------
# Reference stream: what every server must send for a query (see README)
# --------------------------------------------------------------------------

def reference_events(q):
    """[(kind, text)] the servers send for query dict q, cut at abort_after."""
    n, hb = int(q.get("events", 5)), int(q.get("heartbeats", 0))
    eol, abort = EOLS[q.get("eol", "lf")], int(q.get("abort_after", -1))
    out, sent = [], 0
    for i in range(max(n, hb)):
        if i < hb:
            out.append(("heartbeat", ": ping" + eol + eol))
        if i < n:
            lines = ["[DONE]"] if i == n - 1 else CHUNK_LINES if q.get("multiline") == "1" else [CHUNK]
            out.append(("data", "".join("data: " + l + eol for l in lines) + eol))
    for k, (kind, _) in enumerate(out):
        sent += kind == "data"
        if sent == abort < n:
            return out[:k + 1]
    return out


def check_stream(resp, q):
    """resp must be exactly the reference stream for q."""
    ref = reference_events(q)
    want = "".join(text for _, text in ref).encode()
    expect(resp.status == 200, "status %d, want 200", resp.status)
    expect(resp.is_sse, "content-type %r", resp.headers.get("content-type"))
    expect(resp.chunked, "SSE response is not chunked")
    expect(resp.body == want, "body differs:\n got %r\nwant %r", resp.body[:300], want[:300])
    expect(resp.data_events == sum(k == "data" for k, _ in ref),
           "%d data events, want %d", resp.data_events, sum(k == "data" for k, _ in ref))
    expect(resp.heartbeats == sum(k == "heartbeat" for k, _ in ref),
           "%d heartbeats, want %d", resp.heartbeats, sum(k == "heartbeat" for k, _ in ref))
    expect(sum(e.size for e in resp.events) == resp.body_bytes,
           "event sizes add up to %d, body has %d bytes", sum(e.size for e in resp.events), resp.body_bytes)
    if "abort_after" not in q:
        expect(resp.complete, "stream not complete (aborted=%s truncated=%s)",
               resp.client_aborted, resp.truncated)
        data = [e.data for e in resp.events if e.kind == "data"]
        expect(data and data[-1] == "[DONE]", "last data event is not [DONE]")


def check_error(resp, status):
    expect(resp.status == status, "status %d, want %d", resp.status, status)
    expect(resp.headers.get("content-type", "").startswith("application/json"),
           "content-type %r", resp.headers.get("content-type"))
    expect(resp.json()["error"]["code"] == status, "error body %r", resp.body)
    if status == 429:
        expect("retry-after" in resp.headers, "429 without Retry-After")


def healthy(server):
    resp = server.request(client.get("/health"))
    expect(resp.status == 200, "server unhealthy afterwards: /health answered %d", resp.status)


# --------------------------------------------------------------------------
# Cases (each takes the running Server)
# --------------------------------------------------------------------------

def stream_case(q, post=False, prefix=""):
    def case(server):
        req = client.chat(q, prefix=prefix) if post else client.events("/events/self/1", q)
        check_stream(server.request(req), q)
    return case


def case_chat_json(server):
    resp = server.request(client.chat(stream=False, prefix="/self"))
    expect(resp.status == 200 and not resp.is_sse, "status %d type %r", resp.status,
           resp.headers.get("content-type"))
    expect("content-length" in resp.headers, "JSON answer without Content-Length")
    expect(resp.json()["object"] == "chat.completion", "body %r", resp.body)


def status_case(status):
    def case(server):
        q = {"status": status}
        check_error(server.request(client.events("/events/self/2", q)), status)
        check_error(server.request(client.chat(q)), status)
    return case


def case_server_abort(server):
    q = {"events": 10, "abort_after": 2}
    resp = server.request(client.events("/events/self/3", q))
    expect(resp.truncated, "server did not cut the stream short")
    check_stream(resp, q)


def client_abort_case(rst):
    def case(server):
        q = {"events": 10, "interval_ms": 100}
        resp = server.request(client.events("/events/self/4", q),
                              abort_after_events=2, rst=rst)
        expect(resp.client_aborted and resp.data_events == 2,
               "aborted=%s after %d data events, want 2", resp.client_aborted, resp.data_events)
        expect(resp.duration < 0.6, "abort took %.2f s: the stream was not paced", resp.duration)
        healthy(server)
    return case


def case_first_delay(server):
    q = {"events": 2, "first_delay_ms": 300}
    resp = server.request(client.events("/events/self/5", q))
    check_stream(resp, q)
    # Headers must be flushed before the first event, or the exporter's
    # first_byte/first_chunk stages would be indistinguishable.
    expect(resp.t_headers - resp.t_sent < 0.2, "headers took %.3f s", resp.t_headers - resp.t_sent)
    # Node's timers count from the event loop's time, cached in whole
    # milliseconds at the start of its turn: one may fire up to 1 ms
    # early by the client's clock (0.299 s seen once)
    expect(0.3 - TIMER_SLACK_S <= resp.ttfc < 1.3, "ttfc %.3f s, want ~0.3 s", resp.ttfc)


def case_pacing(server):
    q = {"events": 5, "interval_ms": 100}
    resp = server.request(client.events("/events/self/6", q))
    check_stream(resp, q)
    data = [e for e in resp.events if e.kind == "data"]
    # Each event must reach the client on its own (no proxy buffering).
    spread = data[-1].time - data[0].time
    expect(spread >= 0.35, "events arrived within %.3f s: buffered", spread)


def case_keep_alive(server):
    q = {"events": 3}
    reqs = [client.events("/events/self/7", q), client.chat(q), client.events("/events/self/8", q),
            client.get("/items/self/9")]
    resps = server.keep_alive(reqs)
    for resp in resps[:3]:
        check_stream(resp, q)
    expect(resps[3].status == 200 and resps[3].json()["id"] == "9", "item answer %r", resps[3].body)


def case_pipelining(server):
    resps = server.pipelined([client.get("/items/self/11"), client.get("/items/self/12")])
    ids = [r.json()["id"] if r.status == 200 else r.status for r in resps]
    expect(ids == ["11", "12"], "pipelined answers %r", ids)


def case_concurrency(server):
    q = {"events": 10, "interval_ms": 100}
    t0 = time.monotonic()
    resps = client.concurrently(server.request, [(client.events("/events/self/%d" % i, q),) for i in range(5)])
    for resp in resps:
        check_stream(resp, q)
    wall = time.monotonic() - t0
    expect(wall < 2.5, "5 concurrent 1 s streams took %.2f s: not concurrent", wall)


def case_times_log(server):
    """The stream times a server logs (timing.py's ground truth) are on the
    client's clock: ordered, one per data event, inside the interval in
    which the client sent the request and received the stream, and within
    TOLERANCE_S of the client's receipt of each event (the server stamps
    after its write returns; the client may have woken up on the other
    core before that)."""
    q = {"events": 4, "interval_ms": 20, "first_delay_ms": 50}
    path = "/events/self-times/%d" % time.monotonic_ns()
    resp = server.request(client.events(path, q))
    check_stream(resp, q)
    rec = timing.server_streams(server, path, 1)[0]
    t = [rec["t_request"], rec["t_headers"]] + rec["t_data"] + [rec["t_end"]]
    expect(len(rec["t_data"]) == 4, "%d data times logged, want 4", len(rec["t_data"]))
    expect(t == sorted(t), "times not in order: %r", t)
    tol = timing.TOLERANCE_S
    expect(resp.t_start <= t[0] and t[-1] <= resp.t_end + tol, "server times %.6f..%.6f outside the "
           "client's %.6f..%.6f", t[0], t[-1], resp.t_start, resp.t_end)
    data = [e.time for e in resp.events if e.kind == "data"]
    late = [c - w for c, w in zip(data, rec["t_data"]) if abs(c - w) >= tol]
    expect(not late, "data events received %r s after the logged writes", late)


def case_plain(server):
    healthy(server)
    resp = server.request(client.get("/items/self/123"))
    expect(resp.status == 200 and resp.json()["id"] == "123", "item answer %d %r", resp.status, resp.body)
    resp = server.request(client.get("/nope"))
    expect(resp.status == 404, "unknown path answered %d", resp.status)


SERVER_CASES = [
    ("stream_lf", stream_case({"events": 5})),
    ("eol_crlf", stream_case({"events": 5, "eol": "crlf"})),
    ("eol_cr", stream_case({"events": 5, "eol": "cr"})),
    ("multiline_lf", stream_case({"events": 4, "multiline": "1"})),
    ("multiline_crlf", stream_case({"events": 4, "multiline": "1", "eol": "crlf"})),
    ("multiline_cr", stream_case({"events": 4, "multiline": "1", "eol": "cr"})),
    ("heartbeats", stream_case({"events": 5, "heartbeats": 3})),
    ("heartbeats_surplus_crlf", stream_case({"events": 3, "heartbeats": 5, "eol": "crlf"})),
    ("chat_stream", stream_case({"events": 4}, post=True)),
    ("chat_stream_prefixed", stream_case({"events": 4}, post=True, prefix="/self")),
    ("chat_json", case_chat_json),
    ("status_429", status_case(429)),
    ("status_503", status_case(503)),
    ("status_504", status_case(504)),
    ("server_abort", case_server_abort),
    ("client_abort", client_abort_case(rst=False)),
    ("client_abort_rst", client_abort_case(rst=True)),
    ("first_delay", case_first_delay),
    ("pacing", case_pacing),
    ("keep_alive", case_keep_alive),
    ("pipelining", case_pipelining),
    ("concurrency", case_concurrency),
    ("plain_json", case_plain),
]
# nginx does not log the times of its writes (E2E_TIMES_LOG): the others do.
TIMES_CASES = [("times_log", case_times_log)]


def case_tls_only(server):
    """The TLS servers really speak TLS (with the run's certificate, which
    the client verifies), and only TLS: a plaintext request gets no answer."""
    with server.connect() as conn:
        expect(conn.tls_version in ("TLSv1.2", "TLSv1.3"), "TLS version %r", conn.tls_version)
        t_start, t_sent = conn.send(client.get("/health"))
        resp = conn.read_response(t_start, t_sent)
        expect(resp.status == 200, "GET /health over TLS answered %d", resp.status)
    try:
        status = client.request(server.port, client.get("/health"), timeout=5.0).status
    except (OSError, client.PeerClosed, client.ProtocolError):
        status = None   # uvicorn and node close, nginx answers 400
    expect(status != 200, "a plaintext GET /health on the TLS port answered 200")


TLS_CASES = [("tls_only", case_tls_only)]
# servers/stdlib_sse.py serves the GET streams of the API only.
STDLIB_CASES = ("stream_lf", "pacing", "concurrency", "plain_json")


# --------------------------------------------------------------------------
# The client's own SSE parser, without any server
# --------------------------------------------------------------------------

PARSER_INPUT = (b"data: a\r\n\r\n: ping\r\r" b"event: x\ndata: b\ndata: c\n\n" b"id: 5\n\n"
                b"\n\n" b"data\r\r" b"data: d\r\n\r\n")
PARSER_WANT = [("data", "a"), ("heartbeat", ""), ("data", "b\nc"), ("other", ""), ("data", ""),
               ("data", "d")]


def _parse_split(pieces):
    parser = client.SSEParser()
    for piece in pieces:
        parser.feed(piece, 0.0)
    return parser.events


def case_parser(_fixture):
    """Every way of splitting the input into reads must give the same events,
    in particular a CRLF split between its CR and its LF."""
    data = PARSER_INPUT
    splits = [[data]] + [[data[:i], data[i:]] for i in range(1, len(data))]
    splits.append([bytes([b]) for b in data])
    for pieces in splits:
        got = _parse_split(pieces)
        expect([(e.kind, e.data) for e in got] == PARSER_WANT, "split at %d: %r", len(pieces[0]),
               [(e.kind, e.data) for e in got])
        # Blank lines between events belong to the next event; all bytes count.
        expect(sum(e.size for e in got) == len(data), "sizes %r", [e.size for e in got])


def groups(tmp):
    out = [Group(lambda: None, [("selfcheck:client:sse_parser", case_parser)])]
    for kind, start in {**launch.STARTERS, **launch.TLS_STARTERS}.items():
        own = (SERVER_CASES + (TLS_CASES if kind in launch.TLS_STARTERS else [])
               + ([] if kind.startswith("nginx") else TIMES_CASES))
        cases = [("selfcheck:%s:%s" % (kind, name), fn) for name, fn in own]
        out.append(Group(lambda start=start: start(tmp), cases, launch.stop_server))
    out.append(Group(lambda: launch.start_stdlib(tmp), [("selfcheck:stdlib:%s" % name, fn)
                                                        for name, fn in SERVER_CASES if name in STDLIB_CASES],
                     launch.stop_server))
    return out
