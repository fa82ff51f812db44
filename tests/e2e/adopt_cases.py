"""Upstream TLS connections opened before the exporter started (issue 9,
item 4): a gateway's pool keeps its connections to the providers, so an
exporter started (or restarted) while it is busy must follow the calls on
them from its first one.

The upstream group's servers (upstream_cases.Upstream: fake providers over
TLS, the Python gateway) and a Node gateway (servers/gateway_node.js, style
`relay`: a keep-alive https.Agent, OpenSSL inside the node binary) are started
without an exporter; calls through each gateway fill its pool with POOL
connections to one provider host (the Python gateway's also to the two
providers of upstream:correlation, whose streams relayed at once only
their content tells apart, and to two plaintext providers, PLAIN_CORR);
then an
exporter of its own starts, selecting only the gateway and the providers
(--pid), and every call made after it is ready must be counted exactly,
upstream (calls, model, provider, tokens, latencies), inbound (the
gateway's own streams, labelled with that provider) and on the provider's
side (its streams, on TLS connections it accepted before the exporter). Ground truth: the
client's responses and the provider's and gateway's logs, whose `peer`
(the gateway's port of the pooled connection) shows that every call went
over a connection opened before the exporter.
"""
import client
import isolated
import launch
import metrics
import procs
import tls
import upstream_cases as up
from checks import SETTLE_TIMEOUT, inc
from framework import Group, expect

POOL = 2        # pooled connections opened before the exporter
CALLS = 4       # calls after it, POOL at a time
UPSTREAM = "api.openai.com"
NODE_GATEWAY = "up_nodegw"   # comm of the Node gateway
PLAIN_CORR = {"deepseek": "api.deepseek.com", "cohere": "api.cohere.com"}   # provider -> plaintext host


class Adopt:
    def __init__(self, tmp):
        self.tmp = tmp
        self.up = up.Upstream(tmp, with_exporter=False)
        self.exp = self.node = None
        try:
            self.node = self.start_node()
            self.peers = self.fill_pool(self.call)
            self.corr_peers = {p: self.fill_pool(self.call, h)
                               for p, h in list(up.CORR.items()) + list(PLAIN_CORR.items())}
            self.node_peers = self.fill_pool(self.node_call)
            pids = [c.pid for s in list(self.up.servers.values()) + [self.node] for c in s.children]
            self.exp = isolated.start_exporter(tmp, "adopt", up.EXPORTER_FLAGS
                                               + ["--pid=%d" % p for p in pids])
        except Exception:
            self.stop()
            raise

    def start_node(self):
        port = procs.free_port()
        upstreams = ["%s=%d" % (h, p) for h, p in self.up.ports.items() if h not in up.PLAIN_HOSTS]
        argv = [isolated.alias(self.tmp, "/usr/bin/node", NODE_GATEWAY), launch.SERVERS / "gateway_node.js",
                port, self.up.dir / "node_gateway.jsonl", tls.cert_files(self.tmp)[0]] + upstreams
        return isolated.start_server(self.tmp, NODE_GATEWAY, argv, port, port_arg=False)

    def call(self, prefix, body):
        return self.up.call(prefix, body)

    def node_call(self, prefix, body):
        """One call through the Node gateway, with its ground truth."""
        resp = client.request(self.node.port, client.Req("POST", up.chat_path(prefix), body))
        gw = up.records(self.up.dir / "node_gateway.jsonl", body["e2e_id"])
        expect(gw, "ground truth: the Node gateway logged no upstream call for %s", body)
        return up.Call(body, resp, gw[-1], self.up.record(up.PROVIDER, body["e2e_id"]))

    def calls(self, call, prefix, bodies):
        return client.concurrently(lambda b: call(prefix, b), [(b,) for b in bodies])

    def fill_pool(self, call, host=UPSTREAM):
        """POOL concurrent calls: the gateway's pool keeps POOL connections
        to host. Returns their ports on the gateway's side."""
        calls = self.calls(call, "adopt-warm", [up.chat_body(host, up.new_model("warm"))
                                                for _ in range(POOL)])
        for c in calls:
            self.up.succeeded(c)
        peers = {c.prov["peer"] for c in calls}
        expect(len(peers) == POOL, "ground truth: %d concurrent calls used connections %s", POOL, peers)
        return peers

    def ready(self, gateway):
        """The exporter counts the gateway's requests: a GET /health made
        now is seen (the baseline scrape comes after it)."""
        gateway.request(client.get("/health"))
        return isolated.ready(self.exp, gateway)

    def stop(self):
        if self.exp is not None:
            self.exp.stop()
        if self.node is not None:
            launch.stop_server(self.node)
        self.up.stop()


def pooled_calls(fx, call, prefix, model, peers):
    """CALLS successful calls, POOL at a time, all over pooled connections
    opened before the exporter."""
    calls = []
    for _ in range(CALLS // POOL):
        calls += fx.calls(call, prefix, [up.chat_body(UPSTREAM, model) for _ in range(POOL)])
    for c in calls:
        fx.up.succeeded(c)
    used = {c.prov["peer"] for c in calls}
    expect(used <= peers, "ground truth: calls went over connections %s, not only the pool's %s", used, peers)
    return calls


def case_python_pool(fx):
    """Calls over the Python gateway's pooled connections, older than the
    exporter, are counted on both of its sides and on the provider's."""
    fx.ready(fx.up.gateway)
    before = fx.exp.scrape()
    model, provider, prefix = up.new_model("adopt"), up.HOSTS[UPSTREAM], "adopt-py"
    calls = pooled_calls(fx, fx.call, prefix, model, fx.peers)
    fx.exp.settle(before, up.succeeded_expects(provider, model, calls)
                  + up.inbound_expects(prefix, provider, model, calls)
                  + [provider_side(model, calls)])


def relayed_correlation(fx, hosts, model, **timing):
    """Streams relayed at once from the providers of hosts ({provider:
    host}) over pooled connections older than the exporter, CALLS//POOL
    rounds: each is labelled with its own provider, which only their
    events' content can tell (the calls overlap), and which the kernel
    copies for only once it knows the gateway makes upstream calls."""
    fx.ready(fx.up.gateway)
    before = fx.exp.scrape()
    by_provider = {p: [] for p in hosts}
    for _ in range(CALLS // POOL):
        picks = sorted(hosts)
        bodies = [up.chat_body(hosts[p], model, chunks=6, **timing) for p in picks]
        calls = client.concurrently(lambda p, b: fx.call(up.corr_prefix(p), b), list(zip(picks, bodies)))
        for p, c in zip(picks, calls):
            fx.up.succeeded(c)
            expect(c.prov["peer"] in fx.corr_peers[p], "ground truth: a call to %s went over %s, "
                   "not a pooled connection %s", p, c.prov["peer"], fx.corr_peers[p])
            by_provider[p].append(c)
    ok, after = metrics.wait_for(fx.exp.port, lambda s: up.corr_good(up.corr_figures(before, s, by_provider)),
                                 SETTLE_TIMEOUT)
    expect(ok, "streams relayed over pooled connections, labelled by provider: %s",
           up.corr_text(up.corr_figures(before, after, by_provider)))


def case_python_correlation(fx):
    """Over TLS: the kernel knows from the connections' TLS records."""
    relayed_correlation(fx, up.CORR, up.new_model("adopt-corr"), interval_ms=25)


def case_plain_correlation(fx):
    """Over plaintext HTTP: the kernel knows from the request line the
    gateway writes, not from user space's reading of it, which comes up to
    100 ms later; the providers answer at once, so the gateway relays its
    streams' first events well within that time. The group's first case:
    a call of the gateway's since the exporter started would have marked
    its process already."""
    relayed_correlation(fx, PLAIN_CORR, up.new_model("adopt-plain"), interval_ms=0)


def case_node_pool(fx):
    """The same over the Node gateway's keep-alive agent: counts only (its
    times come from Node's event loop, not as close to the SSL calls)."""
    fx.ready(fx.node)
    before = fx.exp.scrape()
    model, provider, prefix = up.new_model("adopt-node"), up.HOSTS[UPSTREAM], "adopt-node"
    calls = pooled_calls(fx, fx.node_call, prefix, model, fx.node_peers)
    fx.exp.settle(before, node_expects(prefix, provider, model, calls) + [provider_side(model, calls)])


def node_expects(prefix, provider, model, calls):
    n, svc, path = len(calls), NODE_GATEWAY, up.chat_path(prefix)
    labels = dict(service=svc, provider=provider, model=model)
    prompt = sum(c.prov["prompt_tokens"] for c in calls)
    completion = sum(c.prov["completion_tokens"] for c in calls)
    return [inc("sse_provider_requests_total", n, status="success", **labels),
            inc("sse_provider_requests_total", n, **labels),
            inc("sse_provider_time_to_first_chunk_seconds_count", n, **labels),
            inc("sse_provider_latency_seconds_count", n, service=svc, provider=provider),
            inc("llm_tokens_used_total", prompt, type="prompt", **labels),
            inc("llm_tokens_used_total", completion, type="completion", **labels),
            inc("llm_tokens_used_total", prompt + completion, type="total", **labels),
            inc("sse_requests_total", n, service=svc, path=path, model=model, provider=provider,
                status="success", code="200"),
            inc("sse_chunks_streamed_total", sum(c.resp.data_events for c in calls), service=svc,
                path=path, provider=provider)]


def provider_side(model, calls):
    """The server side: the provider's own streams, on connections it
    accepted before the exporter started."""
    return inc("sse_requests_total", len(calls), service=up.PROVIDER, model=model, status="success",
               code="200")


def groups(tmp):
    # adopt_plain_correlation first: no call of the gateway since the
    # exporter started has marked its process yet
    return [Group(lambda: Adopt(tmp), [("upstream:adopt_plain_correlation", case_plain_correlation),
                                       ("upstream:adopt_python_pool", case_python_pool),
                                       ("upstream:adopt_python_correlation", case_python_correlation),
                                       ("upstream:adopt_node_pool", case_node_pool)],
                  lambda fx: fx.stop())]
