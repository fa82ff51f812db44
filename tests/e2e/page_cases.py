"""`page:` the live page at / in a real browser (Debian's headless chromium,
browser.py), while test servers stream.

Fixture, in this order: a Go server under a hostile name (comm
`pg<i>'&NNNNN`), the upstream group's gateway and fake providers
(upstream_cases.Upstream, without its exporter), an exporter of its own
selecting the Go server and the gateway by --pid, with
--web.telemetry-path=/custom/prom so that the page must follow the flag;
then the page opened in chromium, before any traffic; then the traffic,
its ground truth checked on the client side and waited for in
/custom/prom/json, and two long streams left open.

The page's window (one minute) then starts before the traffic, so its
increases are the whole counters: every number it shows (data-v of its
data-stat elements) must equal what /custom/prom/json says, its rates
times its window (data-window) the counters, its percentiles
histogram_quantile() of the JSON's buckets.
"""
import json
import math
import time
import urllib.request

import browser
import client
import exporter_cases
import isolated
import launch
import metrics
import upstream_cases
from framework import Group, expect

TELEMETRY = "/custom/prom"
WINDOW_S = 60.0                 # the page's WINDOW_S
# Markup in a path and a service name (labels never hold '"': the exporter
# writes '_' for it).
HOSTILE_PATH = "/events/'><svg/onload=window.pwned=1>&amp;"
HOSTILE_NAME = "pg<i>'&"
LONG_STREAMS = 2
SCREENSHOT = launch.REPO / "build" / "e2e" / "live-page.png"
PAGE_STATE = """(() => {
    const out = [];
    for (const sec of document.querySelectorAll('section.svc'))
        for (const e of sec.querySelectorAll('[data-stat]'))
            out.push([sec.dataset.service, e.dataset.stat, e.dataset.key, e.dataset.v, e.textContent]);
    for (const e of document.querySelectorAll('#exporter [data-stat]'))
        out.push(['', e.dataset.stat, e.dataset.key, e.dataset.v, e.textContent]);
    return {refreshes: Number(document.body.dataset.refreshes || 0),
            window: Number(document.body.dataset.window), stats: out};
})()"""


class Page:
    def __init__(self, tmp):
        self.go = isolated.start_go(tmp, HOSTILE_NAME + isolated.short_uid())
        self.up = self.exp = self.browser = None
        try:
            self.up = upstream_cases.Upstream(tmp, with_exporter=False)
            pids = [self.go.children[0].pid, self.up.gateway.children[0].pid]
            self.exp = isolated.start_exporter(tmp, "page", ["--web.telemetry-path=" + TELEMETRY]
                                               + ["--pid=%d" % p for p in pids])
            self.browser = browser.Browser(tmp)
            self.t_open = time.monotonic()
            self.tab = self.browser.tab("http://127.0.0.1:%d/" % self.exp.port)
            self.refreshed(1)   # the window starts before the traffic
            self.long = self.traffic()
        except Exception:
            self.stop()
            raise

    @property
    def svc(self):
        return self.go.service

    def samples(self):
        """/custom/prom/json, keyed like metrics.parse()."""
        status, _, body = metrics.fetch(self.exp.port, TELEMETRY + "/json")
        expect(status == 200, "GET %s/json answered %d", TELEMETRY, status)
        return exporter_cases.json_samples(json.loads(body))[0]

    def traffic(self):
        """The ground truth, sent and checked; returns the long streams'
        background client, once the exporter shows all of it."""
        path = "/events/page/%s" % isolated.uid()
        q = {"events": 3}
        reqs = ([client.events(path, q)] * 3 + [client.events(path, dict(q, status=429))] * 2
                + [client.events(path, dict(q, status=503)), client.events(HOSTILE_PATH, q)])
        resps = client.concurrently(lambda r: client.request(self.go.port, r), [(r,) for r in reqs])
        got = sorted((r.status, r.data_events if r.status == 200 else 0) for r in resps)
        expect(got == [(200, 3)] * 4 + [(429, 0)] * 2 + [(503, 0)], "ground truth: %s", got)
        model = upstream_cases.new_model("page")
        for c in self.up.calls("page", [upstream_cases.chat_body("api.openai.com", model) for _ in range(3)]):
            self.up.succeeded(c)
        for _ in range(upstream_cases.BREAKER_FAILURES):
            self.up.fail("page", "api.groq.com", "503", model)
        long = isolated.in_background(isolated.streams, self.go.port,
                                      client.events(path, {"events": 600, "interval_ms": 100}), LONG_STREAMS)
        gw = upstream_cases.GATEWAY
        want = [("sse_active_connections", dict(service=self.svc), LONG_STREAMS),
                ("sse_requests_total", dict(service=self.svc, status="success"), 4),
                ("sse_requests_total", dict(service=self.svc, status="rate_limited"), 2),
                ("sse_requests_total", dict(service=self.svc, status="failure"), 1),
                ("sse_provider_requests_total", dict(service=gw, provider="openai", status="success"), 3),
                ("sse_provider_requests_total", dict(service=gw, provider="groq", status="failure"),
                 upstream_cases.BREAKER_FAILURES),
                ("sse_circuit_breaker_state", dict(service=gw, provider="groq"), 2)]
        deadline = time.monotonic() + 15
        while True:
            samples = self.samples()
            seen = [(name, filters, metrics.total(samples, name, **filters)) for name, filters, _ in want]
            if seen == want:
                return long
            expect(time.monotonic() < deadline, "the exporter never showed the traffic: %s, want %s",
                   seen, want)
            time.sleep(0.2)

    def state(self):
        s = self.tab.evaluate(PAGE_STATE)
        s["stats"] = {(svc, stat, key): (float(v), text) for svc, stat, key, v, text in s["stats"]}
        return s

    def refreshed(self, n, timeout=15.0):
        """The page's state once it has drawn n times."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.state()
            if s["refreshes"] >= n:
                return s
            expect(time.monotonic() < deadline, "the page drew %d times in %.0f s, want %d",
                   s["refreshes"], timeout, n)
            time.sleep(0.2)

    def fresh_state(self):
        """The page's state after two refreshes from now: drawn from a
        /metrics/json fetched after this call."""
        return self.refreshed(self.state()["refreshes"] + 2)

    def stop(self):
        if self.browser:
            self.browser.close()
        if self.exp:
            self.exp.stop()
        if self.up:
            self.up.stop()
        launch.stop_server(self.go)


def quantile(q, buckets):
    """histogram_quantile() of Prometheus over {le: cumulative count}."""
    bs = sorted((float(le), n) for le, n in buckets.items())
    if not bs or not bs[-1][1]:
        return math.nan
    rank, lo, below = q * bs[-1][1], 0.0, 0.0
    for le, n in bs:
        if n >= rank:
            return lo if math.isinf(le) else lo + (le - lo) * (rank - below) / (n - below)
        lo, below = le, n
    return math.nan


def buckets(samples, name, **filters):
    out = {}
    for lbl, v in metrics.select(samples, name + "_bucket", **filters).items():
        le = dict(lbl)["le"]
        out[le] = out.get(le, 0) + v
    return out


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def no_problems(fx):
    problems = fx.tab.problems()
    expect(not problems, "the browser's console shows: %s", " | ".join(problems))


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

def case_served(fx):
    """/ is the page: HTML, the telemetry path put in, the policy that keeps
    it to this server."""
    with urllib.request.urlopen("http://127.0.0.1:%d/" % fx.exp.port, timeout=10) as r:
        headers, body = {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
    expect(headers.get("content-type") == "text/html; charset=utf-8", "Content-Type %r",
           headers.get("content-type"))
    policy = headers.get("content-security-policy", "")
    expect("default-src 'none'" in policy and "connect-src 'self'" in policy, "Content-Security-Policy %r",
           policy)
    expect('data-telemetry="%s"' % TELEMETRY in body and "@TELEMETRY_PATH@" not in body,
           "the page does not carry the telemetry path %s: %r", TELEMETRY, body[:300])


def case_loads(fx):
    """The page loaded, draws from /custom/prom/json, links the configured
    paths, shows the exporter's version, and the console is clean."""
    s = fx.fresh_state()
    links = fx.tab.evaluate("[...document.querySelectorAll('nav a')].map(a => a.getAttribute('href'))")
    expect(links == [TELEMETRY, TELEMETRY + "/json", "/health"], "links %s", links)
    status = fx.tab.evaluate("document.getElementById('status').dataset.state")
    expect(status == "ok" and s["refreshes"] >= 2, "status %r after %d refreshes", status, s["refreshes"])
    version = fx.tab.evaluate("document.getElementById('version').textContent")
    build = [dict(lbl)["version"] for lbl in metrics.select(fx.samples(), "sse_exporter_build_info")]
    expect([version] == build, "the page shows version %r, the exporter %s", version, build)
    no_problems(fx)


def page_vs_json(fx, s, samples):
    """Every mismatch between the page's state s and the JSON samples."""
    stats, dt, bad = s["stats"], s["window"], []

    def check(what, got, want):
        if not same(got, want):
            bad.append("%s: page %r, JSON %r" % (what, got, want))

    def shown(svc, stat, key=""):
        v = stats.get((svc, stat, key))
        if v is None:
            bad.append("%s %s %s not shown" % (svc, stat, key))
            return math.nan
        return v[0]

    for svc in (fx.svc, upstream_cases.GATEWAY):
        check("%s streams" % svc, shown(svc, "streams"), metrics.total(samples, "sse_active_connections",
                                                                           service=svc))
        ended = metrics.select(samples, "sse_requests_total", service=svc)
        check("%s SSE per s x window" % svc, shown(svc, "sse_rps") * dt, sum(ended.values()))
        check("%s HTTP per s x window" % svc, shown(svc, "http_rps") * dt,
              metrics.total(samples, "http_requests_total", service=svc))
        for status in {dict(lbl)["status"] for lbl in ended}:
            n = metrics.total(samples, "sse_requests_total", service=svc, status=status)
            check("%s %s" % (svc, status), shown(svc, "status_total", status), n)
            check("%s %s per s x window" % (svc, status), shown(svc, "status_rps", status) * dt, n)
        for path in {dict(lbl)["path"] for lbl in ended}:
            check("%s path %r" % (svc, path), shown(svc, "path_total", path),
                  metrics.total(samples, "sse_requests_total", service=svc, path=path))
        for stat, name in (("ttft", "sse_time_to_first_chunk_seconds"), ("duration", "sse_request_duration_seconds")):
            for q in (50, 95, 99):
                check("%s %s p%d" % (svc, stat, q), shown(svc, stat, "p%d" % q),
                      quantile(q / 100, buckets(samples, name, service=svc)))
    gw = upstream_cases.GATEWAY
    for provider in ("openai", "groq"):
        calls = metrics.total(samples, "sse_provider_requests_total", service=gw, provider=provider)
        check("%s breaker" % provider, shown(gw, "breaker", provider),
              metrics.total(samples, "sse_circuit_breaker_state", service=gw, provider=provider))
        check("%s calls per s x window" % provider, shown(gw, "calls_rps", provider) * dt, calls)
        check("%s failed per s x window" % provider, shown(gw, "failed_rps", provider) * dt,
              calls - metrics.total(samples, "sse_provider_requests_total", service=gw, provider=provider,
                                    status="success"))
        check("%s tokens per s x window" % provider, shown(gw, "tokens_rps", provider) * dt,
              metrics.total(samples, "llm_tokens_used_total", service=gw, provider=provider, type="total"))
        check("%s p95" % provider, shown(gw, "provider_p95", provider),
              quantile(0.95, buckets(samples, "sse_provider_latency_seconds", service=gw, provider=provider)))
    check("events lost", shown("", "events_lost"), metrics.total(samples, "sse_exporter_events_lost_total"))
    check("exchanges lost", shown("", "exchanges_lost"), metrics.total(samples, "sse_exporter_exchanges_lost_total"))
    return bad


def case_matches_json(fx):
    """While two streams are open: the page's numbers are /metrics/json's
    (streams, requests by status and path, percentiles, providers, breaker
    states, the exporter's losses); its rates are the counters over its
    window. A screenshot is kept in build/e2e/."""
    deadline = time.monotonic() + 15
    while True:
        s = fx.fresh_state()
        bad = page_vs_json(fx, s, fx.samples())
        if not bad:
            break
        expect(time.monotonic() < deadline, "the page differs from %s/json: %s", TELEMETRY, "; ".join(bad))
    expect(time.monotonic() - fx.t_open < WINDOW_S - 5, "the case ran past the page's window: its rates "
           "no longer cover all the traffic")
    expect(s["stats"][(fx.svc, "streams", "")][1] == str(LONG_STREAMS), "streams open shown as %r",
           s["stats"][(fx.svc, "streams", "")][1])
    expect(s["stats"][(upstream_cases.GATEWAY, "breaker", "groq")][1] == "open", "groq's breaker shown as %r",
           s["stats"][(upstream_cases.GATEWAY, "breaker", "groq")][1])
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    bottom = fx.tab.evaluate("Math.ceil(document.getElementById('services').getBoundingClientRect().bottom)") + 14
    size = fx.tab.screenshot(SCREENSHOT, bottom)
    png = SCREENSHOT.read_bytes()
    expect(png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 1280,
           "the screenshot is no 1280 px wide PNG")
    print("NOTE page: screenshot %s (%d bytes)" % (SCREENSHOT, size), flush=True)
    no_problems(fx)


def case_hostile_labels(fx):
    """A path and a service name made of markup are shown as text: no
    element made of them, no script run, the text itself on the page."""
    samples = fx.samples()
    paths = {dict(lbl)["path"] for lbl in metrics.select(samples, "sse_requests_total", service=fx.svc)}
    expect(HOSTILE_PATH in paths, "the exporter's path labels %s lack %r", paths, HOSTILE_PATH)
    fx.fresh_state()
    found = fx.tab.evaluate("""(() => {
        const sec = [...document.querySelectorAll('section.svc')].filter(s => s.dataset.service === %s);
        const path = sec.length ? [...sec[0].querySelectorAll('[data-stat=path]')]
            .filter(e => e.dataset.key === %s).map(e => e.textContent) : [];
        return {sections: sec.length, heading: sec.length ? sec[0].querySelector('h2').firstChild.data : null,
                path, markup: document.querySelectorAll('svg, i').length, ran: window.pwned !== undefined};
    })()""" % (json.dumps(fx.svc), json.dumps(HOSTILE_PATH)))
    expect(found == {"sections": 1, "heading": fx.svc, "path": [HOSTILE_PATH], "markup": 0, "ran": False},
           "the page shows %s", found)
    no_problems(fx)


def groups(tmp):
    cases = [("page:served", case_served), ("page:loads", case_loads), ("page:matches_json", case_matches_json),
             ("page:hostile_labels", case_hostile_labels)]
    return [Group(lambda: Page(tmp), cases, lambda fx: fx.stop())]
