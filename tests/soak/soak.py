"""`make soak`: the exporter under steady mixed traffic for minutes, checked
every minute (issue 14, item 5).

    /usr/bin/python3 tests/soak/soak.py [--minutes N]   (SOAK_MINUTES, 10)

One exporter (build/sse_exporter, --sweep.interval=1) and the e2e tests'
servers under names of their own: the Go server (plaintext, restarted
every minute: a process that goes and a new one on another port), the
FastAPI server over TLS, and the LLM gateway in front of fake providers
over TLS (upstream calls, some of which the provider fails with a 500).
Client threads keep a steady rate of:

  - streams read to their end (plaintext and TLS, keep-alive: two streams a
    connection on the Go server),
  - streams the client abandons after a few events,
  - gateway calls, streamed, one in FAIL_EVERY failing upstream.

Every minute the traffic pauses until every request it started has ended,
and then the checkpoint must hold, on the exporter's /metrics against the
clients' own counts since the start:

  - sse_requests_total per service and path = the streams asked for (the
    failed gateway calls too: they asked for one), and
    sse_chunks_streamed_total = the data events of the streams read whole;
  - http_requests_total{status="502"} of the gateway = the failed calls;
  - sse_active_connections of the soak's services = 0, and
    http_connections_active but the provider's (the gateway's pool keeps
    its connections to it open);
  - no series of a counter or histogram of the soak's services, nor of
    the exporter's own, went down since the last checkpoint; sse_exporter_events_lost_total = 0;
  - RSS and the conns map's fill are recorded; at the end, each must be
    within FLAT_RSS_MB / FLAT_CONNS of its value at the first checkpoint.

Prints a line per checkpoint and a last line "soak: PASS ..." or "soak:
FAIL: <reasons>"; exits 1 on failure. Run as root (BPF), stdlib only.
"""
import argparse
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import client  # noqa: E402
import isolated  # noqa: E402
import launch  # noqa: E402
import metrics  # noqa: E402
import procs  # noqa: E402
import upstream_cases as up  # noqa: E402

WORKERS = 6          # client threads
FAIL_EVERY = 5       # one gateway call in FAIL_EVERY fails upstream
FLAT_RSS_MB = 8.0    # RSS growth allowed from the first checkpoint to the last
FLAT_CONNS = 50      # conns map entries, likewise
EVENTS = 20          # per stream, 10 ms apart
ABORT_AFTER = 3      # events read before a client abandons its stream
GO_NAME, TLS_NAME = "soak_go", "soak_tls"
# The gateway and providers of the e2e upstream group, under names of the
# soak's own (their comms, so their series): an e2e run meanwhile has its
# own up_gateway, which this exporter sees too.
up.GATEWAY, up.PROVIDER, up.REFUSABLE = "soak_gw", "soak_prov", "soak_prov_r"
SERVICES = (GO_NAME, TLS_NAME, up.GATEWAY, up.PROVIDER)
COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


class Truth:
    """What the clients saw, by (service, path label): SSE responses,
    data events of the streams read whole; failed gateway calls."""

    def __init__(self):
        self.lock = threading.Lock()
        self.streams, self.events, self.failed_calls = {}, {}, 0

    def stream(self, key, resp, whole):
        with self.lock:
            self.streams[key] = self.streams.get(key, 0) + 1
            if whole:
                self.events[key] = self.events.get(key, 0) + resp.data_events


class Soak:
    def __init__(self, tmp):
        self.tmp, self.truth, self.failures = tmp, Truth(), []
        self.exp = isolated.start_exporter(tmp, "soak", ["--sweep.interval=1"] + up.EXPORTER_FLAGS)
        self.go = isolated.start_go(tmp, GO_NAME)
        alias = isolated.alias(tmp, launch.PYTHON, TLS_NAME)
        self.tls = launch._start(TLS_NAME, TLS_NAME, [str(alias), str(launch.SERVERS / "fastapi_sse.py")],
                                 tmp, with_tls=True)
        self.up = up.Upstream(tmp, with_exporter=False, group="soak")
        self.go_lock = threading.Lock()

    def stop(self):
        for s in (self.go, self.tls):
            launch.stop_server(s)
        self.up.stop()
        self.exp.stop()

    # ---- traffic ---------------------------------------------------------

    def go_streams(self):
        """Two streams on one keep-alive connection, read whole."""
        with self.go_lock:
            port = self.go.port
        req = client.events("/events/soak-full/%d" % random.randint(1, 10 ** 9),
                            {"events": EVENTS, "interval_ms": 10})
        for resp in client.keep_alive(port, [req, req]):
            self.check_stream(resp, (GO_NAME, "/events/soak-full/:id"), True)

    def go_abandoned(self):
        with self.go_lock:
            port = self.go.port
        req = client.events("/events/soak-abort/%d" % random.randint(1, 10 ** 9),
                            {"events": EVENTS, "interval_ms": 10})
        resp = client.request(port, req, abort_after_events=ABORT_AFTER)
        self.check_stream(resp, (GO_NAME, "/events/soak-abort/:id"), False)

    def tls_stream(self):
        req = client.events("/events/soak-tls/%d" % random.randint(1, 10 ** 9),
                            {"events": EVENTS, "interval_ms": 10})
        self.check_stream(self.tls.request(req), (TLS_NAME, "/events/soak-tls/:id"), True)

    def gateway_call(self, n):
        fields = {"fail_status": 500} if n % FAIL_EVERY == 0 else {"chunks": 5, "interval_ms": 10}
        body = up.chat_body("api.openai.com", "soak-model", **fields)
        call = self.up.call("soak", body)
        if fields.get("fail_status"):
            if call.resp.status != 502:
                self.failures.append("ground truth: a failed upstream answered %d" % call.resp.status)
            with self.truth.lock:
                self.truth.failed_calls += 1
            # asked for a stream: an SSE request that failed
            self.truth.stream((up.GATEWAY, up.chat_path("soak")), call.resp, False)
        else:
            self.check_stream(call.resp, (up.GATEWAY, up.chat_path("soak")), True)

    def check_stream(self, resp, key, whole):
        want_events = EVENTS if whole and key[0] != up.GATEWAY else resp.data_events
        if resp.status != 200 or (whole and not resp.complete) or resp.data_events != want_events:
            self.failures.append("ground truth: %s answered %s, %d events, complete %s" % (
                key, resp.status, resp.data_events, resp.complete))
        self.truth.stream(key, resp, whole)

    def worker(self, stop, gate, i):
        jobs = [self.go_streams, self.go_abandoned, self.tls_stream]
        n = i
        while not stop.is_set():
            gate.rest_if_paused()
            n += 1
            try:
                if n % 4 == 0:
                    self.gateway_call(n // 4)
                else:
                    jobs[n % 3]()
            except Exception as e:  # noqa: BLE001 - every failure is reported
                self.failures.append("client: %r" % e)

    def restart_go(self):
        """A new Go server process (same name, another port)."""
        old = self.go
        new = isolated.start_go(self.tmp, GO_NAME)
        with self.go_lock:
            self.go = new
        launch.stop_server(old)

    # ---- checkpoints ---------------------------------------------------

    def expected(self):
        with self.truth.lock:
            streams, events, failed = dict(self.truth.streams), dict(self.truth.events), self.truth.failed_calls
        return streams, events, failed

    def check(self, samples, prev):
        """The checkpoint's problems."""
        problems = []
        streams, events, failed = self.expected()
        for (svc, path), n in streams.items():
            got = metrics.total(samples, "sse_requests_total", service=svc, path=path)
            if got != n:
                problems.append("sse_requests_total{%s,%s} %s, clients saw %d" % (svc, path, got, n))
        for (svc, path), n in events.items():
            got = metrics.total(samples, "sse_chunks_streamed_total", service=svc, path=path)
            if got != n:
                problems.append("sse_chunks_streamed_total{%s,%s} %s, clients read %d" % (svc, path, got, n))
        got = metrics.total(samples, "http_requests_total", service=up.GATEWAY, status="502")
        if got != failed:
            problems.append("gateway http_requests_total{status=502} %s, %d calls failed" % (got, failed))
        for svc in SERVICES:
            # the gateway's pool keeps its connections to the provider open
            gs = ("sse_active_connections",) + (("http_connections_active",) if svc != up.PROVIDER else ())
            for g in gs:
                v = metrics.total(samples, g, service=svc)
                if v:
                    problems.append("%s{%s} %s at rest" % (g, svc, v))
        lost = metrics.total(samples, "sse_exporter_events_lost_total")
        if lost:
            problems.append("%d records lost" % lost)
        for (name, lbl), v in (prev or {}).items():
            if not (name.endswith(COUNTER_SUFFIXES) and ours(name, lbl)):
                continue
            if (name, lbl) in samples and samples[(name, lbl)] < v:
                problems.append("%s%s went down: %s -> %s" % (name, dict(lbl), v, samples[(name, lbl)]))
        return problems

    def settled(self, prev, timeout=15.0):
        """The checkpoint once it holds (the exporter lags its records by
        up to ~100 ms and gauges by a sweep), or its last problems."""
        deadline = time.monotonic() + timeout
        while True:
            samples = self.exp.scrape()
            problems = self.check(samples, prev)
            if not problems or time.monotonic() > deadline:
                return samples, problems
            time.sleep(0.2)  # poll interval of a wait with a timeout


class Gate:
    """Pauses the workers between their requests: pause() returns once all
    of them rest, with nothing of theirs in flight."""

    def __init__(self, n):
        self.n, self.cond, self.resting, self.paused = n, threading.Condition(), 0, False

    def rest_if_paused(self):
        with self.cond:
            if not self.paused:
                return
            self.resting += 1
            self.cond.notify_all()
            self.cond.wait_for(lambda: not self.paused)
            self.resting -= 1

    def pause(self, timeout=120.0):
        """False when the workers did not all come to rest in time."""
        with self.cond:
            self.paused = True
            return self.cond.wait_for(lambda: self.resting == self.n, timeout)

    def resume(self):
        with self.cond:
            self.paused = False
            self.cond.notify_all()


def ours(name, lbl):
    """A series of the soak's servers, or one of the exporter's own without
    a service: other processes' series expire when they go
    (--series.stale-after), and start again from zero."""
    svc = dict(lbl).get("service")
    return svc in SERVICES or (svc is None and name.startswith("sse_exporter_"))


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def run(minutes):
    tmp = tempfile.mkdtemp(prefix="sse-soak-")
    procs.install_cleanup()
    soak = Soak(tmp)
    stop, gate, rows, reasons, prev = threading.Event(), Gate(WORKERS), [], [], None
    workers = [threading.Thread(target=soak.worker, args=(stop, gate, i), daemon=True)
               for i in range(WORKERS)]
    try:
        for t in workers:
            t.start()
        t0 = time.monotonic()
        for minute in range(1, minutes + 1):
            time.sleep(max(0.0, t0 + 60 * minute - time.monotonic()))   # the traffic's minute
            if not gate.pause():
                reasons.append("minute %d: clients did not come to rest in 120 s" % minute)
                break
            samples, problems = soak.settled(prev)
            rss = rss_mb(soak.exp.child.pid)
            conns = metrics.total(samples, "sse_exporter_map_entries", map="conns")
            streams, events, failed = soak.expected()
            rows.append((minute, rss, conns, sum(streams.values()), sum(events.values()), failed))
            print("minute %2d: RSS %.1f MB, conns map %d, streams %d, events %d, failed calls %d, "
                  "problems %d" % (rows[-1] + (len(problems),)), flush=True)
            for p in problems[:5]:
                print("  " + p, flush=True)
            reasons += ["minute %d: %s" % (minute, p) for p in problems + soak.failures]
            soak.failures.clear()
            prev = samples
            soak.restart_go()
            gate.resume()
    finally:
        stop.set()
        gate.resume()
        for t in workers:
            t.join(60)
        soak.stop()
    if len(rows) >= 2:
        if rows[-1][1] - rows[0][1] > FLAT_RSS_MB:
            reasons.append("RSS grew %.1f MB (%.1f -> %.1f)" % (rows[-1][1] - rows[0][1], rows[0][1], rows[-1][1]))
        if rows[-1][2] - rows[0][2] > FLAT_CONNS:
            reasons.append("conns map grew by %d entries" % (rows[-1][2] - rows[0][2]))
    figures = ("%d min, %d streams, %d events, %d failed calls, RSS %.1f -> %.1f MB, conns map %d -> %d"
               % ((len(rows), rows[-1][3], rows[-1][4], rows[-1][5], rows[0][1], rows[-1][1], rows[0][2],
                   rows[-1][2]) if rows else (0, 0, 0, 0, 0, 0, 0, 0)))
    if reasons:
        print("soak: FAIL: %s | %s" % ("; ".join(reasons[:10]), figures))
        return 1
    print("soak: PASS: %s, every checkpoint exact, nothing lost" % figures)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=int(os.environ.get("SOAK_MINUTES", 10)))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak: needs root (BPF): sudo make soak")
    return run(args.minutes)


if __name__ == "__main__":
    sys.exit(main())
