"""Tiny HTTP server that loses sockets without calling close():
`/usr/bin/python3 fd_drop_server.py PORT` (robustness_cases.py starts it
through a symlink with a unique name, so that its comm is unique).

Single-threaded, one connection at a time:

- `GET /health`: 200 JSON, then a normal close().
- `GET /hold/dup2...` or `GET /hold/close_range...`: the request is read,
  no answer is written, and the server waits for SIGUSR1. Then the socket's
  fd is made to stop referring to the socket WITHOUT a close() syscall:
  `dup2(/dev/null, fd)`, or `close_range(fd, fd, 0)`. The fd (now
  /dev/null, or free) is never closed through the socket object afterwards:
  a later close() of that fd number would be a close the exporter sees.
- anything else: 404, then close().

The test sends SIGUSR1 once it has seen the exporter count the connection,
so no fixed sleeps are needed.
"""
import ctypes
import os
import signal
import socket
import sys

NR_CLOSE_RANGE = 436            # x86_64 and arm64 (asm-generic) alike
libc = ctypes.CDLL(None, use_errno=True)
leaked = []                     # keep every detached fd number referenced


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def answer(conn, status, body):
    conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n%s" % (status, len(body), body))
    conn.close()


def drop(conn, how):
    """Wait for SIGUSR1, then make the fd stop being the socket, unseen."""
    signal.sigwait({signal.SIGUSR1})
    fd = conn.detach()          # the socket object forgets the fd: no close()
    if how == "dup2":
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, fd)       # dup2 (dup3) closes the socket implicitly
        leaked.append(null)
    else:
        if libc.syscall(NR_CLOSE_RANGE, fd, fd, 0) != 0:
            raise OSError(ctypes.get_errno(), "close_range")
    leaked.append(fd)


def main():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(sys.argv[1])))
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        line = read_head(conn)
        if line is None:
            conn.close()
            continue
        parts = line.split(" ")
        path = parts[1] if len(parts) > 1 else ""
        if path == "/health":
            answer(conn, 200, b'{"status": "ok"}')
        elif path.startswith("/hold/dup2"):
            drop(conn, "dup2")
        elif path.startswith("/hold/close_range"):
            drop(conn, "close_range")
        else:
            answer(conn, 404, b'{"error": "not found"}')


if __name__ == "__main__":
    main()
