"""Fake remote LLM provider over TLS (FastAPI under uvicorn):

    /usr/bin/python3 fake_provider.py PORT[,PORT...] CERT KEY LOG

One process listens on every PORT (127.0.0.1), one per upstream host the
gateway is told about, so that the gateway's connection pool keeps one pool
per host as it would with real providers. The Host header is not used.

- `POST /v1/chat/completions` (OpenAI): `"stream": true` -> SSE
  `chat.completion.chunk` events: `chunks` content events (`"usage": null`;
  the last one has `finish_reason: "stop"`), then one event with
  `"choices": []` and `"usage": {prompt_tokens, completion_tokens,
  total_tokens}`, then `data: [DONE]`. Otherwise a `chat.completion` JSON
  (Content-Length) with the same usage.
- `POST /v1/messages` (Anthropic, streamed only): `message_start` (usage
  `{input_tokens: P, output_tokens: 1}`), `content_block_start`, `ping`,
  `chunks` x `content_block_delta`, `content_block_stop`, `message_delta`
  (usage `{output_tokens: C}`), `message_stop`; every event has an `event:`
  line and a `data:` line.
- `GET /health`: `{"status": "ok"}`.

Everything is decided by fields of the JSON request body, so the test knows
the ground truth from what it asked:

- `chunks` (3): content events;
- `interval_ms` (10): sleep before every event but the first;
- `first_delay_ms` (0): sleep before the first event (the headers go
  first); not streamed: before the answer;
- `prompt_tokens`, `completion_tokens` (11, 7): P and C of the usage
  (total = P + C);
- `fail_status`: answer at once with that status and a JSON error body;
- `reset_after`: after that many events, when the next one is due, reset
  the connection (RST: SO_LINGER 0);
- `close_after`: after that many events, when the next one is due, close
  (TLS close_notify + FIN) without ending the body;
- `split_usage` (false): write the event carrying the final usage in pieces
  cut after `"usage":` and after the first digit of every number of two
  digits or more in it, `split_delay_ms` (30) apart, each piece its own
  HTTP chunk and TLS record: a reader gets it over several reads;
- `encoding`: the `chat.completion` JSON (not streamed) is sent with this
  Content-Encoding: `gzip`, `deflate` (zlib-wrapped, as RFC 9110 says),
  `deflate-raw` (raw deflate labelled `deflate`, as some servers send) or
  `br`. There is no Brotli encoder here, so `br` sends the JSON as it is,
  labelled `br`: what an exporter does with a body it cannot decode is the
  point, and httpx (without the brotli module) passes an unknown coding
  through, so the gateway still reads the JSON. The caller's
  Accept-Encoding is not consulted, only logged.

Each request answered appends one JSON line to LOG, written (and flushed)
before the last byte of the answer: `id` (the body's `e2e_id`), `port`
(local), `peer` (the caller's port: one per pooled connection), `host`,
`path`, `model`, `stream`, `status`, `outcome` (`complete`,
`error_status`, `reset`, `closed`, `client_gone`), `events`, `pieces`
(sizes of the writes of the final usage event), `prompt_tokens`,
`completion_tokens`, `accept_encoding` (the request's, or null),
`encoding` and `encoded_bytes` (Content-Encoding and size of a coded JSON
answer, else null),
`body_sha1` (of the SSE body bytes written), `t_received` (the request
read whole), `t_first_out` and `t_last_out` (the first and the last
piece of the body handed to the server to send: a reader has it after;
null if none), `t_done` (time.monotonic(): comparable across processes).
"""
import asyncio
import gzip
import hashlib
import json
import re
import socket
import struct
import sys
import time
import uuid
import zlib

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

app = FastAPI()
LOG = None


class StreamAbort(Exception):
    """Raised in the body generator: uvicorn then closes the transport
    without the terminating chunk."""


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


class Call:
    """One request: its parameters, and the record logged when it ends."""

    def __init__(self, request, body):
        def num(name, default):
            return int(body.get(name, default))
        self.chunks, self.prompt, self.completion = num("chunks", 3), num("prompt_tokens", 11), \
            num("completion_tokens", 7)
        self.interval, self.first_delay = num("interval_ms", 10) / 1000, num("first_delay_ms", 0) / 1000
        self.fail_status, self.reset_after = num("fail_status", 0), num("reset_after", -1)
        self.close_after = num("close_after", -1)
        self.split_usage, self.split_delay = bool(body.get("split_usage")), num("split_delay_ms", 30) / 1000
        self.model = body.get("model", "unknown")
        self.encoding = body.get("encoding")
        # unique per completion, as the providers' own (chatcmpl-..., msg_...)
        self.completion_id = "chatcmpl-" + uuid.uuid4().hex
        self.transport = request.scope.get("e2e.transport")
        self.sha1 = hashlib.sha1()
        self.rec = {"id": body.get("e2e_id"), "port": request.scope["server"][1],
                    "peer": request.scope["client"][1], "host": request.headers.get("host"),
                    "path": request.url.path, "model": self.model, "stream": bool(body.get("stream")),
                    "status": 200, "outcome": None, "events": 0, "pieces": [], "prompt_tokens": self.prompt,
                    "completion_tokens": self.completion, "accept_encoding": request.headers.get("accept-encoding"),
                    "encoding": None, "encoded_bytes": None, "t_received": time.monotonic(),
                    "t_first_out": None, "t_last_out": None}

    def handing_out(self):
        """The next piece of the body goes to the server now."""
        self.rec["t_last_out"] = time.monotonic()
        if self.rec["t_first_out"] is None:
            self.rec["t_first_out"] = self.rec["t_last_out"]

    def log(self, outcome, status=200):
        self.rec.update(outcome=outcome, status=status, body_sha1=self.sha1.hexdigest(),
                        t_done=time.monotonic())
        LOG.write(dumps(self.rec) + "\n")
        LOG.flush()

    def reset(self):
        """RST: SO_LINGER 0 on the TCP socket under TLS, then abort."""
        self.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    async def stream(self, events):
        """events: [(text, carries_final_usage)]."""
        try:
            for i, (text, final_usage) in enumerate(events):
                await asyncio.sleep(self.first_delay if i == 0 else self.interval)
                # Cut when the next event is due, not right after the last
                # one: an RST makes the data the peer has not read yet
                # unreadable, so the peer must have had time to read it.
                if i in (self.reset_after, self.close_after):
                    self.log("reset" if i == self.reset_after else "closed")
                    if i == self.reset_after:
                        self.reset()
                    raise StreamAbort()
                pieces = usage_pieces(text) if final_usage and self.split_usage else [text]
                for k, piece in enumerate(pieces):
                    if k:
                        await asyncio.sleep(self.split_delay)
                    self.sha1.update(piece.encode())
                    self.handing_out()
                    yield piece.encode()
                if final_usage:
                    self.rec["pieces"] = [len(piece.encode()) for piece in pieces]
                self.rec["events"] += 1
            self.log("complete")
        except (asyncio.CancelledError, GeneratorExit):   # the caller went away
            self.log("client_gone")
            raise


def usage_pieces(text):
    """text cut after '"usage":' and after the first digit of every number
    of two digits or more that follows it."""
    start = text.index('"usage":') + len('"usage":')
    cuts = [start] + [start + m.start() + 1 for m in re.finditer(r"\d{2,}", text[start:])]
    return [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]


def sse(body):
    return StreamingResponse(body, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


# --------------------------------------------------------------------------
# OpenAI
# --------------------------------------------------------------------------

def openai_chunk(call, choices, usage):
    return "data: " + dumps({"id": call.completion_id, "object": "chat.completion.chunk", "created": 1700000000,
                             "model": call.model, "choices": choices, "usage": usage}) + "\n\n"


def openai_usage(call):
    return {"prompt_tokens": call.prompt, "completion_tokens": call.completion,
            "total_tokens": call.prompt + call.completion}


def openai_events(call):
    out = [(openai_chunk(call, [{"index": 0, "delta": {"content": "tok "},
                                 "finish_reason": "stop" if i == call.chunks - 1 else None}], None), False)
           for i in range(call.chunks)]
    return out + [(openai_chunk(call, [], openai_usage(call)), True), ("data: [DONE]\n\n", False)]


@app.post("/v1/chat/completions")
async def chat(request: Request):
    call = Call(request, await request.json())
    if call.fail_status:
        return failure(call, {"error": {"message": "fail_status requested", "type": "server_error",
                                        "code": call.fail_status}})
    if call.rec["stream"]:
        return sse(call.stream(openai_events(call)))
    await asyncio.sleep(call.first_delay)
    body = {"id": call.completion_id, "object": "chat.completion", "created": 1700000000, "model": call.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "tok " * call.completion},
                         "finish_reason": "stop"}], "usage": openai_usage(call)}
    if call.encoding:
        return encoded(call, dumps(body).encode())
    call.handing_out()
    call.log("complete")
    return JSONResponse(body)


def raw_deflate(data):
    z = zlib.compressobj(wbits=-15)
    return z.compress(data) + z.flush()


# encoding field -> (Content-Encoding, the body coded)
ENCODINGS = {"gzip": ("gzip", gzip.compress), "deflate": ("deflate", zlib.compress),
             "deflate-raw": ("deflate", raw_deflate), "br": ("br", lambda data: data)}


def encoded(call, data):
    coding, encode = ENCODINGS[call.encoding]
    data = encode(data)
    call.rec.update(encoding=coding, encoded_bytes=len(data))
    call.handing_out()
    call.log("complete")
    return Response(data, media_type="application/json", headers={"Content-Encoding": coding})


def failure(call, body):
    call.log("error_status", call.fail_status)
    return JSONResponse(body, status_code=call.fail_status)


# --------------------------------------------------------------------------
# Anthropic
# --------------------------------------------------------------------------

def anthropic_event(kind, data):
    return "event: %s\ndata: %s\n\n" % (kind, dumps(dict({"type": kind}, **data)))


def anthropic_events(call):
    start = {"message": {"id": "msg_" + call.completion_id[9:], "type": "message", "role": "assistant", "model": call.model,
                         "content": [], "stop_reason": None,
                         "usage": {"input_tokens": call.prompt, "output_tokens": 1}}}
    delta = {"index": 0, "delta": {"type": "text_delta", "text": "tok "}}
    deltas = [anthropic_event("content_block_delta", delta) for _ in range(call.chunks)]
    out = [anthropic_event("message_start", start),
           anthropic_event("content_block_start", {"index": 0,
                                                   "content_block": {"type": "text", "text": ""}}),
           anthropic_event("ping", {})] + deltas + [anthropic_event("content_block_stop", {"index": 0})]
    final = anthropic_event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                              "usage": {"output_tokens": call.completion}})
    return [(text, False) for text in out] + [(final, True), (anthropic_event("message_stop", {}), False)]


@app.post("/v1/messages")
async def messages(request: Request):
    call = Call(request, await request.json())
    if call.fail_status:
        return failure(call, {"type": "error", "error": {"type": "overloaded_error",
                                                         "message": "fail_status requested"}})
    return sse(call.stream(anthropic_events(call)))


@app.get("/health")
async def health():
    return JSONResponse({"status": "ok"})


async def asgi(scope, receive, send):
    """uvicorn's `send` is a method of the connection's protocol cycle: keep
    its transport in the scope, so that reset_after can reach the socket."""
    scope["e2e.transport"] = getattr(getattr(send, "__self__", None), "transport", None)
    await app(scope, receive, send)


def listening(port):
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted
    # sockets only then (else Nagle holds events back).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


async def serve(tls_ports, plain_ports, cert, key):
    # Idle connections kept a minute, not uvicorn's 5 s: remote providers
    # keep them for minutes, and a gateway's pool outlives an exporter's
    # start (adopt_cases.py).
    common = dict(log_level="warning", access_log=False, lifespan="off", http="h11", timeout_keep_alive=60)
    servers = [(uvicorn.Config(asgi, ssl_certfile=cert, ssl_keyfile=key, **common), tls_ports),
               (uvicorn.Config(asgi, **common), plain_ports)]
    await asyncio.gather(*(uvicorn.Server(config).serve(sockets=[listening(p) for p in ports])
                           for config, ports in servers if ports))


def main():
    global LOG
    ports, cert, key, log = sys.argv[1:5]
    LOG = open(log, "a", encoding="utf-8")
    tls_ports, plain_ports = [], []
    for port in ports.split(","):   # http:PORT serves plaintext HTTP
        if port.startswith("http:"):
            plain_ports.append(int(port[5:]))
        else:
            tls_ports.append(int(port))
    asyncio.run(serve(tls_ports, plain_ports, cert, key))


if __name__ == "__main__":
    main()
