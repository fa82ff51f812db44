#!/usr/bin/python3
"""The checks of check_manifests.py, each shown to fail (`make check-deploy`).

Every case copies deploy/kubernetes/, prometheus/, grafana/ and the README,
breaks one thing in the copy and expects the problem it causes; the
untouched copy must pass.
Ends with "deploy checks: N passed, N failed"; exits 1 if a case failed.
"""
import sys

sys.dont_write_bytecode = True   # keep the source tree free of __pycache__

import os          # noqa: E402
import shutil      # noqa: E402
import tempfile    # noqa: E402
import unittest    # noqa: E402

import check_manifests as cm  # noqa: E402
import checklib    # noqa: E402

DEPLOY = os.path.join(cm.REPO, "deploy", "kubernetes")
RULES = os.path.join(cm.REPO, "deploy", cm.RULES_DIR)
GRAFANA = os.path.join(cm.REPO, "deploy", cm.GRAFANA_DIR)
README = os.path.join(cm.REPO, "README.md")


def pod(docs):
    return docs[0]["spec"]["template"]["spec"]


def ctr(docs):
    return pod(docs)["containers"][0]


def sc(docs):
    return ctr(docs)["securityContext"]


def mount(docs, name):
    return next(m for m in ctr(docs)["volumeMounts"] if m["name"] == name)


def endpoint(docs):
    spec = docs[0]["spec"]
    return (spec.get("endpoints") or spec.get("podMetricsEndpoints"))[0]


def objs(kind):
    """The docs of a multi-document file, picking the one of this kind."""
    return lambda docs: next(d for d in docs if d["kind"] == kind)


DS = "daemonset.yaml"
SVC = "service.yaml"
RBAC = "rbac.yaml"
SM = "prometheus-operator/servicemonitor.yaml"
PM = "prometheus-operator/podmonitor.yaml"
PR = "prometheus-operator/prometheusrule.yaml"
KUST = "kustomization.yaml"
DASH = "grafana-dashboards.yaml"

# (check, file, what breaks it, a problem it must cause)
BREAKS = [
    ("kustomization_lists_every_file", KUST,
     lambda d: d[0]["resources"].remove("service.yaml"), "service.yaml is not in kustomization.yaml"),
    ("kustomization_lists_every_file", KUST,
     lambda d: d[0]["resources"].append("gone.yaml"), "lists gone.yaml, which is not in the folder"),
    ("objects_are_named_and_placed", SVC,
     lambda d: d[0]["metadata"].update(namespace="default"), "namespace default, not the Namespace's"),
    ("objects_are_named_and_placed", SVC,
     lambda d: d[0]["metadata"].pop("name"), "no apiVersion, kind or metadata.name"),
    ("daemonset_sees_the_host", DS, lambda d: pod(d).update(hostPID=False), "hostPID is not true"),
    ("daemonset_sees_the_host", DS,
     lambda d: d[0]["spec"]["selector"]["matchLabels"].update(app="x"), "does not select its own pod"),
    ("daemonset_sees_the_host", DS,
     lambda d: pod(d).update(tolerations=[{"key": "a", "operator": "Exists"}]), "tolerate every taint"),
    ("daemonset_sees_the_host", DS,
     lambda d: pod(d).update(serviceAccountName="default"), "serviceAccountName default"),
    ("daemonset_sees_the_host", DS,
     lambda d: ctr(d)["env"][1]["valueFrom"]["fieldRef"].update(fieldPath="status.podIP"),
     "NODE_IP does not come from"),
    ("containers_have_resources", DS,
     lambda d: ctr(d)["resources"]["limits"].pop("memory"), "no resources.limits.memory"),
    ("containers_have_resources", DS,
     lambda d: ctr(d)["resources"]["requests"].pop("cpu"), "no resources.requests.cpu"),
    ("probes_reach_health", DS,
     lambda d: ctr(d)["readinessProbe"]["httpGet"].update(port="http"), "readinessProbe port http"),
    ("probes_reach_health", DS,
     lambda d: ctr(d)["livenessProbe"]["httpGet"].update(path="/metrics"), "asks /metrics, not /health"),
    ("probes_reach_health", DS, lambda d: ctr(d).pop("livenessProbe"), "no livenessProbe"),
    ("listens_where_declared", DS,
     lambda d: ctr(d).update(args=["--web.listen-address=:9100"]), "but the metrics port is 9476"),
    ("listens_where_declared", DS,
     lambda d: d[0]["spec"]["template"]["metadata"]["annotations"].update({"prometheus.io/port": "80"}),
     "prometheus.io/port 80"),
    ("listens_where_declared", DS,
     lambda d: ctr(d)["ports"][0].update(name="web"), "no container port named metrics"),
    ("least_privilege", DS, lambda d: sc(d).update(privileged=True), ": privileged"),
    ("least_privilege", DS,
     lambda d: sc(d).update(readOnlyRootFilesystem=False), "readOnlyRootFilesystem"),
    ("least_privilege", DS,
     lambda d: sc(d)["capabilities"]["add"].append("NET_ADMIN"), "NET_ADMIN is not documented"),
    ("least_privilege", DS, lambda d: sc(d)["capabilities"].pop("drop"), "drop lacks ALL"),
    ("least_privilege", DS,
     lambda d: sc(d).update(allowPrivilegeEscalation=False),
     "allowPrivilegeEscalation false beside SYS_ADMIN"),
    ("mounts_have_volumes", DS,
     lambda d: mount(d, "btf").update(name="kernel-btf"), "volumeMount kernel-btf has no volume"),
    ("mounts_have_volumes", DS,
     lambda d: mount(d, "tracefs").update(readOnly=False), "/sys/kernel/tracing is not read-only"),
    ("mounts_have_volumes", DS,
     lambda d: pod(d)["volumes"].append({"name": "bpffs", "hostPath": {"path": "/sys/fs/bpf"}}),
     "volume bpffs is mounted nowhere"),
    ("service_selects_the_pods", SVC, lambda d: d[0]["spec"].pop("clusterIP"), "not headless"),
    ("service_selects_the_pods", SVC,
     lambda d: d[0]["spec"]["selector"].update({"app.kubernetes.io/name": "other"}),
     "does not select the DaemonSet's pods"),
    ("service_selects_the_pods", SVC,
     lambda d: d[0]["spec"]["ports"][0].update(targetPort=9100), "targets 9100"),
    ("monitors_find_the_exporter", SM,
     lambda d: endpoint(d).update(honorLabels=False), "ServiceMonitor: honorLabels is not true"),
    ("monitors_find_the_exporter", PM,
     lambda d: endpoint(d).pop("honorLabels"), "PodMonitor: honorLabels"),
    ("monitors_find_the_exporter", SM,
     lambda d: endpoint(d)["relabelings"].pop(0),
     "ServiceMonitor: no relabeling of __meta_kubernetes_pod_node_name"),
    ("monitors_find_the_exporter", PM,
     lambda d: endpoint(d)["relabelings"][0].update(targetLabel="instance"),
     "PodMonitor: no relabeling"),
    ("monitors_find_the_exporter", SM, lambda d: endpoint(d).update(port="http"), "endpoint port http"),
    ("monitors_find_the_exporter", PM, lambda d: endpoint(d).update(port="9476"), "endpoint port 9476"),
    ("monitors_find_the_exporter", SM,
     lambda d: d[0]["spec"]["selector"]["matchLabels"].update(team="a"), "does not select the Service"),
    ("monitors_find_the_exporter", PM,
     lambda d: d[0]["spec"]["selector"].update(matchLabels={}), "does not select the DaemonSet's pods"),
    ("rbac_is_minimal", RBAC,
     lambda d: objs("ClusterRole")(d)["rules"][0]["verbs"].append("list"), "more than get"),
    ("rbac_is_minimal", RBAC,
     lambda d: objs("ClusterRole")(d)["rules"][0]["resources"].append("secrets"), "resource secrets"),
    ("rbac_is_minimal", RBAC,
     lambda d: objs("ClusterRole")(d)["rules"][0].update(resourceNames=["node-1"]), "resourceNames"),
    ("rbac_is_minimal", RBAC,
     lambda d: objs("ClusterRoleBinding")(d)["subjects"][0].update(namespace="default"),
     "not only the ServiceAccount monitoring/sse-exporter"),
    ("rbac_is_minimal", RBAC,
     lambda d: objs("ClusterRoleBinding")(d)["roleRef"].update(name="admin"), "is not the ClusterRole"),
    ("prometheusrule_is_the_rule_files", PR,
     lambda d: d[0]["spec"]["groups"][-1]["rules"][0].update(expr="vector(1)"),
     "group sse_trend_alerts differs from the rule files'"),
    ("prometheusrule_is_the_rule_files", PR, lambda d: d[0]["spec"]["groups"].pop(0),
     "PrometheusRule: groups ['sse_capacity'"),
    ("dashboards_are_the_json_files", DASH,
     lambda d: d[0]["data"].update({"executive.json": d[0]["data"]["executive.json"].replace(
         '"schemaVersion": 39', '"schemaVersion": 38')}),
     "executive.json differs from grafana/"),
    ("dashboards_are_the_json_files", DASH,
     lambda d: d[1]["data"].update({"other.json": "{}"}), "2 files, want one dashboard"),
    ("dashboards_are_the_json_files", DASH,
     lambda d: d[2].update(data={"gone.json": "{}"}), "no grafana/gone.json"),
]

# What kubectl itself must refuse: (file, old text, new text, part of its error)
KUBECTL_BREAKS = [
    (SVC, "kind: Service", "kind: Servce", "Servce"),
    (SM, "monitoring.coreos.com/v1", "monitoring.coreos.com/v1alpha1", "v1alpha1"),
    (KUST, "  - service.yaml", "  - service.yaml\n  - gone.yaml", "gone.yaml"),
    (DS, "apiVersion: apps/v1", "apiVersion: apps/v1beta2", "apps/v1beta2"),
    (PR, "apiVersion: monitoring.coreos.com/v1", "apiVersion: monitoring.coreos.com/v1beta1",
     "v1beta1"),
]


class Copy:
    """deploy/kubernetes, deploy/prometheus and the README, copied to a
    temporary folder."""

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="sse-deploy-")
        self.root = os.path.join(self.tmp, "kubernetes")
        self.rules = os.path.join(self.tmp, cm.RULES_DIR)
        self.readme = os.path.join(self.tmp, "README.md")
        shutil.copytree(DEPLOY, self.root)
        shutil.copytree(RULES, self.rules, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        shutil.copytree(GRAFANA, os.path.join(self.tmp, cm.GRAFANA_DIR),
                        ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        shutil.copy(README, self.readme)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp)

    def edit_yaml(self, rel, mutate):
        checklib.edit_yaml(os.path.join(self.root, rel), mutate)


class Checks(unittest.TestCase):
    def test_the_manifests_pass(self):
        self.assertEqual(cm.problems(DEPLOY, README), [])
        self.assertEqual(cm.kubectl_problems(DEPLOY), [])

    def test_each_break_is_caught(self):
        for check, rel, mutate, expected in BREAKS:
            with self.subTest(check=check, expected=expected), Copy() as c:
                c.edit_yaml(rel, mutate)
                found = cm.problems(c.root, c.readme)
                self.assertTrue(checklib.caught(found, check, expected),
                                f"{expected!r} not among {found}")

    def test_an_unlisted_file_is_caught(self):
        with Copy() as c:
            shutil.copy(os.path.join(c.root, SVC), os.path.join(c.root, "extra.yaml"))
            self.assertIn("kustomization_lists_every_file: extra.yaml is not in kustomization.yaml",
                          cm.problems(c.root, c.readme))

    def test_a_missing_object_is_caught(self):
        with Copy() as c:
            os.remove(os.path.join(c.root, SVC))
            found = cm.problems(c.root, c.readme)
            for check in ("service_selects_the_pods", "monitors_find_the_exporter"):
                self.assertIn(f"{check}: not exactly one Service", found)
            os.remove(os.path.join(c.root, KUST))
            self.assertIn("kustomization_lists_every_file: no kustomization.yaml",
                          cm.problems(c.root, c.readme))

    def test_undocumented_capabilities_are_caught(self):
        with Copy() as c:
            checklib.edit_text(c.readme, "| `CAP_SYS_ADMIN` |", "| `CAP_SYS_ADMlN` |")
            found = cm.problems(c.root, c.readme)
            self.assertIn("least_privilege: container sse-exporter: capability SYS_ADMIN is not "
                          "documented in the README", found)
            checklib.edit_text(c.readme, "## Deploying on Kubernetes", "## Kubernetes")
            self.assertIn("least_privilege: README: no capability table under "
                          "\"## Deploying on Kubernetes\"", cm.problems(c.root, c.readme))

    def test_a_rule_file_edited_alone_is_caught(self):
        with Copy() as c:
            checklib.edit_text(os.path.join(c.rules, "alerts.yml"), "for: 15m", "for: 20m")
            self.assertIn("prometheusrule_is_the_rule_files: PrometheusRule: group sse_alerts "
                          "differs from the rule files' (run deploy/prometheus/prometheusrule.py)",
                          cm.problems(c.root, c.readme))
            shutil.rmtree(c.rules)
            self.assertTrue(any(p.startswith("prometheusrule_is_the_rule_files: no prometheus/")
                                for p in cm.problems(c.root, c.readme)))

    def test_every_check_can_fail(self):
        broken = {check for check, *_ in BREAKS}
        self.assertEqual(broken, {fn.__name__ for fn in cm.CHECKS})

    def test_kubectl_refuses(self):
        for rel, old, new, expected in KUBECTL_BREAKS:
            with self.subTest(file=rel, new=new), Copy() as c:
                checklib.edit_text(os.path.join(c.root, rel), old, new)
                found = cm.kubectl_problems(c.root)
                self.assertTrue(found and expected in found[0], f"{expected!r} not in {found}")


if __name__ == "__main__":
    sys.exit(checklib.run_cases(Checks, "deploy"))
