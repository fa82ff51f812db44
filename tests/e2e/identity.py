"""Who served a stream: the identity labels (namespace, pod, container,
service) of servers that share one comm, checked on real runtimes by the
podman, CRI and host groups (podman_cases, cri_cases, host_ident_cases).

Each server gets streams on paths of its own (/events/<tag>/<n>): the
count of each path over all series is the ground truth, and the same
count under the server's labels shows that none of it went to another
identity. A label the server must not have is expected empty (left out).
Every server is started after the exporter and probed with GET /health
until it answers: those probes, its first requests, must already carry
its labels.
"""
import time
from dataclasses import dataclass

import client
import isolated
import procs
from checks import Expect, fmt, inc
from framework import Group, expect

EVENTS = 4          # data events per stream, [DONE] included
READY_TIMEOUT_S = 30.0


def start_exporter(tmp, name, args=()):
    """The group's exporter, selecting nothing (every process of the host),
    sweeping each second: settle() then waits 1.5 s for values to stay."""
    return isolated.start_exporter(tmp, name, ["--sweep.interval=%d" % isolated.SWEEP_S, *args])


def who(service, container="", namespace="", pod=""):
    """The label filters of one identity ("" = the label is left out)."""
    return dict(service=service, container=container, namespace=namespace, pod=pod)


@dataclass
class Target:
    tag: str          # its paths: /events/<tag>/<n>
    port: int
    labels: dict      # who() it must be
    probes: int = 0   # GET /health it answered before its first case
    streams: int = 2

    @property
    def label(self):
        return "/events/%s/:id" % self.tag


def wait_ready(port, alive, describe, timeout=READY_TIMEOUT_S):
    """GET /health until it answers 200; returns the number of answered
    probes (the server's first requests). alive() false, or the timeout,
    fails with describe()."""
    deadline, answered = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        expect(alive(), "the server on port %d is gone before it was ready: %s", port, describe())
        if procs.port_open(port):
            try:
                status = client.request(port, client.get("/health"), timeout=2.0).status
            except (OSError, client.PeerClosed, client.ProtocolError):
                status = None    # no answer: no request the server served
            answered += status is not None
            if status == 200:
                return answered
        time.sleep(0.02)
    expect(False, "no server ready on port %d after %.0f s: %s", port, timeout, describe())


def serve(targets):
    """Every target's streams, all at once: {tag: [Response]}."""
    jobs = [(t.port, t.tag, i) for t in targets for i in range(t.streams)]
    resps = client.concurrently(lambda port, tag, i: client.request(port, client.events(
        "/events/%s/%d" % (tag, i + 1), {"events": EVENTS})), jobs)
    out = {t.tag: [] for t in targets}
    for (_, tag, _), r in zip(jobs, resps):
        expect(r.status == 200 and r.is_sse and r.complete and r.data_events == EVENTS,
               "ground truth: %s answered %d sse=%s complete=%s with %d data events", tag, r.status,
               r.is_sse, r.complete, r.data_events)
        out[tag].append(r)
    return out


def stream_expects(target, resps):
    """The target's streams counted exactly, over all series of its paths
    and under its labels."""
    n, chunks = len(resps), sum(r.data_events for r in resps)
    out = []
    for labels in ({}, target.labels):
        out += [inc("sse_requests_total", n, path=target.label, status="success", code="200", **labels),
                inc("sse_chunks_streamed_total", chunks, path=target.label, **labels),
                inc("http_requests_total", n, path=target.label, method="GET", status="200", **labels)]
    return out


def first_requests(target):
    """The target's readiness probes, its first requests, are counted under
    its labels: the exporter started before it, so the count is absolute."""
    return Expect("http_requests_total", dict(target.labels, path="/health"),
                  lambda v: v == target.probes, "== %s" % fmt(target.probes), absolute=True)


def streams(exp, targets):
    """Streams to every target at once, each counted under its identity."""
    before = exp.scrape()
    resps = serve(targets)
    exp.settle(before, [e for t in targets for e in stream_expects(t, resps[t.tag])])


# Cases on a fixture with .exp (its exporter), .targets and .stop().

def case_streams(fx):
    streams(fx.exp, fx.targets)


def case_first_requests(fx):
    fx.exp.settle(fx.exp.scrape(), [first_requests(t) for t in fx.targets])


def group(setup, cases):
    return Group(setup, cases, lambda fx: fx.stop())
