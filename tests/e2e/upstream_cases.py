"""Upstream LLM calls of an observed gateway (docs/metrics.md, "Client side:
upstream calls"), and the provider label of its own inbound streams.

Fixture (one per run):
- servers/fake_provider.py over TLS (the run's certificate, tls.py), but
  plaintext HTTP for PLAIN_HOSTS: one process listening on one port per
  upstream host (HOSTS, SELF_HOST), and a second one for REFUSED_HOST
  alone, which case_connect_refused stops;
- servers/gateway.py: plaintext inbound, forwards each call over HTTPS (or
  HTTP) to 127.0.0.1:port-of-host with an explicit `Host: <host>` header,
  one httpx client (pooled) on one event-loop thread;
- an exporter of its own with EXPORTER_FLAGS, started in the background
  while the servers start; the `servers_*` cases do not need it (they check
  the servers and the ground truth alone, and also run as
  `selfcheck_groups()`).

Both servers run /usr/bin/python3 through a symlink named GATEWAY /
PROVIDER (isolated.alias), so their comm, hence the `service`
label, belongs to this group alone. Client-side metrics are filtered by
service=GATEWAY and provider, and by model where the metric has that label:
every case uses models of its own. Histograms and breaker metrics labelled
by provider only are exact because cases run one after the other and each
provider label is used by the cases listed next to it in HOSTS.

Ground truth: the provider's answer is a deterministic function of the
request body (servers/fake_provider.py), and both servers log one JSON line
per call (what the provider sent; the gateway's outcome and its times:
request written -> first data event read -> response complete).
"""
import bisect
import gzip
import hashlib
import http.server
import json
import random
import signal
import socketserver
import subprocess
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

import checks
import client
import isolated
import launch
import metrics
import procs
import timing
import tls
from checks import SETTLE_TIMEOUT, gauge, inc
from framework import Failure, Group, expect

GATEWAY, PROVIDER, REFUSABLE = "up_gateway", "up_provider", "up_provider_r"   # comms
EXPORTER_FLAGS = ["--provider.map=llm.internal=custom", "--breaker.failures=5", "--breaker.window=60",
                  "--breaker.cooldown=3"]
BREAKER_FAILURES, COOLDOWN_S = 5, 3.0

# Upstream host -> the provider label the exporter must derive from it.
HOSTS = {
    "api.openai.com": "openai",           # streams, split usage, JSON, failures, timeouts, correlation
    "api.anthropic.com": "anthropic",     # streams, correlation
    "llm.internal": "custom",             # --provider.map
    "llm-unmapped.e2e.test": "llm-unmapped.e2e.test",   # unknown host: the host itself
    "api.groq.com": "groq",               # circuit breaker
    "api.deepseek.com": "deepseek",       # plaintext HTTP (PLAIN_HOSTS)
    "api.cohere.com": "cohere",           # plaintext HTTP: adopted pool's correlation (adopt_cases)
}
PLAIN_HOSTS = {"api.deepseek.com", "api.cohere.com"}   # served over plaintext HTTP, the others over TLS
REFUSED_HOST = "api.mistral.ai"           # its own provider process, stopped mid-case
SELF_HOST = "selfcheck.e2e.test"          # servers_* cases: traffic no metric case filters on
DEAD_HOST = "dead.e2e.test"               # nothing ever listens there

# Failure scenarios: body fields -> (gateway's outcome for the call, its
# answer to our client: 502/504 at once or 200 then a cut stream, the
# exception the gateway logs or None).
FAILURES = {
    "503": ({"fail_status": 503}, "failure", 502, None),
    "400": ({"fail_status": 400}, "failure", 502, None),
    "504": ({"fail_status": 504}, "timeout", 504, None),
    "reset": ({"chunks": 5, "interval_ms": 50, "reset_after": 2}, "failure", 200, "ReadError"),
    "close": ({"chunks": 5, "interval_ms": 50, "close_after": 2}, "failure", 200, "RemoteProtocolError"),
    "gateway_timeout": ({"chunks": 3, "interval_ms": 1500, "gateway_timeout_ms": 300}, "timeout", 200,
                        "ReadTimeout"),
    "refused": ({}, "failure", 502, "ConnectError"),
}
TOKEN_TYPES = ("prompt", "completion", "total")
STATUSES = ("success", "failure", "timeout")


def new_model(tag):
    return "e2e-up-%s-%s" % (tag, uuid.uuid4().hex[:8])


def chat_body(upstream, model, **fields):
    """A streamed chat request for one upstream call (e2e_id: log lookups)."""
    return dict({"model": model, "stream": True, "upstream": upstream, "e2e_id": uuid.uuid4().hex,
                 "messages": [{"role": "user", "content": "hi"}]}, **fields)


def chat_path(prefix):
    return "/%s/v1/chat/completions" % prefix


@dataclass
class Call:
    body: dict
    resp: client.Response
    gw: dict            # the gateway's record of the upstream call
    prov: dict          # the provider's record (None if it has none yet)

    # What the exporter measures runs from the request's last write (the
    # SSL_write of its body) to the read of the first data event or of
    # the response's end. Each side of the call bounds it, whatever its
    # own event loop's delays: the provider from below (it got the whole
    # request after that write began, and handed out the bytes before the
    # gateway read them), the gateway from above (it began writing the
    # body before, and noted the read after).
    def bounds(self, gw_end, prov_out):
        return (self.prov[prov_out] - self.prov["t_received"] - BOUND_SLACK_S,
                self.gw[gw_end] - self.gw["t_body_started"] + BOUND_SLACK_S)

    @property
    def latency_bounds(self):
        return self.bounds("t_end", "t_last_out")

    @property
    def ttfc_bounds(self):
        return self.bounds("t_first_data", "t_first_out")


def free_ports(n):
    ports = set()
    while len(ports) < n:
        ports.add(procs.free_port())
    return sorted(ports)


def records(path, rid):
    """The JSON lines of a server log with e2e id rid. A server may be in
    the middle of writing its last line: only whole lines count."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    lines = text.split("\n")[:-1]   # what follows the last newline is unfinished
    return [rec for rec in map(json.loads, lines) if rec.get("id") == rid]


# --------------------------------------------------------------------------
# Fixture
# --------------------------------------------------------------------------

class Upstream:
    def __init__(self, tmp, with_exporter=True, exporter_flags=EXPORTER_FLAGS, group="upstream"):
        self.tmp = tmp
        self.dir = Path(tmp) / group
        self.dir.mkdir(exist_ok=True)
        self.tls = tls.client_context(tmp)
        cert, key = tls.cert_files(tmp)
        hosts = list(HOSTS) + [SELF_HOST, REFUSED_HOST, DEAD_HOST]
        *ports, gw_port = free_ports(len(hosts) + 1)
        self.ports = dict(zip(hosts, ports))
        self.logs = {name: self.dir / (name + ".jsonl") for name in (GATEWAY, PROVIDER, REFUSABLE)}
        upstreams = ["%s=%s" % (h, port_arg(h, p)) for h, p in self.ports.items()]
        specs = [   # name, script, ports, arguments after the ports, TLS
            (PROVIDER, "fake_provider.py", [port_arg(h, self.ports[h]) for h in list(HOSTS) + [SELF_HOST]],
             [cert, key, self.logs[PROVIDER]], self.tls),
            (REFUSABLE, "fake_provider.py", [self.ports[REFUSED_HOST]], [cert, key, self.logs[REFUSABLE]],
             self.tls),
            (GATEWAY, "gateway.py", [gw_port], [self.logs[GATEWAY], cert] + upstreams, None),
        ]
        self.exporter = (isolated.in_background(isolated.start_exporter, tmp, group, exporter_flags)
                         if with_exporter else None)
        starts = [isolated.in_background(start_server, tmp, *spec) for spec in specs]
        self.servers, errors = {}, []
        for (name, *_), (thread, out) in zip(specs, starts):
            thread.join()
            if "error" in out:
                errors.append(out["error"])
            else:
                self.servers[name] = out["value"]
        if errors:
            self.stop()
            raise errors[0]
        self.gateway = self.servers[GATEWAY]

    def exp(self):
        """The group's exporter (raises its start-up error in every case)."""
        expect(self.exporter is not None, "this fixture has no exporter")
        exp = isolated.joined(*self.exporter, timeout=60.0)
        expect(exp.child.alive(), "the group's exporter died (exit status %s):\n%s",
               exp.child.popen.returncode, exp.child.tail())
        return exp

    def settle(self, before, expects, *prefixes, timeout=SETTLE_TIMEOUT):
        """checks.settle() on the group's exporter; the gateway's requests on
        chat_path(prefix) are the case's own, not foreign traffic."""
        return checks.settle(self.exp().port, before, expects, timeout, [chat_path(p) for p in prefixes])

    def stop(self):
        # The gateway first: it closes its pooled upstream connections. A
        # provider stopped first would wait for their close_notify replies.
        for name in sorted(self.servers, key=lambda name: name != GATEWAY):
            launch.stop_server(self.servers[name])
        if self.exporter is not None:
            thread, out = self.exporter
            thread.join()
            if "value" in out:
                out["value"].stop()

    def stop_refusable(self):
        """The provider host goes away at once (SIGKILL: the gateway still
        holds an idle pooled connection to it); its port is closed."""
        for child in self.servers.pop(REFUSABLE).children:
            procs.stop(child, sig=signal.SIGKILL)

    # -- calls -------------------------------------------------------------

    def record(self, name, rid):
        recs = records(self.logs[name], rid)
        return recs[-1] if recs else None

    def call(self, prefix, body):
        resp = client.request(self.gateway.port, client.Req("POST", chat_path(prefix), body))
        gw = self.record(GATEWAY, body["e2e_id"])
        expect(gw is not None, "ground truth: the gateway logged no upstream call for %s", body)
        prov = self.record(PROVIDER, body["e2e_id"]) or self.record(REFUSABLE, body["e2e_id"])
        return Call(body, resp, gw, prov)

    def calls(self, prefix, bodies):
        return client.concurrently(lambda b: self.call(prefix, b), [(b,) for b in bodies])

    # -- ground truth --------------------------------------------------------

    def succeeded(self, c):
        """A successful upstream call relayed faithfully (streamed) or
        answered with the upstream JSON."""
        r, gw, pv, host = c.resp, c.gw, c.prov, c.body["upstream"]
        expect(gw["outcome"] == "success" and gw["status"] == 200, "ground truth: gateway logged %r", gw)
        expect(pv is not None and pv["outcome"] == "complete" and pv["host"] == host
               and pv["port"] == self.ports[host], "ground truth: provider logged %r for %s", pv, host)
        if not c.body["stream"]:
            expect(r.status == 200 and r.json().get("usage"), "ground truth: %d %r", r.status, r.body[:200])
            return
        expect(r.status == 200 and r.is_sse and r.complete, "ground truth: gateway answered %d sse=%s "
               "complete=%s", r.status, r.is_sse, r.complete)
        same = hashlib.sha1(r.body).hexdigest() == pv["body_sha1"]
        expect(same and r.data_events == pv["events"] == gw["events"], "ground truth: relayed %d events (%d "
               "logged by the gateway), provider sent %d; same bytes: %s", r.data_events, gw["events"],
               pv["events"], same)
        expect(gw["t_body_started"] <= gw["t_written"] <= gw["t_first_data"] <= gw["t_end"],
               "ground truth: gateway times %r", gw)
        expect(pv["t_received"] <= pv["t_first_out"] <= pv["t_last_out"], "ground truth: provider times %r", pv)

    def failed(self, c, scenario):
        """The call went as FAILURES[scenario] says."""
        _, outcome, answer, error = FAILURES[scenario]
        gw, r = c.gw, c.resp
        expect(gw["outcome"] == outcome and (error is None or (gw["error"] or "").startswith(error)),
               "ground truth (%s): gateway logged %r", scenario, gw)
        expect(r.status == answer and (answer != 200 or r.truncated),
               "ground truth (%s): gateway answered %d, truncated=%s", scenario, r.status, r.truncated)

    def fail(self, prefix, upstream, scenario, model):
        c = self.call(prefix, chat_body(upstream, model, **FAILURES[scenario][0]))
        self.failed(c, scenario)
        return c


def port_arg(host, port):
    """How the provider and the gateway are told a host's port: http:PORT
    for plaintext HTTP."""
    return "http:%d" % port if host in PLAIN_HOSTS else str(port)


def start_server(tmp, name, script, ports, args, ctx, env=None):
    """python3, or node for a .js SCRIPT (through a symlink `name`: comm ==
    service) running servers/SCRIPT; the provider takes PORT[,PORT...]
    first, the gateway its PORT. Ready once GET /health answers on every
    port (TLS with ctx, but on http:PORT)."""
    interpreter = launch.NODE if script.endswith(".js") else launch.PYTHON
    argv = [isolated.alias(tmp, interpreter, name), launch.SERVERS / script,
            ",".join(map(str, ports))] + list(args)
    child = procs.spawn("%s-%s" % (name, ports[0]), list(map(str, argv)), tmp, env=env)
    server = launch.Server(name, name, int(ports[0]), [child], ctx)
    try:
        for port in map(str, ports):
            plain = port.startswith("http:")
            procs.wait_http(child, int(port[5:] if plain else port), tls=None if plain else ctx)
        comm = isolated.comm_of(child.pid)
        expect(comm == name, "%s runs as comm %r", name, comm)
    except Exception:
        launch.stop_server(server)
        raise
    return server


# --------------------------------------------------------------------------
# Expected metric changes
# --------------------------------------------------------------------------

def tokens(provider, model, prompt, completion, service=GATEWAY):
    values = {"prompt": prompt, "completion": completion, "total": prompt + completion}
    return [inc("llm_tokens_used_total", values[t], service=service, provider=provider, model=model, type=t)
            for t in TOKEN_TYPES]


def ended(provider, status, n, model, service=GATEWAY):
    """n calls of `model` to provider ended with `status`, none with another
    status (named in the failure message with its count if it got some)."""
    labels = dict(service=service, provider=provider, model=model)
    return [inc("sse_provider_requests_total", n if st == status else 0, status=st, **labels)
            for st in STATUSES] + [inc("sse_provider_requests_total", n, **labels)]


# Per call, the bounds of Call.bounds() hold but for clock reads (all
# CLOCK_MONOTONIC, Python's, Node's and the kernel's) and, over plaintext,
# the write's exit probe, which may run after the provider read the bytes.
BOUND_SLACK_S = 0.001


def succeeded_expects(provider, model, calls):
    """n successful calls of one model to one provider (and no other call
    to that provider in the case, for the metrics without a model label)."""
    n, streamed = len(calls), [c for c in calls if c.body["stream"]]
    labels = dict(service=GATEWAY, provider=provider)
    out = ended(provider, "success", n, model) + [breaker_failures(provider, 0)]
    out += timing.histogram_bounded("sse_provider_latency_seconds", [c.latency_bounds for c in calls],
                                    **labels)
    out += timing.histogram_bounded("sse_provider_time_to_first_chunk_seconds",
                                    [c.ttfc_bounds for c in streamed], model=model, **labels)
    return out + tokens(provider, model, sum(c.prov["prompt_tokens"] for c in calls),
                        sum(c.prov["completion_tokens"] for c in calls))


def failed_expects(provider, status, n, model):
    """n calls of `model` to provider ended with `status`, adding no tokens."""
    return ended(provider, status, n, model) + tokens(provider, model, 0, 0)


def inbound_expects(prefix, provider, model, calls):
    """The gateway's own SSE requests on the case's path carry the provider
    of the upstream call each one made."""
    path = chat_path(prefix)
    return [inc("sse_requests_total", len(calls), service=GATEWAY, path=path, model=model, provider=provider,
                status="success", code="200"),
            inc("sse_chunks_streamed_total", sum(c.resp.data_events for c in calls), service=GATEWAY,
                path=path, provider=provider)]


def breaker_failures(provider, n, service=GATEWAY):
    return inc("sse_circuit_breaker_failures_total", n, service=service, provider=provider)


# --------------------------------------------------------------------------
# Servers and ground truth (no exporter needed)
# --------------------------------------------------------------------------

class Recorder:
    """Wraps a socket: keeps every recv() result and how reading ended."""

    def __init__(self, sock):
        self.sock, self.reads, self.ended = sock, [], None

    def recv(self, n):
        try:
            data = self.sock.recv(n)
        except OSError as e:
            self.ended = type(e).__name__
            raise
        self.reads.append(data)
        if not data:
            self.ended = "EOF"
        return data

    def __getattr__(self, name):
        return getattr(self.sock, name)


def direct(fx, path, body):
    """One request straight to the provider over TLS: (Response, Recorder, provider record)."""
    with client.Connection(fx.ports[SELF_HOST], tls=fx.tls) as conn:
        conn.sock = rec = Recorder(conn.sock)
        t_start, t_sent = conn.send(client.Req("POST", path, body))
        resp = conn.read_response(t_start, t_sent, "POST")
    return resp, rec, fx.record(PROVIDER, body["e2e_id"])


def json_data(resp):
    return [json.loads(e.data) for e in resp.events if e.kind == "data" and e.data != "[DONE]"]


def check_openai_stream(resp, chunks, prompt, completion):
    evs = json_data(resp)
    expect(resp.status == 200 and resp.complete and resp.data_events == chunks + 2
           and resp.events[-1].data == "[DONE]", "OpenAI stream: %d, %d data events, complete=%s",
           resp.status, resp.data_events, resp.complete)
    expect(all(e["object"] == "chat.completion.chunk" for e in evs), "objects %r",
           [e.get("object") for e in evs])
    expect([e["usage"] for e in evs[:-1]] == [None] * chunks
           and evs[chunks - 1]["choices"][0]["finish_reason"] == "stop", "content chunks %r", evs[:-1])
    want = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    expect(evs[-1]["usage"] == want and evs[-1]["choices"] == [], "usage chunk %r, want usage %r",
           evs[-1], want)


def check_anthropic_stream(resp, chunks, prompt, completion):
    evs = json_data(resp)
    kinds = [e["type"] for e in evs]
    want = (["message_start", "content_block_start", "ping"] + ["content_block_delta"] * chunks
            + ["content_block_stop", "message_delta", "message_stop"])
    expect(resp.status == 200 and resp.complete and kinds == want, "Anthropic stream: %d, events %r",
           resp.status, kinds)
    expect(evs[0]["message"]["usage"] == {"input_tokens": prompt, "output_tokens": 1}
           and evs[-2]["usage"] == {"output_tokens": completion}, "usage in %r and %r", evs[0], evs[-2])


def check_split_reads(resp, rec, prov):
    """The final usage event came in prov["pieces"] writes, each of which the
    client had to read with a recv() of its own."""
    sizes = prov["pieces"]
    usage = next(e for e in resp.events if e.kind == "data" and '"usage":{' in e.data)
    text = ("data: %s\n\n" % usage.data).encode()
    expect(len(sizes) >= 4 and sum(sizes) == len(text) and text[:sizes[0]].endswith(b'"usage":'),
           "usage event of %d bytes written in pieces %r", len(text), sizes)
    raw, ends = b"".join(rec.reads), []
    for r in rec.reads:
        ends.append((ends[-1] if ends else 0) + len(r))
    pos, last_read = 0, -1
    for size in sizes:
        piece = text[:size]
        text = text[size:]
        pos = raw.find(piece, pos)
        expect(pos >= 0, "piece %r not found as written", piece)
        first, last = bisect.bisect_right(ends, pos), bisect.bisect_right(ends, pos + size - 1)
        expect(first > last_read, "piece %r shares read %d with the previous piece", piece, first)
        pos, last_read = pos + size, last


def case_servers_provider(fx):
    """The provider straight over TLS: both stream formats, usage written
    in pieces that need several reads, JSON answer, error, reset, close."""
    model = new_model("self")
    body = chat_body(SELF_HOST, model, chunks=3, prompt_tokens=1234, completion_tokens=567, split_usage=True)
    resp, rec, prov = direct(fx, "/v1/chat/completions", body)
    check_openai_stream(resp, 3, 1234, 567)
    check_split_reads(resp, rec, prov)
    expect(hashlib.sha1(resp.body).hexdigest() == prov["body_sha1"],
           "provider's body_sha1 is not that of what it sent")
    usage = dict(prompt_tokens=42, completion_tokens=9)
    resp = direct(fx, "/v1/messages", chat_body(SELF_HOST, model, chunks=2, **usage))[0]
    check_anthropic_stream(resp, 2, 42, 9)
    resp = direct(fx, "/v1/chat/completions", chat_body(SELF_HOST, model, stream=False, **usage))[0]
    expect(resp.status == 200 and "content-length" in resp.headers and resp.json()["usage"] == {
        "prompt_tokens": 42, "completion_tokens": 9, "total_tokens": 51}, "JSON answer %r", resp.body[:300])
    for encoding, decode in CODED.items():
        resp = direct(fx, "/v1/chat/completions", chat_body(SELF_HOST, model, stream=False, encoding=encoding,
                                                             **usage))[0]
        coding = resp.headers.get("content-encoding")
        expect(coding == ENCODINGS[encoding] and json.loads(decode(resp.body))["usage"]["total_tokens"] == 51,
               "%s answer: Content-Encoding %r, %r", encoding, coding, resp.body[:100])
    resp = direct(fx, "/v1/chat/completions", chat_body(SELF_HOST, model, fail_status=503))[0]
    expect(resp.status == 503 and resp.json()["error"]["code"] == 503, "503 answer %r", resp.body[:300])
    # Python's SSLSocket reads an RST as a ragged EOF too: servers_gateway
    # tells the two apart (httpx: ReadError vs RemoteProtocolError).
    for field in ("reset_after", "close_after"):
        body = chat_body(SELF_HOST, model, chunks=5, **{field: 2})
        resp, rec, prov = direct(fx, "/v1/chat/completions", body)
        expect(resp.truncated and resp.data_events == 2 and prov["events"] == 2,
               "%s=2: truncated=%s after %d events (provider sent %d), reading ended with %s", field,
               resp.truncated, resp.data_events, prov["events"], rec.ended)


def case_servers_gateway(fx):
    """Through the gateway: faithful relay with the right Host, JSON
    answers, every failure scenario classified as the spec does."""
    model = new_model("self")
    for body in (chat_body(SELF_HOST, model, chunks=3), chat_body(SELF_HOST, model, stream=False),
                 chat_body(SELF_HOST, model, stream=False, encoding="gzip")):
        c = fx.call("self", body)
        fx.succeeded(c)
        expect(c.prov["path"] == "/v1/chat/completions" and c.prov["host"] == SELF_HOST,
               "provider saw %s Host %s", c.prov["path"], c.prov["host"])
    for scenario in FAILURES:
        fx.fail("self", DEAD_HOST if scenario == "refused" else SELF_HOST, scenario, model)


def case_servers_concurrency(fx):
    """20 streams at once through the gateway's single event loop, twice:
    concurrent (not one after the other), and pooled (round 2 reuses the
    connections of round 1)."""
    n, model = 20, new_model("self")

    def one_round():
        return fx.calls("self", [chat_body(SELF_HOST, model, chunks=5, interval_ms=100) for _ in range(n)])
    t0 = time.monotonic()
    calls = one_round() + one_round()
    wall = time.monotonic() - t0
    for c in calls:
        fx.succeeded(c)
    expect(wall < 3.0, "2 rounds of %d concurrent 0.4 s streams took %.2f s: not concurrent", n, wall)
    peers = {c.prov["peer"] for c in calls}
    expect(len(peers) <= n, "%d calls used %d upstream connections: no pooling", len(calls), len(peers))


SERVER_CASES = [("servers_provider", case_servers_provider), ("servers_gateway", case_servers_gateway),
                ("servers_concurrency", case_servers_concurrency)]


# --------------------------------------------------------------------------
# Metric cases
# --------------------------------------------------------------------------

def stream_case(prefix, upstream, **fields):
    """One successful streamed call to `upstream`: its upstream metrics,
    and the provider label of the gateway's own stream."""
    def case(fx):
        exp, model, provider = fx.exp(), new_model(prefix), HOSTS[upstream]
        before = exp.scrape()
        c = fx.call(prefix, chat_body(upstream, model, **fields))
        fx.succeeded(c)
        want_path = "/v1/messages" if upstream == "api.anthropic.com" else "/v1/chat/completions"
        expect(c.prov["path"] == want_path, "ground truth: the gateway called %s", c.prov["path"])
        if fields.get("split_usage"):
            expect(len(c.prov["pieces"]) >= 4, "ground truth: usage written in pieces %r", c.prov["pieces"])
        fx.settle(before, succeeded_expects(provider, model, [c])
                  + inbound_expects(prefix, provider, model, [c]), prefix)
    return case


def case_json(fx):
    """A non-streamed call: tokens from the chat.completion's usage, no TTFC."""
    exp, model = fx.exp(), new_model("json")
    before = exp.scrape()
    c = fx.call("up-json", chat_body("api.openai.com", model, stream=False, first_delay_ms=150,
                                     prompt_tokens=21, completion_tokens=13))
    fx.succeeded(c)
    fx.settle(before, succeeded_expects("openai", model, [c]), "up-json")


# The provider's `encoding` field -> the Content-Encoding it answers with,
# and how the bytes decode (servers/fake_provider.py).
ENCODINGS = {"gzip": "gzip", "deflate": "deflate", "deflate-raw": "deflate", "br": "br"}
CODED = {"gzip": gzip.decompress, "deflate": zlib.decompress,
         "deflate-raw": lambda data: zlib.decompress(data, wbits=-15), "br": lambda data: data}
UNDECODED_REASONS = ("br", "unsupported", "inflate_error", "cap")


def undecoded(**by_reason):
    return [inc("sse_exporter_bodies_undecoded_total", by_reason.get(r, 0), reason=r) for r in UNDECODED_REASONS]


def coded_call(fx, prefix, model, encoding, prompt, completion):
    """A non-streamed call answered with that Content-Encoding; the gateway
    asked for gzip and deflate (httpx does by default) and relayed the JSON
    with the provider's usage."""
    c = fx.call(prefix, chat_body("api.openai.com", model, stream=False, encoding=encoding,
                                  prompt_tokens=prompt, completion_tokens=completion))
    fx.succeeded(c)
    asked = {e.strip() for e in (c.prov["accept_encoding"] or "").split(",")}
    expect({"gzip", "deflate"} <= asked and c.prov["encoding"] == ENCODINGS[encoding],
           "ground truth: the gateway asked for %r, the provider answered %r", c.prov["accept_encoding"],
           c.prov["encoding"])
    usage = c.resp.json()["usage"]
    expect((usage["prompt_tokens"], usage["completion_tokens"]) == (c.prov["prompt_tokens"],
                                                                   c.prov["completion_tokens"]),
           "ground truth: the client got usage %r, the provider logged %r", usage, c.prov)
    return c


def case_json_gzip(fx):
    """A gzip JSON answer with usage: its tokens, exactly (issue 9: 940 and
    803 were lost)."""
    exp, model = fx.exp(), new_model("gzip")
    before = exp.scrape()
    c = coded_call(fx, "up-gzip", model, "gzip", 940, 803)
    fx.settle(before, succeeded_expects("openai", model, [c]) + undecoded(), "up-gzip")


def case_json_deflate(fx):
    """deflate answers, zlib-wrapped as the RFC says and raw as some servers
    send them: tokens of both."""
    exp, model = fx.exp(), new_model("deflate")
    before = exp.scrape()
    calls = [coded_call(fx, "up-deflate", model, "deflate", 31, 17),
             coded_call(fx, "up-deflate", model, "deflate-raw", 5, 300)]
    fx.settle(before, succeeded_expects("openai", model, calls) + undecoded(), "up-deflate")


def case_json_br(fx):
    """A br answer is not decoded: counted once as undecoded, no tokens,
    the call itself counted."""
    exp, model = fx.exp(), new_model("br")
    before = exp.scrape()
    coded_call(fx, "up-br", model, "br", 940, 803)
    fx.settle(before, ended("openai", "success", 1, model) + tokens("openai", model, 0, 0)
              + undecoded(br=1), "up-br")


def failure_case(prefix, scenarios, status, breaker):
    """One call per scenario, each to openai with a model of its own: each
    ends with `status`, no tokens; `breaker` circuit-breaker failures in all."""
    def case(fx):
        exp = fx.exp()
        models = {s: new_model("%s-%s" % (prefix, s)) for s in scenarios}
        before = exp.scrape()
        for s in scenarios:
            fx.fail(prefix, "api.openai.com", s, models[s])
        fx.settle(before, [e for s in scenarios for e in failed_expects("openai", status, 1, models[s])]
                  + [breaker_failures("openai", breaker)], prefix)
    return case


def case_connect_refused(fx):
    """A call to a provider address that served a call a moment ago and is
    closed now: a failure (and a breaker failure) of that provider."""
    exp, model = fx.exp(), new_model("refused")
    before = exp.scrape()
    ok = fx.call("up-refused", chat_body(REFUSED_HOST, model, chunks=2))
    fx.succeeded(ok)
    fx.stop_refusable()
    refused = fx.fail("up-refused", REFUSED_HOST, "refused", model)
    expect(refused.gw["t_written"] is None, "ground truth: a request was written: %r", refused.gw)
    labels = dict(service=GATEWAY, provider="mistral")
    fx.settle(before, [inc("sse_provider_requests_total", 1, model=model, status="success", **labels),
                       inc("sse_provider_requests_total", 1, status="failure", **labels),
                       inc("sse_provider_requests_total", 2, **labels),
                       breaker_failures("mistral", 1)], "up-refused")


class UnixProvider(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """An OpenAI-like answer with usage (9 and 4 tokens) to any POST, on a
    unix socket: an API behind a socket file. In the runner's process: the
    exporter follows a client's unix sockets, not a server's."""
    daemon_threads = True
    USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            out = json.dumps({"id": "chatcmpl-unix", "object": "chat.completion", "model": body["model"],
                              "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
                              "usage": UnixProvider.USAGE}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    def __init__(self, path):
        super().__init__(str(path), UnixProvider.Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def case_unix_socket_call(fx):
    """curl, under a name of its own, calls api.openai.com through a unix
    socket (--unix-socket): one successful call of provider openai (its
    Host, no port), with the answer's tokens."""
    exp, model = fx.exp(), new_model("unix")
    service = "rcurl-" + isolated.short_uid()
    path = fx.dir / ("provider-%s.sock" % service)
    server = UnixProvider(path)
    try:
        before = exp.scrape()
        out = subprocess.run([str(isolated.alias(fx.tmp, "/usr/bin/curl", service)), "-sS", "--unix-socket",
                              str(path), "-H", "Content-Type: application/json", "-d",
                              json.dumps({"model": model, "messages": []}),
                              "http://api.openai.com/v1/chat/completions"], capture_output=True, timeout=30)
        expect(out.returncode == 0 and json.loads(out.stdout)["usage"] == UnixProvider.USAGE,
               "ground truth: curl exited %d: %r %r", out.returncode, out.stdout, out.stderr)
        usage = UnixProvider.USAGE
        fx.settle(before, ended("openai", "success", 1, model, service=service)
                  + tokens("openai", model, usage["prompt_tokens"], usage["completion_tokens"], service=service))
    finally:
        server.shutdown()
        server.server_close()


def breaker_state(samples):
    return metrics.total(samples, "sse_circuit_breaker_state", service=GATEWAY, provider="groq")


def case_breaker(fx):
    """503 x4, 400 (a failure, but neither a breaker failure nor the end of
    the streak), 503: open (2); half-open (1) once the cooldown has passed;
    closed (0) after one success."""
    exp, model = fx.exp(), new_model("breaker")
    before = exp.scrape()
    for scenario in ["503"] * (BREAKER_FAILURES - 1) + ["400"]:
        fx.fail("up-breaker", "api.groq.com", scenario, model)
    n = BREAKER_FAILURES
    fx.settle(before, failed_expects("groq", "failure", n, model) + [breaker_failures("groq", n - 1)]
              + [gauge("sse_circuit_breaker_state", 0, service=GATEWAY, provider="groq")], "up-breaker")
    t_open = fx.fail("up-breaker", "api.groq.com", "503", model).resp.t_end
    fx.settle(before, failed_expects("groq", "failure", n + 1, model) + [breaker_failures("groq", n)]
              + [gauge("sse_circuit_breaker_state", 2, service=GATEWAY, provider="groq")], "up-breaker")
    seen = []
    ok, _ = metrics.wait_for(exp.port, lambda s: seen.append(breaker_state(s)) or seen[-1] == 1,
                             COOLDOWN_S + SETTLE_TIMEOUT)
    after = time.monotonic() - t_open
    expect(ok, "sse_circuit_breaker_state{provider=\"groq\"} never 1 (half-open) in the %.1f s after "
           "opening; values seen %s", after, sorted(set(seen)))
    expect(set(seen[:-1]) <= {2} and after >= COOLDOWN_S - 0.25, "half-open %.2f s after opening "
           "(cooldown %g s), values before: %s", after, COOLDOWN_S, sorted(set(seen[:-1])))
    c = fx.call("up-breaker", chat_body("api.groq.com", model, chunks=2))
    fx.succeeded(c)
    fx.settle(before, [inc("sse_provider_requests_total", 1, service=GATEWAY, provider="groq", model=model,
                           status="success"),
                       gauge("sse_circuit_breaker_state", 0, service=GATEWAY, provider="groq")], "up-breaker")


# --------------------------------------------------------------------------
# Correlation accuracy: inbound streams -> the upstream call each one made
# --------------------------------------------------------------------------

CORR_ROUNDS, CORR_CONCURRENCY = 5, 20
CORR = {"openai": "api.openai.com", "anthropic": "api.anthropic.com"}   # provider -> host


def corr_prefix(provider):
    return "corr-" + provider


def corr_split(before, after, name, want):
    """{"correct", "wrong", "unknown", "counted"} of the delta of `name`
    over the gateway's corr-* paths; want: {provider: expected total}."""
    out = dict(dict.fromkeys(("correct", "wrong", "unknown", "counted"), 0), others=set())
    paths = {chat_path(corr_prefix(p)): p for p in want}
    for (metric, lbl), d in metrics.delta(before, after).items():
        labels = dict(lbl)
        if metric != name or labels.get("service") != GATEWAY or labels.get("path") not in paths:
            continue
        got = labels.get("provider")
        kind = "correct" if got == paths[labels["path"]] else "wrong" if got in want else "unknown"
        out[kind] += d
        out["counted"] += d
        if kind == "unknown" and d:
            out["others"].add(got)
    return out


def corr_figures(before, after, calls_by_provider):
    req_want = {p: len(cs) for p, cs in calls_by_provider.items()}
    chunk_want = {p: sum(c.resp.data_events for c in cs) for p, cs in calls_by_provider.items()}
    return {name: (corr_split(before, after, metric, want), sum(want.values()))
            for name, metric, want in (("requests", "sse_requests_total", req_want),
                                       ("chunks", "sse_chunks_streamed_total", chunk_want))}


def corr_good(figures):
    """Issue 3's target: every stream and chunk counted, at least 99 %
    labelled with their provider, none with another."""
    return all(s["counted"] == total and s["correct"] >= 0.99 * total and not s["wrong"]
               for s, total in figures.values())


def corr_text(figures, seed=None):
    return "; ".join("%s: %d correct (%.1f %%), %d unknown %s, %d wrong, %d counted of %d" % (
        name, s["correct"], 100.0 * s["correct"] / max(total, 1), s["unknown"], sorted(s["others"], key=str),
        s["wrong"], s["counted"], total) for name, (s, total) in figures.items()) + \
        ("; seed %d" % seed if seed is not None else "")


def case_correlation(fx):
    """5 rounds of 20 concurrent streams, each through a random one of two
    providers; the inbound path names the provider (the exporter cannot use
    it): >= 99 % of the gateway's requests and chunks must carry the
    provider of their own upstream call."""
    exp, model, seed = fx.exp(), new_model("corr"), random.randrange(1 << 30)
    rng = random.Random(seed)
    by_provider = {p: [] for p in CORR}
    before = exp.scrape()
    for _ in range(CORR_ROUNDS):
        picks = [rng.choice(sorted(CORR)) for _ in range(CORR_CONCURRENCY)]
        bodies = [chat_body(CORR[p], model, chunks=rng.randint(2, 8), interval_ms=rng.randint(5, 40),
                            first_delay_ms=rng.randint(0, 60), prompt_tokens=rng.randint(1, 999),
                            completion_tokens=rng.randint(1, 999)) for p in picks]
        calls = client.concurrently(lambda p, b: fx.call(corr_prefix(p), b), list(zip(picks, bodies)))
        for p, c in zip(picks, calls):
            fx.succeeded(c)
            by_provider[p].append(c)
    ok, after = metrics.wait_for(exp.port, lambda s: corr_good(corr_figures(before, s, by_provider)),
                                 SETTLE_TIMEOUT)
    text = corr_text(corr_figures(before, after, by_provider), seed)
    expect(ok, "correlation of the gateway's streams with their upstream calls (want all counted, "
           ">= 99 %% correct, none wrong): %s", text)
    # The upstream calls of 20 concurrent TLS connections of one anyio
    # client, each exactly as the provider and gateway logged it.
    made = sum(len(cs) for cs in by_provider.values())
    counted = metrics.total(after, "sse_provider_requests_total", service=GATEWAY, model=model) - \
        metrics.total(before, "sse_provider_requests_total", service=GATEWAY, model=model)
    text += "; upstream calls counted: %d of %d" % (counted, made)
    try:
        fx.settle(before, [e for p, cs in by_provider.items() for e in succeeded_expects(p, model, cs)],
                  *map(corr_prefix, CORR))
    except Failure as e:
        raise Failure("%s; correlation figures: %s" % (e, text)) from None
    print("NOTE upstream:correlation: %s" % text, flush=True)


METRIC_CASES = [
    ("stream_openai", stream_case("up-stream", "api.openai.com", chunks=4, interval_ms=30, first_delay_ms=150,
                                  prompt_tokens=321, completion_tokens=54)),
    ("stream_anthropic", stream_case("up-anthropic", "api.anthropic.com", chunks=4, interval_ms=30,
                                     first_delay_ms=150, prompt_tokens=77, completion_tokens=133)),
    ("usage_split_over_reads", stream_case("up-split", "api.openai.com", chunks=2, split_usage=True,
                                           prompt_tokens=1234, completion_tokens=567)),
    ("json_answer", case_json),
    ("json_gzip", case_json_gzip),
    ("json_deflate", case_json_deflate),
    ("json_br", case_json_br),
    ("stream_plaintext", stream_case("up-plain", "api.deepseek.com", chunks=3, interval_ms=20,
                                     prompt_tokens=7, completion_tokens=9)),
    ("provider_map_custom", stream_case("up-custom", "llm.internal", chunks=3, prompt_tokens=5,
                                        completion_tokens=8)),
    ("provider_unknown_host", stream_case("up-unmapped", "llm-unmapped.e2e.test", chunks=3, prompt_tokens=6,
                                          completion_tokens=10)),
    ("provider_failures", failure_case("up-fail", ["503", "400", "reset", "close"], "failure", 3)),
    ("provider_timeouts", failure_case("up-timeout", ["504", "gateway_timeout"], "timeout", 2)),
    ("connect_refused", case_connect_refused),
    ("circuit_breaker", case_breaker),
    ("correlation", case_correlation),
    ("unix_socket_call", case_unix_socket_call),
]


def groups(tmp):
    cases = [("upstream:" + name, fn) for name, fn in SERVER_CASES + METRIC_CASES]
    return [Group(lambda: Upstream(tmp), cases, lambda fx: fx.stop())]


def selfcheck_groups(tmp):
    """The servers_* cases alone, without an exporter (for `run.py --selfcheck`)."""
    cases = [("selfcheck:upstream:" + name, fn) for name, fn in SERVER_CASES]
    return [Group(lambda: Upstream(tmp, with_exporter=False), cases, lambda fx: fx.stop())]
