"""Robustness tests: servers killed mid-stream, sockets that disappear
without close(), hostile bytes, label caps, process selection, refusal to
run unprivileged, sendfile bodies, a port reused by a new process.

Every server here runs under a name of its own (a copy of the Go server
binary, or a symlink to python3 / nginx in tmp/rb-bin), so its comm, hence
its `service` label, is unique to one test: service-only gauges and
counters see no foreign traffic. The cases use their own exporters (not the
suite's shared one), started with the flags they need:

- `main`: every process, `--sweep.interval=1`;
- `hostile`: `--pid` of the hostile-input server (rb_hostile), so that the
  process-wide lost-exchange counter is that server's;
- `caps`: `--pid` of one server, `--limits.max-paths=5 --limits.max-models=3`;
- `selection`: four exporters with `--pid`, `--port`, `--exe` selections.
The helpers for both are in isolated.py.
"""
import os
import random
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import checks
import client
import launch
import metrics
import procs
from checks import gauge, inc
from framework import Failure, Group, expect
from isolated import (SWEEP_S, alias, bin_dir, gauges, go_binary, in_background, joined, ready,
                      start_exporter, start_exporters, start_fastapi, start_fd_drop, start_go,
                      start_server, streams, uid)

PROMTOOL = "/usr/bin/promtool"
NOBODY = 65534


# --------------------------------------------------------------------------
# Helpers shared by the cases
# --------------------------------------------------------------------------

def service_series(samples, svc):
    return {(n, lbl): v for (n, lbl), v in samples.items() if dict(lbl).get("service") == svc}


def label_values(samples, svc, label):
    return {dict(lbl)[label] for (_, lbl) in service_series(samples, svc) if label in dict(lbl)}


def new_requests(before, after, svc):
    """{(method, path, status): n} answered by svc between the scrapes."""
    out = {}
    for (name, lbl), d in metrics.delta(before, after).items():
        labels = dict(lbl)
        if name == "http_requests_total" and labels.get("service") == svc and d:
            key = (labels.get("method"), labels.get("path"), labels.get("status"))
            out[key] = out.get(key, 0) + d
    return out


def settle_explained(exp, before, expects, svc, timeout=checks.SETTLE_TIMEOUT):
    """checks.settle, and on failure every request the service was counted
    for in the meantime (with hostile input the label is the question)."""
    try:
        return exp.settle(before, expects, timeout)
    except Failure as e:
        seen = new_requests(before, exp.scrape(), svc)
        raise Failure("%s; counted for %s meanwhile: %s" % (
            e, svc, ", ".join("%s %r %s +%s" % (k + (checks.fmt(n),)) for k, n in sorted(seen.items()))
            or "nothing")) from None


class SumOf(checks.Expect):
    """The changes of several series add up to n (e.g. a request counted,
    or else accounted as lost)."""

    def __init__(self, parts, n):
        super().__init__(" + ".join(checks.series(name, f) for name, f in parts), {},
                         lambda d: abs(d - n) < checks.EPS, "+= %s" % checks.fmt(n))
        self.parts = parts

    def observed(self, before, after):
        return sum(metrics.total(after, name, **f) - metrics.total(before, name, **f)
                   for name, f in self.parts)

    def describe(self, before, after):
        each = ", ".join("%s" % checks.fmt(metrics.total(after, name, **f) - metrics.total(before, name, **f))
                         for name, f in self.parts)
        return "%s %s, got %s (%s)" % (self.name, self.want, checks.fmt(self.observed(before, after)), each)


CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def exposition_ok(exp):
    """The exporter is alive, /health is 200, /metrics is UTF-8 without raw
    control bytes, every line parses and promtool has nothing to say."""
    expect(exp.child.alive(), "the exporter died (status %s): %s", exp.child.popen.returncode,
           exp.child.tail(10))
    status, _, body = metrics.fetch(exp.port, "/health")
    expect(status == 200, "/health answered %d: %s", status, body[:200])
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % exp.port, timeout=5) as r:
        raw = r.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Failure("/metrics is not UTF-8: %s: %r" % (e, raw[max(e.start - 120, 0):e.end + 40])) from None
    bad = CONTROL.search(text)
    if bad:
        i = bad.start()
        raise Failure("/metrics has a raw control byte %r: %r" % (bad.group(), text[max(i - 120, 0):i + 40]))
    try:
        metrics.parse(text)
    except metrics.ParseError as e:
        raise Failure("/metrics does not parse: %s" % e) from None
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=raw, capture_output=True, timeout=60)
    said = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()
    expect(proc.returncode == 0 and not said, "promtool exit %d: %s", proc.returncode, said[:1500])


# --------------------------------------------------------------------------
# Fixture of the main exporter (every process, --sweep.interval=1)
# --------------------------------------------------------------------------

class Main:
    def __init__(self, tmp):
        self.tmp = tmp
        self.exp = start_exporter(tmp, "main", ["--sweep.interval=%g" % SWEEP_S])
        self.hostile = None       # (Exp, Server)

    def hostile_pair(self):
        """One FastAPI server (comm rb_hostile) for all hostile-input
        cases, watched by an exporter of its own that selects only its pid:
        process-wide counters (sse_exporter_exchanges_lost_total) then
        count this server's exchanges alone, and another process's loss
        cannot pass for its."""
        if self.hostile is None:
            srv = start_fastapi(self.tmp, "rb_hostile")
            try:
                exp = start_exporter(self.tmp, "hostile", ["--pid=%d" % srv.children[0].pid,
                                                           "--sweep.interval=%g" % SWEEP_S])
            except Exception:
                launch.stop_server(srv)
                raise
            self.hostile = (exp, srv)
            # The launcher's readiness GET came before this exporter: one it
            # sees, for ready().
            expect(client.request(srv.port, client.get("/health")).status == 200,
                   "ground truth: GET /health failed")
        return self.hostile

    def stop(self):
        if self.hostile:
            self.hostile[0].stop()
            launch.stop_server(self.hostile[1])
        self.exp.stop()


# --------------------------------------------------------------------------
# 1. SIGKILL of a server with streams in flight
# --------------------------------------------------------------------------

def case_kill_mid_stream(fx):
    exp, n = fx.exp, 3
    srv = start_go(fx.tmp, "rb_kill_go")
    try:
        svc = srv.service
        path, label = "/events/rb-kill/%s" % uid(), "/events/rb-kill/:id"
        before = ready(exp, srv)
        # ~10 s streams: the kill cuts them long before their end.
        worker = in_background(streams, srv.port, client.events(path, {"events": 100, "interval_ms": 100}), n)
        exp.settle(before, gauges(svc, n), stay=False)
        procs.stop(srv.children[0], sig=signal.SIGKILL)
        t_kill = time.monotonic()
        resps = joined(*worker)
        expect(all(r.status == 200 and r.truncated for r in resps), "ground truth: %r",
               [(r.status, r.truncated, r.data_events) for r in resps])
        streaming = sum(r.data_events > 0 for r in resps)
        exp.settle_within(before, gauges(svc, 0) + [
            inc("sse_requests_total", n, service=svc, path=label, status="failure", code="200"),
            inc("sse_requests_total", n, service=svc, path=label),
            inc("sse_errors_total", n, service=svc, error_type="stream_truncated"),
            inc("sse_errors_total", streaming, service=svc, error_type="stream_truncated", stage="streaming"),
            inc("sse_chunks_streamed_total", sum(r.data_events for r in resps), service=svc, path=label),
            inc("http_requests_total", n, service=svc, path=label, status="200"),
        ], 3.0, t_kill)
    finally:
        launch.stop_server(srv)


# --------------------------------------------------------------------------
# 2. An fd that stops being the socket without close()
# --------------------------------------------------------------------------

def fd_drop_case(how, name):
    def case(fx):
        exp = fx.exp
        srv = start_fd_drop(fx.tmp, name)
        try:
            svc = srv.service
            before = ready(exp, srv)
            base = metrics.total(before, "http_connections_active", service=svc)
            with client.Connection(srv.port, timeout=10) as conn:
                conn.send(client.get("/hold/%s/%s" % (how, uid())))
                # The exporter counts the connection while the server holds it.
                exp.settle(before, [gauge("http_connections_active", base + 1, service=svc)], stay=False)
                os.kill(srv.children[0].pid, signal.SIGUSR1)
                t_drop = time.monotonic()
                # Ground truth: the socket is gone (the client reads EOF).
                try:
                    got = conn.sock.recv(100)
                except ConnectionResetError:
                    got = b""
                expect(got == b"", "ground truth: the server wrote %r instead of dropping the socket", got)
                fds = "/proc/%d/fd" % srv.children[0].pid
                left = [fd for fd in os.listdir(fds)
                        if os.readlink(os.path.join(fds, fd)).startswith("socket:")]
                expect(len(left) == 1, "ground truth: the server still holds %d sockets (want only its "
                       "listener)", len(left))
                exp.settle_within(before, [gauge("http_connections_active", base, service=svc),
                                           gauge("sse_active_connections", 0, service=svc),
                                           inc("http_requests_total", 0, service=svc)],
                                  SWEEP_S + 1.5, t_drop)
        finally:
            launch.stop_server(srv)
    return case


# --------------------------------------------------------------------------
# 3. Hostile input against FastAPI (comm rb_hostile)
# --------------------------------------------------------------------------

def send_raw(port, data):
    """Raw bytes on a new connection, closed after the first response;
    returns it, or None if the server closed without one."""
    with client.Connection(port, timeout=10) as conn:
        t0 = time.monotonic()
        conn.sock.sendall(data)
        t1 = time.monotonic()
        try:
            return conn.read_response(t0, t1)
        except client.PeerClosed:
            return None


def legit(port, tag):
    """A plain GET on a fresh connection; returns its path (= its label)."""
    label = "/items/rb-hostile-%s/ok" % tag
    resp = client.request(port, client.get(label))
    expect(resp.status == 200, "ground truth: legit GET answered %d", resp.status)
    return label


def legit_expects(svc, label):
    return [inc("http_requests_total", 1, service=svc, method="GET", path=label, status="200"),
            inc("http_request_duration_seconds_count", 1, service=svc, method="GET", path=label)]


def hostile_case(fn):
    """fn(port, svc) sends its input and returns (expects, n answered
    requests to count for the service apart from the legit one); n may be
    ("counted or lost", k): k requests each either counted or accounted as
    a lost exchange."""
    def case(fx):
        exp, srv = fx.hostile_pair()
        svc = srv.service
        before = ready(exp, srv)
        expects, n = fn(srv.port, svc)
        label = legit(srv.port, fn.__name__)
        if isinstance(n, tuple):
            total = SumOf([("http_requests_total", {"service": svc}),
                           ("sse_exporter_exchanges_lost_total", {})], n[1] + 1)
        else:
            total = inc("http_requests_total", n + 1, service=svc)
        settle_explained(exp, before, expects + legit_expects(svc, label) + gauges(svc, 0) + [total],
                         svc)
        exposition_ok(exp)
    return case


def garbage(port, svc):
    """Binary garbage as the first bytes of a connection: not HTTP, so
    nothing is counted for it."""
    data = b"\x00\x01\xff\xfe\x16\x03\x01garbage\r\n\x00\x80\r\n\r\n" + bytes(range(256))
    send_raw(port, data)
    return [], 0


def huge_header(port, svc):
    """A 100 KB header: beyond the head limit, and beyond the per-syscall
    capture if the server reads it at once, so the exchange is either
    counted or accounted as lost (sse_exporter_exchanges_lost_total), never
    silently dropped. The lost counter has no service label: it proves
    something only because the hostile exporter selects this server's pid
    alone (Main.hostile_pair)."""
    path = "/rb-hostile/huge/%s" % uid()
    data = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000
            + b"\r\nConnection: close\r\n\r\n")
    resp = send_raw(port, data)
    expect(resp is not None and resp.status > 0, "ground truth: no answer to the 100 KB header")
    label = re.sub(r"/\d+$", "/:id", path)
    return [SumOf([("http_requests_total", {"service": svc, "path": label, "status": str(resp.status)}),
                   ("sse_exporter_exchanges_lost_total", {})], 1)], ("counted or lost", 1)


def label_forms(raw):
    """Label values acceptable for raw bytes (a path or model): the text
    itself when it is UTF-8, or with unsafe bytes/characters replaced by
    '_'; control characters never stay raw (the exposition escapes \\n)."""
    out = set()
    for b in {raw, urllib.parse.unquote_to_bytes(raw)}:
        out.add("".join(chr(c) if 0x20 < c < 0x7f and c not in b'"\\' else "_" for c in b))
        out.add("".join(chr(c) if 0x20 <= c < 0x7f else "_" for c in b))
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            continue
        out.add(s)
        out.add("".join(c if c.isprintable() and c not in '"\\' else "_" for c in s))
        out.add("".join(c if c.isprintable() else "_" for c in s))
    return tuple(sorted(out))


def path_chars(port, svc):
    """Paths with '"', '\\', %0A, UTF-8 and a non-UTF-8 byte; each request is
    counted once with the status the client got, under a label derived from
    the path (exact, or unsafe bytes replaced)."""
    n = uid()
    raws = [b'/rb-hostile/q"uo\\te%0Aline/' + n.encode() + b"x",
            b"/rb-hostile/u8/\xc3\xa9t\xc3\xa9/\xff\xfe/" + n.encode() + b"y"]
    expects = []
    for raw in raws:
        resp = send_raw(port, b"GET " + raw + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        expect(resp is not None, "ground truth: no answer to GET %r", raw)
        expects.append(inc("http_requests_total", 1, service=svc, method="GET", path=label_forms(raw),
                           status=str(resp.status)))
    return expects, len(raws)


def model_escapes(port, svc):
    """A JSON model with \\", \\\\ and \\n escapes: the label is the decoded
    value (a newline escaped or replaced, never raw)."""
    model = 'rb-hostile "q" \\b\\ \nl' + uid()
    prefix = "/rb-hostile-model"
    chat = prefix + "/v1/chat/completions"
    resp = client.request(port, client.chat({"events": 3}, model, prefix=prefix))
    expect(resp.status == 200 and resp.is_sse and resp.complete and resp.data_events == 3,
           "ground truth: %d sse=%s complete=%s events=%d", resp.status, resp.is_sse, resp.complete,
           resp.data_events)
    forms = label_forms(model.encode())
    return [inc("sse_requests_total", 1, service=svc, path=chat, model=forms, status="success", code="200"),
            inc("sse_requests_total", 1, service=svc, path=chat),
            inc("sse_time_to_first_chunk_seconds_count", 1, service=svc, path=chat, model=forms),
            inc("http_requests_total", 1, service=svc, method="POST", path=chat, status="200")], 1


def trailing_garbage(port, svc):
    """A valid GET followed, in the same write, by 1000 random bytes: the
    GET is counted once, the bytes after it nothing."""
    seed = random.randrange(1 << 30)
    tail = random.Random(seed).randbytes(1000)
    path = "/items/rb-hostile-tail/ok"
    resp = send_raw(port, client.get(path).encode() + tail)
    expect(resp is not None and resp.status == 200, "ground truth (seed %d): %r", seed,
           resp and resp.status)
    return [inc("http_requests_total", 1, service=svc, method="GET", path=path, status="200")], 1


# --------------------------------------------------------------------------
# 7. sendfile: nginx serving a static file (comm rb_nginx)
# --------------------------------------------------------------------------

NGINX_CONF = """daemon off;
master_process on;
worker_processes 1;
user root;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log info;
events { worker_connections 64; }
http {
    access_log @DIR@/access.log;
    client_body_temp_path @DIR@/client_body;
    proxy_temp_path @DIR@/proxy;
    fastcgi_temp_path @DIR@/fastcgi;
    uwsgi_temp_path @DIR@/uwsgi;
    scgi_temp_path @DIR@/scgi;
    default_type application/octet-stream;
    keepalive_timeout 30s;
    server {
        listen 127.0.0.1:@PORT@;
        location = /health { default_type application/json; return 200 '{"status": "ok"}'; }
        @SERVER@
    }
}
"""

STATIC_SERVER = """sendfile on;
        tcp_nopush on;
        root @DIR@/www;"""

# SSE through: no buffering, HTTP/1.1 upstream; a backend silent for
# @READ_TIMEOUT@ makes nginx give up on it and close the client's stream.
PROXY_SERVER = """location / {
            proxy_pass http://127.0.0.1:@BACKEND@;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout @READ_TIMEOUT@;
        }"""


def start_nginx_with(tmp, name, server_block, subs=(), files=None):
    """nginx under its own name (comm) with NGINX_CONF's server block
    completed by server_block; subs are more (placeholder, value) pairs,
    files {path under www/: bytes}."""
    port = procs.free_port()
    ndir = Path(tmp) / ("%s-%d" % (name, port))
    ndir.mkdir(parents=True)
    for rel, content in (files or {}).items():
        (ndir / "www" / rel).parent.mkdir(parents=True, exist_ok=True)
        (ndir / "www" / rel).write_bytes(content)
    conf = NGINX_CONF.replace("@SERVER@", server_block)
    for key, value in (("@DIR@", str(ndir)), ("@PORT@", str(port))) + tuple(subs):
        conf = conf.replace(key, value)
    (ndir / "nginx.conf").write_text(conf)
    try:
        return start_server(tmp, name, [alias(tmp, launch.NGINX, name), "-p", ndir, "-c", ndir / "nginx.conf",
                                        "-e", ndir / "error.log"], port, port_arg=False)
    except Exception as e:
        log = (ndir / "error.log").read_text(errors="replace") if (ndir / "error.log").exists() else ""
        raise RuntimeError("%s\nnginx error.log:\n%s" % (e, log[-2000:])) from None


def start_static_nginx(tmp, name, files):
    return start_nginx_with(tmp, name, STATIC_SERVER, files=files)


def start_proxy_nginx(tmp, name, backend_port, read_timeout_s):
    return start_nginx_with(tmp, name, PROXY_SERVER, (("@BACKEND@", str(backend_port)),
                                                      ("@READ_TIMEOUT@", "%ds" % read_timeout_s)))


def send_secrets(port, svc):
    """Secrets wherever a client puts them: a query string, Authorization
    and Cookie headers, a JSON body beside its model and in its messages.
    Returns (the secrets, what must be counted: each request, under its
    derived labels only)."""
    secrets = ["rbsecret%sx%d" % (uid(), i) for i in range(6)]
    get = client.Req("GET", "/items/rb-secret/%s?api_key=%s&token=%s" % (uid(), secrets[0], secrets[1]),
                     headers={"Accept": "application/json", "Authorization": "Bearer " + secrets[2],
                              "Cookie": "session=" + secrets[3]})
    resp = client.request(port, get)
    expect(resp.status == 200, "ground truth: GET answered %d", resp.status)
    chat = client.chat({"events": 2}, "rb-secret-model", prefix="/rb-secret")
    chat.body.update(user=secrets[4], messages=[{"role": "user", "content": secrets[5]}])
    chat.headers["Authorization"] = "Bearer " + secrets[2]
    resp = client.request(port, chat)
    expect(resp.status == 200 and resp.complete and resp.data_events == 2, "ground truth: %d %s %d",
           resp.status, resp.complete, resp.data_events)
    return secrets, [inc("http_requests_total", 1, service=svc, method="GET", path="/items/rb-secret/:id",
                         status="200"),
                     inc("sse_requests_total", 1, service=svc, path="/rb-secret/v1/chat/completions",
                         model="rb-secret-model", status="success")]


def case_secrets(fx):
    """No endpoint of the exporter (/metrics, its JSON, the live page,
    /health) carries what a request held beyond the derived labels: the
    secrets sent are nowhere, while the model label, derived from the same
    body, is there (the grep sees labels)."""
    exp, srv = fx.hostile_pair()
    before = ready(exp, srv)
    secrets, expects = send_secrets(srv.port, srv.service)
    settle_explained(exp, before, expects, srv.service)
    bodies = {path: metrics.fetch(exp.port, path)[2] for path in ("/metrics", "/metrics/json", "/", "/health")}
    for path, body in bodies.items():
        leaked = [s for s in secrets if s in body]
        expect(not leaked, "%s carries %s", path, leaked)
    expect("rb-secret-model" in bodies["/metrics"] and "rb-secret-model" in bodies["/metrics/json"],
           "control: the model label is not in the exposition")


def case_sendfile(fx):
    exp, n = fx.exp, 3
    rel = "rb-sendfile/%s/blob.bin" % uid()
    blob = os.urandom(200 * 1024)
    srv = start_static_nginx(fx.tmp, "rb_nginx", {rel: blob})
    try:
        svc, path = srv.service, "/" + rel
        label = re.sub(r"/\d+/", "/:id/", path)
        before = ready(exp, srv)
        resps = client.keep_alive(srv.port, [client.get(path)] * n)
        expect(all(r.status == 200 and r.body == blob for r in resps), "ground truth: %r",
               [(r.status, len(r.body)) for r in resps])
        exp.settle(before, gauges(svc, 0) + [
            inc("http_requests_total", n, service=svc, method="GET", path=label, status="200"),
            inc("http_requests_total", n, service=svc),
            inc("http_request_duration_seconds_count", n, service=svc, method="GET", path=label),
            inc("sse_requests_total", 0, service=svc),
        ])
    finally:
        launch.stop_server(srv)


# --------------------------------------------------------------------------
# 8. A new process on the port of a killed one (same comm, new pid)
# --------------------------------------------------------------------------

def case_port_reuse(fx):
    exp, name = fx.exp, "rb_reuse_go"
    srv1 = start_go(fx.tmp, name)
    port, svc, srv2 = srv1.port, srv1.service, None
    try:
        before = ready(exp, srv1)
        old_get = "/items/rb-reuse-old/first"
        old_path, old_label = "/events/rb-reuse-old/%s" % uid(), "/events/rb-reuse-old/:id"
        idle = client.Connection(port, timeout=10)       # keep-alive, idle when the kill comes
        t0, t1 = idle.send(client.get(old_get))
        expect(idle.read_response(t0, t1).status == 200, "ground truth: first GET failed")
        worker = in_background(client.request, port,
                               client.events(old_path, {"events": 100, "interval_ms": 100}))
        exp.settle(before, [gauge("http_connections_active", 2, service=svc),
                            gauge("sse_active_connections", 1, service=svc)], stay=False)
        old_pid = srv1.children[0].pid
        procs.stop(srv1.children[0], sig=signal.SIGKILL)
        stream = joined(*worker)
        expect(stream.truncated, "ground truth: the old stream was not cut by the kill")
        try:
            got = idle.sock.recv(100)
        except ConnectionResetError:
            got = b""
        expect(got == b"", "ground truth: the idle connection got %r after the kill", got)
        idle.close()
        srv2 = start_go(fx.tmp, name, port=port)
        expect(srv2.children[0].pid != old_pid, "ground truth: the same pid %d", old_pid)
        new_get = "/items/rb-reuse-new/second"
        new_path, new_label = "/events/rb-reuse-new/%s" % uid(), "/events/rb-reuse-new/:id"
        resps = client.keep_alive(port, [client.get(new_get), client.events(new_path, {"events": 3})])
        expect(resps[0].status == 200 and resps[1].complete and resps[1].data_events == 3,
               "ground truth: %r", [(r.status, r.complete, r.data_events) for r in resps])
        exp.settle(before, gauges(svc, 0) + [
            inc("http_requests_total", 1, service=svc, path=old_get, status="200"),
            inc("http_requests_total", 1, service=svc, path=new_get, status="200"),
            inc("http_requests_total", 1, service=svc, path="/health", status="200"),   # srv2's readiness
            inc("http_requests_total", 1, service=svc, path=old_label, status="200"),
            inc("http_requests_total", 1, service=svc, path=new_label, status="200"),
            inc("http_requests_total", 5, service=svc),
            inc("sse_requests_total", 1, service=svc, path=old_label, status="failure"),
            inc("sse_requests_total", 1, service=svc, path=old_label),
            inc("sse_requests_total", 1, service=svc, path=new_label, status="success"),
            inc("sse_requests_total", 1, service=svc, path=new_label),
            inc("sse_errors_total", 1, service=svc),
            inc("sse_chunks_streamed_total", stream.data_events, service=svc, path=old_label),
            inc("sse_chunks_streamed_total", 3, service=svc, path=new_label),
        ])
    finally:
        launch.stop_server(srv1)
        if srv2:
            launch.stop_server(srv2)


# --------------------------------------------------------------------------
# 4. Label caps
# --------------------------------------------------------------------------

CAP_PATHS, CAP_MODELS = 5, 3
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


class Caps:
    def __init__(self, tmp):
        self.server = start_go(tmp, "rb_caps_go")
        try:
            self.exp = start_exporter(tmp, "caps", ["--pid=%d" % self.server.children[0].pid,
                                                    "--limits.max-paths=%d" % CAP_PATHS,
                                                    "--limits.max-models=%d" % CAP_MODELS])
        except Exception:
            launch.stop_server(self.server)
            raise

    def stop(self):
        self.exp.stop()
        launch.stop_server(self.server)


def first_distinct(values, n):
    """The first n distinct values in the order given: what a cap that
    keeps the first comers must keep."""
    out = []
    for v in values:
        if v not in out:
            out.append(v)
    return out[:n]


def caps_traffic(port, seed):
    """5 chat streams (one path, 5 models) and 8 GETs (8 paths), one at a
    time in an order shuffled by seed; returns [(path label, model or
    None)] in the order sent."""
    prefix = "/rb-caps"
    todo = [(prefix + "/v1/chat/completions", "rb-caps-model-%d" % i) for i in range(5)]
    todo += [("/items/rb-caps/%s" % w, None) for w in WORDS]
    random.Random(seed).shuffle(todo)
    for path, model in todo:
        if model:
            r = client.request(port, client.chat({"events": 2}, model, prefix=prefix))
            expect(r.status == 200 and r.complete, "ground truth: chat %s answered %d", model, r.status)
        else:
            r = client.request(port, client.get(path))
            expect(r.status == 200, "ground truth: GET %s answered %d", path, r.status)
    return todo


def case_label_caps(fx):
    """First come, first kept: the first CAP_PATHS distinct paths and the
    first CAP_MODELS distinct models the test sent keep their values,
    every later one is counted under `other`. The order is shuffled (seed
    in the failure) so that only that rule, not a lucky fixed order or
    the exporter's own choice, passes."""
    exp, port, svc = fx.exp, fx.server.port, fx.server.service
    seed = random.randrange(1 << 30)
    before = exp.scrape()
    sent = caps_traffic(port, seed)
    kept_paths = first_distinct([p for p, _ in sent], CAP_PATHS)
    kept_models = first_distinct([m for _, m in sent if m], CAP_MODELS)
    chats = [(p, m) for p, m in sent if m]
    folded_paths = sum(p not in kept_paths for p, _ in sent)
    folded_models = sum(m not in kept_models for _, m in chats)
    expects = [inc("http_requests_total", sum(q == p for q, _ in sent), service=svc, path=p)
               for p in kept_paths]
    expects += [inc("sse_requests_total", 1, service=svc, model=m) for m in kept_models]
    expects += gauges(svc, 0) + [
        inc("http_requests_total", len(sent), service=svc),
        inc("sse_requests_total", len(chats), service=svc),
        inc("http_requests_total", folded_paths, service=svc, path="other"),
        inc("sse_requests_total", sum(p not in kept_paths for p, _ in chats), service=svc, path="other"),
        inc("sse_requests_total", folded_models, service=svc, model="other"),
        inc("sse_exporter_series_dropped_total", folded_paths, label="path"),
        inc("sse_exporter_series_dropped_total", folded_models, label="model"),
    ]
    try:
        after = exp.settle(before, expects)
    except Failure as e:
        raise Failure("seed %d, sent %s: %s" % (seed, [m or p for p, m in sent], e)) from None
    # No value other than the first comers and `other`, in any family.
    for label, kept in (("path", kept_paths), ("model", kept_models)):
        seen = label_values(after, svc, label) - {"other"}
        expect(seen == set(kept), "seed %d: %s values %s, want the first %d sent: %s", seed, label,
               sorted(seen), len(kept), kept)


# --------------------------------------------------------------------------
# 5. Selection: --pid, --port, --exe (also for a process started later)
# --------------------------------------------------------------------------

class Selection:
    """Servers rb_sel_a, rb_sel_b started first; four exporters; rb_sel_c
    started after them (only --exe can pick it)."""

    def __init__(self, tmp):
        self.servers, self.exps = {}, {}
        try:
            for key in "ab":
                self.servers[key] = start_go(tmp, "rb_sel_" + key)
            a, b = self.servers["a"], self.servers["b"]
            go_binary(tmp, "rb_sel_c")
            self.exps = start_exporters(tmp, {
                "pid": ["--pid=%d" % a.children[0].pid],
                "port": ["--port=%d" % b.port],
                "exe": ["--exe=*/rb_sel_a"],
                "exe_later": ["--exe=%s/rb_sel_[c]" % bin_dir(tmp)],
            })
            self.servers["c"] = start_go(tmp, "rb_sel_c")
        except Exception:
            self.stop()
            raise

    def stop(self):
        for exp in self.exps.values():
            exp.stop()
        for srv in self.servers.values():
            launch.stop_server(srv)


def selection_case(which, wanted):
    def case(fx):
        exp = fx.exps[which]
        tag = "rb-sel-" + which.replace("_", "-")
        get_path = "/items/%s/get" % tag
        sse_path, sse_label = "/events/%s/%s" % (tag, uid()), "/events/%s/:id" % tag
        before = exp.scrape()
        for srv in fx.servers.values():
            resps = client.keep_alive(srv.port, [client.get(get_path),
                                                 client.events(sse_path, {"events": 3})])
            expect(resps[0].status == 200 and resps[1].complete, "ground truth (%s): %r", srv.name,
                   [(r.status, r.complete) for r in resps])
        svc = fx.servers[wanted].service
        after = exp.settle(before, gauges(svc, 0) + [
            inc("http_requests_total", 1, service=svc, path=get_path, status="200"),
            inc("sse_requests_total", 1, service=svc, path=sse_label, status="success"),
            inc("http_requests_total", 1, service=svc, path=sse_label, status="200"),
        ])
        # The others were never observed by this exporter: not a single series.
        for key, srv in fx.servers.items():
            if key != wanted:
                leaked = service_series(after, srv.service)
                expect(not leaked, "%s (not selected) has series: %s", srv.service,
                       ", ".join(checks.series(n, dict(l)) for n, l in sorted(leaked, key=str)[:5]))
    return case


# --------------------------------------------------------------------------
# 6. Refusal to start: unprivileged user, bad flag
# --------------------------------------------------------------------------

def run_exporter(args, preexec=()):
    exe = str(launch.REPO / launch.EXPORTER) if not os.path.isabs(launch.EXPORTER) else launch.EXPORTER
    t0 = time.monotonic()
    try:
        proc = subprocess.run(list(preexec) + [exe] + args, capture_output=True, text=True, timeout=10,
                              cwd="/", stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Failure("%s still running after 10 s" % " ".join(args)) from None
    return proc, time.monotonic() - t0


def one_line(stderr):
    lines = stderr.splitlines()
    expect(len(lines) == 1 and stderr.endswith("\n"), "stderr is not one line: %r", stderr[:500])
    return lines[0]


def case_not_root(_):
    exe = launch.REPO / launch.EXPORTER
    mode = exe.stat().st_mode
    expect(mode & 0o001 and all(os.stat(p).st_mode & 0o001 for p in exe.parents),
           "ground truth: %s is not executable by others", exe)
    port = procs.free_port()
    setpriv = ["/usr/bin/setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"]
    proc, elapsed = run_exporter(["--web.listen-address=127.0.0.1:%d" % port], setpriv)
    expect(proc.returncode not in (0, 126, 127) and elapsed < 5,
           "exit status %s after %.1f s; stderr %r", proc.returncode, elapsed, proc.stderr[:300])
    line = one_line(proc.stderr)
    expect(line.startswith("sse_exporter: error:") and re.search(r"\b(root|sudo)\b", line),
           "stderr %r: want `sse_exporter: error: ...` naming root/sudo", line)
    expect(not procs.port_open(port), "port %d is open after the exporter exited", port)


def case_bad_listen_address(_):
    proc, elapsed = run_exporter(["--web.listen-address=bogus"])
    expect(proc.returncode == 2 and elapsed < 5, "exit status %s after %.1f s (want 2); stderr %r",
           proc.returncode, elapsed, proc.stderr[:300])
    line = one_line(proc.stderr)
    expect(line.startswith("sse_exporter:") and "bogus" in line, "stderr %r", line)


def groups(tmp):
    main_cases = [
        ("robustness:kill_mid_stream", case_kill_mid_stream),
        ("robustness:fd_closed_unseen_dup2", fd_drop_case("dup2", "rb_dup2_py")),
        ("robustness:fd_closed_unseen_close_range", fd_drop_case("close_range", "rb_crange_py")),
        ("robustness:hostile_garbage", hostile_case(garbage)),
        ("robustness:hostile_huge_header", hostile_case(huge_header)),
        ("robustness:hostile_path_chars", hostile_case(path_chars)),
        ("robustness:hostile_model_escapes", hostile_case(model_escapes)),
        ("robustness:hostile_trailing_garbage", hostile_case(trailing_garbage)),
        ("robustness:secrets_stay_out", case_secrets),
        ("robustness:sendfile", case_sendfile),
        ("robustness:port_reuse_new_pid", case_port_reuse),
    ]
    return [
        Group(lambda: None, [("robustness:not_root", case_not_root),
                             ("robustness:bad_listen_address", case_bad_listen_address)]),
        Group(lambda: Main(tmp), main_cases, lambda fx: fx.stop()),
        Group(lambda: Caps(tmp), [("robustness:label_caps", case_label_caps)], lambda fx: fx.stop()),
        Group(lambda: Selection(tmp), [("robustness:select_pid", selection_case("pid", "a")),
                                       ("robustness:select_port", selection_case("port", "b")),
                                       ("robustness:select_exe", selection_case("exe", "a")),
                                       ("robustness:select_exe_started_later",
                                        selection_case("exe_later", "c"))],
              lambda fx: fx.stop()),
    ]
