"""The dashboards of deploy/grafana/ on real data: the `dashboards:` group.

A real Prometheus scrapes an exporter of the group's own every second
while the upstream group's gateway (upstream_cases.Upstream: FastAPI and
httpx in front of fake providers over TLS) streams, with failures. Then
every expression of every panel, and the selector of every variable, runs
through Prometheus' HTTP API with the template variables substituted as
Grafana would: each must parse and return data. Key panels are held
against the traffic sent: the request rate against the client's count,
the active streams while streams are held open, the breaker state after
five failures in a row.

The variables: namespace All (`.*`: the processes here are outside
Kubernetes), service the gateway, provider the two providers the traffic
uses as Grafana writes a multi-value selection (`(a|b)`), model the
group's own; Grafana's `$__rate_interval`, `$__interval` and `$__range`
the range each case needs.

Prometheus loads the rule files of deploy/prometheus/ (evaluated every
second): the panels read recording rules, and every rule is checked too:
each loaded and evaluated without error, each recording rule's series
and each operand of each alert's comparison returns data, and the
alerts the traffic calls for are pending (the error ratio, the provider
whose breaker opened).

The traffic runs once, in the fixture (about 15 s), which notes what the
cases check: the client's request end times, the active-streams panel
while streams are held.
"""
import datetime
import json
import math
import re
import sys
import threading
import time

import yaml

import launch
import metrics
import procs
import prom
import upstream_cases
from framework import Group, expect
from upstream_cases import GATEWAY, chat_body

sys.path.insert(0, str(launch.REPO / "tests" / "deploy"))
import check_dashboards as cd   # noqa: E402

SERVICE = GATEWAY
PROVIDERS = {"openai": "api.openai.com", "groq": "api.groq.com"}
BREAKER_PROVIDER = "groq"
PREFIX = "dash"
CAPACITY = 300                     # sse:stream_capacity:default of recording_rules.yml
# The breaker opens after 5 failures in a row and stays open past the
# group's end.
FLAGS = ["--breaker.failures=5", "--breaker.window=60", "--breaker.cooldown=600"]
BREAKER_FAILURES = 5
STEADY_S, STEADY_THREADS = 8.0, 3
FAIL_EVERY = 6                     # 1 call in 6 of each steady thread fails
FAILURES = ("503", "504", "reset")  # upstream_cases.FAILURES: 502, 504, a cut stream
# Long enough for a scrape and a rule evaluation (1 s each) to see them.
HOLD, HOLD_QUERY = 3, {"chunks": 12, "interval_ms": 400}    # ~5 s each
RATE_WINDOW_S = 6                  # inside the steady traffic
RATE_TOLERANCE = 0.20
PANEL_TIMEOUT_S = 6.0              # a scrape (1 s) and the exporter's lag, with room

# The panels held against the traffic: (file, title).
RATE_PANELS = [("sre-operational.json", "Request rate by service"),
               ("executive.json", "Requests per second by service")]
ACTIVE_PANEL = ("sre-operational.json", "Active streams against capacity")
CAPACITY_PANELS = [("sre-operational.json", "Capacity used by service"),
                   ("sre-operational.json", "Stream capacity used")]
BREAKER_PANEL = ("sre-operational.json", "Circuit breakers now")
OPEN_BREAKERS_PANEL = ("sre-operational.json", "Providers out")


def wall(t_mono):
    """A time.monotonic() stamp as Unix time, as Prometheus stamps samples."""
    return time.time() - (time.monotonic() - t_mono)


def unix(rfc3339):
    """Prometheus' RFC 3339 times (nanoseconds, Z) as Unix time."""
    whole, _, frac = rfc3339.rstrip("Z").partition(".")
    return datetime.datetime.fromisoformat(whole + "+00:00").timestamp() + float("0." + (frac or "0"))


def load_dashboards():
    dashes, problems = cd.load(cd.GRAFANA)
    expect(not problems and dashes, "deploy/grafana: %s", problems or "no dashboard")
    return dashes


class Dash:
    def __init__(self, tmp):
        self.t0 = time.monotonic()
        self.dashes = load_dashboards()
        self.model = upstream_cases.new_model("dash")
        self.ends = []           # Unix times at which the gateway's SSE requests ended
        self.lock = threading.Lock()
        self.prom_child = None
        self.up = upstream_cases.Upstream(tmp, exporter_flags=FLAGS, group="dashboards")
        try:
            self.exp = self.up.exp()
            self.prom_child, port = launch.start_prometheus(tmp, self.exp.port, name="prometheus-dashboards",
                                                            rule_files=cd.rule_files())
            self.api = prom.API(port)
            self.t_ready = time.monotonic()
            self.traffic()
        except Exception:
            self.stop()
            raise

    def stop(self):
        if self.prom_child:
            procs.stop(self.prom_child)
        self.up.stop()

    # -- variables and panels ------------------------------------------------

    def values(self, window_s):
        rng = "%ds" % math.ceil(window_s)
        return dict({b: rng for b in cd.BUILTINS}, namespace=".*", service=SERVICE,
                    provider="(%s)" % "|".join(sorted(PROVIDERS)), model=self.model, datasource="prometheus")

    def exprs(self, key, window_s):
        """The substituted expressions of the panel (file, title)."""
        name, title = key
        found = [p for p in cd.panels(self.dashes[name]) if p.get("title") == title]
        expect(len(found) == 1, "%s: %d panels titled %r", name, len(found), title)
        return [cd.substitute(t["expr"], self.values(window_s)) for t in found[0]["targets"]]

    def mine(self, result):
        """The samples of the gateway's series."""
        return [(labels, v) for labels, v in result if labels.get("service") == SERVICE]

    # -- traffic ---------------------------------------------------------------

    def note(self, call):
        with self.lock:
            self.ends.append(wall(call.resp.t_end))

    def succeed(self, provider, **fields):
        c = self.up.call(PREFIX, chat_body(PROVIDERS[provider], self.model, **fields))
        self.up.succeeded(c)
        self.note(c)

    def fail(self, provider, scenario):
        self.note(self.up.fail(PREFIX, PROVIDERS[provider], scenario, self.model))

    def steady(self, k):
        """Calls one after the other to openai for STEADY_S: short streams,
        and every FAIL_EVERY-th call a failure (thread k fails on calls
        k, k + FAIL_EVERY, ...: the failures of the threads rarely meet,
        never 5 in a row, so openai's breaker stays closed)."""
        i = 0
        while time.monotonic() < self.steady_end:
            if i % FAIL_EVERY == k:
                self.fail("openai", FAILURES[(i // FAIL_EVERY) % len(FAILURES)])
            else:
                self.succeed("openai", chunks=3, interval_ms=20)
            i += 1

    def traffic(self):
        self.api.wait_value('up{job="sse_exporter"}', lambda v: v == 1, 15)
        for provider in sorted(PROVIDERS):
            self.succeed(provider, chunks=2)
        # Series rate() can use must exist before their increments: a
        # failure of groq's before its five (a 400 neither counts for its
        # breaker nor ends a streak).
        self.fail(BREAKER_PROVIDER, "400")
        self.t_steady = time.time()
        self.steady_end = time.monotonic() + STEADY_S
        upstream_cases.client.concurrently(self.steady, [(k,) for k in range(STEADY_THREADS)])
        self.t_steady_end = time.time()
        self.hold()
        for _ in range(BREAKER_FAILURES):
            self.fail(BREAKER_PROVIDER, "503")
        self.settle()

    def hold(self):
        """HOLD streams open at once; the active-streams panel is polled
        until it shows them (noted: t_held, the values seen) and again
        once they ended."""
        expr = self.exprs(ACTIVE_PANEL, 1)[0]
        threads = [threading.Thread(target=self.succeed, args=("openai",), kwargs=HOLD_QUERY, daemon=True)
                   for _ in range(HOLD)]
        for t in threads:
            t.start()
        self.held_seen, self.t_held = self.poll(expr, HOLD)
        for t in threads:
            t.join()
        self.after_seen, _ = self.poll(expr, 0)

    def poll(self, expr, want):
        """([values seen], Unix time it showed `want` or None)."""
        seen, deadline = [], time.monotonic() + PANEL_TIMEOUT_S
        while time.monotonic() < deadline:
            t = time.time()
            got = [v for _, v in self.mine(self.api.query(expr, t))]
            seen.append(got[0] if len(got) == 1 else got)
            if got == [want]:
                return seen, t
            time.sleep(0.2)
        return seen, None

    def settle(self):
        """Every request counted by the exporter, then by Prometheus."""
        sel = 'sse_requests_total{service="%s", path="/%s/v1/chat/completions"}' % (SERVICE, PREFIX)
        n = len(self.ends)
        ok, samples = metrics.wait_for(self.exp.port, lambda s: metrics.total(
            s, "sse_requests_total", service=SERVICE, path="/%s/v1/chat/completions" % PREFIX) == n,
            upstream_cases.SETTLE_TIMEOUT)
        expect(ok, "the exporter counted %s of the %d SSE requests sent", metrics.total(
            samples, "sse_requests_total", service=SERVICE, path="/%s/v1/chat/completions" % PREFIX), n)
        self.api.wait_value("sum(%s)" % sel, lambda v: v == n, PANEL_TIMEOUT_S)
        self.rules_caught_up(time.time())
        self.t_eval = time.time()
        self.t_traffic_end = time.monotonic()

    def rules_caught_up(self, since):
        """Every rule group evaluated every second has run after `since`,
        so that the recorded series hold what had been scraped by then."""
        deadline = time.monotonic() + PANEL_TIMEOUT_S
        while True:
            late = [g["name"] for g in self.api.get("rules")["groups"]
                    if g["interval"] <= 1 and unix(g["lastEvaluation"]) < since]
            if not late:
                return
            expect(time.monotonic() < deadline, "rule groups %s not evaluated in the %.0f s after the traffic",
                   late, PANEL_TIMEOUT_S)
            time.sleep(0.2)


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

def case_request_rate(fx):
    """The request-rate panels over a window inside the steady traffic:
    within RATE_TOLERANCE of the requests the client saw end in it."""
    t_q = fx.t_steady_end - 0.5
    expect(t_q - RATE_WINDOW_S >= fx.t_steady, "the steady traffic lasted %.1f s, less than the %d s "
           "window", fx.t_steady_end - fx.t_steady, RATE_WINDOW_S)
    sent = sum(t_q - RATE_WINDOW_S < t <= t_q for t in fx.ends)
    want = sent / RATE_WINDOW_S
    for key in RATE_PANELS:
        got = fx.mine(fx.api.query(fx.exprs(key, RATE_WINDOW_S)[0], t_q))
        expect(len(got) == 1, "%s: %r for the gateway", key, got)
        rate = got[0][1]
        expect(abs(rate - want) <= RATE_TOLERANCE * want, "%s: %.2f/s, the client's %d requests in %d s "
               "are %.2f/s", key, rate, sent, RATE_WINDOW_S, want)
    print("NOTE dashboards:request_rate: %.2f/s from Prometheus, %.2f/s sent (%d requests in %d s)"
          % (rate, want, sent, RATE_WINDOW_S), flush=True)


def case_active_streams(fx):
    """While HOLD streams were open (and nothing else) the panel showed
    HOLD, then 0; its capacity lines, CAPACITY and 90 % of it; the
    capacity panels, HOLD / CAPACITY."""
    expect(fx.t_held is not None, "%s never showed %d streams while they were held; seen %r", ACTIVE_PANEL,
           HOLD, fx.held_seen)
    expect(fx.after_seen[-1] == 0, "%s after the streams ended: %r", ACTIVE_PANEL, fx.after_seen)
    _, capacity, critical = fx.exprs(ACTIVE_PANEL, 1)
    lines = [[v for _, v in fx.mine(fx.api.query(e, fx.t_held))] for e in (capacity, critical)]
    expect(len(lines[0]) == len(lines[1]) == 1 and math.isclose(lines[0][0], CAPACITY)
           and math.isclose(lines[1][0], 0.9 * CAPACITY), "%s: capacity lines %r", ACTIVE_PANEL, lines)
    for key in CAPACITY_PANELS:
        got = fx.api.query(fx.exprs(key, 1)[0], fx.t_held)
        values = [v for labels, v in got if labels.get("service", SERVICE) == SERVICE]
        expect(len(values) == 1 and math.isclose(values[0], HOLD / CAPACITY), "%s while %d streams were "
               "held: %r", key, HOLD, got)


def case_breaker_open(fx):
    """After 5 failures in a row groq's breaker shows open (2), openai's,
    whose failures never came 5 in a row, closed (0); one provider out."""
    got = {labels.get("provider"): v for labels, v in fx.mine(fx.api.query(fx.exprs(BREAKER_PANEL, 1)[0],
                                                                           fx.t_eval))}
    expect(got == {"groq": 2, "openai": 0}, "%s: %r", BREAKER_PANEL, got)
    got = fx.api.query(fx.exprs(OPEN_BREAKERS_PANEL, 1)[0], fx.t_eval)
    expect([v for _, v in got] == [1], "%s: %r", OPEN_BREAKERS_PANEL, got)


def panel_problem(fx, expr):
    """Why the expression fails to parse or returns no data, or None."""
    status, data = fx.api.call("query", {"query": expr, "time": "%.3f" % fx.t_eval})
    if status != "success":
        return "does not run: %s" % data
    result = data["result"]
    values = [float(result[1])] if data["resultType"] == "scalar" else [float(r["value"][1]) for r in result]
    if not any(math.isfinite(v) for v in values):
        return "returned %s" % (json.dumps(result)[:300] if result else "no data")
    return None


def variable_problem(fx, var, window_s):
    """The variable's selector must match series in the traffic's time
    range, and its values hold the test's value where it has one."""
    selector, label = cd.label_values(var)
    match = cd.substitute(selector, fx.values(window_s))
    span = {"match[]": match, "start": "%.3f" % (fx.t_eval - window_s), "end": "%.3f" % fx.t_eval}
    status, series = fx.api.call("series", span)
    if status != "success" or not series:
        return "matches no series: %s" % (series if status != "success" else match)
    status, got = fx.api.call("label/%s/values" % label, span)
    want = {"service": {SERVICE}, "provider": set(PROVIDERS), "model": {fx.model}}.get(label, set())
    if status != "success" or not want <= set(got):
        return "values %r lack %r" % (got, sorted(want - set(got or [])))
    return None


def case_every_panel_returns_data(fx):
    """Every expression of every panel and the selector of every variable,
    over a range that holds all the traffic, at its end."""
    window_s = fx.t_eval - fx.t_steady + 5
    bad, count = [], 0
    for name, d in sorted(fx.dashes.items()):
        for where, t in cd.targets(d):
            count += 1
            problem = panel_problem(fx, cd.substitute(t["expr"], fx.values(window_s)))
            if problem:
                bad.append("%s %s %s: %s" % (name, where, t["refId"], problem))
        for var in cd.variables(d):
            if var.get("type") == "query":
                count += 1
                problem = variable_problem(fx, var, window_s)
                if problem:
                    bad.append("%s variable %s: %s" % (name, var["name"], problem))
    expect(not bad, "%d of %d queries: %s", len(bad), count, "; ".join(bad))
    print("NOTE dashboards: %d queries of %d dashboards returned data; the group's servers, exporter and "
          "Prometheus started in %.1f s, the traffic took %.1f s, the checks %.1f s"
          % (count, len(fx.dashes), fx.t_ready - fx.t0, fx.t_traffic_end - fx.t_ready,
             time.monotonic() - fx.t_traffic_end), flush=True)


# --------------------------------------------------------------------------
# The rules of deploy/prometheus/
# --------------------------------------------------------------------------

def file_rules():
    """{name: rule} of every rule in deploy/prometheus/'s files."""
    out = {}
    for path in cd.rule_files():
        with open(path) as f:
            for group in yaml.safe_load(f)["groups"]:
                for rule in group["rules"]:
                    out[rule.get("record") or rule["alert"]] = rule
    return out


def case_rules_healthy(fx):
    """Prometheus loaded every rule of the files and evaluated each without
    error; a group evaluated less often than the test lasts may not have
    run yet."""
    groups = fx.api.get("rules")["groups"]
    loaded = {r["name"]: (r, g) for g in groups for r in g["rules"]}
    want = file_rules()
    expect(set(loaded) == set(want), "rules loaded %s, in the files %s", sorted(loaded), sorted(want))
    since = time.monotonic() - fx.t_ready
    bad = ["%s: %s %s" % (name, r["health"], r.get("lastError", ""))
           for name, (r, g) in sorted(loaded.items())
           if not (r["health"] == "ok" or (r["health"] == "unknown" and g["interval"] > since))]
    expect(not bad, "rules not evaluated cleanly: %s", "; ".join(bad))


COMPARISON = {"==", "!=", ">=", "<=", ">", "<"}


def operands(expr):
    """The sides of an expression's comparisons outside brackets and
    strings (`a > 0.02 <= 0.05`: a, 0.02, 0.05), `bool` dropped."""
    parts, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            quote = None if c == quote and expr[i - 1] != "\\" else quote
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and (expr[i:i + 2] in COMPARISON or c in "<>"):
            op = expr[i:i + 2] if expr[i:i + 2] in COMPARISON else c
            parts.append(expr[start:i])
            i += len(op)
            start = i
            continue
        i += 1
    parts.append(expr[start:])
    parts = [re.sub(r"^\s*bool\b", "", p).strip() for p in parts]
    return [p for p in parts if not re.fullmatch(r"-?[0-9.]+(?:[eE][-+]?[0-9]+)?", p)]


def data_problem(fx, expr):
    """panel_problem(), but a query that reaches back further than the test
    with `offset` cannot have data: None, noted."""
    problem = panel_problem(fx, expr)
    if problem and re.search(r"\boffset\b", expr):
        fx.no_history.append(expr)
        return None
    return problem


def case_every_rule_returns_data(fx):
    """Each recording rule's series and expression, and each operand of
    each alert's comparison, return data at the end of the traffic."""
    bad, count, fx.no_history = [], 0, []
    for name, rule in sorted(file_rules().items()):
        exprs = [name, rule["expr"]] if "record" in rule else operands(rule["expr"])
        for expr in exprs:
            count += 1
            problem = data_problem(fx, expr)
            if problem:
                bad.append("%s: %s %s" % (name, " ".join(expr.split())[:200], problem))
    expect(not bad, "%d of %d rule queries: %s", len(bad), count, "; ".join(bad))
    print("NOTE dashboards:every_rule_returns_data: %d queries; without data since they reach further back "
          "than the test: %s" % (count, [" ".join(e.split()) for e in fx.no_history] or "none"), flush=True)


# Alerts the traffic calls for, pending (their `for:` has not run out):
# 1 call in 6 fails, groq's breaker opened after 5 failures in a row (and
# 6 of its 7 calls failed).
EXPECTED_ALERTS = [("SSEHighErrorRate", {}), ("SSEProviderOutage", {"provider": BREAKER_PROVIDER}),
                   ("SSEProviderHighErrorRate", {"provider": BREAKER_PROVIDER})]
# openai's breaker never opened: the service is not down.
UNEXPECTED_ALERTS = ["SSEServiceDown", "SSECapacityExhausted"]


def gateway_alerts(fx):
    return [a for a in fx.api.get("alerts")["alerts"] if a["labels"].get("service") == SERVICE]


def case_alerts_follow_traffic(fx):
    """The key alerts are pending or firing for the gateway, and none that
    the traffic gives no cause for."""
    def has(alerts, name, labels):
        return any(a["labels"]["alertname"] == name and labels.items() <= a["labels"].items() for a in alerts)
    deadline = time.monotonic() + PANEL_TIMEOUT_S
    while True:
        alerts = gateway_alerts(fx)
        missing = [(n, lbl) for n, lbl in EXPECTED_ALERTS if not has(alerts, n, lbl)]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    seen = sorted("%s%s %s" % (a["labels"]["alertname"], {k: v for k, v in a["labels"].items()
                                                         if k == "provider"}, a["state"]) for a in alerts)
    expect(not missing, "alerts %r not pending for %s; active: %s", missing, SERVICE, seen)
    wrong = [n for n in UNEXPECTED_ALERTS if has(alerts, n, {})]
    expect(not wrong, "alerts %s active for %s without cause; active: %s", wrong, SERVICE, seen)
    print("NOTE dashboards:alerts_follow_traffic: %s" % "; ".join(seen), flush=True)


CASES = [("request_rate", case_request_rate), ("active_streams", case_active_streams),
         ("breaker_open", case_breaker_open), ("every_panel_returns_data", case_every_panel_returns_data),
         ("rules_healthy", case_rules_healthy), ("every_rule_returns_data", case_every_rule_returns_data),
         ("alerts_follow_traffic", case_alerts_follow_traffic)]


def groups(tmp):
    return [Group(lambda: Dash(tmp), [("dashboards:" + name, fn) for name, fn in CASES], lambda fx: fx.stop())]

