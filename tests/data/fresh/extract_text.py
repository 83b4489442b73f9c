#!/usr/bin/env python3
"""Plain extraction of each fresh document, the way the spec says facts are checked:
pypdf for PDF, python-docx for DOCX (paragraphs, then table cells), BeautifulSoup for HTML,
raw text for TXT/Markdown."""
from pathlib import Path
import sys

def extract(path: Path) -> str:
    suf = path.suffix.lower()
    if suf == ".pdf":
        from pypdf import PdfReader
        return "\n".join(p.extract_text() or "" for p in PdfReader(str(path)).pages)
    if suf == ".docx":
        import docx
        d = docx.Document(str(path))
        parts = [p.text for p in d.paragraphs]
        for t in d.tables:
            for row in t.rows:
                parts.append(" | ".join(c.text for c in row.cells))
        return "\n".join(parts)
    if suf in (".html", ".htm"):
        from bs4 import BeautifulSoup
        return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text("\n")
    return path.read_text(encoding="utf-8")

if __name__ == "__main__":
    for a in sys.argv[1:]:
        print(f"===== {a}")
        print(extract(Path(a)))
