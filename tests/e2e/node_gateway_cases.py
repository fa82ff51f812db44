"""Upstream calls of a Node gateway (servers/gateway_node.js, style
`axios`), the shape of
the express + axios gateways found in the field: one keep-alive
https.Agent pool whose connections carry calls of different models, each
request written head first and body second, idle pooled connections closed
by the gateway after IDLE_MS, streams answered without any Content-Type
and every event re-serialised (so the provider of the gateway's own
streams comes from the correlation's fallback, never from content).

Fixture: servers/fake_provider.py over TLS for api.openai.com, the Node
gateway in front of it, and an exporter of their own. Ground truth: the
provider's log (model, tokens, the caller's port: one per pooled
connection), the gateway's log (outcome, events relayed) and what our
client read.
"""
import os
import time
from pathlib import Path

import checks
import client
import isolated
import tls
import launch
import upstream_cases as up
from checks import inc
from framework import Group, expect

GATEWAY, PROVIDER = "up_gw_node", "up_prov_node"   # comms: the service label
HOST, PROVIDER_LABEL = "api.openai.com", "openai"
IDLE_MS = 400
TCP_ESTABLISHED = "01"


class NodeGateway:
    def __init__(self, tmp):
        self.dir = Path(tmp) / "node-gateway"
        self.dir.mkdir(exist_ok=True)
        self.tls = tls.client_context(tmp)
        cert, key = tls.cert_files(tmp)
        self.provider_port, gw_port = up.free_ports(2)
        self.logs = {name: self.dir / (name + ".jsonl") for name in (GATEWAY, PROVIDER)}
        self.exporter = isolated.in_background(isolated.start_exporter, tmp, "nodegw", [])
        self.servers = []
        try:
            self.servers.append(up.start_server(tmp, PROVIDER, "fake_provider.py", [self.provider_port],
                                                [cert, key, self.logs[PROVIDER]], self.tls))
            env = dict(os.environ, E2E_GATEWAY_STYLE="axios", E2E_GATEWAY_IDLE_MS=str(IDLE_MS))
            self.gateway = up.start_server(tmp, GATEWAY, "gateway_node.js", [gw_port],
                                           [self.logs[GATEWAY], cert, "%s=%d" % (HOST, self.provider_port)],
                                           None, env=env)
            self.servers.append(self.gateway)
            self.exp = isolated.joined(*self.exporter, timeout=60.0)
        except Exception:
            self.stop()
            raise

    def stop(self):
        for server in reversed(self.servers):   # the gateway first: it closes its pool
            launch.stop_server(server)
        thread, out = self.exporter
        thread.join()
        if "value" in out:
            out["value"].stop()

    def call(self, prefix, body):
        resp = client.request(self.gateway.port, client.Req("POST", up.chat_path(prefix), body))
        gw, prov = (up.records(self.logs[name], body["e2e_id"]) for name in (GATEWAY, PROVIDER))
        expect(len(gw) == 1 and len(prov) == 1, "ground truth: logged %d gateway and %d provider records "
               "for %s", len(gw), len(prov), body)
        return up.Call(body, resp, gw[0], prov[0])

    def pooled_connections(self):
        """The gateway's open connections to the provider, from the
        provider's side of /proc/net/tcp."""
        port = "%04X" % self.provider_port
        n = 0
        for name in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(name).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[1].endswith(":" + port) and fields[3] == TCP_ESTABLISHED:
                    n += 1
        return n

    def wait_pool_closed(self):
        """Polls until the gateway closed its idle pooled connections."""
        deadline = time.monotonic() + IDLE_MS / 1000 + 10
        while self.pooled_connections() and time.monotonic() < deadline:
            time.sleep(0.05)
        expect(not self.pooled_connections(), "ground truth: the gateway kept %d pooled connections open",
               self.pooled_connections())

    def settle(self, before, expects, prefix):
        return checks.settle(self.exp.port, before, expects, up.SETTLE_TIMEOUT, [up.chat_path(prefix)])


def stream_events(resp):
    """Data events of an answer without Content-Type (our client parses
    only typed streams)."""
    parser = client.SSEParser()
    parser.feed(resp.body, resp.t_end)
    return sum(e.kind == "data" for e in parser.events)


def check_success(c):
    r = c.resp
    expect(c.gw["outcome"] == "success" and c.prov["outcome"] == "complete" and r.status == 200,
           "ground truth: gateway %r, provider %r, answer %d", c.gw, c.prov, r.status)
    if c.body["stream"]:
        expect("content-type" not in r.headers and r.complete, "ground truth: stream headers %r", r.headers)
        expect(stream_events(r) == c.gw["events"] == c.prov["events"], "ground truth: %d events read, gateway "
               "relayed %d, provider sent %d", stream_events(r), c.gw["events"], c.prov["events"])


def model_expects(model, calls, path):
    """Every call of one model counted once, as a success, with its tokens;
    its streams are the gateway's own SSE requests, provider named."""
    streamed = [c for c in calls if c.body["stream"]]
    return (up.ended(PROVIDER_LABEL, "success", len(calls), model, service=GATEWAY)
            + up.tokens(PROVIDER_LABEL, model, sum(c.prov["prompt_tokens"] for c in calls),
                        sum(c.prov["completion_tokens"] for c in calls), service=GATEWAY)
            + [inc("sse_requests_total", len(streamed), service=GATEWAY, path=path, model=model,
                   provider=PROVIDER_LABEL, status="success", code="200")])


def case_keepalive_models(fx):
    """12 calls one after the other over three models on the pool (each
    model's calls on connections that carried the others), then idle
    closes: every call counted once with its own model and tokens, no
    failed call, each stream without Content-Type followed event by event."""
    prefix = "node-keepalive"
    path = up.chat_path(prefix)
    models = [up.new_model("node%d" % i) for i in range(3)]
    before = fx.exp.scrape()
    calls = []
    for i in range(12):
        body = up.chat_body(HOST, models[i % 3], stream=i % 2 == 0, prompt_tokens=10 + i,
                            completion_tokens=3 + i)
        calls.append(fx.call(prefix, body))
    for c in calls:
        check_success(c)
    peers = {c.prov["peer"] for c in calls}
    expect(len(peers) < len(calls), "ground truth: no pooled connection was reused (%d calls, %d "
           "connections)", len(calls), len(peers))
    fx.wait_pool_closed()
    expects = [e for m in models for e in model_expects(m, [c for c in calls if c.body["model"] == m], path)]
    expects += [up.breaker_failures(PROVIDER_LABEL, 0, service=GATEWAY),
                inc("sse_chunks_streamed_total", sum(stream_events(c.resp) for c in calls), service=GATEWAY,
                    path=path, provider=PROVIDER_LABEL)]
    fx.settle(before, expects, prefix)


def case_error_relayed(fx):
    """Streams asked for, answered 502 with a JSON error relayed from a
    failed upstream call: the gateway's SSE requests name the provider of
    the call that failed."""
    prefix = "node-error"
    model = up.new_model("node-err")
    before = fx.exp.scrape()
    calls = [fx.call(prefix, up.chat_body(HOST, model, fail_status=503)) for _ in range(2)]
    for c in calls:
        expect(c.resp.status == 502 and c.gw["outcome"] == "failure" and c.prov["status"] == 503,
               "ground truth: answer %d, gateway %r, provider %r", c.resp.status, c.gw, c.prov)
    fx.settle(before, up.ended(PROVIDER_LABEL, "failure", 2, model, service=GATEWAY)
              + [up.breaker_failures(PROVIDER_LABEL, 2, service=GATEWAY),
                 inc("sse_requests_total", 2, service=GATEWAY, path=up.chat_path(prefix), model=model,
                     provider=PROVIDER_LABEL, status="failure", code="502")], prefix)


CASES = [
    ("keepalive_models", case_keepalive_models),
    ("error_relayed", case_error_relayed),
]


def groups(tmp):
    cases = [("upstream-node:" + name, fn) for name, fn in CASES]
    return [Group(lambda: NodeGateway(tmp), cases, lambda fx: fx.stop())]
