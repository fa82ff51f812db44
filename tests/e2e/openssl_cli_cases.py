"""`openssl s_server` and `s_client`: a plain socket-BIO server and client
of libssl.so.3, as many C daemons are (issue 9, item 9).

`s_server -WWW` answers every file with "HTTP/1.0 200 ok" and a
Content-type of text/html (.html, .php) or text/plain (anything else): it
cannot serve an event stream. `s_server -HTTP` sends the file as it is,
status line and headers included, so a file that begins with
"HTTP/1.1 200 OK" and "Content-Type: text/event-stream" is an SSE
response; the server then closes the connection, which ends the stream
(no Content-Length, Connection: close). It reads the request through a
BIO_f_ssl filter, whose methods never call SSL_read or SSL_write: that is
what the exporter missed. `s_client` handshakes inside SSL_write(ssl, buf,
0) and then writes the request read from stdin.

Both run /usr/bin/openssl (Debian's libssl.so.3) through symlinks of their
own (isolated.alias), so the server's and the client's `service` labels
belong to this group alone. The exporter has no selection (a selection by
executable would race with each client's exec), so only series labelled by
these services are checked. Ground truth: what each s_client printed.
"""
import subprocess
from pathlib import Path

import isolated
import launch
import procs
import tls
from checks import inc
from framework import Group, expect

EVENTS = 4   # data events of the stream, the last one [DONE]
CALLS = 6    # s_client runs per case


def stream_file():
    body = "".join('data: {"n":%d}\n\n' % i for i in range(EVENTS - 1)) + "data: [DONE]\n\n"
    return ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "Connection: close\r\n\r\n" + body).encode()


class OpensslCli:
    def __init__(self, tmp):
        self.tmp = tmp
        uid = isolated.short_uid()
        self.server_name, self.client_name = "osrv-" + uid, "ocli-" + uid
        self.dir = Path(tmp) / ("openssl-www-" + uid)
        self.dir.mkdir()
        (self.dir / "health").write_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        (self.dir / "events").write_bytes(stream_file())
        self.cert, key = tls.cert_files(tmp)
        self.exp = isolated.start_exporter(tmp, "openssl", [])
        self.port = procs.free_port()
        argv = [isolated.alias(tmp, tls.OPENSSL, self.server_name), "s_server", "-accept",
                "127.0.0.1:%d" % self.port, "-cert", self.cert, "-key", key, "-HTTP", "-quiet"]
        child = procs.spawn(self.server_name, list(map(str, argv)), tmp, cwd=self.dir)
        self.server = launch.Server(self.server_name, self.server_name, self.port, [child])
        try:
            procs.wait_http(child, self.port, tls=tls.client_context(tmp))
        except Exception:
            self.stop()
            raise

    def fetch(self, path):
        """One s_client run: (status line, data events) it printed."""
        argv = [isolated.alias(self.tmp, tls.OPENSSL, self.client_name), "s_client", "-connect",
                "127.0.0.1:%d" % self.port, "-servername", tls.SERVER_NAME, "-CAfile", self.cert,
                "-verify_return_error", "-quiet"]
        req = ("GET %s HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n" % path).encode()
        out = subprocess.run(list(map(str, argv)), input=req, capture_output=True, timeout=20).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        events = [e for e in body.split(b"\n\n") if e.startswith(b"data:")]
        return head.split(b"\r\n")[0].decode(errors="replace"), len(events)

    def stop(self):
        launch.stop_server(self.server)
        self.exp.stop()


def case_stream(fx):
    """Every s_client call is counted on both ends: the server's SSE
    requests and events, the client's upstream calls."""
    isolated.ready(fx.exp, fx.server)
    before = fx.exp.scrape()
    results = [fx.fetch("/events") for _ in range(CALLS)]
    for status, events in results:
        expect(status == "HTTP/1.1 200 OK" and events == EVENTS,
               "ground truth: s_client printed %r with %d events", status, events)
    srv, cli = fx.server_name, fx.client_name
    fx.exp.settle(before, [
        inc("sse_requests_total", CALLS, service=srv, path="/events", status="success", code="200"),
        inc("sse_chunks_streamed_total", CALLS * EVENTS, service=srv, path="/events"),
        inc("http_requests_total", CALLS, service=srv, path="/events", status="200"),
        inc("sse_provider_requests_total", CALLS, service=cli, status="success"),
        inc("sse_provider_time_to_first_chunk_seconds_count", CALLS, service=cli),
    ])


def groups(tmp):
    return [Group(lambda: OpensslCli(tmp), [("tls:openssl_cli_stream", case_stream)], lambda fx: fx.stop())]
