"""A self-signed certificate for the TLS servers of one e2e run.

    cert, key = tls.cert_files(tmp)    # PEM files in tmp, made on first call
    ctx = tls.client_context(tmp)      # verifies the servers against that cert
    srv = tls.server_context(tmp)      # for a Python server in this process

The certificate (EC P-256, valid 2 days) is made with the openssl CLI the
first time any of these is called with a given tmp dir, and then reused:
every TLS server of the run presents the same one. Its subject is
CN=localhost with subjectAltName DNS:localhost and IP:127.0.0.1, so a
client may connect to 127.0.0.1 and verify either name; client_context()
connections send SNI "localhost" (SERVER_NAME), as a browser would.
"""
import ssl
import subprocess
import threading
from pathlib import Path

OPENSSL = "/usr/bin/openssl"
SERVER_NAME = "localhost"
CERT_NAME, KEY_NAME = "tls-cert.pem", "tls-key.pem"

_lock = threading.Lock()


def cert_files(tmp):
    """(cert.pem, key.pem) paths in tmp, generated once per tmp dir."""
    cert, key = Path(tmp) / CERT_NAME, Path(tmp) / KEY_NAME
    with _lock:
        if not (cert.exists() and key.exists()):
            _generate(cert, key)
    return cert, key


def _generate(cert, key):
    argv = [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=" + SERVER_NAME,
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "keyUsage=critical,digitalSignature",
            "-addext", "extendedKeyUsage=serverAuth",
            "-keyout", str(key) + ".part", "-out", str(cert) + ".part"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError("openssl req failed: %s" % (proc.stdout + proc.stderr))
    # Renamed only once both are complete: a half-written pair never exists.
    Path(str(key) + ".part").rename(key)
    Path(str(cert) + ".part").rename(cert)


def client_context(tmp):
    """A client SSLContext that trusts exactly the run's certificate."""
    cert, _ = cert_files(tmp)
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def server_context(tmp):
    """A server SSLContext presenting the run's certificate."""
    cert, key = cert_files(tmp)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
