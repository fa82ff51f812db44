"""Exporter-level tests: its endpoints, its own metrics, the metric catalog,
a real Prometheus scraping it, and a clean shutdown on SIGTERM."""
import json
import math
import os
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import client
import launch
import metrics
import procs
from framework import Failure, Group, expect

PROMTOOL = "/usr/bin/promtool"
BPFTOOL = "/usr/sbin/bpftool"


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
    """A Go server with slow streams open *before* the exporter starts; so
    this group must be the first to use the exporter."""
    STREAMS, QUERY = 3, {"events": 40, "interval_ms": 100}    # ~4 s each

    def __init__(self, tmp, exporter):
        if exporter.child is not None:
            raise RuntimeError("the exporter is already running: this test must run first")
        self.server = launch.start_go(tmp, name="go-adopt")
        self.threads = [self._open_stream(i) for i in range(self.STREAMS)]
        try:
            self.port = exporter.port()
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
    (the gauges reach their number) and never drive a gauge below zero."""
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
           "%s; want max %d (adopted)", report, fix.STREAMS)


def sample(port, svc, seen):
    samples = metrics.scrape(port)
    for name, values in seen.items():
        values.append(metrics.total(samples, name, service=svc))
    time.sleep(0.05)


# --------------------------------------------------------------------------
# The metric contract (docs: /work/shared/spec/metrics.md)
# --------------------------------------------------------------------------

# family: (type, label names, default buckets or None)
CATALOG = {
    "sse_active_connections": ("gauge", {"service"}, None),
    "sse_requests_total": ("counter", {"service", "path", "model", "provider", "status", "code"}, None),
    "sse_request_duration_seconds": ("histogram", {"service", "path"},
                                     [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]),
    "sse_stream_duration_seconds": ("histogram", {"service", "path"}, [0.5, 1, 2, 5, 10, 30, 60, 120, 300]),
    "sse_time_to_first_chunk_seconds": ("histogram", {"service", "path", "model"},
                                        [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                                         1, 2.5, 5, 7.5, 10]),
    "sse_inter_chunk_gap_seconds": ("histogram", {"service", "path"},
                                    [0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4,
                                     0.5, 0.75, 1, 2.5]),
    "sse_chunk_size_bytes": ("histogram", {"service", "path"}, [10, 50, 100, 500, 1000, 5000]),
    "sse_chunks_streamed_total": ("counter", {"service", "path", "provider"}, None),
    "sse_heartbeats_total": ("counter", {"service", "path"}, None),
    "sse_bytes_streamed_total": ("counter", {"service", "path"}, None),
    "sse_stage_duration_seconds": ("histogram", {"service", "stage"},
                                   [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                                    60, 120, 300]),
    "sse_errors_total": ("counter", {"service", "error_type", "stage"}, None),
    "sse_rate_limit_exceeded_total": ("counter", {"service", "path"}, None),
    "http_requests_total": ("counter", {"service", "method", "path", "status"}, None),
    "http_request_duration_seconds": ("histogram", {"service", "method", "path"},
                                      [0.01, 0.05, 0.1, 0.5, 1, 2, 5]),
    "http_connections_active": ("gauge", {"service"}, None),
    # The exporter's own metrics.
    "sse_exporter_build_info": ("gauge", None, None),          # label names unspecified
    "sse_exporter_bpf_program_attached": ("gauge", {"program"}, None),
    "sse_exporter_events_lost_total": ("counter", set(), None),
    "sse_exporter_map_entries": ("gauge", {"map"}, None),
    "sse_exporter_map_max_entries": ("gauge", {"map"}, None),
    "sse_exporter_series_dropped_total": ("counter", {"label"}, None),
    "sse_exporter_tracked_processes": ("gauge", set(), None),
    "sse_exporter_scrape_duration_seconds": ("gauge", set(), None),
}
OWN_METRICS = [name for name in CATALOG if name.startswith("sse_exporter_")]
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


def case_metrics_json(exporter):
    _, _, text = metrics.fetch(exporter.port())
    status, _, body = metrics.fetch(exporter.port(), "/metrics/json")
    expect(status == 200, "/metrics/json answered %d", status)
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise Failure("/metrics/json is not JSON: %s: %r" % (e, body[:200])) from None
    # "The same values as JSON": the layout is not specified, so only check
    # that every metric family of /metrics appears somewhere in it.
    strings = set(json_strings(doc))
    missing = sorted(f for f in metrics.families(text) if f not in strings)
    expect(not missing, "families missing from /metrics/json: %s", ", ".join(missing))


def json_strings(doc):
    """Every key and string value of a JSON document."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield k
            yield from json_strings(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from json_strings(v)
    elif isinstance(doc, str):
        yield doc


def case_health(exporter):
    status, _, body = metrics.fetch(exporter.port(), "/health")
    expect(status == 200, "/health answered %d: %s", status, body[:300])
    doc = json.loads(body)
    expect(isinstance(doc, dict) and doc.get("status") == "healthy", "/health says %r", body[:300])
    keys = set(json_keys(doc))
    missing = [k for k in ("version", "programs", "active_connections", "requests_per_second",
                           "error_rate_percent") if k not in keys]
    expect(not missing, "/health lacks %s: %s", ", ".join(missing), body[:300])


def json_keys(doc):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield k
            yield from json_keys(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from json_keys(v)


def case_own_metrics(exporter):
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


def case_catalog(exporter):
    """Types, label names and default buckets of every family present are
    the ones the spec fixes (dashboards and alerts depend on them)."""
    _, _, text = metrics.fetch(exporter.port())
    types, samples = metrics.families(text), metrics.parse(text)
    problems = []
    for name, (mtype, labels, buckets) in CATALOG.items():
        if name in types and types[name] != mtype:
            problems.append("%s is a %s, want %s" % (name, types[name], mtype))
    for (sname, lbl), _ in samples.items():
        fam = family_of(sname, types)
        if fam not in CATALOG or CATALOG[fam][1] is None:
            continue
        have = set(dict(lbl)) - ({"le"} if sname.endswith("_bucket") else set())
        if have != CATALOG[fam][1]:
            problems.append("%s has labels %s, want %s" % (sname, sorted(have), sorted(CATALOG[fam][1])))
    problems += bucket_problems(samples)
    expect(not problems, "%s", "; ".join(sorted(set(problems))[:20]))


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
# Prometheus scraping the exporter
# --------------------------------------------------------------------------

class PromFixture:
    def __init__(self, tmp, exporter):
        self.exporter_port = exporter.port()
        self.server = launch.start_go(tmp, name="go-prom")
        try:
            self.child, self.port = launch.start_prometheus(tmp, self.exporter_port)
        except Exception:
            launch.stop_server(self.server)
            raise

    def stop(self):
        procs.stop(self.child)
        launch.stop_server(self.server)

    def query(self, expr):
        """Instant query -> list of (labels, float value)."""
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=10) as r:
            doc = json.load(r)
        expect(doc.get("status") == "success", "query %s: %r", expr, doc)
        return [(res["metric"], float(res["value"][1])) for res in doc["data"]["result"]]

    def wait_value(self, expr, predicate, timeout):
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result and predicate(result[0][1]):
                return result[0][1]
            if time.monotonic() > deadline:
                raise Failure("Prometheus: %s is %r after %.0f s" % (expr, result, timeout))
            time.sleep(0.2)


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
    fix.wait_value('up{job="sse_exporter"}', lambda v: v == 1, 15)
    resps = prom_traffic(fix.server.port, tag, PROM_TRAFFIC_S)
    bad = [r.status for r in resps if r.status != 200 or not r.complete]
    expect(not bad, "ground truth: %d of %d requests failed", len(bad), len(resps))
    n = len(resps)
    # Prometheus must have ingested the final count before rate() means much.
    fix.wait_value("sum(sse_requests_total%s)" % sel, lambda v: v == n, 10)
    check_rate(fix.query("sum(rate(sse_requests_total%s[1m]))" % sel), n)
    check_p95(fix, sel, [r.duration for r in resps])


def check_rate(result, n):
    # All the traffic lies inside the 1m window, so rate() ~ n / 60 s (not
    # n / 20 s): a factor 2 either way absorbs extrapolation at the edges.
    expect(result, "rate() returned nothing")
    rate, want = result[0][1], n / 60.0
    expect(want / 2 <= rate <= want * 2, "rate %.3f/s, want ~%.3f/s (%d requests in the 1m window)",
           rate, want, n)


def check_p95(fix, sel, durations):
    expr = ("histogram_quantile(0.95, sum(rate(sse_request_duration_seconds_bucket%s[1m])) by (le))" % sel)
    result = fix.query(expr)
    expect(result and not math.isnan(result[0][1]), "%s returned %r", expr, result)
    got, truth = result[0][1], p95(durations)
    bounds = exported_bounds(fix.exporter_port, sel)
    i = next(k for k, b in enumerate(bounds) if truth <= b)
    # The bucket holding the client's p95, widened by one bucket each side.
    lo = bounds[i - 2] if i >= 2 else 0.0
    hi = bounds[i + 1] if i + 1 < len(bounds) else math.inf
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
    """{kind: set of ids} of the BPF programs, maps and links on the host."""
    out = {}
    for kind in ("prog", "map", "link"):
        proc = subprocess.run([BPFTOOL, "-j", kind, "show"], capture_output=True, text=True, timeout=30)
        out[kind] = {o["id"] for o in json.loads(proc.stdout or "[]")} if proc.returncode == 0 else set()
    return out


def owned_bpf_objects(pid):
    """{kind: ids} of the BPF objects the process holds file descriptors of,
    from /proc/PID/fdinfo. Only these are checked after shutdown: other BPF
    users on the host (a benchmark's loader...) come and go meanwhile."""
    out = {"prog": set(), "map": set(), "link": set()}
    fdinfo = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        fields = {k.strip(): v.strip() for k, v in fields.items()}
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
                      ("exporter:metrics_json", case_metrics_json),
                      ("exporter:health", case_health),
                      ("exporter:own_metrics", case_own_metrics),
                      ("exporter:catalog", case_catalog)]
    return [
        Group(lambda: exporter, endpoint_cases),
        Group(lambda: PromFixture(tmp, exporter), [("prometheus:rate_and_p95", case_prometheus)],
              lambda fix: fix.stop()),
        Group(lambda: exporter, [("exporter:sigterm", case_sigterm)]),
    ]
