"""Launchers for the SSE test servers, the exporter and Prometheus.

Every launcher returns only once its process answers on its port (over
TLS for the *_tls ones), so tests never depend on fixed sleeps.
"""
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import checks
import client
import procs
import tls

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parent.parent
SERVERS = E2E_DIR / "servers"
# Relative to REPO, as `make` builds it; SSE_EXPORTER overrides (e.g. an
# installed binary).
EXPORTER = os.environ.get("SSE_EXPORTER", "build/sse_exporter")
# Set in an exporter's environment (any value), it counts every stream
# from copies of its writes, as before the kernel counted them (user/main.c).
NO_KSTREAMS = "SSE_EXPORTER_NO_KSTREAMS"
PYTHON = "/usr/bin/python3"
NODE = "/usr/bin/node"
GO = "/usr/bin/go"
NGINX = "/usr/sbin/nginx"
PROMETHEUS = "/usr/bin/prometheus"


def use_copy_path(on):
    """Every exporter of the run (each inherits the runner's environment,
    also those started by setpriv or subprocess.run) counts streams from
    copies (on), or the kernel counts them; the runner's own environment
    does not choose for it."""
    if on:
        os.environ[NO_KSTREAMS] = "1"
    else:
        os.environ.pop(NO_KSTREAMS, None)


def copy_path():
    """Whether the run's exporters count every stream from copies."""
    return NO_KSTREAMS in os.environ


@dataclass
class Server:
    name: str            # prefix of test names: fastapi, node, go, nginx, fastapi-tls, ...
    service: str         # `service` label the exporter should give it (comm)
    port: int
    children: list = field(default_factory=list)
    tls: object = None   # client ssl.SSLContext if the server speaks HTTPS
    times_log: Path = None   # E2E_TIMES_LOG of the server (tests/e2e/README.md)
    backend: "Server" = None  # nginx's: the FastAPI server it proxies to

    # The client entry points, over TLS when the server speaks it: cases
    # written against these run unchanged on plaintext and TLS servers.
    def request(self, req, **kw):
        return client.request(self.port, req, tls=self.tls, **kw)

    def keep_alive(self, reqs, **kw):
        return client.keep_alive(self.port, reqs, tls=self.tls, **kw)

    def pipelined(self, reqs, **kw):
        return client.pipelined(self.port, reqs, tls=self.tls, **kw)

    def connect(self, **kw):
        return client.Connection(self.port, tls=self.tls, **kw)


def stop_server(server):
    for child in reversed(server.children):
        procs.stop(child)


def build_go(tmp):
    """Build servers/go_sse/main.go into tmp/go_sse (the binary's name is the
    service label). Go's caches live under tmp: no module proxy, no $HOME."""
    out = Path(tmp) / "go_sse"
    if out.exists():
        return out
    env = dict(os.environ, GOCACHE=str(Path(tmp) / "gocache"),
               GOPATH=str(Path(tmp) / "gopath"), GO111MODULE="off")
    proc = subprocess.run([GO, "build", "-o", str(out), "main.go"], cwd=SERVERS / "go_sse",
                          env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError("go build failed: %s" % (proc.stdout + proc.stderr))
    return out


def tls_setup(tmp, with_tls):
    """(client SSLContext, [CERT, KEY] server arguments), or (None, [])."""
    if not with_tls:
        return None, []
    cert, key = tls.cert_files(tmp)
    return tls.client_context(tmp), [str(cert), str(key)]


def _start(name, service, argv, tmp, cwd=None, with_tls=False, env=None):
    """argv PORT [CERT KEY]: the servers take the certificate after the port."""
    ctx, tls_args = tls_setup(tmp, with_tls)
    port = procs.free_port()
    times_log = Path(tmp) / ("%s-%d.times.jsonl" % (name, port))
    env = dict(env or os.environ, E2E_TIMES_LOG=str(times_log))
    child = procs.spawn("%s-%d" % (name, port), argv + [str(port)] + tls_args, tmp, cwd=cwd, env=env)
    server = Server(name, service, port, [child], ctx, times_log)
    try:
        procs.wait_http(child, port, tls=ctx)
    except Exception:
        stop_server(server)
        raise
    return server


def start_fastapi(tmp, name="fastapi", with_tls=False, env=None):
    # Started as /usr/bin/python3 so that comm is "python3".
    return _start(name, "python3", [PYTHON, str(SERVERS / "fastapi_sse.py")], tmp, with_tls=with_tls,
                  env=env)


def start_stdlib(tmp, name="stdlib"):
    """servers/stdlib_sse.py, the container cases' server, on the host."""
    return _start(name, "python3", [PYTHON, str(SERVERS / "stdlib_sse.py")], tmp)


def start_node(tmp, name="node", with_tls=False):
    return _start(name, "node", [NODE, str(SERVERS / "node_sse.js")], tmp, with_tls=with_tls)


def start_go(tmp, name="go"):
    return _start(name, "go_sse", [str(build_go(tmp))], tmp)


def nginx_tls_directives(tmp, with_tls):
    """(@SSL@, @TLS@) of nginx.conf.tmpl: the listen flag and the certificate."""
    if not with_tls:
        return "", ""
    cert, key = tls.cert_files(tmp)
    return " ssl", "ssl_certificate %s; ssl_certificate_key %s;" % (cert, key)


def start_nginx(tmp, name="nginx", with_tls=False):
    """nginx (master + 1 worker) in front of its own plaintext FastAPI
    backend; with_tls: nginx terminates TLS."""
    backend = start_fastapi(tmp, name=name + "-backend")
    ctx, _ = tls_setup(tmp, with_tls)
    ssl_flag, tls_directives = nginx_tls_directives(tmp, with_tls)
    port = procs.free_port()
    ndir = Path(tmp) / ("%s-%d" % (name, port))
    ndir.mkdir()
    conf = (SERVERS / "nginx.conf.tmpl").read_text()
    for key, value in (("@DIR@", str(ndir)), ("@PORT@", str(port)), ("@SSL@", ssl_flag),
                       ("@TLS@", tls_directives), ("@BACKEND@", str(backend.port))):
        conf = conf.replace(key, value)
    (ndir / "nginx.conf").write_text(conf)
    # -e: log startup errors here too, before nginx.conf's error_log applies.
    child = procs.spawn("%s-%d" % (name, port), [NGINX, "-p", str(ndir), "-c", str(ndir / "nginx.conf"),
                                                 "-e", str(ndir / "error.log")], tmp)
    server = Server(name, "nginx", port, backend.children + [child], ctx, backend=backend)
    try:
        procs.wait_http(child, port, tls=ctx)
    except Exception as e:
        log = (ndir / "error.log").read_text(errors="replace") if (ndir / "error.log").exists() else ""
        stop_server(server)
        raise RuntimeError("%s\nnginx error.log:\n%s" % (e, log[-3000:])) from None
    return server


def start_fastapi_tls(tmp, name="fastapi-tls"):
    """uvicorn with --ssl-certfile/--ssl-keyfile (Python's ssl, libssl.so)."""
    return start_fastapi(tmp, name, with_tls=True)


def start_node_tls(tmp, name="node-tls"):
    """Node `https` (OpenSSL linked into the node binary)."""
    return start_node(tmp, name, with_tls=True)


def start_nginx_tls(tmp, name="nginx-tls"):
    """nginx terminating TLS in front of the plaintext FastAPI backend."""
    return start_nginx(tmp, name, with_tls=True)


STARTERS = {"fastapi": start_fastapi, "node": start_node, "go": start_go, "nginx": start_nginx}
# The same servers and API over HTTPS, with the run's self-signed certificate.
TLS_STARTERS = {"fastapi-tls": start_fastapi_tls, "node-tls": start_node_tls, "nginx-tls": start_nginx_tls}


# The shared exporter sweeps every second: checks.settle() waits one sweep
# after values match to see that they stay, on every case.
SHARED_EXPORTER_FLAGS = ("--sweep.interval=1",)


def spawn_exporter(tmp, extra, name="sse_exporter", env=None):
    """An exporter with `extra` flags (and `env` added to the runner's
    environment) on a free port, its output in tmp/NAME-PORT.log, not
    waited for: (child, port)."""
    if not (REPO / EXPORTER).exists():   # an absolute EXPORTER wins over REPO
        raise RuntimeError("%s does not exist: run `make` first" % (REPO / EXPORTER))
    port = procs.free_port()
    child = procs.spawn("%s-%d" % (name, port), [EXPORTER, "--web.listen-address=127.0.0.1:%d" % port,
                                                 "--log.level=info"] + list(extra), tmp, cwd=REPO,
                         env=dict(os.environ, **env) if env else None)
    return child, port


def start_exporter(tmp, timeout=30.0, extra=SHARED_EXPORTER_FLAGS, name="sse_exporter", env=None):
    """spawn_exporter(), returning once /health is 200, its sweep interval
    registered for checks.settle()."""
    child, port = spawn_exporter(tmp, extra, name, env)
    try:
        procs.wait_http(child, port, "/health", timeout=timeout)
    except RuntimeError as e:
        procs.stop(child)
        raise RuntimeError("exporter never answered /health with 200: %s\n--- full exporter log ---\n%s"
                           % (e, child.log.read_text(errors="replace"))) from None
    checks.register_sweep(port, sweep_interval(extra))
    return child, port


def sweep_interval(args):
    for arg in args:
        if arg.startswith("--sweep.interval="):
            return float(arg.split("=", 1)[1])
    return checks.DEFAULT_SWEEP_S


def start_prometheus(tmp, target_port, timeout=30.0, name="prometheus", rule_files=()):
    """Prometheus scraping 127.0.0.1:target_port and evaluating
    `rule_files` every second; its configuration and data in tmp/NAME."""
    pdir = Path(tmp) / name
    pdir.mkdir(exist_ok=True)
    rules = "".join("\n  - '%s'" % Path(f).resolve() for f in rule_files)
    (pdir / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "rule_files:%s\n"
        "scrape_configs:\n  - job_name: sse_exporter\n"
        "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % (rules or " []", target_port))
    port = procs.free_port()
    child = procs.spawn(name, [PROMETHEUS, "--config.file=%s" % (pdir / "prometheus.yml"),
                               "--storage.tsdb.path=%s" % (pdir / "data"),
                               "--web.listen-address=127.0.0.1:%d" % port], tmp)
    try:
        procs.wait_http(child, port, "/-/ready", timeout=timeout)
    except Exception:
        procs.stop(child)
        raise
    return child, port
