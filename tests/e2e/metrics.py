"""Scraping and parsing the exporter's Prometheus text exposition.

A scrape is a dict {(name, frozenset(labels.items())): value}. Histograms
appear as their _bucket/_sum/_count samples, exactly as exposed.

The exporter turns kernel events into metrics asynchronously, so a scrape
taken right after some traffic may lag by up to about a second: tests poll
with wait_for() instead of sleeping.
"""
import re
import time
import urllib.error
import urllib.request

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class ParseError(ValueError):
    pass


def fetch(port, path="/metrics", timeout=5.0):
    """GET http://127.0.0.1:port/path -> (status, headers, body text)."""
    url = "http://127.0.0.1:%d%s" % (port, path)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:   # non-2xx still has a body we want
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


def scrape(port, path="/metrics"):
    status, _, text = fetch(port, path)
    if status != 200:
        raise AssertionError("GET %s answered %d" % (path, status))
    return parse(text)


def parse(text):
    samples = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            name, labels, value = _parse_sample(line)
        except (ParseError, ValueError) as e:
            raise ParseError("line %d: %s: %r" % (lineno, e, line)) from None
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise ParseError("line %d: duplicate sample %r" % (lineno, line))
        samples[key] = value
    return samples


def _parse_sample(line):
    m = _NAME.match(line)
    if not m:
        raise ParseError("no metric name")
    name, pos, labels = m.group(0), m.end(), {}
    if line[pos:pos + 1] == "{":
        labels, pos = _parse_labels(line, pos + 1)
    rest = line[pos:].split()
    if len(rest) not in (1, 2):       # value and optional timestamp
        raise ParseError("expected value [timestamp]")
    return name, labels, float(rest[0])


def _parse_labels(line, pos):
    labels = {}
    while True:
        if line[pos:pos + 1] == "}":
            return labels, pos + 1
        m = _LABEL.match(line, pos)
        if not m or line[m.end():m.end() + 2] != '="':
            raise ParseError("bad label at column %d" % pos)
        value, pos = _parse_label_value(line, m.end() + 2)
        labels[m.group(0)] = value
        if line[pos:pos + 1] == ",":
            pos += 1
        elif line[pos:pos + 1] != "}":
            raise ParseError("expected , or } at column %d" % pos)


def _parse_label_value(line, pos):
    out = []
    while pos < len(line):
        c = line[pos]
        if c == '"':
            return "".join(out), pos + 1
        if c == "\\":
            esc = line[pos + 1:pos + 2]
            if esc not in _ESCAPES:
                raise ParseError("bad escape at column %d" % pos)
            out.append(_ESCAPES[esc])
            pos += 2
        else:
            out.append(c)
            pos += 1
    raise ParseError("unterminated label value")


def matches(labels, filters):
    """A filter value is a label value, or a tuple of accepted values; ""
    matches a label left out, as in Prometheus (an empty value is none)."""
    return all(labels.get(k, "") in v if isinstance(v, tuple) else labels.get(k, "") == v
               for k, v in filters.items())


def select(samples, name, **filters):
    """{labels dict as frozenset: value} of `name` samples matching filters."""
    return {lbl: v for (n, lbl), v in samples.items() if n == name and matches(dict(lbl), filters)}


def total(samples, name, **filters):
    """Sum of `name` over every series whose labels include `filters`."""
    return sum(select(samples, name, **filters).values())


def delta(before, after):
    """after - before per series; a series new in `after` started at 0."""
    keys = set(before) | set(after)
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in keys}


def names(samples):
    return {n for n, _ in samples}


def families(text):
    """{family name: type} from the # TYPE lines."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[:2] == ["#", "TYPE"]:
            out[parts[2]] = parts[3]
    return out


def wait_for(port, predicate, timeout=5.0, interval=0.05):
    """Scrape until predicate(samples) is true or timeout expires.
    Returns (ok, last samples)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if predicate(samples):
            return True, samples
        if time.monotonic() >= deadline:
            return False, samples
        time.sleep(interval)
