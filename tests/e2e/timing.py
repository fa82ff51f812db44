"""Durations to the millisecond, against the servers' own clocks.

The FastAPI, Node and Go servers log, for every complete SSE stream, the
CLOCK_MONOTONIC times right after they wrote each piece (E2E_TIMES_LOG,
tests/e2e/README.md): request handled, headers written, each data event
written, stream end. The exporter stamps the same reads and writes in the
kernel with the same clock, so each of its observations is compared one by
one with the server's figure:

- the sum over n observations within n * TOLERANCE_S;
- every `_bucket` within the counts the truth allows: an observation whose
  true value lies within TOLERANCE_S of a bound may fall either side of it.

TOLERANCE_S: the servers take their times a few instructions after the
write syscall returns (Go: after Flush; Node: after write(), which writes
at once; FastAPI: when Starlette resumes the body generator after uvicorn's
transport.write): 0.1-0.5 ms for Go and Node, 0.5-1.5 ms for FastAPI on
this 2-core nested VM, more when another test loads it. 3 ms covers that
with room for a preempted server thread, and is far below the errors that
matter: a start or end point moved to another event (one interval, 10 ms in
these cases), or a stream end seen 20 ms late.

Intervals that start at the request's read (request, time to first chunk,
response head) are longer than the server's figure by however long the
framework took from that read to the handler: 0.1-1.5 ms, but a Go
goroutine of ten that was not scheduled for 5 ms happened in CI. Their
upper side is the client's instead: its interval from before its send() to
after its recv() holds the exporter's read and write.
"""
import json
import time

import checks
from catalog import CATALOG
from framework import expect

TOLERANCE_S = 0.003
LOG_TIMEOUT_S = 5.0


def server_streams(server, path, n):
    """The n stream records of `path` (no query) from the server's times
    log; the server writes a record after its last write, so the client
    may have the whole stream before it is there."""
    expect(server.times_log is not None, "%s logs no stream times", server.name)
    deadline = time.monotonic() + LOG_TIMEOUT_S
    while True:
        found = [r for r in read_log(server.times_log) if r["path"] == path]
        if len(found) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    expect(len(found) == n, "%s logged %d complete streams of %s, want %d", server.name, len(found),
           path, n)
    return found


def read_log(path):
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    # A line still being written is not parsed: it has no newline yet.
    return [json.loads(line) for line in lines if line.endswith("}")]


def figures(streams):
    """{what: [one value per observation]} from the servers' times, with the
    spec's start and end points."""
    first = [s["t_data"][0] for s in streams]
    return {
        "request": [s["t_end"] - s["t_request"] for s in streams],
        "stream": [s["t_end"] - s["t_headers"] for s in streams],
        "ttfc": [f - s["t_request"] for s, f in zip(streams, first)],
        "head": [s["t_headers"] - s["t_request"] for s in streams],
        "first_chunk": [f - s["t_headers"] for s, f in zip(streams, first)],
        "streaming": [s["t_end"] - f for s, f in zip(streams, first)],
        "gaps": [b - a for s in streams for a, b in zip(s["t_data"], s["t_data"][1:])],
    }


def client_bounded(name, durations, tol=TOLERANCE_S, **filters):
    """Histogram `name` of requests the client timed from before its send()
    to after its last recv(): the exporter's read-to-write interval lies
    inside each, shorter by the two wakeups on loopback (< tol each)."""
    return histogram_within(name, durations, -2 * tol, 0.0, **filters)


def truths(server, path, resps):
    """The server's figures of the complete streams `resps` of `path`, and
    the client's of the same streams, each from before its request's send."""
    return figures(server_streams(server, path, len(resps))), {
        "request": [r.duration for r in resps],
        "ttfc": [r.ttfc + r.t_sent - r.t_start for r in resps],
        "head": [r.t_headers - r.t_start for r in resps],
    }


def stream_expects(server, path, label, resps, model=None):
    """Every duration family of the streams `resps` of `path` (label
    `label`); TTFC also by model when given."""
    f, c = truths(server, path, resps)
    return durations(f, c, server.service, label, model)


def durations(f, c, svc, label, model=None):
    """stream_expects() of truths (f, c) already read."""
    by_model = {} if model is None else {"model": model}
    return (from_request("sse_request_duration_seconds", f, c, "request", service=svc, path=label)
            + histogram("sse_stream_duration_seconds", f["stream"], service=svc, path=label)
            + from_request("sse_time_to_first_chunk_seconds", f, c, "ttfc", service=svc, path=label,
                           **by_model)
            + from_request("http_request_duration_seconds", f, c, "head", service=svc, path=label)
            + histogram("sse_inter_chunk_gap_seconds", f["gaps"], service=svc, path=label))


def from_request(name, server, client, what, **filters):
    """Histogram `name` of intervals `what` that start at the request's
    read: each at least the server's figure less TOLERANCE_S, at most the
    client's. The bounds of the sums and buckets do not depend on which
    client figure goes with which server figure."""
    lows = sorted(v - TOLERANCE_S for v in server[what])
    return histogram_bounded(name, list(zip(lows, sorted(client[what]))), **filters)


class Between(checks.Expect):
    """A counter's change lies in [lo, hi]."""

    def __init__(self, name, filters, lo, hi):
        super().__init__(name, filters, lambda d: lo - checks.EPS <= d <= hi + checks.EPS,
                         "+= %s" % checks.fmt(lo) if lo == hi
                         else "+= %s..%s" % (checks.fmt(lo), checks.fmt(hi)))


def histogram(name, values, tol=TOLERANCE_S, **filters):
    """Count, sum and every bucket (the spec's bounds) of histogram `name`
    against the true values of its observations, each within tol."""
    return histogram_within(name, values, -tol, tol, **filters)


def histogram_within(name, values, below, above, **filters):
    """Histogram `name` of observations each in [v + below, v + above] for
    the true values v."""
    return histogram_bounded(name, [(v + below, v + above) for v in values], **filters)


def histogram_bounded(name, bounds, **filters):
    """Histogram `name` of observations each in its own [lo, hi] of
    bounds: count, sum, and every bucket between the counts those
    intervals allow."""
    out = [checks.inc(name + "_count", len(bounds), **filters),
           Between(name + "_sum", filters, sum(lo for lo, _ in bounds), sum(hi for _, hi in bounds))]
    for b in CATALOG[name][2]:
        out.append(Between(name + "_bucket", dict(filters, le="%.15g" % b),
                           sum(hi <= b for _, hi in bounds), sum(lo <= b for lo, _ in bounds)))
    return out
