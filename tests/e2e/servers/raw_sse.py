"""An HTTP server whose writes the test chooses, byte for byte and syscall
for syscall, for streams split where real servers never split them:
`/usr/bin/python3 raw_sse.py PORT` (kstream_cases.py starts it through a
symlink with a name of its own, so that its comm is unique).

Keep-alive, one thread per connection, no HTTP library:

- `POST /raw/ANYTHING`, JSON body `{"writes": [TEXT, ...], "close": BOOL}`:
  each TEXT (latin-1: one character per byte) is sent with ONE send(),
  in order, the response head included; a send() that takes less fails
  the connection, so that the writes are exactly the test's. Then the
  connection is closed if `close`, else the next request is read.
- `GET /raw/ANYTHING?events=N&last=M` (default 3 and 0): a plain chunked
  event stream, the head (`SSE_HEAD`), then N data events, each a chunk of
  its own in one send(), then the last chunk in one send(), with M data
  events of 9 bytes in one chunk before it if M is not 0.
- `HEAD /raw/ANYTHING`: the same head in one send(), and no body, as HTTP
  wants for HEAD.
- `GET /health`: 200 JSON. Anything else: 404 JSON.
"""
import json
import socketserver
import sys
from urllib.parse import parse_qs, urlsplit

SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")


class ShortWrite(Exception):
    pass


def send_once(sock, data):
    """data in one send() syscall, or ShortWrite."""
    sent = sock.send(data)
    if sent != len(data):
        raise ShortWrite("send() took %d of %d bytes" % (sent, len(data)))


def answer_json(sock, status, obj):
    body = json.dumps(obj).encode()
    send_once(sock, b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
              % (status, len(body), body))


def plain_stream(sock, events, last):
    send_once(sock, SSE_HEAD)
    for n in range(events):
        data = b'data: {"n":%d}\n\n' % n
        send_once(sock, b"%x\r\n%s\r\n" % (len(data), data))
    tail = b"data: x\n\n" * last
    send_once(sock, (b"%x\r\n%s\r\n" % (len(tail), tail) if last else b"") + b"0\r\n\r\n")


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.buf = b""
        try:
            while self.serve_one():
                pass
        except (ConnectionError, ShortWrite):
            pass

    def recv_more(self):
        data = self.request.recv(65536)
        if not data:
            raise ConnectionResetError("peer closed")
        self.buf += data

    def read_request(self):
        """(method, target, body) of the next request."""
        while b"\r\n\r\n" not in self.buf:
            self.recv_more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path = (lines[0].split(" ") + ["", ""])[:2]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(self.buf) < length:
            self.recv_more()
        body, self.buf = self.buf[:length], self.buf[length:]
        return method, path, body

    def serve_one(self):
        """Answers one request; False when the connection is to close."""
        method, target, body = self.read_request()
        path, query = urlsplit(target).path, parse_qs(urlsplit(target).query)
        sock = self.request
        if method == "GET" and path == "/health":
            answer_json(sock, 200, {"status": "ok"})
        elif method == "GET" and path.startswith("/raw/"):
            plain_stream(sock, int(query.get("events", ["3"])[0]), int(query.get("last", ["0"])[0]))
        elif method == "HEAD" and path.startswith("/raw/"):
            send_once(sock, SSE_HEAD)
        elif method == "POST" and path.startswith("/raw/"):
            script = json.loads(body)
            for text in script["writes"]:
                send_once(sock, text.encode("latin-1"))
            return not script.get("close")
        else:
            answer_json(sock, 404, {"error": "not found"})
        return True


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64


def main():
    with Server(("127.0.0.1", int(sys.argv[1])), Handler) as srv:
        srv.serve_forever()


if __name__ == "__main__":
    main()
