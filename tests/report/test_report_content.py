"""The report's tables, plots and HTML, from a run written through the real Store on SQLite."""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from breakfix.report import write_run_report
from breakfix.report._payload import unpacked
from breakfix.report._plots import heatmap_matrix
from breakfix.report._queries import family_table
from breakfix.report._render import gather
from breakfix.store import Store

from .conftest import build_run


class _Tables(HTMLParser):
    """Cell texts of every <table id=...> and attributes of every tag (to check src/href/script)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._script: dict[str, str | None] | None = None
        self._script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "script":
            self._script, self._script_text = a, []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._script_text)))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._script is not None:
            self._script_text.append(data)


def _parse(path: Path) -> _Tables:
    p = _Tables()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_family_table_counts_and_target_calls(store: Store) -> None:
    run_id = build_run(store)
    fams = {(f["kind"], f["name"]): f for f in family_table(store, run_id)}
    assert list(fams) == [("direct", "direct"), ("template", "roleplay"), ("converter", "base64"),
                          ("multi-turn", "crescendo")]
    d = fams[("direct", "direct")]
    assert (d["n"], d["successes"], d["success_rate"], d["target_calls"]) == (4, 1, 0.25, 4)
    b = fams[("converter", "base64")]
    # one of three requests failed: the rate is over the two answered ones
    assert (b["n"], b["ok"], b["successes"], b["success_rate"]) == (3, 2, 1, 0.5)
    c = fams[("multi-turn", "crescendo")]
    assert (c["n"], c["successes"], c["target_calls"], c["mean_calls"]) == (2, 1, 12, 6.0)
    assert fams[("template", "roleplay")]["success_rate"] == 1.0


def test_heatmap_matrix_places_each_cell() -> None:
    rows = [{"attack": "direct", "converters": "", "success_rate": 0.25, "n": 4},
            {"attack": "direct", "converters": "base64", "success_rate": 0.5, "n": 3},
            {"attack": "roleplay", "converters": "", "success_rate": 1.0, "n": 2}]
    attacks, convs, rate, count = heatmap_matrix(rows)
    assert attacks == ["direct", "roleplay"] and convs == ["(none)", "base64"]
    assert rate == [[0.25, 0.5], [1.0, None]]
    assert count == [[4, 3], [2, 0]]


def test_report_tables_show_the_runs_numbers(store: Store, tmp_path: Path) -> None:
    run_id = build_run(store)
    out = write_run_report(store, run_id, tmp_path / "sub" / "report.html")
    assert out == tmp_path / "sub" / "report.html" and out.exists()
    html = out.read_text(encoding="utf-8")
    p = _parse(out)
    fam = {(r[0], r[1]): r for r in p.tables["family-table"][1:]}
    assert fam[("multi-turn", "crescendo")][7:] == ["12", "6.00"]
    # 1 of 2 answered: Wilson 95 % interval 9.45-90.55 % (Newcombe 1998, method 3)
    assert fam[("converter", "base64")][5] == "50.0% [9.5–90.5]"
    # 4 + 2 + 3 + 2 = 11 attempts, 1 failed; successes: direct 1 + roleplay 2 + base64 1 + crescendo 1
    # = 5 of 10 answered
    assert re.search(r'id="sum-attempts">11<', html)
    assert re.search(r'id="sum-success">50\.0%<', html)
    assert re.search(r'id="sum-errors">1<', html)
    # attempts were stamped T0 .. T0+31 s (earlier than the run record): the span of the attempts
    assert re.search(r'id="sum-duration">31\.00 s<', html)
    # 5 of 10: Wilson 23.66-76.34 %; no benign items, so no over-refusal; 16.5 s / 11 attempts
    assert p.tables["target-table"][1] == ["safe-model", "11", "1", "50.0% [23.7–76.3]", "50.0% [23.7–76.3]", "–",
                                           "1.50 s"]
    slow = p.tables["slowest-table"]
    assert slow[1][0] == "b64-2" and slow[2][0] == "cresc-1"  # 9.5 s, then 3.0 s
    assert p.tables["failed-table"][1][0] == "b64-2"
    assert "HTTP 500 from target" in p.tables["failed-table"][1][-1]
    rows = {r[0]: r for r in p.tables["findings-table"][1:]}
    finding = rows["F-1"]  # the finding saved by hand, after the weakness findings derived for the report
    assert finding[2] == "high" and "AML.T0054" in finding[4]
    grouped = [r for fid, r in rows.items() if fid.startswith("w-")]
    assert len(grouped) == 5  # direct/en, roleplay/en, roleplay/fr, base64/en, crescendo/en (all weapons)
    assert all(re.fullmatch(r"\d+ of \d+\s*\d+\.\d% \[\d+\.\d–\d+\.\d\]", r[-1]) for r in grouped), grouped
    # the plots are inline PNGs: heat map, category, language
    imgs = [a["src"] for t, a in p.tags if t == "img"]
    assert len(imgs) == 3
    for src in imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "sk-secret" not in html  # the store redacts the run config; the report never shows it


def test_report_is_self_contained(store: Store, tmp_path: Path) -> None:
    out = write_run_report(store, build_run(store), tmp_path / "r.html")
    p = _parse(out)
    for tag, a in p.tags:
        for attr in ("src", "href"):
            v = a.get(attr)
            if v is not None:
                assert v.startswith(("data:", "#")), f"<{tag} {attr}={v!r}> would load something"
        assert tag not in ("link", "iframe", "object", "embed")


def test_model_output_is_escaped_in_the_html_source(store: Store, tmp_path: Path) -> None:
    out = write_run_report(store, build_run(store), tmp_path / "r.html", compress=False)
    p = _parse(out)
    executable = [(a, t) for a, t in p.scripts if a.get("type") in (None, "", "text/javascript", "module")]
    assert len(executable) == 1, "exactly one executable script: ours"
    assert "__pwned" not in executable[0][1]
    for tag, a in p.tags:
        assert not any(k.startswith("on") for k in a), f"<{tag}> carries an event handler attribute"
        assert tag not in ("img", "svg", "a") or not any("__pwned" in (v or "") for v in a.values())
    html = out.read_text(encoding="utf-8")
    assert "&lt;script&gt;window.__pwned=9&lt;/script&gt;" in html  # an error message, escaped by Jinja
    assert "&lt;b onmouseover=" in html  # a category name in a table


def test_csp_admits_exactly_the_inline_script_and_style(store: Store, tmp_path: Path) -> None:
    out = write_run_report(store, build_run(store), tmp_path / "r.html")
    html = out.read_text(encoding="utf-8")
    csp = html_lib.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
    assert "default-src 'none'" in csp
    js = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    css = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    for text, directive in ((js, "script-src"), (css, "style-src")):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp


def test_compressed_blocks_hold_the_same_attempts(store: Store, tmp_path: Path) -> None:
    run_id = build_run(store)
    out = write_run_report(store, run_id, tmp_path / "r.html", compress=True)
    p = _parse(out)
    index = json.loads(next(t for a, t in p.scripts if a.get("id") == "bf-index"))  # always plain JSON
    chunks = [unpacked(t) for a, t in p.scripts if a.get("class") == "bf-chunk"]
    assert chunks and all(a.get("type") == "text/plain" for a, t in p.scripts if a.get("class") == "bf-chunk")
    ids = sorted(store.done_attempt_ids(run_id))
    assert sorted(index["id"]) == ids
    assert sorted(d["id"] for c in chunks for d in c) == ids


def test_unknown_run_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no run with id 'nope'"):
        gather(store, "nope")


def test_empty_run_still_renders(store: Store, tmp_path: Path) -> None:
    run_id = store.create_run("empty", {})
    out = write_run_report(store, run_id, tmp_path / "r.html")
    html = out.read_text(encoding="utf-8")
    assert 'id="sum-attempts">0<' in html and "No findings" in html


def test_family_of_reads_registry_tags_and_template_labels() -> None:
    from breakfix.core.registry import attack
    from breakfix.report._queries import _attack_tags, family_of

    @attack("report-test-multi", tags=("AML.T0054", "multi-turn"))
    class _Multi:  # a multi-turn attack that stopped after one turn is still multi-turn
        """test double: only its tags matter here."""

    @attack("report-test-app", tags=("application",))
    class _App:
        """test double: only its tags matter here."""

    _attack_tags.cache_clear()
    assert family_of("report-test-multi", "", 1) == ("multi-turn", "report-test-multi")
    assert family_of("report-test-app", "", 5) == ("application", "report-test-app")
    # a label like template:NAME resolves to the registered plugin before the colon
    assert family_of("report-test-app:probe-set", "base64", 1)[0] == "application"
    # single-turn: converters make the family, else direct / template
    assert family_of("direct", "base64+rot13", 1) == ("converter", "base64+rot13")
    assert family_of("direct", "", 1) == ("direct", "direct")
    assert family_of("template:role-play-fiction", "", 1) == ("template", "template:role-play-fiction")
    # unknown labels fall back on the turns the attempts actually had
    assert family_of("someone-elses-attack", "", 3)[0] == "multi-turn"
    assert family_of("someone-elses-attack", "", 1)[0] == "template"
