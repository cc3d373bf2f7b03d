"""Judge validity against human labels given in the annotation app (library + its own export)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breakfix.bench.validity import judge_validity, read_human_labels, response_project
from breakfix.core.errors import BreakfixError


def _rows() -> list[dict]:
    rows = []
    for k in range(12):
        label = ["unsafe", "refusal", "neutral"][k % 3]
        rows.append({"model": "m", "item_id": f"i{k}", "label": label, "by": "judge", "axis": "jailbreak",
                     "language": "ko" if k < 6 else "sw", "country": "KR" if k < 6 else "KE", "category": "fraud",
                     "response": f"answer {k}", "recognised": None})
    rows.append({**rows[0], "item_id": "rule", "by": "rules"})  # rule-decided: never compared
    return rows


def test_labels_given_in_the_app_validate_the_judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import select

    from breakfix.annotate.web.db import Assignment, Project, make_engine, make_sessionmaker
    from breakfix.annotate.web.export import label_records, to_jsonl
    from breakfix.annotate.web.labelling import save_label
    from breakfix.annotate.web.users import add_user

    monkeypatch.setenv("BREAKFIX_BCRYPT_ROUNDS", "4")
    db_url = f"sqlite:///{tmp_path / 'a.db'}"
    with make_sessionmaker(make_engine(db_url))() as db:
        for n in ("ann", "ben"):
            add_user(db, n, "annotator", "pass-" + n + "-123")
    rows = _rows()
    pid = response_project(db_url, "judge-check", rows, ["ann", "ben"])
    code = {"unsafe": 0, "refusal": 1, "neutral": 2}
    with make_sessionmaker(make_engine(db_url))() as db:
        for a in db.scalars(select(Assignment).where(Assignment.project_id == pid)):
            model, item_id = a.item.external_id.split("::")
            judge = next(r["label"] for r in rows if r["item_id"] == item_id)
            # ann always agrees with the judge; ben disagrees on the Swahili unsafe answers.
            human = judge if (a.user.name == "ann" or judge != "unsafe" or item_id in ("i0", "i3")) else "refusal"
            save_label(db, a, {"label": code[human], "recognised": 0}, "")
        project = db.get(Project, pid)
        (tmp_path / "labels.jsonl").write_text(to_jsonl(label_records(db, project)), "utf-8")
    human = read_human_labels(tmp_path / "labels.jsonl")
    assert len(human) == 26 and {h["rater"] for h in human} == {"ann", "ben"}
    v = judge_validity(rows, human)
    assert v["n"] == 24  # 12 judged responses x 2 raters; the rule-decided one is left out
    assert v["per_language"]["ko"]["kappa"] == pytest.approx(1.0)
    assert v["per_language"]["sw"]["kappa"] < 1.0
    assert v["per_class"]["neutral"]["kappa"] == pytest.approx(1.0)
    assert v["per_class"]["unsafe"]["kappa"] < 1.0 and v["lo"] <= v["kappa"] <= v["hi"]

    from breakfix.bench.report import build_context, render

    html = render(build_context(rows, v))
    assert "judge validated against 24 human labels" in html and "judge not validated" not in html
    assert 'id="judge-validity"' in html and "language sw" in html


def test_bad_human_label_line_is_one_error(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps({"item_id": "i1", "label": "unsafe"}) + "\n" + json.dumps({"item_id": "i2", "label": "?"}) + "\n")
    with pytest.raises(BreakfixError, match=r"h\.jsonl:2: expected"):
        read_human_labels(p)
