"""Minimal test framework: groups of cases sharing a fixture, one output
line per case, and a summary line that `make e2e` relies on."""
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable


class Failure(AssertionError):
    pass


def expect(cond, fmt, *args):
    """Like assert, but never stripped by -O and with a formatted reason."""
    if not cond:
        raise Failure(fmt % args if args else fmt)


@dataclass
class Group:
    """Cases that share one fixture. setup() runs only if at least one case
    is selected; if it raises, every selected case fails with its error."""
    setup: Callable[[], Any]
    cases: list                       # [(name, fn(fixture))]
    teardown: Callable[[Any], None] = lambda fixture: None


@dataclass
class Results:
    passed: int = 0
    failed: int = 0
    failures: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)  # name -> the case's time, its group's setup in the first

    def record(self, name, reason=None, seconds=0.0):
        self.seconds[name] = seconds
        took = " [%.1f s]" % seconds
        if reason is None:
            self.passed += 1
            print("PASS %s%s" % (name, took), flush=True)
        else:
            self.failed += 1
            self.failures.append(name)
            print("FAIL %s: %s%s" % (name, one_line(reason), took), flush=True)

    def timing(self, slowest=8):
        """One line: the time by prefix (the name up to its first colon) and
        the slowest cases, for whoever shortens the run."""
        by_prefix = {}
        for name, s in self.seconds.items():
            prefix = name.split(":", 1)[0]
            by_prefix[prefix] = by_prefix.get(prefix, 0.0) + s
        prefixes = sorted(by_prefix.items(), key=lambda kv: -kv[1])
        cases = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:slowest]
        return "time: %.0f s; by prefix: %s; slowest: %s" % (
            sum(self.seconds.values()), ", ".join("%s %.0f s" % kv for kv in prefixes),
            ", ".join("%s %.1f s" % kv for kv in cases))


def one_line(text):
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def describe(exc):
    if isinstance(exc, AssertionError):
        return str(exc) or "assertion failed"
    # Unexpected errors: keep the innermost frame so the cause is findable.
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return "%s: %s (at %s:%d)" % (type(exc).__name__, exc, frame.filename.rsplit("/", 1)[-1], frame.lineno)


def run_groups(groups, selected, results):
    """selected(name) -> bool picks the cases to run."""
    for group in groups:
        cases = [(n, fn) for n, fn in group.cases if selected(n)]
        if not cases:
            continue
        start = time.monotonic()
        try:
            fixture = group.setup()
        except Exception as e:   # noqa: BLE001 - reported per case
            for name, _ in cases:
                results.record(name, "setup failed: %s" % describe(e), time.monotonic() - start)
                start = time.monotonic()
            continue
        try:
            for name, fn in cases:
                try:
                    fn(fixture)
                    results.record(name, seconds=time.monotonic() - start)
                except Exception as e:   # noqa: BLE001 - one failure per case
                    results.record(name, describe(e), time.monotonic() - start)
                start = time.monotonic()
        finally:
            group.teardown(fixture)
