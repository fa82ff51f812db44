"""LLM gateway (FastAPI under uvicorn, plaintext inbound HTTP):

    /usr/bin/python3 gateway.py PORT LOG CAFILE HOST=PORT [HOST=PORT...]

`POST [/PREFIX]/v1/chat/completions` with an OpenAI-style JSON body
forwards that body unchanged to the upstream host named by its `upstream`
field (default `api.openai.com`): over HTTPS to 127.0.0.1:PORT of that
host (HOST=PORT arguments), with an explicit `Host: HOST` header, so that
the exporter sees real provider host names without any DNS or /etc/hosts
change. `api.anthropic.com` gets `POST /v1/messages`, every other host
`POST /v1/chat/completions`. The upstream's certificate is verified
against CAFILE (the run's self-signed certificate, which names 127.0.0.1).

One httpx.AsyncClient (HTTP/1.1, connection pooling: one pool per HOST's
port) serves every request, all on uvicorn's single event-loop thread, so
many upstream calls are in flight at once on one thread.

Answers:
- upstream 2xx, `"stream": true`: the upstream SSE events relayed one by one
  as they are read (each event re-emitted as its lines joined with "\n" plus
  a blank line: byte-identical to what the fake provider sends). If the
  upstream fails mid-stream, the gateway's own stream is cut (uvicorn closes
  the connection without the terminating chunk).
- upstream 2xx, not streamed: the upstream JSON, status 200.
- upstream 408/504, or no answer within `gateway_timeout_ms` (body field;
  default 10 s) between reads: 504 JSON error.
- any other upstream status >= 400, connection refused, reset, truncated
  body: 502 JSON error.
- `GET /health`: `{"status": "ok"}`.

Each upstream call appends one JSON line to LOG when it ends, before the
gateway's answer (or its stream) ends: `id` (the body's `e2e_id`),
`upstream`, `port`, `model`, `stream`, `status` (upstream HTTP status or
null), `outcome` as the spec classifies the call (`success`, `failure`,
`timeout`), `error` (exception class and message, or null), `events`
(upstream SSE events relayed), `t_send` (request handed to httpx: before
any connect and TLS handshake), `t_body_started` and `t_written`
(httpcore's trace: before the request body's write, after its last
byte's; null if never), `t_first_data` (first upstream event
with a data field read), `t_end` (response complete, or the call failed),
all time.monotonic().
"""
import asyncio
import json
import ssl
import sys
import time

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

app = FastAPI()
UPSTREAMS = {}          # host -> port
STATE = {}              # "client": the shared httpx.AsyncClient, "log": file
DEFAULT_TIMEOUT_S = 10.0
TIMEOUT_STATUSES = (408, 504)


class UpstreamFailed(Exception):
    """Raised in the relay generator: uvicorn cuts the client's stream."""


def log(rec):
    STATE["log"].write(json.dumps(rec) + "\n")
    STATE["log"].flush()


def finish(rec, outcome, error=None):
    if isinstance(error, Exception):
        error = "%s: %s" % (type(error).__name__, error)
    rec.update(outcome=outcome, t_end=time.monotonic(), error=error)
    log(rec)


def error_answer(rec):
    code = 504 if rec["outcome"] == "timeout" else 502
    body = {"error": {"code": code, "message": "upstream call failed", "upstream_status": rec["status"],
                      "detail": rec["error"]}}
    return JSONResponse(body, status_code=code)


def upstream_request(body, rec):
    host = rec["upstream"]
    anthropic = host == "api.anthropic.com"
    headers = {"Host": host, "Content-Type": "application/json"}
    headers.update({"x-api-key": "e2e", "anthropic-version": "2023-06-01"} if anthropic
                   else {"Authorization": "Bearer e2e"})
    read_s = int(body["gateway_timeout_ms"]) / 1000 if "gateway_timeout_ms" in body else DEFAULT_TIMEOUT_S

    async def trace(event, info):
        # httpcore's trace hook: around the request body's write.
        if event == "http11.send_request_body.started":
            rec["t_body_started"] = time.monotonic()
        elif event == "http11.send_request_body.complete":
            rec["t_written"] = time.monotonic()

    path = "/v1/messages" if anthropic else "/v1/chat/completions"
    scheme, port = UPSTREAMS[host]
    url = "%s://127.0.0.1:%d%s" % (scheme, port, path)
    return STATE["client"].build_request("POST", url, content=json.dumps(body).encode(), headers=headers,
                                         timeout=httpx.Timeout(DEFAULT_TIMEOUT_S, read=read_s),
                                         extensions={"trace": trace})


def classify(exc):
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "failure"


@app.post("/v1/chat/completions")
@app.post("/{prefix:path}/v1/chat/completions")
async def chat(request: Request):
    body = await request.json()
    rec = {"id": body.get("e2e_id"), "upstream": body.get("upstream", "api.openai.com"),
           "model": body.get("model"), "stream": bool(body.get("stream")), "status": None,
           "events": 0, "t_body_started": None, "t_written": None, "t_first_data": None}
    rec["port"] = UPSTREAMS.get(rec["upstream"])
    req = upstream_request(body, rec)
    rec["t_send"] = time.monotonic()
    try:
        resp = await STATE["client"].send(req, stream=True)
    except httpx.HTTPError as e:
        finish(rec, classify(e), e)
        return error_answer(rec)
    rec["status"] = resp.status_code
    if resp.status_code >= 400 or not rec["stream"]:
        return await plain_answer(resp, rec)
    return StreamingResponse(relay(resp, rec), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def plain_answer(resp, rec):
    """An upstream error answer, or a non-streamed completion."""
    try:
        data = await resp.aread()
    except httpx.HTTPError as e:
        finish(rec, classify(e), e)
        return error_answer(rec)
    finally:
        await resp.aclose()
    if resp.status_code >= 400:
        finish(rec, "timeout" if resp.status_code in TIMEOUT_STATUSES else "failure")
        return error_answer(rec)
    finish(rec, "success")
    return JSONResponse(json.loads(data))


async def relay(resp, rec):
    lines = []
    try:
        async for line in resp.aiter_lines():
            line = line.rstrip("\r\n")   # httpx < 0.24 keeps the line end
            if line:
                lines.append(line)
                continue
            if not lines:
                continue
            if rec["t_first_data"] is None and any(l.startswith("data:") for l in lines):
                rec["t_first_data"] = time.monotonic()
            rec["events"] += 1
            yield ("\n".join(lines) + "\n\n").encode()
            lines = []
    except httpx.HTTPError as e:
        finish(rec, classify(e), e)
        raise UpstreamFailed(rec["error"]) from None
    except (asyncio.CancelledError, GeneratorExit):
        # Our client went away: we close the upstream call before its end.
        finish(rec, "timeout", "gateway client went away")
        raise
    finally:
        await resp.aclose()
    finish(rec, "success")


@app.get("/health")
async def health():
    return JSONResponse({"status": "ok"})


@app.on_event("startup")
async def startup():
    # One client for the whole process: its pool is shared by all requests.
    # Idle connections kept 30 s (httpx's default is 5, the providers' 60):
    # the adopt: cases reuse a pool filled before the exporter started, up
    # to ~5 s later on this machine.
    ctx = ssl.create_default_context(cafile=STATE["cafile"])
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30)
    STATE["client"] = httpx.AsyncClient(verify=ctx, http1=True, http2=False, timeout=DEFAULT_TIMEOUT_S,
                                        limits=limits)


@app.on_event("shutdown")
async def shutdown():
    await STATE["client"].aclose()


def main():
    port, logfile, STATE["cafile"] = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    for arg in sys.argv[4:]:   # HOST=PORT (HTTPS) or HOST=http:PORT
        host, _, upstream_port = arg.partition("=")
        plain = upstream_port.startswith("http:")
        UPSTREAMS[host] = ("http" if plain else "https", int(upstream_port[5:] if plain else upstream_port))
    STATE["log"] = open(logfile, "a", encoding="utf-8")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http="h11")


if __name__ == "__main__":
    main()
