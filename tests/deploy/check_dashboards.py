#!/usr/bin/python3
"""Checks deploy/grafana/ without Grafana (`make check-dashboards`).

    /usr/bin/python3 tests/deploy/check_dashboards.py [DIR]

Prints one line per problem, `CHECK: what`; exits 1 if there is any.

What Grafana would refuse or show broken on import: not JSON, another
schema version, a uid or title twice, a panel without the `${datasource}`
variable, a place on the grid or a query; a variable used and not
defined; and what would show no data on any Prometheus: a metric name
that neither docs/metrics.md (tests/e2e/catalog.py) lists nor a recording
rule of deploy/prometheus/ records, a label the metric does not have, an
expression promtool cannot parse; and thresholds other than those of the
alerts a panel names (deploy/prometheus/alerts.yml). Last, that the JSON is what
deploy/grafana/dashboards.py writes, so that the panels have one source.

The helpers that read the dashboards (panels, expressions, variables and
their substitution) serve the end-to-end test too
(tests/e2e/dashboard_cases.py), which runs the same expressions on a
real Prometheus.
"""
import sys

sys.dont_write_bytecode = True   # keep the source tree free of __pycache__

import glob        # noqa: E402
import json        # noqa: E402
import math        # noqa: E402
import os          # noqa: E402
import re          # noqa: E402
import subprocess  # noqa: E402
import tempfile    # noqa: E402

import yaml        # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GRAFANA = os.path.join(REPO, "deploy", "grafana")
RULES = os.path.join(REPO, "deploy", "prometheus")
PROMTOOL = os.environ.get("PROMTOOL", "/usr/bin/promtool")

sys.path[:0] = [GRAFANA, os.path.join(REPO, "tests", "e2e")]
import catalog      # noqa: E402
import dashboards   # noqa: E402

DS = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39
GRID_COLUMNS = 24
UID_MAX = 40                     # Grafana's limit
LABEL_VARIABLES = ("namespace", "service", "provider", "model")
# Grafana's own variables the panels may use; the end-to-end test gives
# each a range.
BUILTINS = ("__rate_interval", "__interval", "__range")
UNITS = {"s", "reqps", "percentunit", "short", "bytes"}
# Labels Prometheus adds to every scraped series (and the monitors' node).
TARGET_LABELS = {"job", "instance", "node"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


# --- Reading dashboards ----------------------------------------------------

def panels(dash):
    """Every panel, those inside collapsed rows too."""
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out += p.get("panels", [])
    return out


def is_row(panel):
    return panel.get("type") == "row"


def targets(dash):
    """[(where, target)] of every query of every panel."""
    return [("panel %s %r" % (p.get("id"), p.get("title")), t)
            for p in panels(dash) if not is_row(p) for t in p.get("targets", [])]


def variables(dash):
    return dash.get("templating", {}).get("list", [])


def variable_query(var):
    """The query text of a query variable (an object in Grafana 10+, a
    string before)."""
    q = var.get("query")
    return q.get("query", "") if isinstance(q, dict) else q or ""


LABEL_VALUES = re.compile(r"^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$", re.S)


def label_values(var):
    """(selector, label) of a label_values(selector, label) variable, or None."""
    m = LABEL_VALUES.match(variable_query(var).strip())
    return (m.group(1).strip(), m.group(2)) if m else None


def expressions(dash):
    """[(where, PromQL)]: every panel query, and the selector of every
    label_values variable."""
    out = [(where, t.get("expr", "")) for where, t in targets(dash)]
    for var in variables(dash):
        lv = label_values(var) if var.get("type") == "query" else None
        if lv:
            out.append(("variable %s" % var["name"], lv[0]))
    return out


VARIABLE_REF = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")


def referenced(text):
    return {a or b or c for a, b, c in VARIABLE_REF.findall(text or "")}


def substitute(text, values):
    """Each variable reference replaced by values[name] (a KeyError for
    one not given)."""
    return VARIABLE_REF.sub(lambda m: str(values[m.group(1) or m.group(2) or m.group(3)]), text)


# --- Reading PromQL --------------------------------------------------------

STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SELECTOR = re.compile(r"(%s)?\s*\{((?:%s|[^{}\"'`])*)\}" % (NAME, STRING))
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(%s)" % STRING)
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
TOKEN = re.compile(r"[0-9][0-9.]*(?:[eE][+-]?[0-9]+)?[a-zA-Z]*|(%s)(\s*\()?" % NAME)
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
            "group_right", "inf", "nan"}


def unquote(s):
    return s[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def selectors(expr):
    """[(metric names, {label names matched})] of the vector selectors
    with braces; a selector by __name__ names its metrics by = or by a
    plain alternation (=~"a|b")."""
    out = []
    for m in SELECTOR.finditer(expr):
        matchers = MATCHER.findall(m.group(2))
        labels = {name for name, _, _ in matchers if name != "__name__"}
        names = {m.group(1)} if m.group(1) else set()
        for name, op, value in matchers:
            if name == "__name__" and op in ("=", "=~"):
                names |= set(unquote(value).split("|"))
        out.append((names, labels))
    return out


def metric_names(expr):
    """Metric names an expression reads: identifiers that are not in
    strings, braces, brackets or grouping lists, not functions (followed
    by a parenthesis), keywords, numbers or variables; and those named by
    __name__."""
    text = VARIABLE_REF.sub("1", re.sub(STRING, '""', expr))
    text = GROUPING.sub(" ", text)
    text = re.sub(r"\{[^{}]*\}|\[[^\[\]]*\]", " ", text)
    names = {m.group(1) for m in TOKEN.finditer(text)
             if m.group(1) and not m.group(2) and m.group(1).lower() not in KEYWORDS}
    for found, _ in selectors(expr):
        names |= found
    return names


def grouping_labels(expr):
    text = re.sub(STRING, '""', expr)
    return {label.strip() for _, labels in GROUPING.findall(text) for label in labels.split(",")
            if label.strip()}


# --- What metrics exist ----------------------------------------------------

def rule_files(rules_dir=RULES):
    return sorted(glob.glob(os.path.join(rules_dir, "*.yml")))


def recorded(rules_dir=RULES):
    """{name: labels or None} of the recording rules in deploy/prometheus/:
    the labels of the rule's `by` clauses when they all agree (`le` aside),
    else unknown."""
    out = {}
    for path in rule_files(rules_dir):
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                if "record" in rule:
                    out[rule["record"]] = by_labels(rule["expr"])
    return out


def by_labels(expr):
    found = {frozenset(label.strip() for label in labels.split(",")) - {"le"}
             for kind, labels in GROUPING.findall(re.sub(STRING, '""', expr)) if kind == "by"}
    return set(found.pop()) if len(found) == 1 else None


def known_metrics(rules_dir=RULES):
    """{metric name as a query uses it: its labels, or None if unknown}."""
    out = {}
    for name, (mtype, labels, _) in catalog.CATALOG.items():
        out[name] = labels | TARGET_LABELS
        if mtype == "histogram":
            for suffix in HISTOGRAM_SUFFIXES:
                out[name + suffix] = labels | TARGET_LABELS | ({"le"} if suffix == "_bucket" else set())
    for name, labels in recorded(rules_dir).items():
        out[name] = None if labels is None else labels | TARGET_LABELS
    return out


# --- Loading ---------------------------------------------------------------

def load(directory):
    """({file name: dashboard}, [problems of files that are not dashboards])."""
    out, problems = {}, []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        name = os.path.basename(path)
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            problems.append("json_is_valid: %s: %s" % (name, e))
            continue
        if isinstance(doc, dict):
            out[name] = doc
        else:
            problems.append("json_is_valid: %s: not a JSON object" % name)
    return out, problems


# --- Checks: each (directory, {file: dashboard}, known metrics) -> [problems] ---

def json_is_valid(directory, dashes, known):
    """Loading reports the files that are not JSON objects (load())."""
    return [] if dashes else ["no dashboard in %s" % directory]


def json_is_generated(directory, dashes, known):
    out = []
    expected = dashboards.generated()
    present = {os.path.basename(p) for p in glob.glob(os.path.join(directory, "*.json"))}
    for name in sorted(present - set(expected)):
        out.append("%s is not written by dashboards.py" % name)
    for name, text in sorted(expected.items()):
        path = os.path.join(directory, name)
        if name not in present:
            out.append("%s is missing: run deploy/grafana/dashboards.py" % name)
            continue
        with open(path, encoding="utf-8") as f:
            if f.read() != text:
                out.append("%s differs from what dashboards.py writes: edit dashboards.py and run it" % name)
    return out


def schema_is_current(directory, dashes, known):
    out = []
    for name, d in dashes.items():
        if d.get("schemaVersion") != SCHEMA_VERSION:
            out.append("%s: schemaVersion %r, want %d" % (name, d.get("schemaVersion"), SCHEMA_VERSION))
        for key, kind in (("title", str), ("uid", str), ("panels", list), ("templating", dict), ("time", dict)):
            if not isinstance(d.get(key), kind):
                out.append("%s: no %s (%s)" % (name, key, kind.__name__))
        if d.get("id") is not None:
            out.append("%s: id %r: an imported dashboard must have id null" % (name, d.get("id")))
    return out


def uids_and_titles_are_unique(directory, dashes, known):
    out = []
    for key in ("uid", "title"):
        seen = {}
        for name, d in sorted(dashes.items()):
            value = d.get(key)
            if value in seen:
                out.append("%s: %s %r already used by %s" % (name, key, value, seen[value]))
            seen[value] = name
    for name, d in dashes.items():
        uid = d.get("uid") or ""
        if not re.fullmatch(r"[a-zA-Z0-9_-]{1,%d}" % UID_MAX, uid):
            out.append("%s: uid %r is not 1 to %d letters, digits, - or _" % (name, uid, UID_MAX))
        ids = [p.get("id") for p in panels(d)]
        dup = sorted({i for i in ids if ids.count(i) > 1}, key=str)
        if dup or None in ids:
            out.append("%s: panel ids not unique or missing: %r" % (name, dup or [None]))
    return out


def panels_use_the_datasource_variable(directory, dashes, known):
    out = []
    for name, d in dashes.items():
        ds = [v for v in variables(d) if v.get("name") == "datasource"]
        if not ds or ds[0].get("type") != "datasource" or ds[0].get("query") != "prometheus":
            out.append("%s: no variable datasource of type datasource, query prometheus" % name)
        for p in panels(d):
            if not is_row(p) and p.get("datasource") != DS:
                out.append("%s: panel %s %r: datasource %r, want %r" % (name, p.get("id"), p.get("title"),
                                                                       p.get("datasource"), DS))
        for where, t in targets(d):
            if t.get("datasource", DS) != DS:
                out.append("%s: %s: a query's datasource is %r" % (name, where, t["datasource"]))
        for v in variables(d):
            if v.get("type") == "query" and v.get("datasource") != DS:
                out.append("%s: variable %s: datasource %r" % (name, v.get("name"), v.get("datasource")))
    return out


def grid_cells(pos):
    return {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}


def panels_are_placed(directory, dashes, known):
    out = []
    for name, d in dashes.items():
        taken = {}
        for p in panels(d):
            pos, label = p.get("gridPos") or {}, "%s: panel %s %r" % (name, p.get("id"), p.get("title"))
            if not all(isinstance(pos.get(k), int) for k in "hwxy"):
                out.append("%s: gridPos %r lacks an integer h, w, x or y" % (label, pos))
                continue
            if pos["w"] < 1 or pos["h"] < 1 or pos["x"] < 0 or pos["y"] < 0 or pos["x"] + pos["w"] > GRID_COLUMNS:
                out.append("%s: gridPos %r is off the %d-column grid" % (label, pos, GRID_COLUMNS))
                continue
            for cell in grid_cells(pos):
                if cell in taken:
                    out.append("%s: overlaps panel %s" % (label, taken[cell]))
                    break
            taken.update(dict.fromkeys(grid_cells(pos), p.get("id")))
    return out


def panels_have_queries(directory, dashes, known):
    out = []
    for name, d in dashes.items():
        for p in panels(d):
            if is_row(p):
                continue
            label = "%s: panel %s %r" % (name, p.get("id"), p.get("title"))
            ts = p.get("targets") or []
            if not ts:
                out.append("%s: no targets" % label)
            for t in ts:
                if not isinstance(t.get("expr"), str) or not t["expr"].strip():
                    out.append("%s: target %s has no expr" % (label, t.get("refId")))
            refs = [t.get("refId") for t in ts]
            if len(set(refs)) != len(refs) or None in refs:
                out.append("%s: refIds %r not unique" % (label, refs))
            unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
            if unit not in UNITS:
                out.append("%s: unit %r, not one of %s" % (label, unit, sorted(UNITS)))
    return out


def variables_are_defined(directory, dashes, known):
    out = []
    for name, d in dashes.items():
        defined = {v.get("name") for v in variables(d)} | set(BUILTINS)
        texts = [(w, e) for w, e in expressions(d)] + [(w, t.get("legendFormat")) for w, t in targets(d)]
        texts += [("panel %s" % p.get("id"), p.get("title")) for p in panels(d)]
        texts += [("variable %s" % v.get("name"), variable_query(v)) for v in variables(d)]
        for where, text in texts:
            for ref in sorted(referenced(text) - defined):
                out.append("%s: %s uses $%s, which is not defined" % (name, where, ref))
        by_name = {v.get("name"): v for v in variables(d)}
        for label in LABEL_VARIABLES:
            v = by_name.get(label)
            if v is None:
                out.append("%s: no variable %s" % (name, label))
                continue
            lv = label_values(v)
            if v.get("type") != "query" or not lv or lv[1] != label:
                out.append("%s: variable %s is not label_values(..., %s)" % (name, label, label))
            if not (v.get("multi") and v.get("includeAll") and v.get("allValue") == ".*"):
                out.append("%s: variable %s: not multi-select with All = .*" % (name, label))
            if v.get("definition") != variable_query(v):
                out.append("%s: variable %s: definition and query differ" % (name, label))
    return out


def metrics_exist(directory, dashes, known):
    out = []
    for name, d in dashes.items():
        for where, expr in expressions(d):
            names = metric_names(expr)
            for metric in sorted(names - set(known)):
                out.append("%s: %s reads %s: neither in docs/metrics.md nor recorded in deploy/prometheus/"
                           % (name, where, metric))
            for found, labels in selectors(expr):
                for metric in found & set(known):
                    if known[metric] is not None:
                        for label in sorted(labels - known[metric]):
                            out.append("%s: %s matches label %s, which %s has not" % (name, where, label,
                                                                                       metric))
            have = set().union(*(known.get(m) or set() for m in names)) if names else set()
            if all(known.get(m) is not None for m in names):
                for label in sorted(grouping_labels(expr) - have - {"le"}):
                    out.append("%s: %s groups by %s, which none of %s has" % (name, where, label,
                                                                             sorted(names)))
    return out


# Values that make every expression a query: a regex for the label
# variables, a number for the capacity, a range for Grafana's own.
PARSE_VALUES = dict({label: ".*" for label in LABEL_VARIABLES}, capacity="300", datasource="prometheus",
                    **{b: "5m" for b in BUILTINS})


def promtool_problems(exprs):
    """[(index, error)] of the expressions promtool cannot parse: each is
    checked as a recording rule."""
    rules = [{"record": "dashboard_check_%d" % i, "expr": e} for i, e in enumerate(exprs)]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="sse-dash-") as f:
        json.dump({"groups": [{"name": "dashboards", "rules": rules}]}, f)
        f.flush()
        proc = subprocess.run([PROMTOOL, "check", "rules", f.name], capture_output=True, text=True)
    found = [(int(i), err) for i, err in re.findall(r'"dashboard_check_(\d+)": (.*)', proc.stdout + proc.stderr)]
    if proc.returncode != 0 and not found:
        found = [(None, (proc.stdout + proc.stderr).strip())]
    return found


def expressions_parse(directory, dashes, known):
    where, exprs = [], []
    for name, d in dashes.items():
        for w, e in expressions(d):
            try:
                exprs.append(substitute(e, PARSE_VALUES))
                where.append("%s: %s" % (name, w))
            except KeyError:
                pass    # an undefined variable: variables_are_defined tells it
    return ["%s: %s" % (where[i] if i is not None else "promtool", err)
            for i, err in promtool_problems(exprs)]


# `NAME (0.02, 0.05)` in a description: the panel draws that alert's thresholds.
NAMED_ALERT = re.compile(r"\b(SSE[A-Z]\w*) \(([-0-9.e, ]+)\)")


def thresholds_match_alerts(directory, dashes, known, rules_dir=RULES):
    path = os.path.join(rules_dir, "alerts.yml")
    if not os.path.exists(path):
        return ["no %s" % path]
    alerts, out = dashboards.alert_thresholds(path), []
    for name, d in dashes.items():
        for p in panels(d):
            label = "%s: panel %s %r" % (name, p.get("id"), p.get("title"))
            steps = p.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
            values = [s.get("value") for s in steps if s.get("value") is not None]
            for alert, listed in NAMED_ALERT.findall(p.get("description", "")):
                if alert not in alerts:
                    out.append("%s names %s, which alerts.yml has not" % (label, alert))
                    continue
                if [float(v) for v in listed.split(",")] != [float(v) for v in alerts[alert]]:
                    out.append("%s names %s (%s), alerts.yml compares with %s" % (label, alert, listed,
                                                                               alerts[alert]))
                for v in alerts[alert]:
                    if not any(math.isclose(v, w) for w in values):
                        out.append("%s: %s compares with %g, which is not a threshold step %s" % (
                            label, alert, v, values))
    return out


CHECKS = [json_is_valid, json_is_generated, schema_is_current, uids_and_titles_are_unique,
          panels_use_the_datasource_variable, panels_are_placed, panels_have_queries, variables_are_defined,
          metrics_exist, expressions_parse, thresholds_match_alerts]


def problems(directory=GRAFANA, rules_dir=RULES):
    dashes, out = load(directory)
    known = known_metrics(rules_dir)
    for check in CHECKS:
        extra = {"rules_dir": rules_dir} if check is thresholds_match_alerts else {}
        out += ["%s: %s" % (check.__name__, p) for p in check(directory, dashes, known, **extra)]
    return out


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else GRAFANA
    found = problems(directory)
    for p in found:
        print(p)
    dashes, _ = load(directory)
    print("dashboards: %d files, %d panels, %d expressions, %d problems" % (
        len(dashes), sum(len(panels(d)) for d in dashes.values()),
        sum(len(expressions(d)) for d in dashes.values()), len(found)))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
