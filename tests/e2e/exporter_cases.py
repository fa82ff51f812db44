"""Exporter-level tests: its endpoints, its own metrics, the metric catalog,
a real Prometheus scraping it, and a clean shutdown on SIGTERM.

Most cases use the suite's shared exporter. Those that compare exact values
of the whole exposition or of /health (which sums over every service) use
exporters of their own that select one server with --pid, started under a
name of its own (isolated.py), so nothing foreign moves the
figures: `solo` (/metrics/json against /metrics, the /health gauge, a
required program gone) and `rates` (the /health rates from a fresh start).
"""
import json
import math
import os
import signal
import socket
import subprocess
import threading
import time

import checks
import client
import isolated
import launch
import metrics
import own_metrics_cases
import procs
import prom
import redis_cases
from catalog import CATALOG, OPTIONAL
from checks import inc
from framework import Failure, Group, expect

PROMTOOL = "/usr/bin/promtool"
BPFTOOL = "/usr/sbin/bpftool"
GDB = "/usr/bin/gdb"


class Exporter:
    """The single exporter of the run, started on first use. If it cannot
    start, its log is printed once and every test using it fails."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.child = None
        self.error = None
        self._port = None

    def port(self):
        if self.error:
            raise RuntimeError(self.error)
        if self.child is None:
            try:
                self.child, self._port = launch.start_exporter(self.tmp)
            except RuntimeError as e:
                self._fail("sse_exporter failed to start", str(e))
        if not self.child.alive():
            self._fail("sse_exporter died (exit status %s)" % self.child.popen.returncode,
                       self.child.log.read_text(errors="replace"))
        return self._port

    def _fail(self, what, log):
        print("===== %s =====\n%s\n===== end of exporter output =====" % (what, log.rstrip()), flush=True)
        self.error = what + " (output printed above)"
        raise RuntimeError(self.error)


# --------------------------------------------------------------------------
# Streams already under way when the exporter starts
# --------------------------------------------------------------------------

class AdoptFixture:
    """A Go server (a name of its own: the shared exporter sees the whole
    host) with slow streams open *before* the exporter starts; so this
    group must be the first to use the exporter."""
    # ~8 s each: the first exporter of a run starts in 1.5-2 s, more on a
    # busy host, and the streams must outlast its start
    STREAMS, QUERY = 3, {"events": 80, "interval_ms": 100}

    def __init__(self, tmp, exporter):
        if exporter.child is not None:
            raise RuntimeError("the exporter is already running: this test must run first")
        self.server = isolated.start_go(tmp, "ex_adopt_" + isolated.short_uid())
        self.threads = [self._open_stream(i) for i in range(self.STREAMS)]
        try:
            t0 = time.monotonic()
            self.port = exporter.port()
            self.start_s = time.monotonic() - t0
            self.open_at_start = sum(t.is_alive() for t in self.threads)
            # Before any stream ends: the adopted ones' counts all come
            # after this baseline.
            self.before = metrics.scrape(self.port)
        except Exception:
            self.stop()
            raise

    def _open_stream(self, i):
        # The request is on the wire before the exporter starts; the
        # response is read in the background while the exporter comes up.
        conn = client.Connection(self.server.port)
        req = client.events("/events/adopt/%d" % i, self.QUERY)
        t_start, t_sent = conn.send(req)
        thread = threading.Thread(target=lambda: (conn.read_response(t_start, t_sent), conn.close()),
                                  daemon=True)
        thread.start()
        return thread

    def stop(self):
        for t in self.threads:
            t.join()
        launch.stop_server(self.server)


def case_adopt(fix):
    """Streams and connections open before the exporter started are adopted
    (the gauges reach their number) and never drive a gauge below zero;
    once they end they are counted as SSE requests that succeeded, with
    the path and model `unknown` (README, Limits: their request went by
    before the exporter was there)."""
    svc, seen = fix.server.service, {"sse_active_connections": [], "http_connections_active": []}
    while any(t.is_alive() for t in fix.threads):
        sample(fix.port, svc, seen)
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline and any(v[-1] for v in seen.values() if v):
        sample(fix.port, svc, seen)
    sample(fix.port, svc, seen)
    report = ", ".join("%s min %s max %s last %s" % (k, min(v), max(v), v[-1]) for k, v in seen.items())
    expect(all(min(v) >= 0 and v[-1] == 0 for v in seen.values()), "%s", report)
    expect(all(max(v) == fix.STREAMS for v in seen.values()),
           "%s; want max %d (adopted); the exporter answered after %.1f s, %d streams still open",
           report, fix.STREAMS, fix.start_s, fix.open_at_start)
    checks.settle(fix.port, fix.before, [
        inc("sse_requests_total", fix.STREAMS, service=svc, path="unknown", model="unknown",
            status="success", code="200"),
        inc("sse_requests_total", fix.STREAMS, service=svc),
        inc("sse_chunks_streamed_total", 0, service=svc, path="/events/adopt/:id"),
    ])


def sample(port, svc, seen):
    samples = metrics.scrape(port)
    for name, values in seen.items():
        values.append(metrics.total(samples, name, service=svc))
    time.sleep(0.05)


# --------------------------------------------------------------------------
# The metric catalog (docs/metrics.md, read by catalog.py)
# --------------------------------------------------------------------------

# Every family the exporter exposes must be in CATALOG, and every one there
# must be exposed with samples once case_catalog's traffic went by.
# the exporter's own families, but those by service: they have series once
# a service gives them one (exchanges_lost)
OWN_METRICS = [name for name, (_, labels, _) in CATALOG.items()
               if name.startswith("sse_exporter_") and "service" not in labels]
CATALOG_TYPES = {name: spec[0] for name, spec in CATALOG.items()}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def family_of(sample_name, types):
    if sample_name in types:
        return sample_name
    for suffix in HISTOGRAM_SUFFIXES:
        base = sample_name[:-len(suffix)]
        if sample_name.endswith(suffix) and types.get(base) == "histogram":
            return base
    return sample_name


# --------------------------------------------------------------------------
# Endpoint and catalog cases (fixture: the Exporter)
# --------------------------------------------------------------------------

def case_promtool(exporter):
    status, headers, body = metrics.fetch(exporter.port())
    expect(status == 200, "/metrics answered %d", status)
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    expect(ctype.startswith("text/plain") and "version=0.0.4" in ctype, "Content-Type %r", ctype)
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, text=True,
                          timeout=60)
    said = (proc.stdout + proc.stderr).strip()
    # Strict: lint warnings count as failures too, not only parse errors.
    expect(proc.returncode == 0 and not said, "promtool exit %d: %s", proc.returncode, said[:2000])


def health(port):
    """(HTTP status, JSON document) of GET /health."""
    status, _, body = metrics.fetch(port, "/health")
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise Failure("/health (%d) is not JSON: %s: %r" % (status, e, body[:300])) from None
    expect(isinstance(doc, dict), "/health is not an object: %r", body[:300])
    return status, doc


def attached_programs(samples):
    """{program: value} of sse_exporter_bpf_program_attached."""
    return by_label(samples, "sse_exporter_bpf_program_attached", "program")


def case_health(exporter):
    """/health: 200 and healthy, every value of the right kind, and the
    program count equal to the required count and to the programs that
    /metrics reports attached (one series each, value 1)."""
    port = exporter.port()
    status, doc = health(port)
    expect(status == 200 and doc.get("status") == "healthy", "/health %d: %r", status, doc)
    missing = [k for k in ("version", "programs", "programs_required", "active_connections",
                           "requests_per_second", "error_rate_percent") if k not in doc]
    expect(not missing, "/health lacks %s: %r", ", ".join(missing), doc)
    attached = attached_programs(metrics.scrape(port))
    expect(doc["programs"] == doc["programs_required"] == len(attached) > 0
           and all(v == 1 for v in attached.values()),
           "/health programs %r, programs_required %r; /metrics: %d sse_exporter_bpf_program_attached "
           "series, not 1: %r", doc["programs"], doc["programs_required"], len(attached),
           {p: v for p, v in attached.items() if v != 1})
    info = metrics.select(metrics.scrape(port), "sse_exporter_build_info")
    versions = {dict(lbl).get("version") for lbl in info}
    expect(versions == {doc["version"]}, "/health version %r, build_info versions %r",
           doc["version"], versions)
    active, rps, err = doc["active_connections"], doc["requests_per_second"], doc["error_rate_percent"]
    expect(isinstance(active, int) and active >= 0, "active_connections %r", active)
    expect(isinstance(rps, (int, float)) and rps >= 0, "requests_per_second %r", rps)
    expect(isinstance(err, (int, float)) and 0 <= err <= 100, "error_rate_percent %r", err)


def case_own_metrics(exporter):
    metrics.scrape(exporter.port())     # scrape_duration tells the previous scrape's
    samples = metrics.scrape(exporter.port())
    missing = [n for n in OWN_METRICS if not metrics.select(samples, n)]
    expect(not missing, "no samples of %s", ", ".join(missing))
    info = metrics.select(samples, "sse_exporter_build_info")
    expect(all(v == 1 for v in info.values()), "build_info values %r", list(info.values()))
    release = os.uname().release
    expect(any(release in dict(lbl).values() for lbl in info), "build_info has no label = kernel %s", release)
    attached = metrics.select(samples, "sse_exporter_bpf_program_attached")
    expect(all(v == 1 and dict(lbl).get("program") for lbl, v in attached.items()),
           "bpf_program_attached %r", {dict(k).get("program"): v for k, v in attached.items()})
    check_map_fill(samples)
    scrape_s = metrics.total(samples, "sse_exporter_scrape_duration_seconds")
    expect(0 <= scrape_s < 5, "scrape_duration_seconds %s", scrape_s)


def by_label(samples, name, label):
    return {dict(k).get(label): v for k, v in metrics.select(samples, name).items()}


def check_map_fill(samples):
    entries = by_label(samples, "sse_exporter_map_entries", "map")
    limits = by_label(samples, "sse_exporter_map_max_entries", "map")
    expect(set(entries) == set(limits), "maps with entries %s vs with max %s",
           sorted(entries), sorted(limits))
    bad = {m: (entries[m], limits[m]) for m in entries if not 0 <= entries[m] <= limits[m] or limits[m] <= 0}
    expect(not bad, "map fill out of range (entries, max): %r", bad)


# An OpenAI-style provider in a few lines: a chat completion as JSON with
# its usage (tokens come only from usage objects, which the suite's SSE
# servers do not send). Served by http.server, one request per connection.
USAGE_SERVER = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.answer({"status": "ok"})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer({"id": "x", "object": "chat.completion", "model": "e2e-catalog",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "tok"},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})

    def answer(self, doc):
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def start_usage_server(tmp, name):
    script = os.path.join(tmp, "usage_server.py")
    with open(script, "w") as f:
        f.write(USAGE_SERVER)
    return isolated.start_server(tmp, name, [isolated.alias(tmp, launch.PYTHON, name), script])


def raw_exchange(port, req):
    """Sends req on a new connection and reads until the server closes."""
    with client.Connection(port, timeout=10) as conn:
        conn.sock.sendall(req.encode())
        while conn.sock.recv(65536):
            pass


def catalog_traffic(tmp):
    """Traffic that gives every produced family samples, whatever ran
    before: a Go server's SSE streams with heartbeats, a 429 and a 503
    (server side), and this runner's calls to it and to a usage-reporting
    provider (client side: the runner is an observed process whose
    upstream calls they are; the 503 feeds the breaker, the usage the
    token counter)."""
    n = isolated.short_uid()
    servers = [isolated.start_go(tmp, "ex_cat_" + n), start_usage_server(tmp, "ex_usage_" + n),
               # its /badchunk breaks a stream's framing: a lost exchange
               own_metrics_cases.start_helper(tmp, "ex_lost_" + n, "big", procs.free_port())]
    try:
        go, usage, lossy = servers
        got = [go.request(client.events("/events/catalog/%d" % i, q)).status
               for i, q in enumerate([{"events": 3, "heartbeats": 2}, {"status": 429}, {"status": 503}])]
        got.append(usage.request(client.chat(model="e2e-catalog", stream=False)).status)
        expect(got == [200, 429, 503, 200], "ground truth: statuses %r", got)
        raw_exchange(lossy.port, client.get("/badchunk"))
        redis_traffic(tmp, n)
    finally:
        for srv in servers:
            launch.stop_server(srv)


# A cache miss, a hit, two pushes (depth) and a push that fails: this
# runner, an observed process, is the Redis client; 7 reply lines.
REDIS_CMDS = [["GET", "cat:miss"], ["SET", "cat:hit", "v"], ["GET", "cat:hit"], ["LPUSH", "cat:q", "a"],
              ["LPUSH", "cat:q", "b"], ["LPUSH", "cat:hit", "x"]]
REDIS_REPLY_LINES = 7


def redis_traffic(tmp, n):
    """Every Redis family gets a sample: commands to a redis-server of the
    case's own."""
    port = procs.free_port()
    child = procs.spawn("ex_rds_" + n, [str(redis_cases.REDIS_SERVER), "--port", str(port), "--bind",
                                        "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                        tmp)
    try:
        redis_cases.wait_ping(child, lambda: socket.create_connection(("127.0.0.1", port)), "its port")
        buf = b""
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(redis_cases.resp(REDIS_CMDS))
            while buf.count(b"\r\n") < REDIS_REPLY_LINES:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        expect(buf.endswith(b"\r\n") and b"-WRONGTYPE" in buf, "ground truth: redis replied %r", buf)
    finally:
        procs.stop(child)


def case_catalog(exporter):
    """Every family exposed is in the catalog (docs/metrics.md) with its
    type; every catalog family is exposed and has samples after traffic
    that exercises it; label names and default buckets are the ones the
    catalog fixes (dashboards and alerts depend on them)."""
    port = exporter.port()
    catalog_traffic(exporter.tmp)
    produced = set(CATALOG)
    ok, _ = metrics.wait_for(port, lambda s: produced <= {family_of(n, CATALOG_TYPES) for n, _ in s}, 5.0)
    _, _, text = metrics.fetch(port)
    types, samples = metrics.families(text), metrics.parse(text)
    with_samples = {family_of(n, types) for n, _ in samples}
    problems = ["%s is exposed but not in the catalog" % n for n in sorted(set(types) - set(CATALOG))]
    problems += ["%s is not exposed" % n for n in sorted(produced - set(types))]
    problems += ["%s has no sample" % n for n in sorted((produced & set(types)) - with_samples)]
    for name, (mtype, labels, buckets) in CATALOG.items():
        if name in types and types[name] != mtype:
            problems.append("%s is a %s, want %s" % (name, types[name], mtype))
    for (sname, lbl), _ in samples.items():
        fam = family_of(sname, types)
        if fam not in CATALOG:
            continue
        have = set(dict(lbl)) - ({"le"} if sname.endswith("_bucket") else set())
        if not have <= CATALOG[fam][1] or CATALOG[fam][1] - have - OPTIONAL:
            problems.append("%s has labels %s, want %s" % (sname, sorted(have), sorted(CATALOG[fam][1])))
    problems += bucket_problems(samples)
    expect(ok and not problems, "%s", "; ".join(sorted(set(problems))[:20]))


def bucket_problems(samples):
    out = []
    for name, (mtype, _, buckets) in CATALOG.items():
        if mtype != "histogram":
            continue
        per_series = {}
        for lbl, _ in metrics.select(samples, name + "_bucket").items():
            rest = frozenset((k, v) for k, v in lbl if k != "le")
            per_series.setdefault(rest, set()).add(float(dict(lbl)["le"]))
        want = set(map(float, buckets)) | {math.inf}
        out += ["%s buckets %s, want %s" % (name, sorted(les), sorted(want))
                for les in per_series.values() if les != want]
    return out


# --------------------------------------------------------------------------
# An exporter of one idle server: /metrics/json and /health values
# --------------------------------------------------------------------------

class Solo:
    """A Go server of its own and an exporter selecting only it (--pid):
    between two scrapes nothing moves unless the case drives traffic."""

    def __init__(self, tmp):
        self.server = isolated.start_go(tmp, "ex_solo_" + isolated.short_uid())
        try:
            self.t_spawn = time.monotonic()
            self.exp = isolated.start_exporter(tmp, "solo", ["--pid=%d" % self.server.children[0].pid])
        except Exception:
            launch.stop_server(self.server)
            raise

    @property
    def port(self):
        return self.exp.port

    @property
    def svc(self):
        return self.server.service

    def stop(self):
        self.exp.stop()
        launch.stop_server(self.server)


def solo_traffic(fx, tag):
    """A bit of everything, so the exposition has many series with labels,
    histograms and statuses: 2 streams with heartbeats, a chat stream
    with a model, a 429, a 503 and a plain GET; settled."""
    path, label = "/events/%s/%s" % (tag, isolated.uid()), "/events/%s/:id" % tag
    before = fx.exp.scrape()
    reqs = [client.events(path, {"events": 4, "heartbeats": 2})] * 2 + [
        client.chat({"events": 3}, "e2e-json-" + tag, prefix="/" + tag),
        client.events(path, {"status": 429}), client.events(path, {"status": 503}),
        client.get("/items/%s/1" % tag)]
    got = [fx.server.request(r).status for r in reqs]
    expect(got == [200, 200, 200, 429, 503, 200], "ground truth: statuses %r", got)
    fx.exp.settle(before, [inc("sse_requests_total", 5, service=fx.svc),
                           inc("sse_requests_total", 2, service=fx.svc, path=label, status="success"),
                           inc("http_requests_total", 6, service=fx.svc)] + isolated.gauges(fx.svc, 0))


# Rendering time of the previous response: by definition not the same in
# two responses, so it is left out of the value comparison.
SCRAPE_DURATION = "sse_exporter_scrape_duration_seconds"
JSON_ATTEMPTS = 5


def json_samples(doc):
    """({(name, frozenset(labels)): value}, {family: type}) of a
    /metrics/json document, keyed like metrics.parse: a histogram gives its
    _bucket (with le), _sum and _count samples; null stands for a
    non-finite value, as NaN and +-Inf cannot be JSON numbers."""
    samples, types = {}, {}
    try:
        for fam in doc["metrics"]:
            name, ftype = fam["name"], fam["type"]
            types[name] = ftype
            for s in fam["samples"]:
                labels = dict(s["labels"])
                if ftype == "histogram":
                    for le, v in s["buckets"].items():
                        samples[(name + "_bucket", frozenset(dict(labels, le=le).items()))] = v
                    samples[(name + "_sum", frozenset(labels.items()))] = s["sum"]
                    samples[(name + "_count", frozenset(labels.items()))] = s["count"]
                else:
                    samples[(name, frozenset(labels.items()))] = s["value"]
    except (KeyError, TypeError, AttributeError) as e:
        raise Failure("/metrics/json does not have the expected layout: %r" % e) from None
    return samples, types


def comparable(samples):
    """Samples without the scrape duration, non-finite values as None."""
    return {k: (v if v is None or math.isfinite(v) else None) for k, v in samples.items()
            if k[0] != SCRAPE_DURATION}


def still_triple(port):
    """text, JSON, text scraped back to back until the two texts agree on
    every sample (nothing moved meanwhile): then the JSON in between must
    hold exactly their values. Returns (text samples, text types, doc)."""
    moved = {}
    for _ in range(JSON_ATTEMPTS):
        _, _, text = metrics.fetch(port)
        status, _, body = metrics.fetch(port, "/metrics/json")
        expect(status == 200, "/metrics/json answered %d", status)
        after = comparable(metrics.parse(metrics.fetch(port)[2]))
        before = comparable(metrics.parse(text))
        if before == after:
            try:
                return before, metrics.families(text), json.loads(body)
            except ValueError as e:
                raise Failure("/metrics/json is not JSON: %s: %r" % (e, body[:200])) from None
        moved = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    raise Failure("an exporter of one idle server never stood still over 3 scrapes (%d attempts); moving: %s"
                  % (JSON_ATTEMPTS, ", ".join(sorted(n for n, _ in moved))[:500]))


def fmt_sample(key):
    name, lbl = key
    return "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in sorted(lbl)))


def case_metrics_json(fx):
    """/metrics/json carries every sample of /metrics with the same name,
    labels and value (histograms: every bucket, sum and count), and the
    same families with the same types, scraped between two identical
    /metrics scrapes of an exporter that watches one idle server."""
    solo_traffic(fx, "json")
    text, types, doc = still_triple(fx.port)
    got, got_types = json_samples(doc)
    expect((SCRAPE_DURATION, frozenset()) in got, "/metrics/json lacks %s", SCRAPE_DURATION)
    got = comparable(got)
    problems = ["missing %s" % fmt_sample(k) for k in sorted(set(text) - set(got), key=str)]
    problems += ["extra %s = %r" % (fmt_sample(k), got[k]) for k in sorted(set(got) - set(text), key=str)]
    problems += ["%s: /metrics %r, JSON %r" % (fmt_sample(k), text[k], got[k])
                 for k in sorted(set(text) & set(got), key=str) if got[k] != text[k]]
    problems += ["family %s: /metrics %s, JSON %s" % (n, types.get(n), got_types.get(n))
                 for n in sorted(set(types) | set(got_types)) if types.get(n) != got_types.get(n)]
    expect(len(text) > 100, "ground truth: only %d samples to compare", len(text))
    expect(not problems, "%d differences over %d samples: %s", len(problems), len(text),
           "; ".join(problems[:10]))


def case_health_active(fx):
    """While N streams are open, /health active_connections equals the sum
    of sse_active_connections read just before and just after it; both
    return to 0 when the streams end."""
    n, tag = 4, "health-active"
    path = "/events/%s/%s" % (tag, isolated.uid())
    req = client.events(path, {"events": 30, "interval_ms": 100})
    worker = isolated.in_background(isolated.streams, fx.server.port, req, n)
    seen, deadline = [], time.monotonic() + 2.5     # the streams last ~3 s
    while time.monotonic() < deadline:
        before = metrics.total(metrics.scrape(fx.port), "sse_active_connections")
        active = health(fx.port)[1].get("active_connections")
        after = metrics.total(metrics.scrape(fx.port), "sse_active_connections")
        seen.append((before, active, after))
        if before == after == n:
            break
    resps = isolated.joined(*worker)
    expect(all(r.status == 200 and r.complete and r.data_events == 30 for r in resps),
           "ground truth: %r", [(r.status, r.complete, r.data_events) for r in resps])
    expect(seen[-1][0] == seen[-1][2] == n, "sse_active_connections never %d while the streams were open "
           "(before, /health, after): %s", n, seen[-10:])
    expect(seen[-1][1] == n, "/health active_connections %r while sse_active_connections sums to %d",
           seen[-1][1], n)
    ok, _ = metrics.wait_for(fx.port, lambda s: metrics.total(s, "sse_active_connections") == 0, 4.0)
    active = health(fx.port)[1].get("active_connections")
    expect(ok and active == 0, "after the streams: sse_active_connections ended at 0: %s, /health %r",
           ok, active)


def required_link(exp):
    """(fd, link id, program label) of one link of a required program: a
    link fd of the exporter whose program's kernel name (15 characters
    kept) is the start of exactly one sse_exporter_bpf_program_attached
    label. The TLS uprobes are optional and have no such label."""
    labels = set(attached_programs(exp.scrape()))
    fdinfo = "/proc/%d/fdinfo" % exp.child.pid
    for fd in sorted(os.listdir(fdinfo), key=int):
        fields = read_fdinfo(os.path.join(fdinfo, fd))
        if "link_id" not in fields or "prog_id" not in fields:
            continue
        name = bpftool_json("prog", "show", "id", fields["prog_id"]).get("name", "")
        matches = [label for label in labels if label[:15] == name]
        if name and len(matches) == 1:
            return int(fd), int(fields["link_id"]), matches[0]
    raise Failure("no link fd of the exporter carries one of its programs %s" % sorted(labels))


def read_fdinfo(path):
    try:
        with open(path) as f:
            return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in f if ":" in line)}
    except OSError:
        return {}


def bpftool_json(*args):
    """bpftool -j ARGS, parsed; a failure raises (never an empty answer)."""
    try:
        proc = subprocess.run([BPFTOOL, "-j"] + list(args), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Failure("bpftool %s: %s" % (" ".join(args), e)) from None
    if proc.returncode != 0:
        raise Failure("bpftool %s: exit %d: %s" % (" ".join(args), proc.returncode,
                                                   (proc.stderr or proc.stdout).strip()[:300]))
    try:
        return json.loads(proc.stdout)
    except ValueError as e:
        raise Failure("bpftool %s: not JSON (%s): %r" % (" ".join(args), e, proc.stdout[:200])) from None


def close_fd_in(pid, fd):
    """close(fd) inside process pid, through gdb (ptrace): the way a link
    of ours can go, since the kernel detaches none of our link types from
    outside (perf_event, raw_tracepoint and uprobe_multi links answer
    `bpftool link detach` with EOPNOTSUPP)."""
    expect(os.access(GDB, os.X_OK), "%s is needed (apt-get install gdb)", GDB)
    proc = subprocess.run([GDB, "-p", str(pid), "-batch", "-nx", "-ex", "call (int)close(%d)" % fd],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    expect("= 0" in proc.stdout, "ground truth: gdb could not close fd %d of %d: %s", fd, pid,
           (proc.stdout + proc.stderr).strip()[-500:])


def link_gone(link_id):
    proc = subprocess.run([BPFTOOL, "link", "show", "id", str(link_id)], capture_output=True, text=True,
                          timeout=30)
    return proc.returncode != 0 and "No such file" in proc.stderr


def case_health_degraded(fx):
    """A required program's link closed under the exporter (the kernel
    detaches the program): /health turns `degraded` with 503 and one
    program fewer than required, and /metrics reports that program 0.
    Leaves the exporter degraded: the last case of its group."""
    status, doc = health(fx.port)
    expect(status == 200 and doc.get("status") == "healthy", "before: /health %d %r", status, doc)
    required = doc["programs_required"]
    fd, link_id, program = required_link(fx.exp)
    close_fd_in(fx.exp.child.pid, fd)
    deadline = time.monotonic() + 2.0
    while not link_gone(link_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    expect(link_gone(link_id), "ground truth: link %d of %s still in the kernel", link_id, program)
    status, doc = health(fx.port)
    expect(status == 503 and doc.get("status") == "degraded", "/health %d %r with %s detached (want 503, "
           "degraded)", status, doc, program)
    expect(doc.get("programs") == required - 1 and doc.get("programs_required") == required,
           "/health programs %r of %r, want %d of %d", doc.get("programs"), doc.get("programs_required"),
           required - 1, required)
    ok, samples = metrics.wait_for(fx.port, lambda s: attached_programs(s).get(program) == 0, 3.0)
    others = {p: v for p, v in attached_programs(samples).items() if p != program and v != 1}
    expect(ok and not others, "sse_exporter_bpf_program_attached{program=%r} %r (want 0); others not 1: %r",
           program, attached_programs(samples).get(program), others)


# --------------------------------------------------------------------------
# /health rates, from a fresh exporter of one server
# --------------------------------------------------------------------------

HEALTH_SAMPLE_S = 5.0      # user/web/http_server.h: the rates' counter samples


def rps_changes(port, count, timeout):
    """Poll /health until requests_per_second changed `count` times; each
    change as (start of the poll before it, end of the poll that saw it,
    document): the exporter took the counter sample in between."""
    out, deadline = [], time.monotonic() + timeout
    t0 = time.monotonic()
    last = health(port)[1]
    while len(out) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        t1 = time.monotonic()
        doc = health(port)[1]
        if doc["requests_per_second"] != last["requests_per_second"]:
            out.append((t0, time.monotonic(), doc))
        last, t0 = doc, t1
    expect(len(out) == count, "requests_per_second changed %d times in %.0f s (want %d): %r",
           len(out), timeout, count, last)
    return out


def case_health_rates(fx):
    """n SSE requests, k of them failing, right after the exporter's start:
    error_rate_percent is 100 k / n, and requests_per_second is n over the
    time between the exporter's first counter sample and its last: two
    later samples, whose times the poller brackets, give spans that differ
    by the time between them."""
    ok_n, fail_q = 15, [{"status": 503}] * 3 + [{"status": 429}] * 2
    path, label = "/events/health-rates/%s" % isolated.uid(), "/events/health-rates/:id"
    before = fx.exp.scrape()
    expect(metrics.total(before, "sse_requests_total") == 0, "ground truth: SSE requests before the case")
    reqs = [client.events(path, {"events": 2})] * ok_n + [client.events(path, q) for q in fail_q]
    resps = client.concurrently(lambda r: client.request(fx.server.port, r), [(r,) for r in reqs])
    n, k = len(resps), sum(r.status != 200 for r in resps)
    expect(k == len(fail_q) and all(r.complete for r in resps if r.status == 200), "ground truth: %r",
           [(r.status, r.complete) for r in resps])
    fx.exp.settle(before, [inc("sse_requests_total", n, service=fx.svc),
                           inc("sse_requests_total", n - k, service=fx.svc, path=label, status="success")])
    (p1, t1, h1), (p2, t2, h2) = rps_changes(fx.port, 2, 2 * HEALTH_SAMPLE_S + 4)
    for h in (h1, h2):
        expect(abs(h["error_rate_percent"] - 100.0 * k / n) <= 0.0051,
               "error_rate_percent %r, want %.2f (%d failed of %d)", h["error_rate_percent"],
               100.0 * k / n, k, n)
    span1, span2 = n / h1["requests_per_second"], n / h2["requests_per_second"]
    # rps has 3 decimals: its rounding moves n / rps by up to n * 0.0005 / rps^2.
    slack = sum(n * 0.0005 / h["requests_per_second"] ** 2 for h in (h1, h2))
    lo, hi = p2 - t1 - slack, t2 - p1 + slack
    expect(lo <= span2 - span1 <= hi, "requests_per_second %r then %r: n/rps grew by %.3f s between two "
           "samples taken %.3f-%.3f s apart (n = %d)", h1["requests_per_second"], h2["requests_per_second"],
           span2 - span1, lo, hi, n)
    expect(span2 <= t2 - fx.t_spawn + slack, "requests_per_second %r: n/rps %.2f s is longer than the "
           "exporter has run (%.2f s)", h2["requests_per_second"], span2, t2 - fx.t_spawn)


# --------------------------------------------------------------------------
# Prometheus scraping the exporter
# --------------------------------------------------------------------------

class PromFixture:
    """Prometheus scraping an exporter that selects one Go server of its
    own (--pid): the host's other traffic neither moves the figures nor
    fills the exporter's ring buffer."""

    def __init__(self, tmp):
        self.server = isolated.start_go(tmp, "ex_prom_" + isolated.short_uid())
        self.exp, self.child = None, None
        try:
            self.exp = isolated.start_exporter(tmp, "prom", ["--pid=%d" % self.server.children[0].pid])
            self.exporter_port = self.exp.port
            self.before = metrics.scrape(self.exporter_port)
            self.child, self.port = launch.start_prometheus(tmp, self.exporter_port)
            self.api = prom.API(self.port)
        except Exception:
            self.stop()
            raise

    def stop(self):
        if self.child:
            procs.stop(self.child)
        if self.exp:
            self.exp.stop()
        launch.stop_server(self.server)


PROM_TRAFFIC_S = float(os.environ.get("E2E_PROM_SECONDS", 20))
PROM_SLOW_EVERY = 10   # 1 request in 10 is slow: the p95 falls among them


def prom_traffic(port, tag, seconds, threads=2):
    """Steady SSE traffic for `seconds`; returns all responses."""
    deadline, out, lock = time.monotonic() + seconds, [], threading.Lock()

    def loop():
        i = 0
        while time.monotonic() < deadline:
            slow = i % PROM_SLOW_EVERY == PROM_SLOW_EVERY - 1
            q = {"events": 5, "interval_ms": 85 if slow else 20}
            resp = client.request(port, client.events("/events/%s/%d" % (tag, i), q))
            with lock:
                out.append(resp)
            i += 1

    client.concurrently(loop, [()] * threads)
    return out


def p95(values):
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def case_prometheus(fix):
    tag, svc = "prom", fix.server.service
    sel = '{service="%s",path="/events/%s/:id"}' % (svc, tag)
    fix.api.wait_value('up{job="sse_exporter"}', lambda v: v == 1, 15)
    resps = prom_traffic(fix.server.port, tag, PROM_TRAFFIC_S)
    bad = [r.status for r in resps if r.status != 200 or not r.complete]
    expect(not bad, "ground truth: %d of %d requests failed", len(bad), len(resps))
    n = len(resps)
    # The exporter has it all (so the next scrapes carry the final count)...
    checks.settle(fix.exporter_port, fix.before, [inc("sse_requests_total", n, service=svc,
                                                      path="/events/%s/:id" % tag)])
    # ... and Prometheus must have ingested it before rate() means much.
    fix.api.wait_value("sum(sse_requests_total%s)" % sel, lambda v: v == n, 10)
    check_rate(fix.api.query("sum(rate(sse_requests_total%s[1m]))" % sel), n)
    exporter_sum = fix.api.query("sum(sse_request_duration_seconds_sum%s)" % sel)[0][1]
    check_p95(fix, sel, [r.duration for r in resps], exporter_sum)


def check_rate(result, n):
    # All the traffic lies inside the 1m window, so rate() ~ n / 60 s (not
    # n / 20 s): a factor 2 either way absorbs extrapolation at the edges.
    expect(result, "rate() returned nothing")
    rate, want = result[0][1], n / 60.0
    expect(want / 2 <= rate <= want * 2, "rate %.3f/s, want ~%.3f/s (%d requests in the 1m window)",
           rate, want, n)


# How far the exporter's duration of one request may lie from the client's.
# The exporter times the server's first read of the request to its last
# write, the client its send() to its last recv(): the client's figure is
# longer by loopback transit (tens of us) and the wake-up of the client
# thread that reads the end (2 threads share the GIL): 0.3 ms on average
# here (the NOTE line of check_p95). Order statistics keep a per-request
# bound: if every exporter duration is within X of the client's, the
# exporter's p95 is within X of the client's p95. X = 10 ms, 30 times the
# mean, allows for a client thread preempted for a few scheduler slices by
# another run on this 2-core VM, and is far below what the check is for:
# the slow requests (~0.35 s) sit 100 ms and more from the bounds around
# them (0.25, 0.5), so only a p95 from a wrong histogram leaves the bucket.
P95_NEAR_S = 0.010


def check_p95(fix, sel, durations, exporter_sum):
    """Prometheus' p95 lies in the bucket of the client's p95; in the next
    bucket too only if the client's p95 is within P95_NEAR_S of the bound
    between them."""
    expr = ("histogram_quantile(0.95, sum(rate(sse_request_duration_seconds_bucket%s[1m])) by (le))" % sel)
    result = fix.api.query(expr)
    expect(result and not math.isnan(result[0][1]), "%s returned %r", expr, result)
    got, truth = result[0][1], p95(durations)
    print("NOTE prometheus: client p95 %.4f s, Prometheus p95 %.4f s; mean client - exporter duration "
          "%.2f ms" % (truth, got, 1000 * (sum(durations) - exporter_sum) / len(durations)), flush=True)
    bounds = [0.0] + exported_bounds(fix.exporter_port, sel)
    i = next(k for k in range(1, len(bounds)) if truth <= bounds[k])
    lo, hi = bounds[i - 1], bounds[i]
    if truth - lo <= P95_NEAR_S and i >= 2:
        lo = bounds[i - 2]
    if hi - truth <= P95_NEAR_S and i + 1 < len(bounds):
        hi = bounds[i + 1]
    expect(lo < got <= hi, "p95 %.3f s from Prometheus, client p95 %.3f s: want in (%s, %s]",
           got, truth, lo, hi)


def exported_bounds(port, sel):
    """Sorted bucket bounds (+Inf included) of the series the query used."""
    filters = dict(kv.split("=") for kv in sel.strip("{}").split(","))
    filters = {k: v.strip('"') for k, v in filters.items()}
    buckets = metrics.select(metrics.scrape(port), "sse_request_duration_seconds_bucket", **filters)
    expect(buckets, "no sse_request_duration_seconds_bucket%s on /metrics", sel)
    return sorted({float(dict(lbl)["le"]) for lbl in buckets})


# --------------------------------------------------------------------------
# Shutdown
# --------------------------------------------------------------------------

def bpf_objects():
    """{kind: set of ids} of the BPF programs, maps and links on the host.
    A bpftool failure fails the case: an empty answer would pass the leak
    check without looking."""
    return {kind: {o["id"] for o in bpftool_json(kind, "show")} for kind in ("prog", "map", "link")}


def owned_bpf_objects(pid):
    """{kind: ids} of the BPF objects the process holds file descriptors of,
    from /proc/PID/fdinfo. Only these are checked after shutdown: other BPF
    users on the host (a benchmark's loader...) come and go meanwhile."""
    out = {"prog": set(), "map": set(), "link": set()}
    fdinfo = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fdinfo):
        fields = read_fdinfo(os.path.join(fdinfo, fd))
        for kind in ("link", "prog", "map"):
            if kind + "_id" in fields:
                out[kind].add(int(fields[kind + "_id"]))
    return out


def case_sigterm(exporter):
    """SIGTERM: exit 0 within 2 s, leaving none of its BPF objects behind
    (default flags: OpenSSL hooked, every uprobe released too)."""
    child, _ = launch.start_exporter(exporter.tmp, extra=())
    owned = owned_bpf_objects(child.pid)
    expect(owned["prog"], "the exporter holds no BPF program fd: %r", owned)
    t0 = time.monotonic()
    os.kill(child.pid, signal.SIGTERM)
    try:
        child.popen.wait(5)
    except subprocess.TimeoutExpired:
        pass
    elapsed = time.monotonic() - t0
    rc = child.popen.poll()
    procs.stop(child)
    expect(rc == 0 and elapsed <= 2.0, "exit status %s after %.2f s (want 0 within 2 s)", rc, elapsed)
    # The kernel frees objects asynchronously once the last reference goes.
    deadline, left = time.monotonic() + 2.0, None
    while time.monotonic() < deadline:
        now = bpf_objects()
        left = {k: sorted(owned[k] & now[k]) for k in now if owned[k] & now[k]}
        if not left:
            return
        time.sleep(0.1)
    raise Failure("BPF objects of the exporter still loaded 2 s after it exited: %r" % left)


def first_groups(tmp, exporter):
    """Groups that must run before anything else starts the exporter."""
    return [Group(lambda: AdoptFixture(tmp, exporter), [("exporter:adopt_inflight_streams", case_adopt)],
                  lambda fix: fix.stop())]


def groups(tmp, exporter):
    endpoint_cases = [("exporter:promtool_check_metrics", case_promtool),
                      ("exporter:health", case_health),
                      ("exporter:own_metrics", case_own_metrics),
                      ("exporter:catalog", case_catalog)]
    # The last solo case leaves its exporter degraded.
    solo_cases = [("exporter:metrics_json", case_metrics_json),
                  ("exporter:health_active_connections", case_health_active),
                  ("exporter:health_degraded", case_health_degraded)]
    return [
        Group(lambda: exporter, endpoint_cases),
        Group(lambda: Solo(tmp), solo_cases, lambda fx: fx.stop()),
        Group(lambda: Solo(tmp), [("exporter:health_rates", case_health_rates)], lambda fx: fx.stop()),
        Group(lambda: PromFixture(tmp), [("prometheus:rate_and_p95", case_prometheus)],
              lambda fix: fix.stop()),
        Group(lambda: exporter, [("exporter:sigterm", case_sigterm)]),
    ]
