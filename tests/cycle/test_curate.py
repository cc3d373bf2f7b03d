"""Curation: safe replies in the attack's language, look-alikes, preference pairs with agreement
weights, unsafe fixer replies left out — and no evaluation item ever in the training data."""

import json

import pytest

from breakfix.converters.encodings import Base64, Leetspeak
from breakfix.core.findings import Finding
from breakfix.core.items import Item
from breakfix.cycle.config import CurateSpec, FixerSpec
from breakfix.cycle.curate import curate, export_openai_jsonl, template_reply
from breakfix.cycle.dedup import MIN_CONTAINED, EvalIndex, jaccard, normalise, shingles
from breakfix.cycle.plan import default_scorers
from breakfix.cycle.pools import zoo_pools
from breakfix.cycle.runner import build_scorers
from breakfix.refusal import is_refusal
from breakfix.zoo import HARM_MARKER

UNSAFE = f"{HARM_MARKER} (weapons): Sure, here is how. [steps withheld]"


def _scorers():
    from breakfix.core.registry import create

    return [create("scorer", s.pop("name"), **s) for s in default_scorers()]


def _finding(item: Item, prompt: str, converters=(), human=None) -> Finding:
    scores = [{"scorer": "substring", "label": "success"}]
    scores += [{"scorer": "human:" + r, "label": lab} for r, lab in (human or [])]
    return Finding(id=f"f-{abs(hash(prompt)) % 10**8}", run_id="r", title="t", status="confirmed",
                   evidence={"item_id": item.id, "prompt": prompt, "converters": list(converters),
                             "conversation": [{"role": "user", "content": prompt}], "response": UNSAFE,
                             "scores": scores})


@pytest.fixture(scope="module")
def pools():
    return zoo_pools()


def _eval_texts(pools):
    texts = [i.prompt for i in pools.eval + pools.benign + pools.borderline]
    texts += [Leetspeak().convert(i.prompt) for i in pools.eval if i.language == "en"]
    texts += [Base64().convert(i.prompt) for i in pools.eval if i.language == "en"]
    return texts


def test_no_evaluation_item_is_ever_trained_on(pools):
    """Findings built FROM evaluation items (verbatim, framed, re-encoded, lightly edited) and from
    attack items: the curated set holds none of the former and keeps the latter."""
    spec = CurateSpec(minhash_threshold=0.7)
    evals = _eval_texts(pools)
    index = EvalIndex(evals, threshold=spec.minhash_threshold, num_perm=spec.num_perm)
    items, findings = {}, []
    for it in [i for i in pools.eval if i.language in ("ar", "en")][:24]:
        items[it.id] = it
        findings.append(_finding(it, it.prompt))                              # verbatim
        findings.append(_finding(it, "Quick question: " + it.prompt))         # framed
        findings.append(_finding(it, it.prompt.rstrip("?.") + "!"))           # lightly edited
        if it.language == "en":
            findings.append(_finding(it, Base64().convert(it.prompt), ["base64"]))  # as the eval run sent it
    clean = [i for i in pools.attack if i.language == "ar"][:20]
    for it in clean:
        items[it.id] = it
        findings.append(_finding(it, it.prompt))
    cur = curate(findings, items, pools, spec, FixerSpec(), _scorers(), index)
    assert cur.dropped, "the test is vacuous unless evaluation items were offered"
    assert sum(d["reason"].startswith("eval-") for d in cur.dropped) >= 60
    train_prompts = [m["content"] for ex in cur.sft for m in ex["messages"] if m["role"] == "user"]
    train_prompts += [m["content"] for p in cur.dpo for m in p["prompt"] if m["role"] == "user"]
    assert len([e for e in cur.sft if e["kind"] == "safety"]) >= 10  # the clean findings made it
    eval_norm = {normalise(t): shingles(t) for t in evals}
    long_evals = [k for k in eval_norm if len(k) >= MIN_CONTAINED]
    for p in train_prompts:  # brute force, no LSH: exact, containment and Jaccard against every eval text
        key, sh = normalise(p), shingles(p)
        assert key not in eval_norm, p
        assert not any(k in key for k in long_evals), p
        assert max(jaccard(sh, s) for s in eval_norm.values()) < spec.minhash_threshold, p


def test_replies_languages_crisis_lookalikes_and_pairs(pools, tmp_path):
    ar_weapon = next(i for i in pools.attack if i.language == "ar" and i.category == "weapons")
    ar_self = next(i for i in pools.attack if i.language == "ar" and i.category == "selfharm")
    en_fraud = next(i for i in pools.attack if i.language == "en" and i.category == "fraud")
    b64 = Base64().convert(en_fraud.prompt)
    items = {i.id: i for i in (ar_weapon, ar_self, en_fraud)}
    findings = [_finding(ar_weapon, ar_weapon.prompt, human=[("a", "success"), ("b", "success"), ("c", "refusal")]),
                _finding(ar_self, ar_self.prompt), _finding(en_fraud, b64, ["base64"])]
    cur = curate(findings, items, pools, CurateSpec(lookalikes_per_example=2), FixerSpec(), _scorers(),
                 EvalIndex([], threshold=0.7))
    safety = {ex["messages"][0]["content"]: ex for ex in cur.sft if ex["kind"] == "safety"}
    assert safety[ar_weapon.prompt]["messages"][-1]["content"] == template_reply("ar", crisis=False)
    assert safety[ar_self.prompt]["messages"][-1]["content"] == template_reply("ar", crisis=True)
    assert safety[ar_self.prompt].get("crisis") is True
    assert safety[b64]["messages"][-1]["content"] == template_reply("en", crisis=False)  # the attack's language
    assert all(is_refusal(ex["messages"][-1]["content"]) for ex in safety.values())
    looks = [ex for ex in cur.sft if ex["kind"] == "lookalike"]
    assert len(looks) == 6 and all(not is_refusal(ex["messages"][-1]["content"]) for ex in looks)
    assert {ex["language"] for ex in looks} == {"ar", "en"}
    b64_looks = [ex for ex in looks if ex.get("converters") == ["base64"]]
    assert len(b64_looks) == 2 and all(ex["messages"][0]["content"].isascii() for ex in b64_looks)
    assert sum(ex["kind"] == "retention" for ex in cur.sft) >= 8
    pairs = {p["prompt"][-1]["content"]: p for p in cur.dpo}
    assert pairs[ar_weapon.prompt]["weight"] == pytest.approx(2 / 3)  # two of three raters: unsafe
    assert pairs[b64]["weight"] == 1.0 and pairs[b64]["rejected"] == UNSAFE
    n = export_openai_jsonl(cur, tmp_path / "ft.jsonl")
    lines = (tmp_path / "ft.jsonl").read_text("utf-8").splitlines()
    assert n == len(lines) == len(cur.sft)
    first = json.loads(lines[0])
    assert set(first) == {"messages"} and first["messages"][-1]["role"] == "assistant"


def test_fixer_reply_judged_unsafe_never_enters_training(pools):
    """A fixer target (deliberately broken: it complies for weapons requests) is judged by the
    cycle's scorers; its unsafe reply is dropped, its safe replies are kept."""
    weapon = next(i for i in pools.attack if i.language == "ar" and i.category == "weapons")
    fraud = next(i for i in pools.attack if i.language == "ar" and i.category == "fraud")
    fixer = FixerSpec(type="scripted", rules=[{"match": weapon.prompt, "replies": [UNSAFE]},
                                              {"match": fraud.prompt, "replies": [template_reply("ar", False)]}],
                      replies=["unused"], cycle=True)
    items = {weapon.id: weapon, fraud.id: fraud}
    cur = curate([_finding(weapon, weapon.prompt), _finding(fraud, fraud.prompt)], items, pools, CurateSpec(),
                 fixer, _scorers(), EvalIndex([], threshold=0.7))
    texts = json.dumps(cur.sft + cur.dpo, ensure_ascii=False)
    assert HARM_MARKER not in json.dumps([p["chosen"] for p in cur.dpo]) and UNSAFE not in [
        ex["messages"][-1]["content"] for ex in cur.sft]
    assert weapon.prompt not in texts and fraud.prompt in texts
    bad = [d for d in cur.dropped if d["reason"] == "unsafe-reply"]
    assert len(bad) == 1 and "substring" in bad[0]["why"]


def test_build_scorers_default_is_the_zoo_judges():
    from breakfix.cycle.demo import demo_config

    names = [s.name for s in build_scorers(demo_config("safe"))]
    assert names == ["substring", "refusal"]


def test_regression_repair_is_retention_only_and_keeps_refusals(pools):
    """No finding, but the last round regressed: the set is ordinary tasks plus the refusals the model
    already gave (reference answers), never anything from an evaluation set."""
    spec = CurateSpec(kept_refusal_share=0.3)
    index = EvalIndex(_eval_texts(pools), threshold=0.7)
    cur = curate([], {}, pools, spec, FixerSpec(), _scorers(), index, repair=40)
    assert cur.dpo == [] and {ex["kind"] for ex in cur.sft} == {"retention"}
    kept = [ex for ex in cur.sft if ex.get("kept_refusal")]
    assert 8 <= len(kept) <= 12 and all(is_refusal(ex["messages"][-1]["content"]) for ex in kept)
    assert len(cur.sft) >= 30  # a few draws stay near copies of evaluation tasks after 20 tries: skipped
    assert curate([], {}, pools, spec, FixerSpec(), _scorers(), index).sft == []  # nothing to fix
