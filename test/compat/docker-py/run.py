"""Runs the docker-py cases as `python3 -m unittest -v discover` would and
also writes one JSON line per case to the file named by --json, so the
TypeScript runner (test/compat/docker-py.test.ts) can report each case by
name with its traceback.

    DOCKER_HOST=unix:///... /usr/bin/python3 test/compat/docker-py/run.py [--json FILE] [-k PATTERN]
"""

import argparse
import json
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class JsonResult(unittest.TextTestResult):
    out = None

    def startTest(self, test):
        self._t0 = time.time()
        super().startTest(test)

    def _emit(self, test, outcome, detail=""):
        if self.out is None:
            return
        rec = {
            "id": test.id(),
            "outcome": outcome,
            "seconds": round(time.time() - self._t0, 2),
            "detail": detail,
        }
        self.out.write(json.dumps(rec) + "\n")
        self.out.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self._emit(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._emit(test, "FAIL", self.failures[-1][1])

    def addError(self, test, err):
        super().addError(test, err)
        self._emit(test, "ERROR", self.errors[-1][1])

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._emit(test, "skip", reason)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("-k", action="append", dest="patterns")
    a = ap.parse_args()
    if a.json:
        JsonResult.out = open(a.json, "w")
    loader = unittest.TestLoader()
    if a.patterns:
        loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in a.patterns]
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    r = unittest.TextTestRunner(verbosity=2, resultclass=JsonResult, stream=sys.stdout).run(suite)
    sys.exit(0 if r.wasSuccessful() and r.testsRun > 0 else 1)


if __name__ == "__main__":
    main()
