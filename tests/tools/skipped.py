#!/usr/bin/python3
"""List the tests that did not really run, with their reasons, from ctest's JUnit output.

usage: skipped.py JUNIT.xml TESTS.json
  JUNIT.xml   ctest --output-junit FILE
  TESTS.json  ctest --show-only=json-v1 (for each test's labels)

Two kinds of skip: a test script that exits 77 (ctest: "notrun", SKIP_RETURN_CODE), and a
cmocka case that called skip() ("[  SKIPPED ] name" in the output of an executable that
ctest counts as passed). The reason is the test's last "SKIP: ..." line. Under CI=true as root
a skipped cluster, slurm, diskfull or fuzz test is a failure (exit 1): CI has the privileges,
so a skip there means the test silently stopped testing.
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

MUST_RUN_LABELS = {"cluster", "slurm", "fuzz"}


def labels_by_test(path):
    out = {}
    for t in json.load(open(path)).get("tests", []):
        labels = set()
        for p in t.get("properties", []):
            if p.get("name") == "LABELS":
                labels.update(p.get("value", []))
        out[t["name"]] = labels
    return out


def reason(text, fallback):
    lines = [l.strip() for l in (text or "").splitlines() if "SKIP" in l and "SKIPPED" not in l]
    return lines[-1] if lines else fallback


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    labels = labels_by_test(argv[2])
    skipped = []   # (test, what, reason)
    for case in ET.parse(argv[1]).getroot().iter("testcase"):
        name, out = case.get("name"), case.findtext("system-out") or ""
        sk = case.find("skipped")
        if case.get("status") == "notrun" or sk is not None:
            skipped.append((name, name, reason(out, sk.get("message") if sk is not None else "not run")))
        for m in re.finditer(r"^\[  SKIPPED \] (\S+)", out, re.M):
            skipped.append((name, f"{name}: {m.group(1)}", reason(out, "cmocka skip() without a reason")))
    skipped = list(dict.fromkeys(skipped))
    if not skipped:
        print("skipped tests: none")
        return 0
    print(f"skipped tests ({len(skipped)}):")
    for _, what, why in skipped:
        print(f"  {what}: {why}")
    if os.environ.get("CI") == "true" and os.geteuid() == 0:
        bad = [what for test, what, _ in skipped
               if labels.get(test, set()) & MUST_RUN_LABELS or "diskfull" in test]
        if bad:
            print(f"CI (root): {len(bad)} skipped test(s) must run here: {', '.join(bad)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
