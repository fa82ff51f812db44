#!/usr/bin/python3
"""Writes the rules of this folder as one PrometheusRule.

    /usr/bin/python3 deploy/prometheus/prometheusrule.py [OUT]

OUT defaults to deploy/kubernetes/prometheus-operator/prometheusrule.yaml.
The groups of recording_rules.yml, then of alerts.yml, go under
spec.groups as they are written, comments included, indented: run it
after editing either file (`make check-deploy` fails while the two
differ).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = ("recording_rules.yml", "alerts.yml")
OUT = os.path.join(HERE, "..", "kubernetes", "prometheus-operator", "prometheusrule.yaml")

HEADER = """\
# Prometheus Operator: the recording rules and alerts of deploy/prometheus/
# (README, "Dashboards and alerts"). Generated from recording_rules.yml and
# alerts.yml there by prometheusrule.py: edit those, then run it.
#   kubectl apply -f deploy/kubernetes/prometheus-operator/prometheusrule.yaml
# Your Prometheus resource must select it (ruleSelector,
# ruleNamespaceSelector): add the labels it selects on.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: sse-exporter
  namespace: monitoring
  labels:
    app.kubernetes.io/name: sse-exporter
spec:
  groups:
"""


def groups_text(path):
    """The lines of a rule file after its top-level `groups:`, indented
    one level (the comments before it describe the file, not a group)."""
    with open(path) as f:
        lines = f.read().splitlines()
    start = lines.index("groups:") + 1
    return "".join(("  " + line if line else "") + "\n" for line in lines[start:])


def render():
    return HEADER + "\n".join(groups_text(os.path.join(HERE, s)) for s in SOURCES)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else OUT
    with open(out, "w") as f:
        f.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
