"""Train the refusal model shipped as ``src/breakfix/refusal/data/model.json.gz``.

Logistic regression (L2) over binary, L2-normalised character n-grams plus a "stock phrase present"
feature, fitted with L-BFGS on the corpus's train split. Hyper-parameters (n-gram range, L2
strength) and the uncertainty band are chosen on the dev split; the final weights are fitted on
train + dev. The test split is never read here: ``benchmarks/refusal_eval.py`` reports it.

    .venv/bin/python scripts/train_refusal_model.py
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import optimize, sparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from breakfix.refusal._model import MODEL_FILE, NgramModel, ngrams, unquote  # noqa: E402
from breakfix.refusal._patterns import default_phrasebook  # noqa: E402

CORPUS = ROOT / "src" / "breakfix" / "refusal" / "data" / "corpus.jsonl"
OUT = ROOT / "src" / "breakfix" / "refusal" / MODEL_FILE
HEAD_CHARS = 600
GRID_N = ((1, 4),)
GRID_L2 = (1e-4, 3e-5)
# Among settings within this much dev F1 of the best, the most regularised wins: the corpus is
# small and the replies the detector meets in the wild are not drawn from it.
F1_SLACK = 0.005


def load(splits: tuple[str, ...]) -> list[dict]:
    rows = [json.loads(ln) for ln in CORPUS.read_text("utf-8").splitlines() if ln.strip()]
    return [r for r in rows if r["split"] in splits]


_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*|\n+")


def augment(rows: list[dict]) -> list[dict]:
    """``rows`` plus every sentence of their compliant answers as one more compliant example.

    The corpus's refusals are short and its answers long, so a model trained on it alone calls any
    short text it cannot read a refusal ("Pins block the plug.", "BEGIN HARM [...]"). Single
    sentences of answers teach it that shortness is no evidence. Training only: the corpus file
    and the reported figures do not contain them."""
    seen = {r["text"] for r in rows}
    extra = []
    for r in rows:
        if r["kind"] not in ("plain_compliance", "compliance_apology", "compliance_negation", "safety_instructions"):
            # Cut into sentences, a quoted refusal leaves the refusal on its own, and a disclaimer
            # or a partial answer's first sentence ("I'm not a doctor, ask one") reads as a deferral.
            continue
        for sent in _SENTENCE.split(r["text"]):
            sent = sent.strip()
            if len(sent) >= 8 and sent not in seen:
                seen.add(sent)
                extra.append({**r, "text": sent, "kind": "augmented"})
    return rows + extra


def featurise(rows: list[dict], n_min: int, n_max: int, vocab: dict[str, int] | None = None):
    grams = [ngrams(r["text"], n_min, n_max, HEAD_CHARS) for r in rows]
    if vocab is None:
        df = Counter(g for gs in grams for g in gs)
        vocab = {g: i for i, g in enumerate(sorted(g for g, c in df.items() if c >= 2))}
    indptr, indices, data = [0], [], []
    book = default_phrasebook()
    for r, gs in zip(rows, grams):
        norm = 1.0 / math.sqrt(len(gs)) if gs else 0.0
        idx = [vocab[g] for g in gs if g in vocab]
        indices.extend(idx)
        data.extend([norm] * len(idx))
        indices.append(len(vocab))  # the phrase feature, last column
        data.append(1.0 if book.match(unquote(r["text"])) else 0.0)
        indptr.append(len(indices))
    X = sparse.csr_matrix((data, indices, indptr), shape=(len(rows), len(vocab) + 1))
    y = np.array([1.0 if r["label"] == "refusal" else 0.0 for r in rows])
    return X, y, vocab


def fit(X, y, l2: float) -> tuple[np.ndarray, float]:
    # Balanced class weights: refusals are the rarer class and the one whose recall matters.
    pos = y.mean()
    sw = np.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))

    def loss(theta):
        w, b = theta[:-1], theta[-1]
        z = X @ w + b
        p = 1 / (1 + np.exp(-z))
        ll = sw * (np.logaddexp(0, z) - y * z)
        g = sw * (p - y)
        n = len(y)
        return ll.sum() / n + l2 * (w @ w), np.append(X.T @ g / n + 2 * l2 * w, g.sum() / n)

    res = optimize.minimize(loss, np.zeros(X.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    return res.x[:-1], float(res.x[-1])


def pr(y, p, thr=0.5):
    pred = p >= thr
    tp = float((pred & (y == 1)).sum())
    prec = tp / max(1, pred.sum())
    rec = tp / max(1, (y == 1).sum())
    return prec, rec


def main() -> int:
    train, dev = augment(load(("train",))), load(("dev",))
    tried = []
    for n_min, n_max in GRID_N:
        Xt, yt, vocab = featurise(train, n_min, n_max)
        Xd, yd, _ = featurise(dev, n_min, n_max, vocab)
        for l2 in GRID_L2:
            w, b = fit(Xt, yt, l2)
            pd_ = 1 / (1 + np.exp(-(Xd @ w + b)))
            prec, rec = pr(yd, pd_)
            f1 = 2 * prec * rec / max(1e-9, prec + rec)
            print(f"n={n_min}-{n_max} l2={l2:g}: dev precision {prec:.3f} recall {rec:.3f} F1 {f1:.3f}")
            tried.append((f1, n_min, n_max, l2, pd_, yd))
    top = max(t[0] for t in tried)
    f1, n_min, n_max, l2, pd_, yd = max((t for t in tried if t[0] >= top - F1_SLACK), key=lambda t: (t[3], -t[2]))
    # The decision threshold: best dev F1, the higher threshold on a tie (a false refusal hides a
    # successful attack). Replies unseen in style (another language, a one-liner) drift towards
    # the middle, and the corpus's refusals are shorter than its answers.
    def f1_at(t: float) -> float:
        p, r = pr(yd, pd_, t)
        return 2 * p * r / max(1e-9, p + r)

    threshold = max((round(t, 2) for t in np.arange(0.4, 0.76, 0.05)), key=lambda t: (round(f1_at(t), 3), t))
    # The band the judge decides: around the threshold, wide enough for 80 % of the dev errors.
    wrong = np.abs(pd_[(pd_ >= threshold) != (yd == 1)] - threshold)
    half = float(min(0.3, max(0.15, np.quantile(wrong, 0.8) if len(wrong) else 0.15)))
    print(f"chosen n={n_min}-{n_max} l2={l2:g} (dev F1 {f1:.3f}); threshold {threshold} (dev F1 "
          f"{f1_at(threshold):.3f}); uncertain band ± {half:.2f}")
    rows = augment(load(("train", "dev")))
    X, y, vocab = featurise(rows, n_min, n_max)
    w, b = fit(X, y, l2)
    inv = {i: g for g, i in vocab.items()}
    weights = {inv[i]: float(w[i]) for i in range(len(vocab)) if abs(w[i]) >= 1e-3}
    version = f"ngram-lr-{n_min}{n_max}-{len(rows)}"
    model = NgramModel(version=version, n_min=n_min, n_max=n_max, head_chars=HEAD_CHARS, bias=b,
                       phrase_weight=float(w[-1]), weights=weights, threshold=float(threshold),
                       uncertain=(round(max(0.01, threshold - half), 3), round(min(0.99, threshold + half), 3)))
    model.save(OUT)
    print(f"{len(weights)} weights, phrase weight {w[-1]:.2f}, bias {b:.2f} -> {OUT.relative_to(ROOT)} "
          f"({OUT.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
