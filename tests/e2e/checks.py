"""Expected changes of exporter metrics, checked by polling.

A test scrapes before its traffic, builds a list of Expect from what its
client measured, and calls settle(): the exporter catches up
asynchronously, so the expectations are polled until they all hold, and on
timeout the failure lists every one that does not, with the value seen.
"""
import time
from dataclasses import dataclass
from typing import Callable

import metrics
from framework import Failure

EPS = 1e-6
SETTLE_TIMEOUT = 4.0   # the exporter may lag ~1 s; leave room on a busy host


@dataclass
class Expect:
    name: str
    filters: dict
    test: Callable[[float], bool]
    want: str
    absolute: bool = False    # gauges: compare the value, not the change

    def observed(self, before, after):
        now = metrics.total(after, self.name, **self.filters)
        return now if self.absolute else now - metrics.total(before, self.name, **self.filters)

    def holds(self, before, after):
        return self.test(self.observed(before, after))

    def describe(self, before, after):
        return "%s %s, got %s" % (series(self.name, self.filters), self.want,
                                  fmt(self.observed(before, after)))


def series(name, filters):
    return "%s{%s}" % (name, ",".join('%s=%s' % (k, _quote(v)) for k, v in sorted(filters.items())))


def _quote(v):
    return "|".join('"%s"' % x for x in v) if isinstance(v, tuple) else '"%s"' % v


def fmt(x):
    return ("%.4f" % x).rstrip("0").rstrip(".")


def inc(name, n, **filters):
    """The counter (sum over matching series) grew by exactly n."""
    return Expect(name, filters, lambda d: abs(d - n) < EPS, "+= %s" % fmt(n))


def near(name, target, tol, **filters):
    """The counter grew by target +- tol (histogram sums of durations)."""
    return Expect(name, filters, lambda d: abs(d - target) <= tol,
                  "+= %s +- %s" % (fmt(target), fmt(tol)))


def gauge(name, value, **filters):
    """The gauge (sum over matching series) is exactly value."""
    return Expect(name, filters, lambda v: abs(v - value) < EPS, "== %s" % fmt(value), absolute=True)


def gauge_at_least(name, value, **filters):
    return Expect(name, filters, lambda v: v >= value - EPS, ">= %s" % fmt(value), absolute=True)


def inc_at_least(name, n, **filters):
    """The counter grew by n or more (a count the test cannot know, as
    how many records a full ring dropped)."""
    return Expect(name, filters, lambda d: d >= n - EPS, "+= >= %s" % fmt(n))


# How long a settled value must then stay unchanged: a count that arrives
# late (a connection swept a second time, a close seen late) lands within
# one sweep of the exporter, plus the time to turn it into metrics.
DEFAULT_SWEEP_S = 2.0      # the exporter's --sweep.interval default
STAY_MARGIN_S = 0.5
_sweep_of_port = {}


def register_sweep(port, seconds):
    """The exporter on `port` runs with --sweep.interval=seconds."""
    _sweep_of_port[port] = seconds


def stay_seconds(port):
    return _sweep_of_port.get(port, DEFAULT_SWEEP_S) + STAY_MARGIN_S


LOST_EVENTS = "sse_exporter_events_lost_total"


def no_loss():
    """No kernel event was dropped: every case that is not about loss
    expects the ring buffer to keep up."""
    return inc(LOST_EVENTS, 0)


def settle(port, before, expects, timeout=SETTLE_TIMEOUT, own_paths=(), stay=True):
    """Poll the exporter until every expectation holds, then (stay) scrape
    again after a sweep interval and a margin and require every observed
    value unchanged, so that a late count is not absorbed by the next
    case's baseline. Transient states (gauges while streams are open) pass
    stay=False. Returns the last scrape."""
    expects = list(expects)
    if not any(e.name == LOST_EVENTS for e in expects):   # a case about loss says what it wants
        expects.append(no_loss())
    ok, after = metrics.wait_for(port, lambda s: all(e.holds(before, s) for e in expects), timeout)
    if not ok:
        fail(before, after, expects, own_paths, "after %.0f s" % timeout,
             [e.describe(before, after) for e in expects if not e.holds(before, after)])
    if not stay:
        return after
    time.sleep(stay_seconds(port))   # proving absence of change: nothing to poll for
    later = metrics.scrape(port)
    moved = ["%s: %s then %s" % (series(e.name, e.filters), fmt(e.observed(before, after)),
                                 fmt(e.observed(before, later)))
             for e in expects if abs(e.observed(before, later) - e.observed(before, after)) > EPS]
    if moved:
        fail(before, later, expects, own_paths,
             "values changed %.1f s after they matched" % stay_seconds(port), moved)
    return later


def fail(before, after, expects, own_paths, when, problems):
    moved = moved_instead(before, after, [e for e in expects if not e.holds(before, after)])
    if moved:
        problems.append("NOTE what moved instead: " + ", ".join(moved))
    losses = own_losses(before, after)
    if losses:
        problems.append("NOTE the exporter's own counters moved: " + ", ".join(
            "%s +%s" % (name, fmt(n)) for name, n in losses))
    foreign = foreign_traffic(before, after, expects, own_paths)
    if foreign:
        problems.append("NOTE other traffic of the same service during this test: " + ", ".join(
            '%s %s +%s' % (svc, path, fmt(n)) for (svc, path), n in sorted(foreign.items())))
    raise Failure("%s: %s" % (when, "; ".join(problems)))


MOVED_SHOWN = 10


def moved_instead(before, after, failing):
    """The series that changed of each family a failing expectation of a
    change names, within its service if it names one, that differ from it
    in one other label: where a count went when it did not go where
    expected (another status, code, path or bucket). The first
    MOVED_SHOWN, and how many more."""
    out = set()
    for e in failing:
        if e.absolute:
            continue
        for (name, lbl), d in metrics.delta(before, after).items():
            if name == e.name and abs(d) > EPS and one_label_off(e.filters, dict(lbl)):
                out.add("%s %+g" % (series(name, dict(lbl)), d))
    out = sorted(out)
    more = ["and %d more" % (len(out) - MOVED_SHOWN)] if len(out) > MOVED_SHOWN else []
    return out[:MOVED_SHOWN] + more


def one_label_off(filters, labels):
    """Whether `labels` has the filters' service and differs from the
    filters in exactly one other label."""
    if "service" in filters and labels.get("service") != filters["service"]:
        return False
    return sum(labels.get(k) != v for k, v in filters.items()) == 1


# Own counters left out of own_losses(): series dropped over a label cap
# (a limit, not a miss), streams the kernel counted (its fallbacks stay in).
NOT_LOSSES = {"sse_exporter_series_dropped_total", "sse_exporter_kernel_streams_total"}


def own_losses(before, after):
    """[(name, increase)] of the exporter's counters of things it missed
    (lost events or exchanges, uncopied bytes, untracked connections...)."""
    out = {}
    for (name, _), d in metrics.delta(before, after).items():
        if name.startswith("sse_exporter_") and name.endswith("_total") and d > 0 \
                and name not in NOT_LOSSES:
            out[name] = out.get(name, 0) + d
    return sorted(out.items())


def foreign_traffic(before, after, expects, own_paths=()):
    """{(service, path): requests} answered during the test by the services
    it checks, on paths it did not use: another process with the same name
    (comm) is busy, and checks by service alone are then unreliable."""
    services = {e.filters.get("service") for e in expects}
    paths = set(own_paths) | {e.filters.get("path") for e in expects}
    out = {}
    for (name, lbl), d in metrics.delta(before, after).items():
        labels = dict(lbl)
        if (name == "http_requests_total" and d > 0 and labels.get("service") in services
                and labels.get("path") not in paths):
            key = (labels.get("service"), labels.get("path"))
            out[key] = out.get(key, 0) + d
    return out
