"""The README links every page under docs/, and every page says in its first line what it covers."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_docs_page_is_linked_from_the_readme_and_opens_with_its_subject() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pages = sorted((ROOT / "docs").glob("*.md"))
    assert pages
    unlinked = [p.name for p in pages if f"(docs/{p.name})" not in readme]
    assert unlinked == [], f"add these to the README's Documentation list: {unlinked}"
    for p in pages:
        first = p.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
        assert len(first.split()) >= 3, f"{p.name}: the first line should say what the page covers"
