#!/usr/bin/env python3
"""Check questions.yml against the built documents: every fact occurs verbatim in the extracted
text of its document; pure-number facts occur as a standalone number few times; print counts."""
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

from extract_text import extract

HERE = Path(__file__).resolve().parent
data = yaml.safe_load((HERE / "questions.yml").read_text(encoding="utf-8"))
id2file = {v: k for k, v in data["documents"].items()}
texts = {i: extract(HERE / "docs" / f) for i, f in id2file.items()}
bad = 0
for n, q in enumerate(data["questions"], 1):
    doc = q["doc"]
    if doc not in texts:
        print(f"#{n}: unknown doc {doc}"); bad += 1; continue
    if not (("q" in q) ^ ("turns" in q)):
        print(f"#{n}: needs exactly one of q / turns"); bad += 1
    if "turns" in q and len(q["turns"]) != 2:
        print(f"#{n}: turns must have 2 entries"); bad += 1
    for f in q["fact"]:
        t = texts[doc]
        if f not in t:
            print(f"#{n} {q.get('q') or q.get('turns')}: fact {f!r} NOT in {id2file[doc]}"); bad += 1
        elif re.fullmatch(r"[\d.]+", f):
            k = len(re.findall(rf"(?<![\d.]){re.escape(f)}(?![\d.])", t))
            if k != 1:
                print(f"#{n}: numeric fact {f!r} occurs {k} times standalone in {id2file[doc]}")
kinds = Counter(q["kind"] for q in data["questions"])
print("questions:", len(data["questions"]), dict(kinds))
print("per doc:", dict(Counter(q["doc"] for q in data["questions"])))
print("FAILED" if bad else "all facts verbatim", bad)
sys.exit(1 if bad else 0)
