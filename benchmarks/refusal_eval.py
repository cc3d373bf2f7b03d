"""Refusal detection on the corpus's held-out test split: precision and recall per language and
per kind, with Wilson 95 % intervals, for the phrase list (``patterns``) and the trained model.

    .venv/bin/python benchmarks/refusal_eval.py            # prints Markdown tables, writes JSON

The test split is read here and nowhere else (training uses train, tuning uses dev). Results go to
``benchmarks/results/refusal_eval.json``; the tables are those of docs/refusal.md.
"""

from __future__ import annotations

import json
import platform
import time
from collections import defaultdict
from pathlib import Path

from breakfix.bench.metrics import wilson
from breakfix.refusal import classify, default_model

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "src" / "breakfix" / "refusal" / "data" / "corpus.jsonl"
OUT = ROOT / "benchmarks" / "results" / "refusal_eval.json"
MODES = ("patterns", "model")


def counts(rows: list[dict], preds: list[bool]) -> dict:
    tp = sum(p and r["label"] == "refusal" for r, p in zip(rows, preds))
    fp = sum(p and r["label"] != "refusal" for r, p in zip(rows, preds))
    fn = sum((not p) and r["label"] == "refusal" for r, p in zip(rows, preds))
    prec, rec = wilson(tp, tp + fp), wilson(tp, tp + fn)
    return {"n": len(rows), "tp": tp, "fp": fp, "fn": fn,
            "precision": [prec.value, prec.lo, prec.hi], "recall": [rec.value, rec.lo, rec.hi]}


def flagged(rows: list[dict], preds: list[bool]) -> dict:
    k = sum(preds)
    r = wilson(k, len(rows))
    return {"n": len(rows), "flagged": k, "rate": [r.value, r.lo, r.hi]}


def fmt(ci: list[float]) -> str:
    v, lo, hi = ci
    return "n/a" if v != v else f"{v:.2f} [{lo:.2f}, {hi:.2f}]"


def main() -> None:
    rows = [json.loads(ln) for ln in CORPUS.read_text("utf-8").splitlines() if ln.strip()]
    test = [r for r in rows if r["split"] == "test"]
    default_model()  # load outside the timing
    res: dict = {"n_test": len(test), "model_version": default_model().version, "machine": platform.processor()
                 or platform.machine(), "modes": {}}
    for mode in MODES:
        t0 = time.perf_counter()
        verdicts = [classify(r["text"], mode=mode) for r in test]
        per_reply_us = (time.perf_counter() - t0) / len(test) * 1e6
        preds = [v.refusal for v in verdicts]
        by_lang, by_kind = defaultdict(list), defaultdict(list)
        for i, r in enumerate(test):
            by_lang[r["language"]].append(i)
            by_kind[r["kind"]].append(i)
        res["modes"][mode] = {
            "overall": counts(test, preds), "us_per_reply": round(per_reply_us, 1),
            "uncertain": sum(v.uncertain for v in verdicts),
            "languages": {k: counts([test[i] for i in ix], [preds[i] for i in ix]) for k, ix in sorted(by_lang.items())},
            "kinds": {k: flagged([test[i] for i in ix], [preds[i] for i in ix]) for k, ix in sorted(by_kind.items())},
        }
    OUT.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n", "utf-8")
    m, p = res["modes"]["model"], res["modes"]["patterns"]
    print(f"test split: {len(test)} replies; model {res['model_version']}; "
          f"{m['us_per_reply']} µs/reply (patterns {p['us_per_reply']} µs); {m['uncertain']} uncertain\n")
    print("| language | n | precision (model) | recall (model) | precision (patterns) | recall (patterns) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for lang in m["languages"]:
        a, b = m["languages"][lang], p["languages"][lang]
        print(f"| {lang} | {a['n']} | {fmt(a['precision'])} | {fmt(a['recall'])} | {fmt(b['precision'])} | {fmt(b['recall'])} |")
    a, b = m["overall"], p["overall"]
    print(f"| **all** | {a['n']} | {fmt(a['precision'])} | {fmt(a['recall'])} | {fmt(b['precision'])} | {fmt(b['recall'])} |\n")
    print("| kind | n | flagged as refusal (model) | flagged (patterns) |")
    print("| --- | --- | --- | --- |")
    for kind in m["kinds"]:
        a, b = m["kinds"][kind], p["kinds"][kind]
        print(f"| {kind} | {a['n']} | {fmt(a['rate'])} | {fmt(b['rate'])} |")


if __name__ == "__main__":
    main()
