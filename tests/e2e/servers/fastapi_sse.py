"""FastAPI SSE test server: `/usr/bin/python3 fastapi_sse.py PORT [CERT KEY]`.

With CERT and KEY (PEM files) uvicorn serves HTTPS, as with
--ssl-certfile/--ssl-keyfile; the API and the bodies are the same.

Implements the shared e2e server API (see tests/e2e/README.md). Every
server must emit byte-identical SSE bodies for the same query, so that the
self-check can compare what the client received with a reference body.
"""
import asyncio
import json
import os
import sys
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.middleware.gzip import GZipMiddleware
from uvicorn.protocols.http.h11_impl import H11Protocol

CHUNK = '{"id":"x","object":"chat.completion.chunk","choices":[{"delta":{"content":"tok"}}]}'
# The same JSON split over two data lines; joined with "\n" it is still valid.
CHUNK_LINES = ['{"id":"x","object":"chat.completion.chunk",',
               '"choices":[{"delta":{"content":"tok"}}]}']
EOLS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}

app = FastAPI()
# Compresses only for a client that accepts gzip (no case but the gzip one
# asks), as LLM services behind it do for the SDKs, event streams included
app.add_middleware(GZipMiddleware)


class StreamAbort(Exception):
    """Raised inside the body generator: uvicorn then closes the transport
    without the terminating chunk, which is what abort_after must produce."""


def params(request):
    q = request.query_params
    return {
        "events": int(q.get("events", 5)),
        "interval": int(q.get("interval_ms", 10)) / 1000.0,
        "heartbeats": int(q.get("heartbeats", 0)),
        "eol": EOLS[q.get("eol", "lf")],
        "multiline": q.get("multiline") == "1",
        "status": int(q.get("status", 200)),
        "abort_after": int(q.get("abort_after", -1)),
        "first_delay": int(q.get("first_delay_ms", 0)) / 1000.0,
    }


def data_event(p, index):
    if index == p["events"] - 1:
        lines = ["[DONE]"]
    elif p["multiline"]:
        lines = CHUNK_LINES
    else:
        lines = [CHUNK]
    return "".join("data: " + line + p["eol"] for line in lines) + p["eol"]


def plan(p):
    """Event order shared by all servers: heartbeat i goes right before data
    event i; surplus heartbeats follow the last data event."""
    for i in range(max(p["events"], p["heartbeats"])):
        if i < p["heartbeats"]:
            yield "heartbeat", ": ping" + p["eol"] + p["eol"]
        if i < p["events"]:
            yield "data", data_event(p, i)


TIMES_LOG = os.environ.get("E2E_TIMES_LOG")


def log_times(times):
    """One JSON line per complete stream (E2E_TIMES_LOG): the monotonic
    times the exporter's durations are compared with."""
    if TIMES_LOG:
        with open(TIMES_LOG, "a") as f:
            f.write(json.dumps(times) + "\n")


async def sse_body(p, times):
    # The generator runs again only after Starlette handed the previous
    # piece to uvicorn, which writes it at once: times taken on resuming are
    # the write times (the first entry follows the headers' write).
    times["t_headers"] = time.monotonic()
    sent_data = 0
    for n, (kind, text) in enumerate(plan(p)):
        await asyncio.sleep(p["first_delay"] if n == 0 else p["interval"])
        yield text.encode()
        if kind == "data":
            times["t_data"].append(time.monotonic())
        sent_data += kind == "data"
        if sent_data == p["abort_after"] < p["events"]:
            raise StreamAbort()
    times["t_end"] = time.monotonic()   # the terminating chunk follows at once
    log_times(times)


def error_response(status):
    body = {"error": {"code": status, "message": "status %d requested" % status}}
    headers = {"Retry-After": "1"} if status == 429 else None
    return JSONResponse(body, status_code=status, headers=headers)


class TimedH11(H11Protocol):
    """uvicorn's h11 protocol, noting when the bytes that started a request
    arrived: the handler itself may run several ms later when the event
    loop has other connections to serve."""

    def data_received(self, data):
        t, scope = time.monotonic(), self.scope
        super().data_received(data)
        if self.scope is not scope:      # a request began in these bytes
            self.scope["e2e_t_request"] = t


def sse_or_error(request):
    p = params(request)
    if p["status"] != 200:
        return error_response(p["status"])
    times = {"path": request.url.path, "t_request": request.scope.get("e2e_t_request"), "t_data": []}
    return StreamingResponse(sse_body(p, times), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


# Also under any prefix (/<case>/v1/chat/completions): each test case gets a
# path label of its own, even while other python3 services on the host
# serve the plain path.
@app.post("/v1/chat/completions")
@app.post("/{prefix:path}/v1/chat/completions")
async def chat(request: Request):
    body = json.loads(await request.body() or b"{}")
    p = params(request)
    if p["status"] != 200:
        return error_response(p["status"])
    if body.get("stream"):
        return sse_or_error(request)
    return JSONResponse({"id": "x", "object": "chat.completion",
                         "choices": [{"message": {"role": "assistant", "content": "tok"}}]})


@app.get("/events/{rest:path}")
async def events(request: Request, rest: str):
    return sse_or_error(request)


@app.get("/items/{rest:path}")
async def items(rest: str):
    return JSONResponse({"id": rest.rsplit("/", 1)[-1], "name": "item"})


@app.get("/health")
async def health():
    return JSONResponse({"status": "ok"})


if __name__ == "__main__":
    cert, key = (sys.argv[2:4] + [None, None])[:2]
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http=TimedH11,
                ssl_certfile=cert, ssl_keyfile=key, log_level="warning", access_log=False)
