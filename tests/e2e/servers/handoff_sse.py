"""SSE servers whose connections change hands mid-way, for fault_cases.py:

    /usr/bin/python3 handoff_sse.py MODE PORT

fault_cases.py starts them through symlinks with names of their own, so
that their comm (and `service`) is theirs alone. Every mode serves the
servers' API (README.md) as far as the cases use it, with the same bytes
(stdlib_sse.py's Handler): `GET /health`, `GET /items/ANYTHING`, `GET
/events/ANYTHING?events=N&interval_ms=N`, keep-alive.

- `fork`: Python's own forking server (socketserver.ForkingMixIn): the
  parent accepts each connection, forks a child that serves it and exits,
  and closes its copy at once, as inetd-style servers do. The child does
  its reads and writes on the fd it inherited.
- `exec`: one connection at a time. A stream's head and the first half of
  its events are written, then the process execs itself anew (`resume`,
  below) with the stream's socket and the listening socket inheritable,
  as a server upgrading its binary in place does; the new image writes
  the rest of the events on the fd it kept, serves what else comes on that
  connection, and goes on accepting on the listening fd it kept.
- `pass`: an acceptor and a worker joined by a unix socket pair. The
  worker is started first, by exec (not a fork of a process with
  connections). The acceptor accepts each connection, passes its fd to the
  worker with SCM_RIGHTS and closes its copy; the worker serves it, one
  connection at a time.
"""
import http.server
import os
import socket
import socketserver
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stdlib_sse  # noqa: E402


class Handler(stdlib_sse.Handler):
    """stdlib_sse's, with a hook between the two halves of a stream."""

    def events(self, query):
        n, interval = self.stream_head(query)
        half = self.server.halfway(n)
        self.write_events(0, half, n, interval)
        if half < n:
            self.server.handover(self, half, n, interval)
        self.write_events(half, n, n, interval)
        self.chunk(b"")


class Plain:
    def halfway(self, n):
        return n

    def handover(self, handler, half, n, interval):
        raise AssertionError("no handover in this mode")


class ForkingServer(Plain, socketserver.ForkingMixIn, http.server.HTTPServer):
    block_on_close = False


def serve_fork(port):
    ForkingServer(("127.0.0.1", port), Handler).serve_forever()


# -- exec ---------------------------------------------------------------------

class ExecServer(Plain, http.server.HTTPServer):
    """Serves one connection at a time; a stream's second half is the new
    image's."""

    def halfway(self, n):
        return n // 2

    def handover(self, handler, half, n, interval):
        handler.wfile.flush()
        conn = handler.connection
        os.set_inheritable(conn.fileno(), True)
        os.set_inheritable(self.socket.fileno(), True)
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), "resume",
                                  str(self.socket.fileno()), str(conn.fileno()), str(half), str(n),
                                  str(interval)])


def serve_exec(port):
    ExecServer(("127.0.0.1", port), Handler).serve_forever()


class Resumed(Plain, http.server.HTTPServer):
    """The new image: the listening socket it kept, not bound again."""

    def __init__(self, listen_fd):
        super().__init__(None, Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = socket.socket(fileno=listen_fd)


class FinishHandler(Handler):
    """The connection kept across exec: the stream's rest, then whatever
    else the client asks on it."""

    def __init__(self, conn, server, half, n, interval):
        self.resume = (half, n, interval)
        super().__init__(conn, ("127.0.0.1", 0), server)

    def handle(self):
        half, n, interval = self.resume
        self.write_events(half, n, n, interval)
        self.chunk(b"")
        super().handle()


def resume(listen_fd, conn_fd, half, n, interval):
    server = Resumed(listen_fd)
    conn = socket.socket(fileno=conn_fd)
    os.set_inheritable(conn_fd, False)
    os.set_inheritable(listen_fd, False)
    FinishHandler(conn, server, half, n, interval)
    server.shutdown_request(conn)
    server.serve_forever()


# -- pass ---------------------------------------------------------------------

def serve_pass(port):
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    subprocess.Popen([sys.executable, os.path.abspath(__file__), "worker", str(theirs.fileno())],
                              pass_fds=[theirs.fileno()])
    theirs.close()
    lsock = socket.create_server(("127.0.0.1", port), backlog=64)
    while True:
        conn, _ = lsock.accept()
        socket.send_fds(ours, [b"x"], [conn.fileno()])
        conn.close()


class WorkerServer(Plain, socketserver.BaseServer):
    def __init__(self):
        super().__init__(None, Handler)


def work(unix_fd):
    channel = socket.socket(fileno=unix_fd)
    server = WorkerServer()
    while True:
        _, fds, _, _ = socket.recv_fds(channel, 1, 1)
        if not fds:
            return
        with socket.socket(fileno=fds[0]) as conn:
            server.finish_request(conn, ("127.0.0.1", 0))


def main():
    mode = sys.argv[1]
    if mode == "resume":
        resume(*map(int, sys.argv[2:6]), float(sys.argv[6]))
    elif mode == "worker":
        work(int(sys.argv[2]))
    else:
        {"fork": serve_fork, "exec": serve_exec, "pass": serve_pass}[mode](int(sys.argv[2]))


if __name__ == "__main__":
    main()
