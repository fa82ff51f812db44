"""Upstream TLS connections opened before the exporter started (issue 9,
item 4): a gateway's pool keeps its connections to the providers, so an
exporter started (or restarted) while it is busy must follow the calls on
them from its first one.

The upstream group's servers (upstream_cases.Upstream: fake providers over
TLS, the Python gateway) are started without an exporter; calls through the
gateway fill its pool with POOL connections to one provider host; then an
exporter of its own starts, selecting only the gateway and the providers
(--pid), and every call made after it is ready must be counted exactly,
upstream (calls, model, provider, tokens, latencies), inbound (the
gateway's own streams, labelled with that provider) and on the provider's
side (its streams, on TLS connections it accepted before the exporter). Ground truth: the
client's responses and the provider's and gateway's logs, whose `peer`
(the gateway's port of the pooled connection) shows that every call went
over a connection opened before the exporter.
"""
import isolated
import upstream_cases as up
from checks import inc
from framework import Group, expect

POOL = 2        # pooled connections opened before the exporter
CALLS = 4       # calls after it, POOL at a time
UPSTREAM = "api.openai.com"


class Adopt:
    def __init__(self, tmp):
        self.tmp = tmp
        self.up = up.Upstream(tmp, with_exporter=False)
        self.exp = None
        try:
            self.peers = self.fill_pool()
            pids = [c.pid for s in self.up.servers.values() for c in s.children]
            self.exp = isolated.start_exporter(tmp, "adopt", up.EXPORTER_FLAGS
                                               + ["--pid=%d" % p for p in pids])
        except Exception:
            self.stop()
            raise

    def fill_pool(self):
        """POOL concurrent calls: the gateway's pool keeps POOL connections
        to the provider. Returns their ports on the gateway's side."""
        calls = self.up.calls("adopt-warm", [up.chat_body(UPSTREAM, up.new_model("warm"))
                                             for _ in range(POOL)])
        for c in calls:
            self.up.succeeded(c)
        peers = {c.prov["peer"] for c in calls}
        expect(len(peers) == POOL, "ground truth: %d concurrent calls used connections %s", POOL, peers)
        return peers

    def ready(self):
        """The exporter counts the gateway's requests: a GET /health made
        now is seen (the baseline scrape comes after it)."""
        self.up.gateway.request(up.client.get("/health"))
        return isolated.ready(self.exp, self.up.gateway)

    def stop(self):
        if self.exp is not None:
            self.exp.stop()
        self.up.stop()


def case_python_pool(fx):
    """Calls over the Python gateway's pooled connections, older than the
    exporter, are counted on both sides."""
    fx.ready()
    before = fx.exp.scrape()
    model, provider, prefix = up.new_model("adopt"), up.HOSTS[UPSTREAM], "adopt-py"
    calls = []
    for _ in range(CALLS // POOL):
        calls += fx.up.calls(prefix, [up.chat_body(UPSTREAM, model) for _ in range(POOL)])
    for c in calls:
        fx.up.succeeded(c)
    used = {c.prov["peer"] for c in calls}
    expect(used <= fx.peers, "ground truth: calls went over connections %s, not only the pool's %s",
           used, fx.peers)
    fx.exp.settle(before, up.succeeded_expects(provider, model, calls)
                  + up.inbound_expects(prefix, provider, model, calls)
                  + [provider_side(model, calls)])


def provider_side(model, calls):
    """The server side: the provider's own streams, on connections it
    accepted before the exporter started."""
    return inc("sse_requests_total", len(calls), service=up.PROVIDER, model=model, status="success",
               code="200")


def groups(tmp):
    return [Group(lambda: Adopt(tmp), [("upstream:adopt_python_pool", case_python_pool)],
                  lambda fx: fx.stop())]
