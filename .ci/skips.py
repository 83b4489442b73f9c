"""How many tests pytest skipped and why, from its JUnit XML report: printed by .ci/run after `make test`."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter


def summary(report: str) -> list[str]:
    try:
        root = ET.parse(report).getroot()
    except (OSError, ET.ParseError) as exc:
        return [f"skipped tests: unknown (no readable JUnit report {report}: {exc})"]
    reasons: Counter = Counter()
    for case in root.iter("testcase"):
        for skipped in case.findall("skipped"):
            reasons[(skipped.get("message") or "").strip() or "(no reason given)"] += 1
    lines = [f"skipped tests: {sum(reasons.values())}"]
    lines += [f"  {count} × {reason}" for reason, count in reasons.most_common()]
    return lines


if __name__ == "__main__":
    print("\n".join(summary(sys.argv[1])))
