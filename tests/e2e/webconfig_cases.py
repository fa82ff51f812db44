"""`--web.config.file`: TLS, client certificates, basic auth and headers on
the exporter's own endpoints.

The file is in the Prometheus exporter-toolkit web config format. No
other test starts the exporter with it, so an authentication bypass would
pass every other test: these start exporters of their own, for real.

- `webconfig:tls_*`: one exporter with `tls_server_config` (the run's
  certificate, tls.py) and `basic_auth_users`. Ready once GET /health over
  TLS with a right password answers 200.
- `webconfig:plain_*`: one exporter with `basic_auth_users` only, over
  plaintext HTTP: the password is enforced without TLS too.
- `webconfig:mtls_*`: one exporter with TLS, `client_auth_type:
  RequireAndVerifyClientCert` (client_ca_file: CA "ca-a", tls.py),
  `basic_auth_users` and `http_server_config.headers`. Ready once alice,
  with a certificate of ca-a and her password, gets /health. A client
  refused for its certificate is answered 403 (web_config.c says why).
- `webconfig:optional_*`: one exporter with TLS, `client_auth_type:
  VerifyClientCertIfGiven` and `min_version: TLS13`, no passwords.
- `webconfig:refused_*`: one exporter per bad file; each must exit
  non-zero, without ever listening, with one `sse_exporter: error:` line
  that names the problem.

The bcrypt hashes are made at test time with libcrypt's crypt_gensalt and
crypt, "$2b$" as libcrypt writes them and "$2y$" as `htpasswd -B` does; the
passwords are random, one of them with a ':' (Basic auth splits at the
first one only).
"""
import base64
import ctypes
import ctypes.util
import json
import secrets
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import client
import launch
import metrics
import procs
import tls
from framework import Failure, Group, expect

BCRYPT_COST = 10          # exporter-toolkit's documentation example
START_TIMEOUT = 60.0      # BPF loading on a loaded 2-core VM
REQ_TIMEOUT = 15.0        # one bcrypt check per request, on that VM
ERROR_PREFIX = "sse_exporter: error:"
# Bytes that only an answered /metrics, /metrics/json, /health or / (the
# live page) contains.
LEAK_MARKERS = (b"# TYPE", b"# HELP", b"build_info", b'"programs"', b'"status"', b"data-telemetry=")


# --------------------------------------------------------------------------
# Secrets: passwords, bcrypt hashes, web config files
# --------------------------------------------------------------------------

def _libcrypt():
    """libcrypt through ctypes: Python's crypt module is deprecated (gone
    in 3.13), and htpasswd is not installed everywhere."""
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib


def crypt_hash(password, prefix, count=0):
    """crypt(3) hash of password with a fresh salt of scheme `prefix`
    ("$2b$", "$2y$": bcrypt of cost `count`; "$6$": SHA-512 crypt)."""
    lib = _libcrypt()
    setting = lib.crypt_gensalt(prefix.encode(), count, None, 0)
    if not setting:
        raise RuntimeError("libcrypt cannot make a %s salt (no such scheme?)" % prefix)
    out = lib.crypt(password.encode(), setting)
    if not out or out.startswith(b"*"):
        raise RuntimeError("libcrypt failed to hash with %r" % setting)
    return out.decode()


def basic(user, password):
    """The Authorization header value of Basic auth."""
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


@dataclass
class Secrets:
    dir: Path
    cert: Path
    key: Path
    passwords: dict     # user -> password
    hashes: dict        # user -> bcrypt hash

    def auth(self, user):
        return basic(user, self.passwords[user])

    def write(self, name, text):
        path = self.dir / name
        path.write_text(text)
        return path

    def users_yaml(self):
        """basic_auth_users as an operator writes it: bob's hash quoted."""
        return ("basic_auth_users:\n  alice: %s\n  bob: '%s'  # htpasswd -nbB\n"
                % (self.hashes["alice"], self.hashes["bob"]))


_secrets = {}


def secrets_for(tmp):
    """One set per run (bcrypt is slow on purpose): alice's hash is "$2b$",
    bob's "$2y$" and his password has a ':' in it."""
    if tmp not in _secrets:
        d = Path(tmp) / "webconfig"
        d.mkdir(exist_ok=True)
        cert, key = tls.cert_files(tmp)
        passwords = {"alice": secrets.token_urlsafe(12), "bob": "b:" + secrets.token_urlsafe(12)}
        hashes = {"alice": crypt_hash(passwords["alice"], "$2b$", BCRYPT_COST),
                  "bob": crypt_hash(passwords["bob"], "$2y$", BCRYPT_COST)}
        _secrets[tmp] = Secrets(d, cert, key, passwords, hashes)
    return _secrets[tmp]


# --------------------------------------------------------------------------
# Exporters with a web config
# --------------------------------------------------------------------------

@dataclass
class Exp:
    child: procs.Child
    port: int
    tls: object          # client SSLContext, or None for plaintext

    def request(self, path, auth=None, method="GET"):
        """One request on a fresh connection (TLS when the exporter speaks
        it), with `auth` as the Authorization header if given."""
        headers = {} if auth is None else {"Authorization": auth}
        req = client.Req(method, path, headers=headers)
        return client.request(self.port, req, timeout=REQ_TIMEOUT, tls=self.tls)

    def stop(self):
        procs.stop(self.child)


def spawn(tmp, name, config):
    """The exporter with --web.config.file=config on a free port; not waited for."""
    return launch.spawn_exporter(tmp, ["--web.config.file=%s" % config], "sse_exporter-webconfig-" + name)


def wait_ready(exp, auth, timeout=START_TIMEOUT):
    """Until GET /health with `auth` answers 200 (over TLS when exp.tls:
    the handshake with the run's certificate must succeed too). Polling,
    not a fixed sleep: the exporter loads its BPF programs first."""
    deadline, last = time.monotonic() + timeout, "port closed"
    while time.monotonic() < deadline:
        if not exp.child.alive():
            raise RuntimeError("%s exited with status %s before it was ready:\n%s"
                               % (exp.child.name, exp.child.popen.returncode, exp.child.tail()))
        if procs.port_open(exp.port):
            try:
                status = exp.request("/health", auth).status
                if status == 200:
                    return
                last = "GET /health answered %d" % status
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as e:
                last = "GET /health failed: %s" % e
            except ssl.SSLError as e:   # a wrong certificate, or no TLS: it stays so
                raise RuntimeError("%s: TLS handshake failed: %s" % (exp.child.name, e)) from None
            except (OSError, client.PeerClosed, client.ProtocolError) as e:
                last = "GET /health failed: %s" % e
        time.sleep(0.05)
    raise RuntimeError("%s not ready on port %d after %.0f s (%s):\n%s"
                       % (exp.child.name, exp.port, timeout, last, exp.child.tail()))


def start(tmp, name, config, ctx, auth):
    child, port = spawn(tmp, name, config)
    exp = Exp(child, port, ctx)
    try:
        wait_ready(exp, auth)
    except Exception:
        exp.stop()
        raise
    return exp


# --------------------------------------------------------------------------
# Checks shared by the cases
# --------------------------------------------------------------------------

def no_leak(what, data):
    """Nothing of the metrics or of /health in `data` (bytes)."""
    leaked = [m.decode() for m in LEAK_MARKERS if m in data]
    expect(not leaked, "%s: the answer leaks %s: %r", what, ", ".join(leaked), data[:200])


def denied(exp, what, path, auth, method="GET"):
    """`path` with `auth` answers 401 with a Basic challenge, and no data."""
    r = exp.request(path, auth, method)
    expect(r.status == 401, "%s: %s %s answered %d, want 401: %r", what, method, path, r.status, r.body[:200])
    challenge = r.headers.get("www-authenticate", "")
    expect(challenge.lower().startswith("basic ") and "realm=" in challenge,
           "%s: 401 without a Basic challenge (WWW-Authenticate: %r)", what, challenge)
    no_leak("%s: %s %s" % (what, method, path), r.body)


def metrics_ok(exp, auth, who):
    """/metrics: 200, the text exposition, parsable, with the build info."""
    r = exp.request("/metrics", auth)
    expect(r.status == 200, "%s: /metrics answered %d: %r", who, r.status, r.body[:200])
    ctype = r.headers.get("content-type", "")
    expect(ctype.startswith("text/plain"), "%s: /metrics Content-Type %r", who, ctype)
    try:
        samples = metrics.parse(r.body.decode("utf-8"))
    except (UnicodeDecodeError, metrics.ParseError) as e:
        raise Failure("%s: /metrics does not parse: %s" % (who, e)) from None
    expect("sse_exporter_build_info" in metrics.names(samples),
           "%s: /metrics has no sse_exporter_build_info (%d samples)", who, len(samples))


def json_ok(exp, auth, who):
    """/metrics/json: 200, JSON that names the build info family."""
    r = exp.request("/metrics/json", auth)
    expect(r.status == 200, "%s: /metrics/json answered %d: %r", who, r.status, r.body[:200])
    try:
        doc = json.loads(r.body)
    except ValueError as e:
        raise Failure("%s: /metrics/json is not JSON: %s: %r" % (who, e, r.body[:200])) from None
    expect("sse_exporter_build_info" in json.dumps(doc),
           "%s: /metrics/json does not mention sse_exporter_build_info: %r", who, r.body[:200])


def health_ok(exp, auth, who):
    r = exp.request("/health", auth)
    expect(r.status == 200, "%s: /health answered %d: %r", who, r.status, r.body[:200])
    doc = r.json()
    expect(doc.get("status") == "healthy", "%s: /health says %r", who, doc)


def live_page_ok(exp, auth, who):
    r = exp.request("/", auth)
    expect(r.status == 200 and b'data-telemetry="/metrics"' in r.body, "%s: / answered %d: %r", who,
           r.status, r.body[:200])


def all_pages_ok(exp, auth, who):
    metrics_ok(exp, auth, who)
    json_ok(exp, auth, who)
    health_ok(exp, auth, who)
    live_page_ok(exp, auth, who)


def still_serving(fx):
    """The exporter survived what the case did and still lets alice in."""
    expect(fx.exp.child.alive(), "the exporter died (status %s): %s", fx.exp.child.popen.returncode,
           fx.exp.child.tail(10))
    health_ok(fx.exp, fx.s.auth("alice"), "afterwards")


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------

@dataclass
class Fx:
    s: Secrets
    exp: Exp


def setup_tls(tmp):
    """The exporter with TLS (the run's certificate) and basic auth."""
    s = secrets_for(tmp)
    config = s.write("tls.yml", "# the exporter's own endpoints\ntls_server_config:\n"
                     "  cert_file: %s\n  key_file: %s\n%s" % (s.cert, s.key, s.users_yaml()))
    return Fx(s, start(tmp, "tls", config, tls.client_context(tmp), s.auth("alice")))


def setup_plain(tmp):
    """The exporter with basic auth only: plaintext HTTP."""
    s = secrets_for(tmp)
    config = s.write("plain.yml", s.users_yaml())
    return Fx(s, start(tmp, "plain", config, None, s.auth("alice")))


# --------------------------------------------------------------------------
# TLS + basic auth
# --------------------------------------------------------------------------

def case_basic_auth_ok(fx):
    """Both users, hashed "$2b$" and "$2y$", get every page with content."""
    for user in ("alice", "bob"):
        all_pages_ok(fx.exp, fx.s.auth(user), user)


def case_wrong_password(fx):
    """A near miss, another user's password, the hash itself, or nothing."""
    pw = fx.s.passwords["alice"]
    for what, bad in (("one more character", pw + "x"), ("one fewer", pw[:-1]),
                      ("bob's password", fx.s.passwords["bob"]), ("the hash itself", fx.s.hashes["alice"]),
                      ("empty", "")):
        denied(fx.exp, "alice with %s" % what, "/metrics", basic("alice", bad))
    denied(fx.exp, "alice with one more character", "/health", basic("alice", pw + "x"))
    still_serving(fx)


def case_wrong_user(fx):
    """A right password under a name that is not its user."""
    pw = fx.s.passwords["alice"]
    for user in ("mallory", "Alice", "alice ", ""):
        denied(fx.exp, "user %r with alice's password" % user, "/metrics", basic(user, pw))
    denied(fx.exp, "bob with alice's password", "/metrics/json", basic("bob", pw))
    still_serving(fx)


def answer_time(exp, auth):
    """Median of 3 answer times of /metrics with `auth` (denied)."""
    times = []
    for _ in range(3):
        t0 = time.monotonic()
        denied(exp, "timing", "/metrics", auth)
        times.append(time.monotonic() - t0)
    return sorted(times)[1]


def case_unknown_user_timing(fx):
    """An unknown user name costs a bcrypt round like a wrong password, so
    answer times do not tell which user names exist (bcrypt at this cost
    takes tens of ms; a table lookup alone takes microseconds)."""
    known = answer_time(fx.exp, basic("alice", "wrong"))
    unknown = answer_time(fx.exp, basic("mallory", "wrong"))
    expect(unknown >= known / 2, "an unknown user is answered in %.1f ms, a wrong password in %.1f ms",
           unknown * 1e3, known * 1e3)


def case_no_credentials(fx):
    """Every path, known or not, and every method: the password comes first."""
    for path in ("/metrics", "/metrics/json", "/health", "/", "/no-such-page"):
        denied(fx.exp, "no credentials", path, None)
    for method in ("HEAD", "POST", "DELETE"):
        denied(fx.exp, "no credentials", "/metrics", None, method=method)
    still_serving(fx)


def case_malformed_credentials(fx):
    """Authorization headers that are not a valid Basic user:password."""
    pw = fx.s.passwords["alice"]
    b64 = lambda text: base64.b64encode(text.encode()).decode()   # noqa: E731
    for what, value in (("not base64", "Basic !!!%s" % pw), ("no colon", "Basic " + b64("alice" + pw)),
                        ("only the user", "Basic " + b64("alice")), ("empty", "Basic "),
                        ("another scheme", "Bearer " + pw), ("no scheme", b64("alice:" + pw))):
        denied(fx.exp, "Authorization %s" % what, "/metrics", value)
    still_serving(fx)


def read_all(sock, limit=1 << 20):
    """Bytes until the peer closes (FIN or RST) or stays silent 5 s."""
    data = b""
    sock.settimeout(5.0)
    try:
        while len(data) < limit:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def case_plaintext_client(fx):
    """Plain HTTP with the right password against the TLS port: whatever
    comes back (TLS alert, nothing, 400), it is no metrics."""
    req = client.Req("GET", "/metrics", headers={"Authorization": fx.s.auth("alice")}).encode()
    with socket.create_connection(("127.0.0.1", fx.exp.port), timeout=REQ_TIMEOUT) as sock:
        sock.sendall(req)
        data = read_all(sock)
    expect(not data.startswith(b"HTTP/1.1 200") and not data.startswith(b"HTTP/1.0 200"),
           "a plaintext GET /metrics answered 200: %r", data[:200])
    no_leak("plaintext GET /metrics", data)
    still_serving(fx)


def case_presents_configured_cert(fx):
    """The handshake verifies against the run's certificate (name
    localhost) and the certificate sent is byte for byte cert_file's."""
    with client.Connection(fx.exp.port, timeout=REQ_TIMEOUT, tls=fx.exp.tls) as conn:
        der = conn.sock.getpeercert(binary_form=True)
        version = conn.tls_version
    want = ssl.PEM_cert_to_DER_cert(fx.s.cert.read_text())
    expect(der == want, "the exporter presents another certificate than cert_file (%d bytes, want %d)",
           len(der or b""), len(want))
    expect(version in ("TLSv1.2", "TLSv1.3"), "negotiated %r", version)


# --------------------------------------------------------------------------
# Basic auth without TLS
# --------------------------------------------------------------------------

def case_plain_basic_auth_enforced(fx):
    """Without tls_server_config the password is still required, and
    plaintext HTTP is what serves (no TLS turned on by basic auth alone)."""
    pw = fx.s.passwords["bob"]
    denied(fx.exp, "no credentials", "/metrics", None)
    denied(fx.exp, "bob with a wrong password", "/metrics", basic("bob", pw + "x"))
    denied(fx.exp, "mallory with bob's password", "/health", basic("mallory", pw))
    all_pages_ok(fx.exp, fx.s.auth("bob"), "bob")


# --------------------------------------------------------------------------
# Client certificates, TLS versions, headers
# --------------------------------------------------------------------------

CLIENT_CA, OTHER_CA = "ca-a", "ca-b"
HEADERS = {"Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "deny",
           "X-Content-Type-Options": "nosniff", "Strict-Transport-Security": "max-age=300"}


def client_ctx(tmp, ca=None, purpose="clientAuth", max_version=None):
    """A client context presenting a certificate "alice" of `ca` for
    `purpose`, or none without ca; speaking TLS up to max_version."""
    client = tls.client_files(tmp, ca, "alice", purpose) if ca else None
    return tls.client_context(tmp, client, max_version)


def mtls_yaml(s, auth_type, extra=""):
    ca, _ = tls.ca_files(s.dir.parent, CLIENT_CA)
    return ("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_ca_file: %s\n"
            "  client_auth_type: %s\n%s" % (s.cert, s.key, ca, auth_type, extra))


def headers_yaml():
    return "http_server_config:\n  headers:\n" + "".join(
        '    %s: "%s"\n' % item for item in HEADERS.items())


def over(fx, ctx):
    """fx's exporter through another client context."""
    return Exp(fx.exp.child, fx.exp.port, ctx)


def cert_refused(exp, what, auth):
    """/metrics and /health with `auth` answer 403, with no data."""
    for path in ("/metrics", "/health"):
        r = exp.request(path, auth)
        expect(r.status == 403, "%s: %s answered %d, want 403: %r", what, path, r.status, r.body[:200])
        no_leak("%s: %s" % (what, path), r.body)


def headers_ok(r, what):
    for name, value in HEADERS.items():
        got = r.headers.get(name.lower())
        expect(got == value, "%s: header %s is %r, want %r", what, name, got, value)


def setup_mtls(tmp):
    s = secrets_for(tmp)
    config = s.write("mtls.yml", mtls_yaml(s, "RequireAndVerifyClientCert") + headers_yaml()
                     + s.users_yaml())
    return Fx(s, start(tmp, "mtls", config, client_ctx(tmp, CLIENT_CA), s.auth("alice")))


def setup_optional(tmp):
    s = secrets_for(tmp)
    config = s.write("optional.yml", mtls_yaml(s, "VerifyClientCertIfGiven", "  min_version: TLS13\n"))
    return Fx(s, start(tmp, "optional", config, client_ctx(tmp), None))


def case_mtls_right_cert(fx):
    """A certificate of the client CA and a right password: every page."""
    all_pages_ok(fx.exp, fx.s.auth("alice"), "alice with her certificate")


def case_mtls_no_cert(fx):
    """No certificate: refused, the right password notwithstanding."""
    cert_refused(over(fx, client_ctx(fx.s.dir.parent)), "no client certificate", fx.s.auth("alice"))
    still_serving(fx)


def case_mtls_other_ca(fx):
    """A certificate of another CA, same name: refused."""
    cert_refused(over(fx, client_ctx(fx.s.dir.parent, OTHER_CA)), "a certificate of another CA",
                 fx.s.auth("alice"))
    still_serving(fx)


def case_mtls_server_purpose(fx):
    """A certificate of the client CA for servers only (extended key usage
    serverAuth): refused, as Go's crypto/tls refuses it."""
    cert_refused(over(fx, client_ctx(fx.s.dir.parent, CLIENT_CA, "serverAuth")),
                 "a server certificate of the client CA", fx.s.auth("alice"))
    still_serving(fx)


def case_mtls_password_still_needed(fx):
    """The right certificate does not stand for the password."""
    denied(fx.exp, "the right certificate, no credentials", "/metrics", None)
    denied(fx.exp, "the right certificate, a wrong password", "/health",
           basic("alice", fx.s.passwords["alice"] + "x"))


def case_mtls_headers(fx):
    """http_server_config.headers on /metrics and /health, and on the 401
    and 403 answers too (as exporter-toolkit sets them before its checks)."""
    for path in ("/metrics", "/health"):
        r = fx.exp.request(path, fx.s.auth("alice"))
        expect(r.status == 200, "%s answered %d", path, r.status)
        headers_ok(r, path)
    for want, exp, auth in ((401, fx.exp, None),
                            (403, over(fx, client_ctx(fx.s.dir.parent)), fx.s.auth("alice"))):
        r = exp.request("/metrics", auth)
        expect(r.status == want, "/metrics answered %d, want %d", r.status, want)
        headers_ok(r, str(want))


def case_optional_no_cert(fx):
    """VerifyClientCertIfGiven: no certificate is let in."""
    metrics_ok(fx.exp, None, "no client certificate")
    health_ok(fx.exp, None, "no client certificate")


def case_optional_right_cert(fx):
    metrics_ok(over(fx, client_ctx(fx.s.dir.parent, CLIENT_CA)), None, "a certificate of the client CA")


def case_optional_other_ca(fx):
    """VerifyClientCertIfGiven: a certificate given is checked."""
    cert_refused(over(fx, client_ctx(fx.s.dir.parent, OTHER_CA)), "a certificate of another CA", None)
    still_serving_anonymous(fx)


def still_serving_anonymous(fx):
    expect(fx.exp.child.alive(), "the exporter died (status %s): %s", fx.exp.child.popen.returncode,
           fx.exp.child.tail(10))
    health_ok(fx.exp, None, "afterwards")


def negotiated(exp):
    """The TLS version of a handshake with exp.tls."""
    with client.Connection(exp.port, timeout=REQ_TIMEOUT, tls=exp.tls) as conn:
        return conn.tls_version


def case_optional_tls12_refused(fx):
    """min_version TLS13: a client that speaks TLS 1.2 at most fails its
    handshake, and gets nothing."""
    old = over(fx, client_ctx(fx.s.dir.parent, max_version=ssl.TLSVersion.TLSv1_2))
    try:
        r = old.request("/metrics")
    except ssl.SSLError:
        still_serving_anonymous(fx)
        return
    raise Failure("a TLS 1.2-only client was served: %d %r" % (r.status, r.body[:200]))


def case_optional_tls13(fx):
    version = negotiated(fx.exp)
    expect(version == "TLSv1.3", "negotiated %r, want TLSv1.3", version)


def case_tls12_client_accepted(fx):
    """Without min_version, exporter-toolkit's TLS12 is the floor: a TLS
    1.2-only client is served (the optional_ group shows TLS13 refuses it)."""
    old = over(fx, client_ctx(fx.s.dir.parent, max_version=ssl.TLSVersion.TLSv1_2))
    expect(negotiated(old) == "TLSv1.2", "negotiated %r, want TLSv1.2", negotiated(old))
    metrics_ok(old, fx.s.auth("alice"), "a TLS 1.2-only client")


# --------------------------------------------------------------------------
# Bad web configs: refused at start
# --------------------------------------------------------------------------

def wait_refusal(child, port, timeout=START_TIMEOUT):
    """The exit status, once the exporter exits. It listens only after its
    web config was accepted: if the port opens, that is the failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc = child.popen.poll()
        if rc is not None:
            return rc
        if procs.port_open(port):
            raise Failure("the exporter accepted the file and listens on port %d (%s)"
                          % (port, anonymous_scrape(port)))
        time.sleep(0.05)
    raise Failure("the exporter neither exited nor listened within %.0f s:\n%s" % (timeout, child.tail(10)))


def anonymous_scrape(port):
    """What GET /metrics without credentials gets, in plaintext: for the
    failure message (200 there is an authentication bypass)."""
    try:
        r = client.request(port, client.get("/metrics"), timeout=REQ_TIMEOUT)
        return "GET /metrics without credentials answered %d" % r.status
    except (OSError, client.PeerClosed, client.ProtocolError) as e:
        return "GET /metrics without credentials in plaintext: %s" % e


def error_lines(child):
    return [ln for ln in child.tail(200).splitlines() if ln.startswith(ERROR_PREFIX)]


def refused(tmp, name, config, *words):
    """--web.config.file=config: exit status > 0 (no crash), never
    listening, exactly one error line, which contains every word (and
    no "(null)": the check that should have caught it was skipped)."""
    child, port = spawn(tmp, name, config)
    try:
        rc = wait_refusal(child, port)
    finally:
        procs.stop(child)
    lines = error_lines(child)
    expect(rc > 0, "exit status %s, want > 0 (negative: killed by a signal): %s", rc, child.tail(10))
    expect(len(lines) == 1, "%d lines %r, want 1: %s", len(lines), ERROR_PREFIX, child.tail(10))
    missing = [w for w in words if w not in lines[0]]
    expect(not missing, "the error line does not say %s: %r", ", ".join(map(repr, missing)), lines[0])
    expect("(null)" not in lines[0], "the error line prints a NULL string: %r", lines[0])


def bad_config(name, text, *words):
    """A case: the file `text` (formatted with the Secrets' fields) is refused."""
    def case(s):
        fields = {"cert": s.cert, "key": s.key, "dir": s.dir, "alice": s.hashes["alice"],
                  "sha512": crypt_hash(s.passwords["alice"], "$6$"), "other_key": other_key(s)}
        refused(s.dir.parent, name, s.write(name + ".yml", text.format(**fields)),
                *(w.format(**fields) for w in words))
    return case


def other_key(s):
    """A private key that is not the certificate's."""
    key = s.dir / "other-key.pem"
    if not key.exists():
        proc = subprocess.run([tls.OPENSSL, "genpkey", "-algorithm", "ec", "-pkeyopt",
                               "ec_paramgen_curve:prime256v1", "-out", str(key)],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError("openssl genpkey failed: %s" % (proc.stdout + proc.stderr))
    return key


def case_missing_file(s):
    """A --web.config.file that does not exist: refused, never served
    without the TLS and passwords it would have asked for."""
    path = s.dir / "no-such-web.yml"
    refused(s.dir.parent, "missing_file", path, str(path))


TLS_PAIR = "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
BAD_CONFIGS = [
    # A misspelt section: served without any password before the fix.
    ("unknown_key", "basic_auth_user:\n  alice: {alice}\n", 'line 1: unknown key "basic_auth_user"'),
    ("unknown_tls_key", "tls_server_config:\n  cert_file: {cert}\n  key_flie: {key}\n"
     "basic_auth_users:\n  alice: {alice}\n", 'line 3: unknown key "key_flie"'),
    ("plaintext_password", "basic_auth_users:\n  alice: s3cret\n", "alice", "bcrypt"),
    # A crypt(3) hash libcrypt would verify, but not the bcrypt the format allows.
    ("sha512_hash", "basic_auth_users:\n  alice: {sha512}\n", "alice", "bcrypt"),
    ("users_as_list", "basic_auth_users:\n  - alice\n",
     "line 2: basic_auth_users must be a mapping, not a list"),
    ("header_authorization", "http_server_config:\n  headers:\n    Authorization: Basic eDp5\n",
     'line 3: unknown key "Authorization" in headers'),
    ("client_ca_without_auth_type", TLS_PAIR + "  client_ca_file: {cert}\n", "client_auth_type"),
    ("auth_type_without_ca", TLS_PAIR + "  client_auth_type: RequireAndVerifyClientCert\n",
     "client_ca_file"),
    ("client_ca_not_pem", TLS_PAIR + "  client_ca_file: {key}\n"
     "  client_auth_type: RequireAndVerifyClientCert\n", "client_ca_file {key}"),
    ("client_allowed_sans", TLS_PAIR + "  client_ca_file: {cert}\n"
     "  client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans: [a.example]\n",
     "line 6: client_allowed_sans is not supported"),
    ("min_above_max", TLS_PAIR + "  min_version: TLS13\n  max_version: TLS12\n", "min_version"),
    ("rate_limit", "rate_limit:\n  interval: 1s\n  burst: 2\n", "line 2: rate_limit is not supported"),
    ("tls_without_key", "tls_server_config:\n  cert_file: {cert}\n", "key_file"),
    ("tls_cert_missing", "tls_server_config:\n  cert_file: {dir}/no-such-cert.pem\n  key_file: {key}\n",
     "{dir}/no-such-cert.pem"),
    ("tls_key_mismatch", "tls_server_config:\n  cert_file: {cert}\n  key_file: {other_key}\n",
     "cert_file"),
]


def groups(tmp):
    tls_cases = [("basic_auth_ok", case_basic_auth_ok), ("wrong_password", case_wrong_password),
                 ("wrong_user", case_wrong_user), ("unknown_user_timing", case_unknown_user_timing),
                 ("no_credentials", case_no_credentials),
                 ("malformed_credentials", case_malformed_credentials),
                 ("plaintext_client", case_plaintext_client),
                 ("presents_configured_cert", case_presents_configured_cert),
                 ("tls12_client_accepted", case_tls12_client_accepted)]
    plain_cases = [("basic_auth_enforced", case_plain_basic_auth_enforced)]
    mtls_cases = [("right_cert", case_mtls_right_cert), ("no_cert", case_mtls_no_cert),
                  ("other_ca", case_mtls_other_ca), ("server_purpose", case_mtls_server_purpose),
                  ("password_still_needed", case_mtls_password_still_needed),
                  ("headers", case_mtls_headers), ("plaintext_client", case_plaintext_client)]
    optional_cases = [("no_cert", case_optional_no_cert), ("right_cert", case_optional_right_cert),
                      ("other_ca", case_optional_other_ca), ("tls12_refused", case_optional_tls12_refused),
                      ("tls13", case_optional_tls13)]
    refused_cases = [("missing_file", case_missing_file)] + [
        (name, bad_config(name, text, *words)) for name, text, *words in BAD_CONFIGS]
    return [
        Group(lambda: setup_tls(tmp), [("webconfig:tls_" + n, fn) for n, fn in tls_cases],
              lambda fx: fx.exp.stop()),
        Group(lambda: setup_plain(tmp), [("webconfig:plain_" + n, fn) for n, fn in plain_cases],
              lambda fx: fx.exp.stop()),
        Group(lambda: setup_mtls(tmp), [("webconfig:mtls_" + n, fn) for n, fn in mtls_cases],
              lambda fx: fx.exp.stop()),
        Group(lambda: setup_optional(tmp), [("webconfig:optional_" + n, fn) for n, fn in optional_cases],
              lambda fx: fx.exp.stop()),
        Group(lambda: secrets_for(tmp), [("webconfig:refused_" + n, fn) for n, fn in refused_cases]),
    ]
