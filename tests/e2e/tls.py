"""A self-signed certificate for the TLS servers of one e2e run.

    cert, key = tls.cert_files(tmp)    # PEM files in tmp, made on first call
    ctx = tls.client_context(tmp)      # verifies the servers against that cert
    srv = tls.server_context(tmp)      # for a Python server in this process
    ca, _ = tls.ca_files(tmp, "ca-a")  # a CA of client certificates
    crt, key = tls.client_files(tmp, "ca-a", "alice")   # a client's, signed by it
    ctx = tls.client_context(tmp, client=(crt, key), max_version=ssl.TLSVersion.TLSv1_2)

The certificate (EC P-256, valid 2 days) is made with the openssl CLI the
first time any of these is called with a given tmp dir, and then reused:
every TLS server of the run presents the same one. Its subject is
CN=localhost with subjectAltName DNS:localhost and IP:127.0.0.1, so a
client may connect to 127.0.0.1 and verify either name; client_context()
connections send SNI "localhost" (SERVER_NAME), as a browser would.

For mutual TLS, ca_files() makes a CA (CN=NAME, CA:TRUE, keyCertSign)
and client_files() a client certificate it signs (CN=NAME, extended key
usage clientAuth, or `purpose` instead); both once per tmp dir and name.
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
    return _once(Path(tmp) / CERT_NAME, Path(tmp) / KEY_NAME, [
        "-x509", "-subj", "/CN=" + SERVER_NAME,
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,digitalSignature",
        "-addext", "extendedKeyUsage=serverAuth"])


def ca_files(tmp, name):
    """(cert.pem, key.pem) of a CA named `name` that signs client certificates."""
    return _once(Path(tmp) / (name + "-cert.pem"), Path(tmp) / (name + "-key.pem"), [
        "-x509", "-subj", "/CN=" + name,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign"])


def client_files(tmp, ca, name, purpose="clientAuth"):
    """(cert.pem, key.pem) of a certificate CN=name signed by the CA `ca`
    (ca_files), for `purpose` (extended key usage)."""
    ca_cert, ca_key = ca_files(tmp, ca)
    stem = "%s-by-%s-%s" % (name, ca, purpose)
    return _once(Path(tmp) / (stem + "-cert.pem"), Path(tmp) / (stem + "-key.pem"), [
        "-x509", "-CA", str(ca_cert), "-CAkey", str(ca_key), "-subj", "/CN=" + name,
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,digitalSignature",
        "-addext", "extendedKeyUsage=" + purpose])


def _once(cert, key, args):
    with _lock:
        if not (cert.exists() and key.exists()):
            _generate(cert, key, args)
    return cert, key


def _generate(cert, key, args):
    """openssl req: an EC P-256 key and its certificate, valid 2 days."""
    argv = [OPENSSL, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2"] + args + ["-keyout", str(key) + ".part", "-out", str(cert) + ".part"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError("openssl req failed: %s" % (proc.stdout + proc.stderr))
    # Renamed only once both are complete: a half-written pair never exists.
    Path(str(key) + ".part").rename(key)
    Path(str(cert) + ".part").rename(cert)


def client_context(tmp, client=None, max_version=None):
    """A client SSLContext that trusts exactly the run's certificate; with
    `client` (cert, key) it presents that certificate when asked, with
    `max_version` (ssl.TLSVersion) it speaks no newer TLS."""
    cert, _ = cert_files(tmp)
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if client:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def server_context(tmp):
    """A server SSLContext presenting the run's certificate."""
    cert, key = cert_files(tmp)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
