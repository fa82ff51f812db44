#!/usr/bin/python3
"""End-to-end tests of sse_exporter (`make e2e`).

    /usr/bin/python3 tests/e2e/run.py [FILTER...]              exporter tests
    /usr/bin/python3 tests/e2e/run.py --copy-path [FILTER...]  the same, streams counted from copies
    /usr/bin/python3 tests/e2e/run.py --selfcheck [FILTER...]  servers + client only

A FILTER is a substring of test names (e.g. `node`, `go:basic`, `prometheus`);
with several, a test runs if its name contains any of them.
Prints one "PASS name [T s]" / "FAIL name: reason [T s]" line per test (T:
its time, its group's setup in the first test's), then a line of where the
time went, and ends with "e2e: N passed, N failed"; exits 1 if anything
failed.
"""
import sys

sys.dont_write_bytecode = True   # keep the source tree free of __pycache__

import argparse          # noqa: E402
import tempfile          # noqa: E402

import framework         # noqa: E402
import launch            # noqa: E402
import procs             # noqa: E402
import selfcheck         # noqa: E402
import suite             # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--selfcheck", action="store_true",
                   help="check servers and client against each other, without the exporter")
    p.add_argument("--copy-path", action="store_true",
                   help="every exporter counts streams from copies of their writes, not in the kernel "
                        "(%s set in its environment)" % launch.NO_KSTREAMS)
    p.add_argument("--list", action="store_true", help="list test names and exit")
    p.add_argument("filters", nargs="*", metavar="FILTER",
                   help="run only tests whose name contains one of these")
    return p.parse_args()


def selected(filters):
    return lambda name: not filters or any(f in name for f in filters)


def main():
    args = parse_args()
    launch.use_copy_path(args.copy_path)
    procs.install_cleanup()
    results = framework.Results()
    with tempfile.TemporaryDirectory(prefix="sse-e2e-") as tmp:
        groups = selfcheck.groups(tmp) if args.selfcheck else suite.groups(tmp)
        if args.list:
            for group in groups:
                for name, _ in group.cases:
                    if selected(args.filters)(name):
                        print(name)
            return 0
        try:
            if args.copy_path:
                print("NOTE copy path: every exporter runs with %s=1" % launch.NO_KSTREAMS, flush=True)
            framework.run_groups(groups, selected(args.filters), results)
        except (KeyboardInterrupt, SystemExit):
            results.record("interrupted", "the run was interrupted")
        finally:
            procs.stop_all()
    if results.seconds:
        print(results.timing())
    print("e2e: %d passed, %d failed" % (results.passed, results.failed))
    return 1 if results.failed or not results.passed else 0


if __name__ == "__main__":
    sys.exit(main())
