#!/usr/bin/python3
"""Checks deploy/prometheus/ (`make check-rules`).

    /usr/bin/python3 tests/deploy/check_rules.py [ROOT]

ROOT is the repository (default: this one). Two parts, each printing one
line per problem; exits 1 if there is any.

promtool (Debian's prometheus package, or $PROMTOOL): `promtool check
rules` on both rule files, then `promtool test rules` on every
tests/prometheus/*_test.yml: input series over time, the recorded value
of every recording rule, every alert firing and not firing at the edges
of its threshold and of its `for:`.

Our own checks (CHECKS), for what promtool does not look at: that every
rule is tested at all, that rules aggregate by service and never by the
exporter's instance, that alerts carry a severity and the annotations
the README promises, and that the README's alert table and
deploy/prometheus/README.md's rule table say what the files do.
"""
import sys

sys.dont_write_bytecode = True   # keep the source tree free of __pycache__

import glob        # noqa: E402
import os          # noqa: E402
import re          # noqa: E402
import subprocess  # noqa: E402

import yaml        # noqa: E402

import checklib    # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULE_FILES = ("deploy/prometheus/recording_rules.yml", "deploy/prometheus/alerts.yml")
TESTS = "tests/prometheus/*_test.yml"
RULES_README = "deploy/prometheus/README.md"
SEVERITIES = ("critical", "high", "warning", "info")
ANNOTATIONS = ("summary", "description", "runbook")
# Labels of the exporter's own target, or of the observed pod: a rule
# that keeps them gives one series per node or pod, not per service.
NOT_AGGREGATED_BY = {"instance", "job", "node", "pod", "container"}


def promtool():
    return os.environ.get("PROMTOOL", "promtool")


def test_files(root):
    return sorted(glob.glob(os.path.join(root, TESTS)))


def run(args):
    """[problem] of one promtool call: its output, once, if it failed."""
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode == 0:
        return []
    out = (done.stdout + done.stderr).strip()
    return [f"{' '.join(args[:3])}: " + "\n    ".join(out.splitlines())]


def unit_test_problems(tests):
    return run([promtool(), "test", "rules"] + tests)


def promtool_problems(root):
    """promtool check rules on the rule files, then their unit tests."""
    found = run([promtool(), "check", "rules"] + [os.path.join(root, f) for f in RULE_FILES])
    return found or unit_test_problems(test_files(root))


# --- the rules and their tests -----------------------------------------------

class Tree:
    """The rule files, the test files and both READMEs under root."""

    def __init__(self, root):
        self.groups = []
        for f in RULE_FILES:
            with open(os.path.join(root, f)) as fh:
                self.groups += (yaml.safe_load(fh) or {}).get("groups") or []
        self.rules = [r for g in self.groups for r in g.get("rules") or []]
        self.recorded = [r for r in self.rules if "record" in r]
        self.alerts = [r for r in self.rules if "alert" in r]
        self.cases = []
        for f in test_files(root):
            with open(f) as fh:
                self.cases += (yaml.safe_load(fh) or {}).get("tests") or []
        with open(os.path.join(root, "README.md")) as fh:
            self.readme = fh.read()
        with open(os.path.join(root, RULES_README)) as fh:
            self.rules_readme = fh.read()

    def expr_tests(self):
        return [t for c in self.cases for t in c.get("promql_expr_test") or []]

    def alert_tests(self):
        return [t for c in self.cases for t in c.get("alert_rule_test") or []]


def table_rows(text, name):
    """{name: [the other cells]} of the markdown table rows whose first
    cell names it in backticks (a cell may name several)."""
    rows = {}
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for n in re.findall(r"`(" + name + r")`", cells[0]):
            rows[n] = cells[1:]
    return rows


def section(text, heading):
    """The text under a markdown heading, up to the next heading of its
    level or above; "" when there is no such heading."""
    level = len(heading) - len(heading.lstrip("#"))
    m = re.search(r"^" + re.escape(heading) + r"$(.*?)(?=^#{1," + str(level) + r"} |\Z)",
                  text, re.M | re.S)
    return m.group(1) if m else ""


def sample_labels(series):
    """The label names of a promtool series string, without the name."""
    inside = series[series.index("{") + 1:series.rindex("}")] if "{" in series else ""
    return set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"', inside))


# --- our own checks ------------------------------------------------------------

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


@check
def every_rule_is_tested(t):
    tested = {x.get("expr", "").strip() for x in t.expr_tests() if x.get("exp_samples")}
    for r in t.recorded:
        if r["record"] not in tested:
            yield f"recording rule {r['record']}: no promql_expr_test with it as expr and samples"
    for a in t.alerts:
        cases = [x for x in t.alert_tests() if x.get("alertname") == a["alert"]]
        if not any(x.get("exp_alerts") for x in cases):
            yield f"alert {a['alert']}: no alert_rule_test where it fires"
        if not any(not x.get("exp_alerts") for x in cases):
            yield f"alert {a['alert']}: no alert_rule_test where it does not fire"


@check
def rules_aggregate_by_service(t):
    for r in t.rules:
        name = r.get("record") or r.get("alert")
        expr = str(r.get("expr", ""))
        if re.search(r"\bwithout\s*\(", expr):
            yield f"{name}: aggregates without (...): say by (namespace, service, ...)"
        for labels in re.findall(r"\bby\s*\(([^)]*)\)", expr):
            names = {x.strip() for x in labels.split(",") if x.strip()}
            if not {"namespace", "service"} <= names:
                yield f"{name}: by ({labels}) drops namespace or service"
            for bad in sorted(names & NOT_AGGREGATED_BY):
                yield f"{name}: by ({labels}) keeps {bad}: one series per {bad}, not per service"


@check
def alerts_are_labelled(t):
    for a in t.alerts:
        severity = (a.get("labels") or {}).get("severity")
        if severity not in SEVERITIES:
            yield f"alert {a['alert']}: severity {severity}, none of {', '.join(SEVERITIES)}"
        notes = a.get("annotations") or {}
        for key in ANNOTATIONS:
            if not str(notes.get(key, "")).strip():
                yield f"alert {a['alert']}: no {key} annotation"
        for key in ("summary", "description"):
            text = str(notes.get(key, ""))
            if "$labels.service" in text and "$labels.namespace" not in text:
                yield f"alert {a['alert']}: {key} names the service without its namespace"
            if not re.search(r"\$labels\.(service|instance)", text):
                yield f"alert {a['alert']}: {key} names no service (nor exporter instance)"


@check
def readme_lists_the_alerts(t):
    part = section(t.readme, "### Alerts and recording rules")
    if not part:
        yield "README: no \"### Alerts and recording rules\" section"
        return
    rows = table_rows(part, r"SSE[A-Za-z]+")
    for a in t.alerts:
        row = rows.pop(a["alert"], None)
        if row is None:
            yield f"README: alert {a['alert']} is not in the alert table"
            continue
        severity = (a.get("labels") or {}).get("severity")
        if row[0] != severity:
            yield f"README: alert {a['alert']}: severity {row[0]}, the rule's is {severity}"
        hold = a.get("for", "none")
        if row[2] != hold:
            yield f"README: alert {a['alert']}: for {row[2]}, the rule's is {hold}"
    for name in sorted(rows):
        yield f"README: alert {name} is in the table, not in alerts.yml"


@check
def rules_readme_lists_the_rules(t):
    rows = table_rows(t.rules_readme, r"sse:[a-z0-9_:]+")
    tested = {}
    for x in t.expr_tests():
        for s in x.get("exp_samples") or []:
            tested.setdefault(x.get("expr", "").strip(), set()).update(
                sample_labels(s.get("labels", "")))
    for r in t.recorded:
        row = rows.pop(r["record"], None)
        if row is None:
            yield f"{RULES_README}: recording rule {r['record']} is not in the table"
            continue
        listed = set(re.findall(r"`([a-z_]+)`", row[0]))
        labels = tested.get(r["record"], set())
        if listed != labels:
            yield (f"{RULES_README}: {r['record']}: labels {sorted(listed)}, "
                   f"its tested samples have {sorted(labels)}")
    for name in sorted(rows):
        yield f"{RULES_README}: {name} is in the table, not in recording_rules.yml"


def results(root):
    """[(check name, [problem])] of every check, our own ones only."""
    t = Tree(root)
    return [(fn.__name__, list(fn(t))) for fn in CHECKS]


def problems(root):
    return [f"{name}: {p}" for name, found in results(root) for p in found]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else REPO
    return checklib.report([("promtool", promtool_problems(root))] + results(root), "rules")


if __name__ == "__main__":
    sys.exit(main())
