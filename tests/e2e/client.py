"""Raw-socket HTTP/1.1 client that records ground truth for the e2e tests.

No HTTP library is used for the measured traffic: the tests must control
exactly which bytes go on the wire (pipelining, keep-alive, aborts, RST)
and must see the response body exactly as the server wrote it, because the
exporter's counts are compared against what this client received.

With `tls` (an ssl.SSLContext, e.g. tls.client_context(tmp)) every entry
point speaks HTTPS instead: the same requests and the same ground truth,
recorded from the decrypted stream. The TLS handshake is done when the
connection opens, before any request's t_start. Closing never sends a
close_notify: a normal close and a FIN abort are a bare FIN, as in
plaintext, and an RST abort sets SO_LINGER 0 on the TCP socket under TLS.

All times are time.monotonic() seconds.
"""
import fcntl
import json
import socket
import ssl
import struct
import termios
import threading
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlencode

from tls import SERVER_NAME as TLS_SERVER_NAME

CR, LF = 0x0D, 0x0A
BOM = b"\xef\xbb\xbf"
SMALL_MSS = 536


class ProtocolError(Exception):
    """The server sent something that is not valid HTTP/1.1."""


class PeerClosed(Exception):
    """The server closed the connection (FIN or RST) while we were reading."""


class BrokenChunk(ProtocolError):
    """A chunk size line that is not one: the body's framing broke."""


# --------------------------------------------------------------------------
# SSE parsing (WHATWG "event stream interpretation")
# --------------------------------------------------------------------------

@dataclass
class Event:
    kind: str          # "data", "heartbeat" (comment-only) or "other"
    size: int          # bytes of the event in the body, line ends included
    time: float        # when the byte that completed it was received
    data: str = ""     # data field values joined with "\n" (data events)


class SSEParser:
    """Incremental event-stream parser.

    Lines end with CRLF, LF or CR. A CR may be the first half of a CRLF split
    across two reads, so after a CR we remember to swallow one following LF.
    A blank line ends an event: with at least one data field it is a data
    event, with only comment lines (":...") a heartbeat, otherwise "other".
    One byte order mark at the very start is dropped, its bytes counted in
    the first event's size.
    """

    def __init__(self):
        self.events = []
        self._line = bytearray()
        self._bom = 0           # bytes of a leading BOM matched; None once past
        self._skip_lf = False
        self._size = 0          # bytes of the event being accumulated
        self._data = None       # list of data values, None if no data field
        self._comments = 0
        self._fields = 0        # non-data fields (event, id, retry, ...)

    def feed(self, chunk, now):
        for byte in chunk:
            if self._bom is not None and self._in_bom(byte):
                continue
            if self._skip_lf:
                self._skip_lf = False
                if byte == LF:
                    self._count_swallowed_lf()
                    continue
            self._size += 1
            if byte == CR:
                self._skip_lf = True
                self._end_line(now)
            elif byte == LF:
                self._end_line(now)
            else:
                self._line.append(byte)

    def _in_bom(self, byte):
        """Whether byte continues a leading BOM; a BOM cut short was text
        after all: its bytes begin the first line."""
        if byte == BOM[self._bom]:
            self._size += 1
            self._bom = None if self._bom + 1 == len(BOM) else self._bom + 1
            return True
        self._line += BOM[:self._bom]
        self._bom = None
        return False

    def _count_swallowed_lf(self):
        # The LF of a CRLF belongs to the event its CR ended, even when that
        # CR already dispatched the event.
        if self._size == 0 and self.events:
            self.events[-1].size += 1
        else:
            self._size += 1

    def _end_line(self, now):
        line = bytes(self._line)
        self._line.clear()
        if not line:
            self._dispatch(now)
        elif line.startswith(b":"):
            self._comments += 1
        else:
            name, _, value = line.partition(b":")
            if name == b"data":
                value = value[1:] if value.startswith(b" ") else value
                self._data = (self._data or []) + [value.decode("utf-8", "replace")]
            else:
                self._fields += 1

    def _dispatch(self, now):
        if self._data is not None:
            kind = "data"
        elif self._comments and not self._fields:
            kind = "heartbeat"
        elif self._comments or self._fields:
            kind = "other"
        else:
            return  # a blank line with nothing before it: not an event
        self.events.append(Event(kind, self._size, now, "\n".join(self._data or [])))
        self._size, self._data, self._comments, self._fields = 0, None, 0, 0


# --------------------------------------------------------------------------
# Requests and responses
# --------------------------------------------------------------------------

@dataclass
class Req:
    method: str
    path: str                      # may include a query string
    body: object = None            # dict (sent as JSON), bytes or None
    headers: dict = field(default_factory=dict)

    def encode(self, host="127.0.0.1"):
        body = self.body
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        lines = ["%s %s HTTP/1.1" % (self.method, self.path), "Host: " + host,
                 "User-Agent: sse-e2e-client/1"]
        lines += ["%s: %s" % kv for kv in self.headers.items()]
        if body is not None:
            if isinstance(self.body, dict):
                lines.append("Content-Type: application/json")
            lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def with_query(path, query):
    return path + ("?" + urlencode(query) if query else "")


def chat(query=None, model="e2e-model", stream=True, prefix=""):
    """POST [prefix]/v1/chat/completions with an OpenAI-style JSON body."""
    body = {"model": model, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]}
    return Req("POST", with_query(prefix + "/v1/chat/completions", query), body)


def events(path, query=None):
    """GET of an SSE endpoint, announced with Accept: text/event-stream."""
    return Req("GET", with_query(path, query), headers={"Accept": "text/event-stream"})


def get(path, query=None):
    return Req("GET", with_query(path, query), headers={"Accept": "application/json"})


@dataclass
class Response:
    status: int = 0
    headers: dict = field(default_factory=dict)   # lower-case names
    body: bytes = b""                              # decoded: no chunk framing
    events: list = field(default_factory=list)    # Event list (SSE only)
    t_start: float = 0.0       # first request byte about to be sent
    t_sent: float = 0.0        # last request byte handed to the kernel
    t_headers: float = 0.0     # response head completely received
    t_end: float = 0.0         # response complete, or aborted/truncated
    client_aborted: bool = False
    truncated: bool = False    # server closed before the body was complete
    broken: bool = False       # the chunk framing broke (the body is what came before)
    chunked: bool = False

    @property
    def is_sse(self):
        return self.headers.get("content-type", "").startswith("text/event-stream")

    @property
    def data_events(self):
        return sum(e.kind == "data" for e in self.events)

    @property
    def heartbeats(self):
        return sum(e.kind == "heartbeat" for e in self.events)

    @property
    def body_bytes(self):
        return len(self.body)

    @property
    def duration(self):
        return self.t_end - self.t_start

    @property
    def stream_duration(self):
        return self.t_end - self.t_headers

    @property
    def ttfc(self):
        """Last request byte sent -> first data event received."""
        first = next((e for e in self.events if e.kind == "data"), None)
        return None if first is None else first.time - self.t_sent

    def json(self):
        return json.loads(self.body)

    @property
    def complete(self):
        return not (self.client_aborted or self.truncated or self.broken)


# --------------------------------------------------------------------------
# Connection
# --------------------------------------------------------------------------

class Connection:
    """One TCP connection (TLS over it with an SSLContext `tls`); requests
    are sent and responses read explicitly so that keep-alive and pipelining
    are under the caller's control."""

    def __init__(self, port, host="127.0.0.1", timeout=30.0, tls=None, rcvbuf=None):
        self.host = host
        if rcvbuf is None:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        else:   # before connect(): the window the peer may fill
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            # Loopback's 64 KiB MSS lets the peer's send buffer grow to MBs
            # (it scales with the segment size): small segments keep it
            # small enough for a stream to fill it.
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, SMALL_MSS)
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            self._start_tls(tls)
        self.buf = bytearray()
        self.last_recv = 0.0
        self.open = True
        self.pace = None            # (bytes, seconds): a slow reader's recv()s

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _start_tls(self, ctx):
        raw = self.sock
        try:
            # SNI as a browser sends it; the test certificate also names
            # 127.0.0.1. wrap_socket() does the handshake.
            self.sock = ctx.wrap_socket(raw, server_hostname=TLS_SERVER_NAME)
        except BaseException:
            raw.close()
            raise

    @property
    def tls_version(self):
        """"TLSv1.3" etc. on a TLS connection, None in plaintext."""
        return self.sock.version() if isinstance(self.sock, ssl.SSLSocket) else None

    def send(self, *reqs):
        """Send the requests back to back; returns (t_start, t_sent)."""
        payload = b"".join(r.encode(self.host) for r in reqs)
        t_start = time.monotonic()
        self.sock.sendall(payload)
        return t_start, time.monotonic()

    def close(self, rst=False):
        if not self.open:
            return
        if rst:
            # SO_LINGER with a zero timeout turns close() into an RST (on
            # the TCP socket under TLS too: SSLSocket passes it through).
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.open = False

    # -- low-level reads ---------------------------------------------------

    def _fill(self):
        size = 65536
        if self.pace:
            size, pause = self.pace
            time.sleep(pause)    # the slow reader under test, not a wait
        try:
            data = self.sock.recv(size)
        except ConnectionResetError as e:
            raise PeerClosed("connection reset") from e
        except ssl.SSLEOFError as e:   # TLS: FIN without close_notify
            raise PeerClosed("connection closed without close_notify") from e
        if not data:
            raise PeerClosed("connection closed")
        self.last_recv = time.monotonic()
        self.buf += data

    def _read_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def _read_some(self, limit):
        """Up to `limit` bytes, as soon as any are available."""
        if not self.buf:
            self._fill()
        out = bytes(self.buf[:limit])
        del self.buf[:limit]
        return out

    # -- responses -----------------------------------------------------------

    def read_response(self, t_start, t_sent, method="GET", abort_after_events=None, rst=False):
        """Read one response. With abort_after_events=K the socket is closed
        (RST if rst) as soon as K data events have arrived."""
        resp = Response(t_start=t_start, t_sent=t_sent)
        self._read_head(resp)
        resp.t_headers = self.last_recv
        sse = SSEParser() if resp.is_sse else None
        body = bytearray()
        coded = _inflater(resp.headers.get("content-encoding", ""))

        def on_body(data):
            body.extend(data)
            if sse is not None:
                sse.feed(coded.decompress(data) if coded else data, self.last_recv)
                resp.events = sse.events
            if abort_after_events is not None and resp.data_events >= abort_after_events:
                raise _Abort()

        try:
            self._read_body(resp, method, on_body)
        except _Abort:
            resp.client_aborted = True
            self.close(rst=rst)
        except PeerClosed:
            resp.truncated = True
            self.open = False
        except BrokenChunk:
            resp.broken = True
            self.close()
        resp.body = bytes(body)
        resp.t_end = time.monotonic() if resp.client_aborted else self.last_recv
        if resp.headers.get("connection", "").lower() == "close" and self.open and resp.complete:
            self.close()
        return resp

    def _read_head(self, resp):
        status_line = self._read_line().decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ProtocolError("bad status line %r" % status_line)
        resp.status = int(parts[1])
        while True:
            line = self._read_line().decode("latin-1")
            if not line:
                return
            name, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError("bad header line %r" % line)
            resp.headers[name.strip().lower()] = value.strip()

    def _read_body(self, resp, method, on_body):
        if method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200:
            return
        if "chunked" in resp.headers.get("transfer-encoding", "").lower():
            resp.chunked = True
            self._read_chunked(on_body)
        elif "content-length" in resp.headers:
            self._read_exactly(int(resp.headers["content-length"]), on_body)
        else:
            self._read_until_close(on_body)

    def _read_exactly(self, n, on_body):
        while n > 0:
            data = self._read_some(n)
            n -= len(data)
            on_body(data)

    def _read_chunked(self, on_body):
        while True:
            size_line = self._read_line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise BrokenChunk("bad chunk size %r" % size_line) from None
            if size == 0:
                while self._read_line():   # trailers end with an empty line
                    pass
                return
            self._read_exactly(size, on_body)
            if self._read_line() != b"":
                raise ProtocolError("chunk not followed by CRLF")

    def _read_until_close(self, on_body):
        # The body ends with the connection: that is a complete response.
        try:
            while True:
                on_body(self._read_some(65536))
        except PeerClosed:
            self.open = False


def _inflater(coding):
    """A decompressor of a gzip or deflate body's bytes as they come."""
    coding = coding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return zlib.decompressobj()
    return None


class _Abort(Exception):
    """Internal: the caller asked to abort after K data events."""


# --------------------------------------------------------------------------
# Convenience entry points
# --------------------------------------------------------------------------

def request(port, req, abort_after_events=None, rst=False, timeout=30.0, tls=None):
    """One request on a fresh connection, closed afterwards."""
    with Connection(port, timeout=timeout, tls=tls) as conn:
        t_start, t_sent = conn.send(req)
        return conn.read_response(t_start, t_sent, req.method, abort_after_events, rst)


@dataclass
class Stall:
    """Queues of the stalled connection when the reader resumed."""
    server_unsent: int     # the server socket's send queue (bytes)
    client_unread: int     # the client socket's receive queue (bytes)


def stalled(port, req, stall_s, rcvbuf=4096, timeout=30.0, tls=None, pace=None):
    """One request from a client that reads nothing for stall_s, through a
    small receive buffer: a fast server fills its socket and its writes
    block (EAGAIN) meanwhile. Then the buffer grows and the response is
    read at full speed, or (pace=(bytes, seconds)) slowly, so the server
    keeps hitting a full socket. Returns (Response, Stall)."""
    with Connection(port, timeout=timeout, tls=tls, rcvbuf=rcvbuf) as conn:
        t_start, t_sent = conn.send(req)
        time.sleep(stall_s)   # the slow reader under test, not a wait for readiness
        queues = Stall(tcp_send_queue(conn.sock.getpeername()[1], conn.sock.getsockname()[1]),
                       unread_bytes(conn.sock))
        if pace is None:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        conn.pace = pace
        return conn.read_response(t_start, t_sent, req.method), queues


def unread_bytes(sock):
    """SIOCINQ (FIONREAD): bytes received by the kernel, not read yet."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]


def tcp_send_queue(local_port, remote_port):
    """Send queue of the loopback TCP socket local_port -> remote_port
    (another process's: /proc/net/tcp, tx_queue)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local, remote = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
                if (local, remote) == (local_port, remote_port):
                    return int(fields[4].split(":")[0], 16)
    raise ProtocolError("no TCP socket %d -> %d" % (local_port, remote_port))


def keep_alive(port, reqs, timeout=30.0, tls=None):
    """Requests one after the other on a single connection."""
    out = []
    with Connection(port, timeout=timeout, tls=tls) as conn:
        for req in reqs:
            t_start, t_sent = conn.send(req)
            out.append(conn.read_response(t_start, t_sent, req.method))
    return out


def pipelined(port, reqs, timeout=30.0, tls=None):
    """All requests written back to back before any response is read."""
    with Connection(port, timeout=timeout, tls=tls) as conn:
        t_start, t_sent = conn.send(*reqs)
        return [conn.read_response(t_start, t_sent, r.method) for r in reqs]


def concurrently(fn, args_list):
    """Run fn(*args) for each args tuple in its own thread; results in order.
    The first exception raised by any thread is re-raised."""
    results = [None] * len(args_list)
    errors = []

    def worker(i, args):
        try:
            results[i] = fn(*args)
        except Exception as e:  # noqa: BLE001 - re-raised in the caller
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i, a), daemon=True)
               for i, a in enumerate(args_list)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
