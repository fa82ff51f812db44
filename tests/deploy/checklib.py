"""What the checkers of deploy/ and their tests share (`make check-deploy`,
`make check-rules`): how they report, and how their tests break a copy."""
import unittest

import yaml


def report(checked, what):
    """Prints each problem of [(check name, [problem])] on a line of its
    own, then "WHAT: N passed, N failed"; the exit status."""
    for name, found in checked:
        for p in found:
            print(f"{name}: {p}")
    failed = sum(1 for _, found in checked if found)
    print(f"{what}: {len(checked) - failed} passed, {failed} failed")
    return 1 if failed else 0


def run_cases(case, what):
    """Runs a TestCase's tests, then prints "WHAT checks: N passed, N
    failed"; the exit status."""
    tests = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    result = unittest.TextTestRunner(verbosity=2).run(tests)
    failed = len(result.failures) + len(result.errors)
    print(f"{what} checks: {result.testsRun - failed} passed, {failed} failed")
    return 1 if failed else 0


def caught(found, check, expected):
    """Whether the problems found hold one of this check with this text."""
    return any(p.startswith(check + ":") and expected in p for p in found)


def edit_yaml(path, mutate):
    """Rewrites a YAML file with mutate applied to its list of documents
    (comments are lost: the copies are read by programs only)."""
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    mutate(docs)
    with open(path, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)


def edit_text(path, old, new):
    """Replaces the first occurrence of old, which must be there."""
    with open(path) as f:
        text = f.read()
    assert old in text, f"{old!r} not in {path}"
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))
