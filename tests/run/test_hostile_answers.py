"""Issue 11 item 3: hostile answers never stop a run.

A target that answers a lone UTF-16 surrogate (``"\\ud800"`` is valid JSON) over real HTTP, a batch
holding one attempt the database refuses, and a category with ``$…$`` (matplotlib mathtext) in the
report: each used to fail the run or the report; now the run finishes, the text is stored repaired
with a note, a write error names its attempt, and the plot labels are plain text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from breakfix.cli.main import app
from breakfix.core.attempts import Attempt
from breakfix.core.items import Item
from breakfix.core.messages import Message, Response
from breakfix.core.scores import Score
from breakfix.store import Store, StoreWriteError
from breakfix.testing.loopback import LoopbackServer

runner = CliRunner()


def _cfg(tmp_path: Path, base_url: str, **kw) -> Path:
    d = {"name": "hostile", "store": f"sqlite:///{tmp_path / 'h.db'}",
         "items": [{"prompt": f"question {i}", "category": "c"} for i in range(3)],
         "targets": [{"name": "t", "type": "openai", "base_url": base_url, "model": "m", "max_retries": 0}],
         "attacks": [{"name": "direct"}], "scorers": [{"name": "refusal"}], "concurrency": 2}
    d.update(kw)
    p = tmp_path / "run.yaml"
    p.write_text(yaml.safe_dump(d), encoding="utf-8")
    return p


def test_lone_surrogate_answer_is_stored_repaired_with_a_note_and_the_run_finishes(tmp_path):
    # The loopback server sends JSON with "\ud800" escapes (json.dumps of a str holding it): valid JSON.
    reply = lambda msgs: "half \ud800 a pair \ud83d\ude00 end"  # noqa: E731
    with LoopbackServer(reply=reply) as srv:
        cfg = _cfg(tmp_path, srv.base_url)
        r = runner.invoke(app, ["run", str(cfg), "--no-progress"])
        assert r.exit_code == 0, r.output
        assert "finished" in r.output and "3/3" in r.output
        again = runner.invoke(app, ["run", str(cfg), "--no-progress"])  # a rerun resumes: nothing to do
        assert again.exit_code == 0 and "finished" in again.output, again.output
    with Store(f"sqlite:///{tmp_path / 'h.db'}") as st:
        run = st.list_runs()[0]
        assert run.status == "finished" and run.attempts == 3
        for a in st.iter_attempts(run.id):
            # the lone half became U+FFFD; the pair (two escapes in the JSON) is the one character it encodes
            assert a.response.text == "half \ufffd a pair \U0001F600 end"
            assert a.status == "ok"
            notes = a.metadata["notes"]
            assert any("surrogate" in n and "response_text" in n for n in notes), notes


def _attempt(run_id: str, item: Item, aid: str, **resp) -> Attempt:
    return Attempt(id=aid, run_id=run_id, item_id=item.id, attack="direct", target="t",
                   conversation=[Message(role="user", content=item.prompt)],
                   response=Response(text="fine", **resp), scores=[Score(scorer="s", label="neutral")],
                   metadata={"category": item.category, "language": item.language})


def test_an_attempt_the_database_refuses_is_named_and_the_rest_of_its_batch_is_kept(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'w.db'}") as st:
        rid = st.create_run("w", {})
        it = Item(prompt="p")
        st.add_items(rid, [it])
        # SQLite integers are 64-bit: this token count cannot be stored, whatever we do to text.
        bad = _attempt(rid, it, "bad-attempt-id", prompt_tokens=2 ** 70)
        batch = [_attempt(rid, it, "good-1"), bad, _attempt(rid, it, "good-2")]
        with pytest.raises(StoreWriteError, match=r"cannot write attempt bad-attempt-id \(item .*attack 'direct'"):
            st.write_attempts(batch)
        assert st.done_attempt_ids(rid) == {"good-1", "good-2"}
        assert str(StoreWriteError("")) == "StoreWriteError"  # never an empty message


def test_surrogates_in_items_scores_and_findings_are_stored(tmp_path):
    from breakfix.core.findings import Finding

    with Store(f"sqlite:///{tmp_path / 's.db'}") as st:
        rid = st.create_run("s\ud800", {"note": "x\udfff"})
        it = Item(id="i1", prompt="ask \ud800", category="cat\udc00")
        st.add_items(rid, [it])
        a = _attempt(rid, it, "a1")
        a.scores = [Score(scorer="judge", label="success", rationale="quoted \ud800")]
        assert st.write_attempts([a]) == 1
        st.add_finding(Finding(id="f1", run_id=rid, title="t \ud800", evidence={"response": "\ud800"}))
        assert st.get_item("i1").prompt == "ask \ufffd"
        assert st.get_attempt("a1").scores[0].rationale == "quoted \ufffd"
        assert st.get_finding("f1").title == "t \ufffd"
        assert st.get_run(rid).name == "s\ufffd"


def test_report_with_mathtext_in_category_and_attack_names_is_plain_text(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with Store(url) as st:
        rid = st.create_run("m", {})
        items = [Item(prompt=f"p{i}", category=c) for i, c in enumerate([r"$\foo$ bar", "costs $5 or $10", "$x^$"])]
        st.add_items(rid, items)
        atts = []
        for i, it in enumerate(items):
            a = _attempt(rid, it, f"a{i}")
            a.attack = r"template:$\unknown{x}$"
            atts.append(a)
        st.write_attempts(atts)
    out = tmp_path / "r.html"
    r = runner.invoke(app, ["report", "latest", "-o", str(out), "--db", url, "--no-progress"])
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert r"$\foo$ bar" in html  # the table shows the name as written
    assert html.count("data:image/png;base64,") >= 2  # the heat map and the category bars were drawn


def test_an_error_message_that_starts_with_a_newline_is_not_printed_empty():
    import typer

    from breakfix.cli.errors import one_line_errors
    from breakfix.core.errors import BreakfixError

    sub = typer.Typer()

    @sub.command()
    @one_line_errors
    def boom() -> None:  # matplotlib's mathtext errors start with a newline
        raise BreakfixError("\n\\foo\n^\nParseFatalException: Unknown symbol")

    @sub.command()
    @one_line_errors
    def blank() -> None:
        raise BreakfixError("   ")

    @sub.command()
    @one_line_errors
    def bug() -> None:
        raise ValueError("\n\\foo\n^")

    r = runner.invoke(sub, ["boom"])
    assert r.exit_code == 2 and "error: \\foo" in r.output
    r = runner.invoke(sub, ["blank"])
    assert r.exit_code == 2 and "error: BreakfixError" in r.output
    r = runner.invoke(sub, ["bug"])
    assert r.exit_code == 1 and "(ValueError: \\foo)" in r.output
