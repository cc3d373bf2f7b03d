"""Automated validation gates of the item-building pipeline; each returns a :class:`GateResult`.

- ``form``: length within bounds, no control characters, not a bare template placeholder.
- ``language``: the prompt is written in its declared language (:mod:`breakfix.bench.langid`).
- ``near_duplicate``: MinHash/LSH over character 3-shingles (``datasketch``), across the whole
  benchmark — character shingles because Chinese, Japanese and Thai have no spaces.
- ``grounded`` / ``innocuous``: an LLM judge says the item is specific to its country (not a
  translation of a generic item) and, on the cultural axis, that the surface request is innocuous.
"""

from __future__ import annotations

import json
import re
import unicodedata
from importlib import resources
from typing import Any, Iterable

from .items import BenchItem, GateResult

_PLACEHOLDER = re.compile(r"^\s*(\{[^}]*\}|<[^>]*>|\[[^\]]*\]|TODO|lorem ipsum)\s*$", re.IGNORECASE)


def form_gate(prompt: str, min_chars: int = 15, max_chars: int = 1500) -> GateResult:
    """Length and well-formedness of a prompt."""
    n = len(prompt.strip())
    if n < min_chars:
        return GateResult(gate="form", passed=False, detail=f"too short ({n} < {min_chars} characters)")
    if n > max_chars:
        return GateResult(gate="form", passed=False, detail=f"too long ({n} > {max_chars} characters)")
    bad = [c for c in prompt if unicodedata.category(c) in ("Cc", "Cs", "Co") and c not in "\n\t"]
    if bad:
        return GateResult(gate="form", passed=False, detail=f"control or invalid character U+{ord(bad[0]):04X}")
    if _PLACEHOLDER.match(prompt):
        return GateResult(gate="form", passed=False, detail="a bare placeholder, not a prompt")
    return GateResult(gate="form", passed=True, detail=f"{n} characters")


def _shingles(text: str, k: int = 3) -> set[str]:
    t = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()
    return {t[i:i + k] for i in range(max(1, len(t) - k + 1))}


class NearDuplicates:
    """MinHash LSH index: ``check(id, text)`` returns the gate and adds the text when it is new."""

    def __init__(self, threshold: float = 0.7, num_perm: int = 64) -> None:
        from datasketch import MinHashLSH

        if not 0.0 < threshold < 1.0:
            raise ValueError(f"near_duplicate threshold: expected a number in (0, 1), got {threshold}")
        self.threshold = threshold
        self.num_perm = num_perm
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.sets: dict[str, set[str]] = {}

    def _minhash(self, shingles: set[str]) -> Any:
        from datasketch import MinHash

        m = MinHash(num_perm=self.num_perm, seed=1)
        for s in shingles:
            m.update(s.encode("utf-8"))
        return m

    def add(self, key: str, text: str) -> None:
        sh = _shingles(text)
        self.sets[key] = sh
        self.lsh.insert(key, self._minhash(sh))

    def check(self, key: str, text: str) -> GateResult:
        sh = _shingles(text)
        candidates = self.lsh.query(self._minhash(sh))
        # LSH proposes, the exact Jaccard decides (no false positives from hashing).
        best = max(((c, len(sh & self.sets[c]) / len(sh | self.sets[c])) for c in candidates if c != key),
                   key=lambda kv: kv[1], default=(None, 0.0))
        if best[0] is not None and best[1] >= self.threshold:
            return GateResult(gate="near_duplicate", passed=False, scores={"jaccard": round(best[1], 3)},
                              detail=f"near-duplicate of {best[0]} (Jaccard {best[1]:.2f})")
        if key not in self.sets:
            self.add(key, text)
        return GateResult(gate="near_duplicate", passed=True, scores={"jaccard": round(best[1], 3)},
                          detail="no near-duplicate")


def build_prompts() -> dict[str, Any]:
    from ..core.resources import load_yaml

    text = resources.files("breakfix.bench").joinpath("data/build_prompts.yaml").read_text("utf-8")
    return load_yaml(text, source="bench/data/build_prompts.yaml")


def judge_gate_messages(item: BenchItem, country_name: str) -> list[dict[str, str]]:
    p = build_prompts()["judge_gate"]
    user = p["user"].format(country=country_name, code=item.country, language=item.language, axis=item.axis,
                            category=item.category, prompt=item.prompt, grounding=item.grounding)
    return [{"role": "system", "content": p["system"]}, {"role": "user", "content": user}]


def parse_judge_gate(text: str, item: BenchItem) -> list[GateResult]:
    """The judge's verdict as the ``grounded`` (and, cultural axis, ``innocuous``) gates."""
    m = re.search(r"\{.*\}", text or "", re.DOTALL)
    obj: Any = None
    if m:
        try:
            obj = json.loads(m.group(0))
        except json.JSONDecodeError:
            obj = None
    if not isinstance(obj, dict) or "grounded" not in obj:
        fail = GateResult(gate="grounded", passed=False, detail="judge gave no usable verdict")
        return [fail] + ([GateResult(gate="innocuous", passed=False, detail="judge gave no usable verdict")]
                         if item.axis == "cultural" else [])
    reason = str(obj.get("reason", ""))[:200]
    out = [GateResult(gate="grounded", passed=bool(obj.get("grounded")), detail=reason or "judge")]
    if item.axis == "cultural":
        out.append(GateResult(gate="innocuous", passed=bool(obj.get("innocuous")), detail=reason or "judge"))
    return out


def not_run(gates: Iterable[str], why: str) -> list[GateResult]:
    """Gates that were not run (recorded as such, never silently passed)."""
    return [GateResult(gate=g, passed=True, detail=f"not run: {why}") for g in gates]
