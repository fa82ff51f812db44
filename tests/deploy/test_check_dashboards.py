#!/usr/bin/python3
"""The checks of check_dashboards.py, each shown to fail
(`make check-dashboards`).

Every case copies deploy/grafana/ to a temporary folder, breaks one thing
in the copy and expects the problem it causes; the untouched copy must
pass. Ends with "dashboard checks: N passed, N failed"; exits 1 if a case
failed.
"""
import sys

sys.dont_write_bytecode = True   # keep the source tree free of __pycache__

import json        # noqa: E402
import os          # noqa: E402
import shutil      # noqa: E402
import tempfile    # noqa: E402
import unittest    # noqa: E402

import check_dashboards as cd  # noqa: E402
import checklib    # noqa: E402

EXEC, SRE, PERF = "executive.json", "sre-operational.json", "performance-engineering.json"


def panel(d, pid):
    return next(p for p in cd.panels(d) if p["id"] == pid)


def var(d, name):
    return next(v for v in cd.variables(d) if v["name"] == name)


def first_target(d, pid=2):
    return panel(d, pid)["targets"][0]


def set_query(v, query):
    v["query"]["query"] = v["definition"] = query


# (check, file, what breaks it, a problem it must cause)
BREAKS = [
    ("json_is_generated", EXEC, lambda d: d.update(refresh="1m"),
     "executive.json differs from what dashboards.py writes"),
    ("schema_is_current", EXEC, lambda d: d.update(schemaVersion=27), "schemaVersion 27, want 39"),
    ("schema_is_current", SRE, lambda d: d.pop("templating"), "no templating"),
    ("schema_is_current", PERF, lambda d: d.update(id=7), "id 7"),
    ("uids_and_titles_are_unique", SRE, lambda d: d.update(uid="sse-executive"),
     "uid 'sse-executive' already used"),
    ("uids_and_titles_are_unique", PERF, lambda d: d.update(title="SSE / Executive"),
     "title 'SSE / Executive' already used"),
    ("uids_and_titles_are_unique", EXEC, lambda d: d.update(uid="sse executive"), "uid 'sse executive' is not"),
    ("uids_and_titles_are_unique", EXEC, lambda d: panel(d, 3).update(id=2), "panel ids not unique"),
    ("panels_use_the_datasource_variable", SRE,
     lambda d: panel(d, 7).update(datasource={"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}),
     "panel 7 'Request rate by service': datasource"),
    ("panels_use_the_datasource_variable", SRE,
     lambda d: first_target(d, 7).update(datasource={"type": "loki", "uid": "${datasource}"}),
     "a query's datasource is"),
    ("panels_use_the_datasource_variable", PERF, lambda d: var(d, "service").update(datasource=None),
     "variable service: datasource None"),
    ("panels_use_the_datasource_variable", EXEC, lambda d: var(d, "datasource").update(query="loki"),
     "no variable datasource of type datasource"),
    ("panels_are_placed", EXEC, lambda d: panel(d, 3)["gridPos"].pop("w"), "lacks an integer h, w, x or y"),
    ("panels_are_placed", EXEC, lambda d: panel(d, 7)["gridPos"].update(x=20), "is off the 24-column grid"),
    ("panels_are_placed", EXEC, lambda d: panel(d, 3).update(gridPos=dict(panel(d, 2)["gridPos"])),
     "panel 3 'Availability': overlaps panel 2"),
    ("panels_have_queries", SRE, lambda d: panel(d, 8).update(targets=[]), "no targets"),
    ("panels_have_queries", SRE, lambda d: first_target(d, 8).update(expr=" "), "target A has no expr"),
    ("panels_have_queries", SRE, lambda d: panel(d, 10)["targets"][1].update(refId="A"), "not unique"),
    ("panels_have_queries", PERF, lambda d: panel(d, 2)["fieldConfig"]["defaults"].update(unit="ms"),
     "unit 'ms'"),
    ("variables_are_defined", SRE,
     lambda d: first_target(d, 2).update(expr=first_target(d, 2)["expr"].replace("$service", "$tenant")),
     "uses $tenant, which is not defined"),
    ("variables_are_defined", PERF, lambda d: first_target(d, 2).update(legendFormat="{{stage}} ${quantile}"),
     "uses $quantile"),
    ("variables_are_defined", EXEC, lambda d: d["templating"]["list"].remove(var(d, "provider")),
     "uses $provider, which is not defined"),
    ("variables_are_defined", EXEC, lambda d: d["templating"]["list"].remove(var(d, "provider")),
     "no variable provider"),
    ("variables_are_defined", SRE, lambda d: var(d, "model").update(multi=False), "variable model: not multi"),
    ("variables_are_defined", SRE, lambda d: var(d, "namespace").update(allValue=""),
     "variable namespace: not multi-select"),
    ("variables_are_defined", PERF, lambda d: set_query(var(d, "provider"),
                                                        "label_values(sse_provider_requests_total, model)"),
     "variable provider is not label_values(..., provider)"),
    ("variables_are_defined", PERF, lambda d: var(d, "service").update(definition="label_values(service)"),
     "variable service: definition and query differ"),
    ("metrics_exist", EXEC,
     lambda d: first_target(d, 7).update(expr=first_target(d, 7)["expr"].replace("sse_requests_total",
                                                                                  "sse_request_total")),
     "reads sse_request_total: neither in docs/metrics.md"),
    ("metrics_exist", SRE, lambda d: first_target(d, 24).update(expr="rate(sse_exporter_events_lost[1m])"),
     "reads sse_exporter_events_lost: neither"),
    ("metrics_exist", PERF, lambda d: set_query(var(d, "model"), 'label_values({__name__=~"sse_requests_total|'
                                                'sse_models_total"}, model)'),
     "variable model reads sse_models_total"),
    ("metrics_exist", SRE,
     lambda d: first_target(d, 7).update(expr=first_target(d, 7)["expr"].replace("service=~", "servce=~")),
     "matches label servce, which sse_requests_total has not"),
    ("metrics_exist", PERF, lambda d: first_target(d, 3).update(expr=first_target(d, 3)["expr"].replace(
        "by (stage, le)", "by (provider, le)")), "groups by provider, which none of"),
    ("thresholds_match_alerts", SRE,
     lambda d: panel(d, 3)["fieldConfig"]["defaults"]["thresholds"]["steps"][2].update(value=0.06),
     "SSEHighErrorRate compares with 0.05, which is not a threshold step [0.02, 0.06]"),
    ("thresholds_match_alerts", SRE, lambda d: panel(d, 24).update(description="SSEProviderHighErrorRate (0.3)"),
     "names SSEProviderHighErrorRate (0.3), alerts.yml compares with [0.2]"),
    ("thresholds_match_alerts", PERF, lambda d: panel(d, 4).update(description="SSELongStream (180)"),
     "names SSELongStream, which alerts.yml has not"),
    ("expressions_parse", SRE, lambda d: first_target(d, 2).update(expr="sum(rate(sse_requests_total[5m])"),
     "unclosed left parenthesis"),
    ("expressions_parse", PERF,
     lambda d: first_target(d, 3).update(expr=first_target(d, 3)["expr"].replace("0.95", "0.95,,")),
     "parse error"),
]


class Copy:
    """deploy/grafana's JSON files, copied to a temporary folder."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="sse-grafana-")
        for name in cd.dashboards.DASHBOARDS:
            shutil.copy(os.path.join(cd.GRAFANA, name), self.dir)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def edit(self, name, mutate):
        with open(self.path(name)) as f:
            d = json.load(f)
        mutate(d)
        self.write(name, json.dumps(d, indent=2))

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)


class Checks(unittest.TestCase):
    def test_the_dashboards_pass(self):
        self.assertEqual(cd.problems(), [])

    def test_each_break_is_caught(self):
        for check, name, mutate, expected in BREAKS:
            with self.subTest(check=check, expected=expected), Copy() as c:
                c.edit(name, mutate)
                found = cd.problems(c.dir)
                self.assertTrue(checklib.caught(found, check, expected), f"{expected!r} not among {found}")

    def test_files_that_are_not_dashboards(self):
        with Copy() as c:
            c.write(EXEC, '{"title": ')
            c.write("extra.json", "[]")
            os.remove(c.path(PERF))
            found = cd.problems(c.dir)
            for want in ("json_is_valid: executive.json: Expecting value",
                         "json_is_valid: extra.json: not a JSON object",
                         "json_is_generated: extra.json is not written by dashboards.py",
                         "json_is_generated: performance-engineering.json is missing"):
                self.assertTrue(any(p.startswith(want) for p in found), f"{want!r} not among {found}")

    def test_recording_rules_are_metrics(self):
        """The names recorded in the rules folder are metrics, with the
        labels of their rule's `by`; without its rule a name is not."""
        with Copy() as c, tempfile.TemporaryDirectory() as rules:
            for path in cd.rule_files():
                shutil.copy(path, rules)
            c.edit(SRE, lambda d: first_target(d, 2).update(expr='sum(sse:request_rate:5m{path="/"})'))
            self.assertIn("metrics_exist: sre-operational.json: panel 2 'Request rate (5 m)' matches label "
                          "path, which sse:request_rate:5m has not", cd.problems(c.dir, rules))
            with open(os.path.join(rules, "recording_rules.yml")) as f:
                text = f.read()
            with open(os.path.join(rules, "recording_rules.yml"), "w") as f:
                f.write(text.replace("record: sse:request_rate:5m", "record: sse:request_rate_5m"))
            self.assertTrue(any("reads sse:request_rate:5m: neither" in p for p in cd.problems(c.dir, rules)))

    def test_every_check_can_fail(self):
        broken = {check for check, *_ in BREAKS} | {"json_is_valid"}
        self.assertEqual(broken, {fn.__name__ for fn in cd.CHECKS})


if __name__ == "__main__":
    sys.exit(checklib.run_cases(Checks, "dashboard"))
