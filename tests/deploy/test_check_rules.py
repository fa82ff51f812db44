#!/usr/bin/python3
"""The checks of check_rules.py, each shown to fail (`make check-rules`).

Every case copies the rule files, their tests and both READMEs, breaks
one thing in the copy and expects the problem it causes; the untouched
copy must pass. The unit tests are broken in every way that matters at
once, one copy each: every comparison of an alert with a number turned
(> into >=, >= into >, <= into <), every `for:` one minute shorter and
one minute longer, every recording rule's value doubled. Each must make
promtool's unit tests fail: no threshold, hold or recorded value goes
unchecked, and a broken rule fails `make check-rules`.
Ends with "rules checks: N passed, N failed"; exits 1 if a case failed.
"""
import sys

sys.dont_write_bytecode = True   # keep the source tree free of __pycache__

import os          # noqa: E402
import re          # noqa: E402
import shutil      # noqa: E402
import tempfile    # noqa: E402
import unittest    # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import yaml        # noqa: E402

import check_rules as cr  # noqa: E402
import checklib    # noqa: E402

RECORDING, ALERTS = cr.RULE_FILES
RECORDING_TEST = "tests/prometheus/recording_rules_test.yml"
ALERTS_TEST = "tests/prometheus/alerts_test.yml"
README = "README.md"
# A comparison with a number, and what it becomes.
COMPARISON = re.compile(r"(>=|<=|>|<)(\s*[0-9])")
TURNED = {">": ">=", ">=": ">", "<=": "<", "<": "<="}


def rules_of(docs):
    return [r for g in docs["groups"] for r in g["rules"]]


def rule(docs, name):
    return next(r for r in rules_of(docs) if name in (r.get("record"), r.get("alert")))


def without_test(key, name, empty_only=False):
    """Drops the unit tests of a rule (or only those where it does not fire)."""
    def mutate(docs):
        for case in docs["tests"]:
            kept = [x for x in case.get(key) or []
                    if not ((x.get("expr") or x.get("alertname")) == name
                            and (not empty_only or not x.get("exp_alerts")))]
            case[key] = kept
    return mutate


# (check, file, what breaks it, a problem it must cause)
BREAKS = [
    ("every_rule_is_tested", RECORDING_TEST, without_test("promql_expr_test", "sse:tokens_rate:5m"),
     "sse:tokens_rate:5m: no promql_expr_test"),
    ("every_rule_is_tested", ALERTS_TEST, without_test("alert_rule_test", "SSELongStreams", True),
     "SSELongStreams: no alert_rule_test where it does not fire"),
    ("every_rule_is_tested", ALERTS_TEST, without_test("alert_rule_test", "SSEServiceDown"),
     "SSEServiceDown: no alert_rule_test where it fires"),
    ("rules_aggregate_by_service", RECORDING,
     lambda d: rule(d, "sse:request_rate:5m").update(
         expr="sum by (service) (rate(sse_requests_total[5m]))"), "drops namespace or service"),
    ("rules_aggregate_by_service", RECORDING,
     lambda d: rule(d, "sse:active_streams").update(
         expr="sum by (namespace, service, node) (sse_active_connections)"),
     "keeps node: one series per node"),
    ("rules_aggregate_by_service", RECORDING,
     lambda d: rule(d, "sse:tokens_rate:5m").update(
         expr="sum without (pod) (rate(llm_tokens_used_total[5m]))"), "aggregates without"),
    ("alerts_are_labelled", ALERTS,
     lambda d: rule(d, "SSEHighErrorRate")["labels"].update(severity="page"), "severity page"),
    ("alerts_are_labelled", ALERTS,
     lambda d: rule(d, "SSEProviderOutage")["annotations"].pop("runbook"), "no runbook annotation"),
    ("alerts_are_labelled", ALERTS,
     lambda d: rule(d, "SSELongStreams")["annotations"].update(summary="{{ $labels.service }}: slow"),
     "summary names the service without its namespace"),
    ("alerts_are_labelled", ALERTS,
     lambda d: rule(d, "SSEHighLatency")["annotations"].update(description="Slow."),
     "description names no service"),
    ("readme_lists_the_alerts", ALERTS,
     lambda d: rule(d, "SSEHighLatency").update({"for": "10m"}), "for 15m, the rule's is 10m"),
    ("readme_lists_the_alerts", ALERTS,
     lambda d: rule(d, "SSECapacityTrending")["labels"].update(severity="warning"),
     "severity info, the rule's is warning"),
    ("readme_lists_the_alerts", ALERTS,
     lambda d: d["groups"][0]["rules"].remove(rule(d, "SSELongStreams")),
     "SSELongStreams is in the table, not in alerts.yml"),
    ("rules_readme_lists_the_rules", RECORDING,
     lambda d: rule(d, "sse:active_streams").update(record="sse:open_streams"),
     "sse:active_streams is in the table, not in recording_rules.yml"),
]

# What breaks the Markdown side: (check, file, old text, new text, problem)
TEXT_BREAKS = [
    ("readme_lists_the_alerts", README, "| `SSEServiceDown` (Service Down) | critical |",
     "| Service Down | critical |", "SSEServiceDown is not in the alert table"),
    ("readme_lists_the_alerts", README, "### Alerts and recording rules", "### Alerts",
     "no \"### Alerts and recording rules\" section"),
    ("rules_readme_lists_the_rules", cr.RULES_README,
     "| `sse:tokens_rate:5m` | `namespace`, `service`, `provider`, `model`, `type` |",
     "| `sse:tokens_rate:5m` | `namespace`, `service`, `provider`, `model` |",
     "its tested samples have"),
    ("rules_readme_lists_the_rules", cr.RULES_README, "| `sse:stream_capacity:default` |",
     "| stream_capacity |", "sse:stream_capacity:default is not in the table"),
]


def mutants():
    """(rule, what, rule file, mutate) for every way the unit tests must
    catch."""
    with open(os.path.join(cr.REPO, ALERTS)) as f:
        alerts = rules_of(yaml.safe_load(f))
    with open(os.path.join(cr.REPO, RECORDING)) as f:
        recorded = rules_of(yaml.safe_load(f))
    found = []
    for a in alerts:
        name = a["alert"]
        for i, m in enumerate(COMPARISON.finditer(a["expr"])):
            turned = a["expr"][:m.start()] + TURNED[m.group(1)] + a["expr"][m.end(1):]
            found.append((name, f"{m.group(0).strip()} turned {TURNED[m.group(1)]}", ALERTS,
                          lambda d, n=name, e=turned: rule(d, n).update(expr=e)))
        if "for" in a:
            minutes = int(re.fullmatch(r"([0-9]+)m", a["for"]).group(1))
            for other in (minutes - 1, minutes + 1):
                found.append((name, f"for {other}m", ALERTS,
                              lambda d, n=name, o=other: rule(d, n).update({"for": f"{o}m"})))
    for r in recorded:
        found.append((r["record"], "doubled", RECORDING,
                      lambda d, n=r["record"], e=r["expr"]: rule(d, n).update(expr=f"2 * ({e})")))
    return found


def tests_of(root, name):
    """The unit test files that test a rule by its name, cut down in place
    to the test groups that do (promtool evaluates every rule at every
    step of every group: the others would only cost time)."""
    files = []
    for path in cr.test_files(root):
        with open(path) as f:
            docs = yaml.safe_load(f)
        docs["tests"] = [c for c in docs.get("tests") or []
                         if any(x.get("expr", "").strip() == name or x.get("alertname") == name
                                for x in (c.get("promql_expr_test") or [])
                                + (c.get("alert_rule_test") or []))]
        if docs["tests"]:
            with open(path, "w") as f:
                yaml.safe_dump(docs, f, sort_keys=False)
            files.append(path)
    return files


class Copy:
    """The rule files, their tests and both READMEs, in a temporary tree
    laid out as the repository."""

    def __enter__(self):
        self.root = tempfile.mkdtemp(prefix="sse-rules-")
        for d in ("deploy/prometheus", "tests/prometheus"):
            shutil.copytree(os.path.join(cr.REPO, d), os.path.join(self.root, d),
                            ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        shutil.copy(os.path.join(cr.REPO, README), os.path.join(self.root, README))
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.root)

    def edit_yaml(self, rel, mutate):
        """mutate gets the file's one document."""
        checklib.edit_yaml(os.path.join(self.root, rel), lambda docs: mutate(docs[0]))


def survives(mutant):
    """The mutant, told, if the unit tests of its rule pass on it."""
    name, what, rel, mutate = mutant
    with Copy() as c:
        c.edit_yaml(rel, mutate)
        tests = tests_of(c.root, name)
        if not tests or not cr.unit_test_problems(tests):
            return f"{name}: {what}"
    return None


class Checks(unittest.TestCase):
    def test_the_rules_pass(self):
        self.assertEqual(cr.promtool_problems(cr.REPO), [])
        self.assertEqual(cr.problems(cr.REPO), [])

    def test_a_broken_rule_fails_promtool_check(self):
        with Copy() as c:
            c.edit_yaml(RECORDING, lambda d: rule(d, "sse:request_rate:5m").update(
                expr="sum by (namespace, service (rate(sse_requests_total[5m]))"))
            found = cr.promtool_problems(c.root)
            self.assertTrue(found and found[0].startswith(cr.promtool() + " check rules"), found)

    def test_the_unit_tests_catch_every_mutant(self):
        found = mutants()
        t = cr.Tree(cr.REPO)
        self.assertEqual({m[0] for m in found},
                         {r.get("record") or r.get("alert") for r in t.rules})
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            survivors = [m for m in pool.map(survives, found) if m]
        self.assertEqual(survivors, [])

    def test_each_break_is_caught(self):
        edits = [(check, lambda c, r=rel, m=mutate: c.edit_yaml(r, m), expected)
                 for check, rel, mutate, expected in BREAKS]
        edits += [(check, lambda c, r=rel, o=old, n=new: checklib.edit_text(
                       os.path.join(c.root, r), o, n), expected)
                  for check, rel, old, new, expected in TEXT_BREAKS]
        for check, edit, expected in edits:
            with self.subTest(check=check, expected=expected), Copy() as c:
                edit(c)
                found = cr.problems(c.root)
                self.assertTrue(checklib.caught(found, check, expected),
                                f"{expected!r} not among {found}")

    def test_every_check_can_fail(self):
        broken = {check for check, *_ in BREAKS + TEXT_BREAKS}
        self.assertEqual(broken, {fn.__name__ for fn in cr.CHECKS})


if __name__ == "__main__":
    sys.exit(checklib.run_cases(Checks, "rules"))
