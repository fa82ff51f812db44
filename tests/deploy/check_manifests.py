#!/usr/bin/python3
"""Checks deploy/kubernetes/ without a cluster (`make check-deploy`).

    /usr/bin/python3 tests/deploy/check_manifests.py [DIR [README]]

Two parts, each printing one line per problem; exits 1 if there is any.

kubectl (Debian's kubernetes-client, or $KUBECTL): `kubectl kustomize DIR`
builds the kustomization, then `kubectl create --dry-run=client` reads what
it built and the Prometheus Operator files. With no cluster, create still
needs the API discovery (which group, version and kind each object is, and
whether it is namespaced): it is served from a discovery cache written here
for the kinds Kubernetes 1.20+ and the Prometheus Operator's v1 API have
(DISCOVERY), pointed at a server that does not exist, so that an unknown
kind or version fails. `--validate=false`, since validation downloads the
server's OpenAPI schema: so unknown or misspelt fields, wrong value types
and missing required fields are not caught there.

Our own checks (CHECKS), for what kubectl's client side does not look at:
what the API server or the kubelet would refuse or get wrong, and this
exporter's rules (host PID, capabilities documented in the README,
read-only host mounts, probes, honorLabels, the node relabel, RBAC), and
that the PrometheusRule holds the rule groups of deploy/prometheus/ (the
folder beside DIR), so that the two cannot drift.
"""
import sys

sys.dont_write_bytecode = True   # keep the source tree free of __pycache__

import json        # noqa: E402
import os          # noqa: E402
import re          # noqa: E402
import subprocess  # noqa: E402
import tempfile    # noqa: E402

import yaml        # noqa: E402

import checklib    # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OPERATOR_DIR = "prometheus-operator"
# deploy/prometheus, beside deploy/kubernetes, and the PrometheusRule's
# sources in it.
RULES_DIR = "prometheus"
RULE_FILES = ("recording_rules.yml", "alerts.yml")

# group/version -> [(resource, kind, namespaced)]
DISCOVERY = {
    "v1": [("namespaces", "Namespace", False), ("serviceaccounts", "ServiceAccount", True),
           ("services", "Service", True), ("configmaps", "ConfigMap", True)],
    "apps/v1": [("daemonsets", "DaemonSet", True)],
    "rbac.authorization.k8s.io/v1": [("clusterroles", "ClusterRole", False),
                                     ("clusterrolebindings", "ClusterRoleBinding", False)],
    "monitoring.coreos.com/v1": [("servicemonitors", "ServiceMonitor", True),
                                 ("podmonitors", "PodMonitor", True),
                                 ("prometheusrules", "PrometheusRule", True)],
}
NAMESPACED = {kind: ns for res in DISCOVERY.values() for _, kind, ns in res}
# Nowhere to connect: the cache must answer everything.
NO_SERVER = "http://127.0.0.1:9"

# What the kubelet's /pods needs (deploy/kubernetes/rbac.yaml).
RBAC_RESOURCES = {"nodes/proxy", "nodes/pods"}


# --- kubectl -----------------------------------------------------------------

def write_discovery(cache):
    """The files kubectl's disk cache of discovery reads for NO_SERVER (it
    trusts them for 10 minutes after they are written)."""
    base = os.path.join(cache, "discovery", NO_SERVER.split("//")[1].replace(":", "_"))
    groups = {}
    for gv, resources in DISCOVERY.items():
        group, _, version = gv.rpartition("/")
        groups.setdefault(group, []).append({"groupVersion": gv, "version": version})
        os.makedirs(os.path.join(base, gv), exist_ok=True)
        with open(os.path.join(base, gv, "serverresources.json"), "w") as f:
            json.dump({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                       "resources": [{"name": r, "singularName": "", "namespaced": ns, "kind": k,
                                      "verbs": ["create", "get", "list"]}
                                     for r, k, ns in resources]}, f)
    with open(os.path.join(base, "servergroups.json"), "w") as f:
        json.dump({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": v, "preferredVersion": v[0]} for g, v in groups.items()]}, f)


def kubectl_problems(root, kubectl=None):
    """kubectl kustomize, then kubectl create --dry-run=client on each object
    it built and on the operator's: one call per object, since after an
    unknown kind kubectl asks the (missing) server about every later one."""
    kubectl = kubectl or os.environ.get("KUBECTL", "kubectl")
    built = subprocess.run([kubectl, "kustomize", root], capture_output=True, text=True)
    if built.returncode:
        return ["kubectl kustomize: " + built.stderr.strip()]
    docs = list(yaml.safe_load_all(built.stdout))
    operator = os.path.join(root, OPERATOR_DIR)
    for name in sorted(os.listdir(operator)) if os.path.isdir(operator) else []:
        with open(os.path.join(operator, name)) as f:
            docs += list(yaml.safe_load_all(f))
    found = []
    with tempfile.TemporaryDirectory(prefix="sse-kubectl-") as cache:
        write_discovery(cache)
        for doc in filter(None, docs):
            created = subprocess.run(
                [kubectl, "--kubeconfig=/dev/null", "--server=" + NO_SERVER, "--cache-dir=" + cache,
                 "create", "--dry-run=client", "--validate=false", "-o", "name", "-f", "-"],
                input=yaml.safe_dump(doc), capture_output=True, text=True)
            if created.returncode:
                err = created.stderr.strip().splitlines()[-1]
                why = "a kind or version the API does not have" if "unable to recognize" in err else err
                what = f"{doc.get('apiVersion')} {doc.get('kind')} {get(doc, 'metadata', 'name')}"
                found.append(f"kubectl create --dry-run=client: {what}: {why}")
    return found


# --- the tree ------------------------------------------------------------------

class Tree:
    """The YAML files under root, the objects in them, and the README."""

    def __init__(self, root, readme):
        self.root = root
        self.files = {}
        for folder, _, names in os.walk(root):
            for name in sorted(names):
                if name.endswith((".yaml", ".yml")):
                    path = os.path.join(folder, name)
                    with open(path) as f:
                        docs = [d for d in yaml.safe_load_all(f) if d is not None]
                    self.files[os.path.relpath(path, root)] = docs
        self.kustomization = self.files.pop("kustomization.yaml", [None])[0]
        self.objects = [d for docs in self.files.values() for d in docs]
        with open(readme) as f:
            self.readme = f.read()

    def all(self, kind):
        return [o for o in self.objects if o.get("kind") == kind]

    def one(self, kind):
        found = self.all(kind)
        return found[0] if len(found) == 1 else None


def get(obj, *keys):
    """obj[k1][k2]...; None where a level is missing."""
    for k in keys:
        if isinstance(obj, list) and isinstance(k, int):
            obj = obj[k] if k < len(obj) else None
        elif isinstance(obj, dict):
            obj = obj.get(k)
        else:
            return None
    return obj


def pod_spec(ds):
    return get(ds, "spec", "template", "spec") or {}


def pod_labels(ds):
    return get(ds, "spec", "template", "metadata", "labels") or {}


def containers(ds):
    spec = pod_spec(ds)
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def selects(selector, labels):
    """Whether a matchLabels selector, non-empty, selects these labels."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def container_ports(ds):
    return [p for c in containers(ds) for p in c.get("ports") or []]


def names_port(port, ports):
    """Whether a probe's or a Service's port (name or number) is declared."""
    return any(port in (p.get("name"), p.get("containerPort")) for p in ports)


def documented_capabilities(readme):
    """The capability table of the README's "Deploying on Kubernetes"."""
    section = re.search(r"^## Deploying on Kubernetes$(.*?)(?=^## )", readme, re.M | re.S)
    return set(re.findall(r"^\| `CAP_([A-Z_]+)` \|", section.group(1), re.M)) if section else set()


# --- the checks ------------------------------------------------------------------

CHECKS = []


def check(*kinds):
    """Registers a check, called with the tree and the one object of each
    kind it names; a kind missing or repeated is its problem instead."""
    def register(fn):
        def run(t):
            objs = [t.one(k) for k in kinds]
            missing = [k for k, o in zip(kinds, objs) if o is None]
            if missing:
                yield f"not exactly one {' and one '.join(missing)}"
            else:
                yield from fn(t, *objs)
        run.__name__ = fn.__name__
        CHECKS.append(run)
        return fn
    return register


@check()
def kustomization_lists_every_file(t):
    if not t.kustomization:
        yield "no kustomization.yaml"
        return
    listed = t.kustomization.get("resources") or []
    top = {f for f in t.files if os.sep not in f}
    for f in sorted(top - set(listed)):
        yield f"{f} is not in kustomization.yaml"
    for f in listed:
        if f not in top:
            yield f"kustomization.yaml lists {f}, which is not in the folder"


@check("Namespace")
def objects_are_named_and_placed(t, ns):
    name = get(ns, "metadata", "name")
    for o in t.objects:
        what = f"{o.get('kind')} {get(o, 'metadata', 'name')}"
        if not (o.get("apiVersion") and o.get("kind") and get(o, "metadata", "name")):
            yield f"{what}: no apiVersion, kind or metadata.name"
        elif NAMESPACED.get(o["kind"]) and get(o, "metadata", "namespace") != name:
            yield f"{what}: namespace {get(o, 'metadata', 'namespace')}, not the Namespace's {name}"


@check("DaemonSet")
def daemonset_sees_the_host(t, ds):
    if pod_spec(ds).get("hostPID") is not True:
        yield "DaemonSet: hostPID is not true (the exporter must see the node's processes)"
    if not selects(get(ds, "spec", "selector", "matchLabels"), pod_labels(ds)):
        yield "DaemonSet: spec.selector does not select its own pod template"
    if not any(tol.get("operator") == "Exists" and not tol.get("key")
               for tol in pod_spec(ds).get("tolerations") or []):
        yield "DaemonSet: does not tolerate every taint (operator: Exists, no key)"
    sa = pod_spec(ds).get("serviceAccountName")
    if not any(get(s, "metadata", "name") == sa for s in t.all("ServiceAccount")):
        yield f"DaemonSet: serviceAccountName {sa} is not a ServiceAccount of the folder"
    env = {e.get("name"): get(e, "valueFrom", "fieldRef", "fieldPath")
           for c in containers(ds) for e in c.get("env") or []}
    for var, field in (("NODE_NAME", "spec.nodeName"), ("NODE_IP", "status.hostIP")):
        if env.get(var) != field:
            yield f"DaemonSet: {var} does not come from the downward API's {field}"


@check("DaemonSet")
def containers_have_resources(t, ds):
    for c in containers(ds):
        res = c.get("resources") or {}
        for need in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
            if get(res, *need) is None:
                yield f"container {c.get('name')}: no resources.{'.'.join(need)}"


@check("DaemonSet")
def probes_reach_health(t, ds):
    ports = container_ports(ds)
    for c in containers(ds):
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = get(c, kind, "httpGet")
            if probe is None:
                if kind != "startupProbe":
                    yield f"container {c.get('name')}: no {kind} httpGet"
                continue
            if probe.get("path") != "/health":
                yield f"container {c.get('name')}: {kind} asks {probe.get('path')}, not /health"
            if not names_port(probe.get("port"), ports):
                yield f"container {c.get('name')}: {kind} port {probe.get('port')} is not declared"


@check("DaemonSet")
def listens_where_declared(t, ds):
    ports = [p.get("containerPort") for p in container_ports(ds) if p.get("name") == "metrics"]
    if len(ports) != 1:
        yield "no container port named metrics, or more than one"
        return
    for c in containers(ds):
        for arg in c.get("args") or []:
            if arg.startswith("--web.listen-address=") and not arg.endswith(f":{ports[0]}"):
                yield f"container {c.get('name')}: {arg}, but the metrics port is {ports[0]}"
    note = get(ds, "spec", "template", "metadata", "annotations", "prometheus.io/port")
    if note is not None and note != str(ports[0]):
        yield f"DaemonSet: prometheus.io/port {note}, but the metrics port is {ports[0]}"


@check("DaemonSet")
def least_privilege(t, ds):
    documented = documented_capabilities(t.readme)
    if not documented:
        yield "README: no capability table under \"## Deploying on Kubernetes\""
    for c in containers(ds):
        sc = c.get("securityContext") or {}
        who = f"container {c.get('name')}"
        if sc.get("privileged"):
            yield f"{who}: privileged"
        if sc.get("readOnlyRootFilesystem") is not True:
            yield f"{who}: readOnlyRootFilesystem is not true"
        caps = get(sc, "capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            yield f"{who}: capabilities.drop lacks ALL (the runtime's defaults would stay)"
        added = {a.upper().removeprefix("CAP_") for a in caps.get("add") or []}
        for a in sorted(added - documented):
            yield f"{who}: capability {a} is not documented in the README"
        # The API server's rule, which kubectl's client side does not know.
        if "SYS_ADMIN" in added and sc.get("allowPrivilegeEscalation") is False:
            yield f"{who}: allowPrivilegeEscalation false beside SYS_ADMIN (refused)"


@check("DaemonSet")
def mounts_have_volumes(t, ds):
    volumes = {v.get("name"): v for v in pod_spec(ds).get("volumes") or []}
    mounted = set()
    for c in containers(ds):
        for m in c.get("volumeMounts") or []:
            v = volumes.get(m.get("name"))
            mounted.add(m.get("name"))
            if v is None:
                yield f"container {c.get('name')}: volumeMount {m.get('name')} has no volume"
            elif "hostPath" in v and m.get("readOnly") is not True:
                yield f"container {c.get('name')}: host path {m.get('mountPath')} is not read-only"
    for name in sorted(set(volumes) - mounted):
        yield f"volume {name} is mounted nowhere"


@check("DaemonSet", "Service")
def service_selects_the_pods(t, ds, svc):
    if get(svc, "spec", "clusterIP") != "None":
        yield "Service: not headless (clusterIP: None)"
    if not selects(get(svc, "spec", "selector"), pod_labels(ds)):
        yield "Service: its selector does not select the DaemonSet's pods"
    for p in get(svc, "spec", "ports") or []:
        if not names_port(p.get("targetPort", p.get("port")), container_ports(ds)):
            yield f"Service: port {p.get('name')} targets {p.get('targetPort')}, no container port"


def endpoint_problems(who, endpoints, ports):
    """What a ServiceMonitor's or a PodMonitor's endpoints must have."""
    if not endpoints:
        yield f"{who}: no endpoints"
    for e in endpoints or []:
        if e.get("port") not in ports:
            yield f"{who}: endpoint port {e.get('port')} is none of {sorted(ports)}"
        if e.get("honorLabels") is not True:
            yield f"{who}: honorLabels is not true (the workloads' labels would become exported_*)"
        if not any(r.get("sourceLabels") == ["__meta_kubernetes_pod_node_name"]
                   and r.get("targetLabel") == "node" and r.get("action", "replace") == "replace"
                   for r in e.get("relabelings") or []):
            yield f"{who}: no relabeling of __meta_kubernetes_pod_node_name into node"


@check("DaemonSet", "Service", "ServiceMonitor", "PodMonitor")
def monitors_find_the_exporter(t, ds, svc, sm, pm):
    if not selects(get(sm, "spec", "selector", "matchLabels"), get(svc, "metadata", "labels") or {}):
        yield "ServiceMonitor: its selector does not select the Service"
    yield from endpoint_problems("ServiceMonitor", get(sm, "spec", "endpoints"),
                                 {p.get("name") for p in get(svc, "spec", "ports") or []})
    if not selects(get(pm, "spec", "selector", "matchLabels"), pod_labels(ds)):
        yield "PodMonitor: its selector does not select the DaemonSet's pods"
    yield from endpoint_problems("PodMonitor", get(pm, "spec", "podMetricsEndpoints"),
                                 {p.get("name") for p in container_ports(ds)})


@check("DaemonSet", "ClusterRole", "ClusterRoleBinding")
def rbac_is_minimal(t, ds, role, binding):
    for r in role.get("rules") or []:
        if r.get("apiGroups") != [""] or r.get("verbs") != ["get"] or r.get("nonResourceURLs"):
            yield f"ClusterRole: rule {r} is more than get on the core group's nodes/*"
        for res in set(r.get("resources") or []) - RBAC_RESOURCES:
            yield f"ClusterRole: resource {res} is not what the kubelet's /pods needs"
        if r.get("resourceNames"):
            yield "ClusterRole: resourceNames would leave nodes out"
    ref = binding.get("roleRef") or {}
    if ref.get("kind") != "ClusterRole" or ref.get("name") != get(role, "metadata", "name"):
        yield f"ClusterRoleBinding: roleRef {ref} is not the ClusterRole"
    sa = pod_spec(ds).get("serviceAccountName")
    ns = get(ds, "metadata", "namespace")
    if binding.get("subjects") != [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]:
        yield f"ClusterRoleBinding: subjects are not only the ServiceAccount {ns}/{sa}"


def rule_groups(root):
    """The groups of the rule files beside root, in order; None if one is
    missing."""
    groups = []
    for name in RULE_FILES:
        path = os.path.join(os.path.dirname(os.path.abspath(root)), RULES_DIR, name)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            groups += (yaml.safe_load(f) or {}).get("groups") or []
    return groups


GRAFANA_DIR = "grafana"


def dashboard_problems(t, cm):
    """A dashboard ConfigMap holds a JSON file of deploy/grafana/ as it is."""
    data = cm.get("data") or {}
    what, fix = f"ConfigMap {get(cm, 'metadata', 'name')}", "run deploy/grafana/dashboards.py"
    if len(data) != 1:
        yield f"{what}: {len(data)} files, want one dashboard"
        return
    (name, text), = data.items()
    path = os.path.join(os.path.dirname(os.path.abspath(t.root)), GRAFANA_DIR, name)
    if not os.path.exists(path):
        yield f"{what}: no {GRAFANA_DIR}/{name} ({fix})"
        return
    with open(path, encoding="utf-8") as f:
        if json.loads(f.read()) != json.loads(text):
            yield f"{what}: {name} differs from {GRAFANA_DIR}/ ({fix})"


@check()
def dashboards_are_the_json_files(t):
    """Every dashboard of deploy/grafana/ is in one ConfigMap, as it is."""
    maps = [cm for cm in t.all("ConfigMap")
            if (get(cm, "metadata", "labels") or {}).get("grafana_dashboard") == "1"]
    names = sorted(n for cm in maps for n in (cm.get("data") or {}))
    grafana = os.path.join(os.path.dirname(os.path.abspath(t.root)), GRAFANA_DIR)
    want = sorted(f for f in os.listdir(grafana) if f.endswith(".json")) if os.path.isdir(grafana) else []
    if names != want:
        yield f"dashboard ConfigMaps hold {names}, {GRAFANA_DIR}/ has {want}"
    for cm in maps:
        yield from dashboard_problems(t, cm)


@check("PrometheusRule")
def prometheusrule_is_the_rule_files(t, rule):
    want = rule_groups(t.root)
    if want is None:
        yield f"no {RULES_DIR}/{' and '.join(RULE_FILES)} beside {t.root}"
        return
    have = get(rule, "spec", "groups") or []
    fix = "run deploy/prometheus/prometheusrule.py"
    if [g.get("name") for g in have] != [g.get("name") for g in want]:
        yield (f"PrometheusRule: groups {[g.get('name') for g in have]}, the rule files' are "
               f"{[g.get('name') for g in want]} ({fix})")
        return
    for h, w in zip(have, want):
        if h != w:
            yield f"PrometheusRule: group {w.get('name')} differs from the rule files' ({fix})"


def results(root, readme):
    """[(check name, [problem])] of every check, our own ones only."""
    t = Tree(root, readme)
    return [(fn.__name__, list(fn(t))) for fn in CHECKS]


def problems(root, readme):
    return [f"{name}: {p}" for name, found in results(root, readme) for p in found]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "deploy", "kubernetes")
    readme = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "README.md")
    return checklib.report([("kubectl", kubectl_problems(root))] + results(root, readme), "deploy")


if __name__ == "__main__":
    sys.exit(main())
