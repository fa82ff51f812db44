"""An SSE server on Python's standard library alone, for the container
cases (podman, containerd): the base image has python3 and nothing else.

    python3 stdlib_sse.py PORT

Listens on 127.0.0.1:PORT (the containers share the host's network) and
serves the part of the servers' API (README.md) that those cases use, with
the same bytes: `GET /health`, `GET /items/ANYTHING`, and `GET
/events/ANYTHING` with `events=N` and `interval_ms=N`, each event written
and flushed as its own chunk. One thread per connection, keep-alive.
"""
import http.server
import json
import sys
import time
from urllib.parse import parse_qs, urlsplit

CHUNK = '{"id":"x","object":"chat.completion.chunk","choices":[{"delta":{"content":"tok"}}]}'


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):   # quiet: the log is for errors
        pass

    def answer_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def stream_head(self, query):
        """Writes the head; returns (events, interval in seconds)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()          # headers before the first event
        return int(query.get("events", ["5"])[0]), int(query.get("interval_ms", ["10"])[0]) / 1000.0

    def write_events(self, start, stop, n, interval):
        """Data events start..stop-1 of n, the last [DONE]."""
        for i in range(start, stop):
            if i:
                time.sleep(interval)
            self.chunk(("data: %s\n\n" % ("[DONE]" if i == n - 1 else CHUNK)).encode())

    def events(self, query):
        n, interval = self.stream_head(query)
        self.write_events(0, n, n, interval)
        self.chunk(b"")

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/health":
            return self.answer_json(200, {"status": "ok"})
        if url.path.startswith("/items/"):
            return self.answer_json(200, {"id": url.path.rsplit("/", 1)[1], "name": "item"})
        if url.path.startswith("/events/"):
            return self.events(parse_qs(url.query))
        return self.answer_json(404, {"error": {"code": 404, "message": "not found"}})


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
