#!/usr/bin/python3
"""Runs outpost's tests (Catch2 unit tests, then the pytest integration tests in the
netns lab) and ends with one line: "N passed, N failed". Exit 0 only if nothing failed."""
import argparse
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def junit_counts(path):
    """(passed, failed, skipped) from a JUnit XML report."""
    if not os.path.exists(path):
        return 0, 1, 0  # no report at all is a failure: the runner crashed
    tree = ET.parse(path)
    passed = failed = skipped = 0
    for case in tree.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", choices=["unit", "integration"])
    ap.add_argument("pytest_args", nargs="*")
    args = ap.parse_args()
    results = os.path.join(ROOT, "tests", "results")
    os.makedirs(results, exist_ok=True)
    build = os.path.abspath(os.path.join(ROOT, args.build))
    totals = [0, 0, 0]

    if args.only in (None, "unit"):
        report = os.path.join(results, "unit.xml")
        if os.path.exists(report):
            os.remove(report)
        print("== unit tests (Catch2)", flush=True)
        subprocess.run([os.path.join(build, "tests", "outpost_unit"), "-r", "junit", "-o", report], cwd=ROOT)
        p, f, s = junit_counts(report)
        if f:  # show the failures in readable form
            subprocess.run([os.path.join(build, "tests", "outpost_unit"), "--use-colour", "no"], cwd=ROOT)
        print(f"   unit: {p} passed, {f} failed", flush=True)
        totals = [totals[0] + p, totals[1] + f, totals[2] + s]

    if args.only in (None, "integration"):
        report = os.path.join(results, "integration.xml")
        if os.path.exists(report):
            os.remove(report)
        print("== integration tests (pytest, netns lab)", flush=True)
        env = dict(os.environ, OUTPOST_BUILD=build, PYTHONDONTWRITEBYTECODE="1")
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider",
                        f"--junitxml={report}", os.path.join(ROOT, "tests", "integration")] + args.pytest_args,
                       cwd=ROOT, env=env)
        p, f, s = junit_counts(report)
        print(f"   integration: {p} passed, {f} failed, {s} skipped", flush=True)
        totals = [totals[0] + p, totals[1] + f, totals[2] + s]

    print(f"{totals[0]} passed, {totals[1]} failed")
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
