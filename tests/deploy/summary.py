"""Runs the unittest cases of a deploy check's test and ends with the
line `make test` output is read for: "WHAT: N passed, N failed"."""
import unittest


def main(case, what):
    tests = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    result = unittest.TextTestRunner(verbosity=2).run(tests)
    failed = len(result.failures) + len(result.errors)
    print(f"{what}: {result.testsRun - failed} passed, {failed} failed")
    return 1 if failed else 0
