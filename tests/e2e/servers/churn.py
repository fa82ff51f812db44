"""Short-lived processes holding TCP connections, for fault:adopt_churn:

    /usr/bin/python3 churn.py CHURN_PORT PORT

Answers `GET /health` on 127.0.0.1:PORT (readiness), and listens on
127.0.0.1:CHURN_PORT for its children: it keeps ALIVE of them at a time,
forking a new one as soon as one is gone. Each child connects to
CHURN_PORT and accepts a connection there (its own or a sibling's), PAIRS
times, so that it holds accepted and connected sockets, all established,
writes a request line on each accepted one, holds them for 0.1 to 2.5 s
and exits (they are reset then: no TIME_WAIT piles up)
without closing them: their /proc entries vanish at any moment, as an
exporter starting up reads them.
"""
import http.server
import os
import random
import socket
import struct
import sys
import threading
import time

ALIVE = 32
PAIRS = 4            # connections each child accepts (and makes)
HOLD_S = (0.1, 2.5)  # lifetimes about an exporter's start: some are born
                     # before it attaches and die while it reads /proc
FORK_GAP_S = 0.002   # at most ~500 forks a second: the host has other work


class Health(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b'{"status": "ok"}'
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def child(lsock, port):
    held = []
    try:
        lsock.settimeout(0.5)
        for _ in range(PAIRS):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=0.5))
            held.append(lsock.accept()[0])
            held[-1].sendall(b"GET /churn HTTP/1.1\r\nHost: x\r\n\r\n")
            for s in held[-2:]:   # reset at exit: no TIME_WAIT piling up in /proc/net/tcp
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(random.uniform(*HOLD_S))
    except OSError:
        pass
    os._exit(0)


def main():
    port = int(sys.argv[1])
    lsock = socket.create_server(("127.0.0.1", port), backlog=256)
    health = http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), Health)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    alive = set()
    while True:
        while len(alive) < ALIVE:
            pid = os.fork()
            if pid == 0:
                child(lsock, port)
            alive.add(pid)
            time.sleep(FORK_GAP_S)
        pid, _ = os.waitpid(-1, 0)
        while pid:
            alive.discard(pid)
            pid, _ = os.waitpid(-1, os.WNOHANG)


if __name__ == "__main__":
    main()
