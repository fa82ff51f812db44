"""The metric catalog, read from docs/metrics.md: the tables whose header
is HEADER list every family the exporter produces (tests/unit/test_catalog.c
keeps them equal to what the code registers).

    CATALOG = {name: (type, {label names}, [buckets] or None)}
"""
import os

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "metrics.md")
HEADER = "| metric | type | labels | buckets | meaning |"
# Labels left out where they have no value (docs/metrics.md, "Labels"): a
# process outside Kubernetes has no namespace or pod, outside a container
# no container.
OPTIONAL = {"namespace", "pod", "container", "container_id", "pod_uid", "image"}


def cells(row):
    """The cells of a table row; an escaped pipe stays in its cell."""
    parts = row.strip().replace("\\|", "\0").strip("|").split("|")
    return [p.replace("\0", "|").strip() for p in parts]


def items(cell):
    return [x.strip() for x in cell.split(",")] if cell else []


def load(path=DOC):
    catalog, in_table = {}, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line == HEADER:
                in_table = True
            elif not in_table or not line.startswith("|"):
                in_table = False
            elif not line.startswith("|---"):
                name, mtype, labels, buckets = cells(line)[:4]
                catalog[name.strip("`")] = (mtype, set(items(labels)),
                                            [float(b) for b in items(buckets)] or None)
    return catalog


CATALOG = load()
