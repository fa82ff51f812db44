"""Small HTTP servers whose syscalls the own-metrics cases need to control
exactly (own_metrics_cases.py starts them through symlinks with unique
names, so that each has a comm, hence a `service` label, of its own):

    own_metrics_server.py big PORT
    own_metrics_server.py relay PORT PEER_PORT CAFILE
    own_metrics_server.py leak PORT
    own_metrics_server.py flood PORT CTRL_PORT

Every mode answers `GET /health` with 200 JSON. The servers are blocking
and single-threaded (the stdlib's http.server for `big` and `relay`):

- `big`: `GET /big/N` answers N bytes with Content-Length, the body in ONE
  send() on a blocking socket, which the kernel completes in full (ret =
  N); `GET /iov/K/SIZE` answers K*SIZE bytes, the body in ONE sendmsg() of
  K iovecs of SIZE bytes (K <= 1024, the kernel's limit). The exporter's
  capture bound (256 KiB per syscall) is then crossed by a known number
  of bytes.
  `GET /bigevent/N` answers a chunked event stream whose one event of N
  bytes is ONE send(), then the last chunk: beyond the bound, the event's
  bytes are missed. `GET /badchunk` answers an event stream with one
  event, then a chunk size that is not hex, and closes: the framing broke.
- `relay`: `GET /relay/ANYTHING` makes one HTTPS request (`GET
  /items/om-relay/1`, Connection: close) to 127.0.0.1:PEER_PORT over a new
  blocking TLS connection (Python's ssl: OpenSSL with a socket BIO) and
  answers `{"ssl_writes": W, "ssl_reads": R, "status": S}`: the number of
  SSL_write_ex calls it made (one sendall of a small request) and of
  SSL_read_ex calls that returned data (each recv() on a blocking
  SSLSocket is one SSL_read_ex), and the peer's status.
- `leak`: `GET /leak/N` answers 200 and then accepts N connections without
  reading them, making each socket's fd refer to /dev/null instead
  (dup2, no close()): the socket is closed, its fd number stays taken, so
  the next accept gets a new fd. The soft open-file limit is raised to the
  hard one (N is bounded by it: several processes leak more).
- `flood`: `GET /flood/N/M` answers a chunked event stream of N events,
  each ONE send(), then, if M > 0, waits for `GET /resume` on CTRL_PORT
  (`GET /paused` there answers once the N events are written) and writes M
  more, then the last chunk. The control port is served by a thread of its
  own, on a port an exporter selecting PORT does not follow.
"""
import http.server
import json
import os
import re
import resource
import socket
import ssl
import sys
import threading

PEER_PATH = "/items/om-relay/1"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):   # quiet: the log is for errors
        pass

    def head(self, status, length, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.end_headers()          # one send() of the whole head

    def answer_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.head(status, len(body))
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/health":
            return self.answer_json(200, {"status": "ok"})
        for pattern, fn in self.routes:
            m = re.fullmatch(pattern, path)
            if m:
                return fn(self, *m.groups())
        return self.answer_json(404, {"error": "not found"})

    routes = ()


def big(h, n):
    body = b"x" * int(n)
    h.head(200, len(body), "application/octet-stream")
    h.connection.sendall(body)      # blocking socket: one send() of all of it


def iov(h, k, size):
    parts = [b"y" * int(size)] * int(k)
    h.head(200, int(k) * int(size), "application/octet-stream")
    sent = h.connection.sendmsg(parts)
    assert sent == int(k) * int(size), sent


SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def big_event(h, n):
    h.connection.sendall(SSE_HEAD)
    h.connection.sendall(chunk(b"data: " + b"e" * (int(n) - 8) + b"\n\n"))
    h.connection.sendall(b"0\r\n\r\n")


def bad_chunk(h):
    h.connection.sendall(SSE_HEAD)
    h.connection.sendall(chunk(b"data: a\n\n"))
    h.connection.sendall(b"zz\r\ndata: b\n\n\r\n")
    h.close_connection = True


def relay_to(peer_port, cafile):
    ctx = ssl.create_default_context(cafile=cafile)

    def relay(h, _rest):
        writes, reads, data = 0, 0, b""
        with socket.create_connection(("127.0.0.1", peer_port)) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                            % PEER_PATH.encode())
                writes += 1
                while not complete(data):
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    reads += 1
                    data += chunk
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0
        h.answer_json(200, {"ssl_writes": writes, "ssl_reads": reads, "status": status})
    return relay


def complete(data):
    """A response with Content-Length is all there."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return m is not None and len(body) >= int(m.group(1))


def leak_on(srv):
    null = os.open(os.devnull, os.O_RDWR)

    def leak(h, n):
        h.answer_json(200, {"leaking": int(n)})
        h.wfile.flush()
        for _ in range(int(n)):
            conn, _ = srv.socket.accept()
            fd = conn.detach()      # the socket object forgets it: no close()
            os.dup2(null, fd)       # the socket goes, the fd number stays taken
    return leak


def flood_control(ctrl_port):
    """The flood route, and its control server started on ctrl_port."""
    paused, resume = threading.Event(), threading.Event()

    def flood(h, n, more):
        h.connection.sendall(SSE_HEAD)
        for i in range(int(n)):
            h.connection.sendall(chunk(b"data: %d\n\n" % i))
        if int(more):
            paused.set()
            resume.wait()
            for i in range(int(more)):
                h.connection.sendall(chunk(b"data: more %d\n\n" % i))
        h.connection.sendall(b"0\r\n\r\n")

    def on_paused(h):
        h.answer_json(200 if paused.wait(60) else 504, {})

    def on_resume(h):
        resume.set()
        h.answer_json(200, {})

    class Control(Handler):
        routes = ((r"/paused", on_paused), (r"/resume", on_resume))

    ctrl = http.server.HTTPServer(("127.0.0.1", ctrl_port), Control)
    threading.Thread(target=ctrl.serve_forever, daemon=True).start()
    return flood


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    srv = http.server.HTTPServer(("127.0.0.1", port), Handler, bind_and_activate=False)
    srv.allow_reuse_address = True
    srv.request_queue_size = 4096
    srv.server_bind()
    srv.server_activate()
    if mode == "big":
        Handler.routes = ((r"/big/(\d+)", big), (r"/iov/(\d+)/(\d+)", iov),
                          (r"/bigevent/(\d+)", big_event), (r"/badchunk", bad_chunk))
    elif mode == "relay":
        Handler.routes = ((r"/relay/(.*)", relay_to(int(sys.argv[3]), sys.argv[4])),)
    elif mode == "leak":
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        Handler.routes = ((r"/leak/(\d+)", leak_on(srv)),)
    elif mode == "flood":
        Handler.routes = ((r"/flood/(\d+)/(\d+)", flood_control(int(sys.argv[3]))),)
    else:
        sys.exit("unknown mode %r" % mode)
    srv.serve_forever()


if __name__ == "__main__":
    main()
