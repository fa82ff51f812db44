"""Upstream LLM calls of an observed gateway (metrics.md, "Client side:
upstream calls"), and the provider label of its own inbound streams.

Fixture (one per run):
- servers/fake_provider.py over TLS (the run's certificate, tls.py): one
  process listening on one port per upstream host (HOSTS, SELF_HOST), and a
  second one for REFUSED_HOST alone, which case_connect_refused stops;
- servers/gateway.py: plaintext inbound, forwards each call over HTTPS to
  127.0.0.1:port-of-host with an explicit `Host: <host>` header, one httpx
  client (pooled) on one event-loop thread;
- an exporter of its own with EXPORTER_FLAGS, started in the background
  while the servers start; the `servers_*` cases do not need it (they check
  the servers and the ground truth alone, and also run as
  `selfcheck_groups()`).

Both servers run /usr/bin/python3 through a symlink named GATEWAY /
PROVIDER (robustness_cases.alias), so their comm, hence the `service`
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
import hashlib
import json
import random
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import client
import launch
import metrics
import procs
import robustness_cases
import tls
from checks import SETTLE_TIMEOUT, duration_tolerance, gauge, inc, near
from framework import Group, expect

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
}
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
    "reset": ({"chunks": 5, "reset_after": 2}, "failure", 200, "ReadError"),
    "close": ({"chunks": 5, "close_after": 2}, "failure", 200, "RemoteProtocolError"),
    "gateway_timeout": ({"chunks": 3, "interval_ms": 1500, "gateway_timeout_ms": 300}, "timeout", 200,
                        "ReadTimeout"),
    "refused": ({}, "failure", 502, "ConnectError"),
}
TOKEN_TYPES = ("prompt", "completion", "total")


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

    @property
    def latency(self):
        return self.gw["t_end"] - self.gw["t_written"]

    @property
    def ttfc(self):
        return self.gw["t_first_data"] - self.gw["t_written"]


def free_ports(n):
    ports = set()
    while len(ports) < n:
        ports.add(procs.free_port())
    return sorted(ports)


def records(path, rid):
    """The JSON lines of a server log with e2e id rid."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [rec for rec in map(json.loads, lines) if rec.get("id") == rid]


# --------------------------------------------------------------------------
# Fixture
# --------------------------------------------------------------------------

class Upstream:
    def __init__(self, tmp, with_exporter=True):
        self.tmp, self.dir = tmp, Path(tmp) / "upstream"
        self.dir.mkdir(exist_ok=True)
        self.tls = tls.client_context(tmp)
        cert, key = tls.cert_files(tmp)
        hosts = list(HOSTS) + [SELF_HOST, REFUSED_HOST, DEAD_HOST]
        *ports, gw_port = free_ports(len(hosts) + 1)
        self.ports = dict(zip(hosts, ports))
        self.logs = {name: self.dir / (name + ".jsonl") for name in (GATEWAY, PROVIDER, REFUSABLE)}
        upstreams = ["%s=%d" % hp for hp in self.ports.items()]
        specs = [   # name, script, ports, arguments after the ports, TLS
            (PROVIDER, "fake_provider.py", [self.ports[h] for h in list(HOSTS) + [SELF_HOST]],
             [cert, key, self.logs[PROVIDER]], self.tls),
            (REFUSABLE, "fake_provider.py", [self.ports[REFUSED_HOST]], [cert, key, self.logs[REFUSABLE]],
             self.tls),
            (GATEWAY, "gateway.py", [gw_port], [self.logs[GATEWAY], cert] + upstreams, None),
        ]
        self.exporter = (robustness_cases.in_background(robustness_cases.start_exporter, tmp, "upstream",
                                                        EXPORTER_FLAGS) if with_exporter else None)
        starts = [robustness_cases.in_background(start_server, tmp, *spec) for spec in specs]
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
        return robustness_cases.joined(*self.exporter, timeout=60.0)

    def stop(self):
        for server in self.servers.values():
            launch.stop_server(server)
        if self.exporter is not None:
            thread, out = self.exporter
            thread.join()
            if "value" in out:
                out["value"].stop()

    def stop_refusable(self):
        launch.stop_server(self.servers.pop(REFUSABLE))

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
        expect(hashlib.sha1(r.body).hexdigest() == pv["body_sha1"] and r.data_events == pv["events"] == gw["events"],
               "ground truth: relayed %d events (%d logged by the gateway), provider sent %d; same bytes: %s",
               r.data_events, gw["events"], pv["events"], hashlib.sha1(r.body).hexdigest() == pv["body_sha1"])
        expect(gw["t_written"] <= gw["t_first_data"] <= gw["t_end"], "ground truth: gateway times %r", gw)

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


def start_server(tmp, name, script, ports, args, ctx):
    """python3 (through a symlink `name`: comm == service) running
    servers/SCRIPT; the provider takes PORT[,PORT...] first, the gateway its
    PORT. Ready once GET /health answers on every port (TLS with ctx)."""
    argv = [robustness_cases.alias(tmp, launch.PYTHON, name), launch.SERVERS / script,
            ",".join(map(str, ports))] + list(args)
    child = procs.spawn("%s-%d" % (name, ports[0]), list(map(str, argv)), tmp)
    server = launch.Server(name, name, ports[0], [child], ctx)
    try:
        for port in ports:
            procs.wait_http(child, port, tls=ctx)
        comm = robustness_cases.comm_of(child.pid)
        expect(comm == name, "%s runs as comm %r", name, comm)
    except Exception:
        launch.stop_server(server)
        raise
    return server
