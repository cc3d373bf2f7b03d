"""The report's attempt data: a compact, filterable index plus detail chunks, embedded safely.

At 100,000 attempts the report cannot render a DOM row per attempt, so attempts travel as data:

* an **index** — one entry per attempt in column arrays (attack, converter chain, target, category
  and language as small integers into value tables; label; latency; target calls; turns) and a
  truncated preview of the prompt and response — which the page filters and paginates;
* **detail chunks** of :data:`CHUNK` consecutive attempts with everything (conversation, full
  response, scores, the multi-turn tree), decoded only when an attempt in them is expanded.

The index is JSON escaped for a ``<script type="application/json">`` element (``<``, ``>``, ``&``,
U+2028 and U+2029 as ``\\uXXXX``, so model output containing ``</script>`` cannot close the
element). Detail chunks are the same, or, for large runs, gzip-compressed JSON in base64 (no ``<``
can occur at all) that the page inflates with the browser's ``DecompressionStream`` when an attempt
of that chunk is first expanded.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

CHUNK = 250  # attempts per detail chunk: one expand decodes at most this many
PROMPT_PREVIEW = 80  # characters of the sent prompt in the index
RESPONSE_PREVIEW = 120  # characters of the response in the index
GZIP_LEVEL = 4  # 1..9: level 4 is ~2x faster than 6 for a few % more bytes on this data
MAX_TEXT = 50_000  # characters of one text field in the details (the store keeps the full text)

LABELS = ("success", "refusal", "neutral", "error")
_LABEL_CODE = {name: i for i, name in enumerate(LABELS)}

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_ESCAPE_TABLE = str.maketrans(_ESCAPES)


def script_json(obj: Any) -> str:
    """JSON for the body of a ``<script type="application/json">`` element.

    The characters that could end the element (``</script>``), start a comment-like state (``<!--``)
    or break older JavaScript parsers (U+2028/U+2029) are written as ``\\uXXXX`` escapes; they can
    only occur inside JSON strings, where the escape means the same character.
    """
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).translate(_ESCAPE_TABLE)


def packed(obj: Any) -> str:
    """gzip-compressed JSON in base64 (alphabet ``A-Za-z0-9+/=``: inert inside any element)."""
    raw = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)).decode("ascii")


def unpacked(text: str) -> Any:
    """Inverse of :func:`packed` (used by tests and tools reading a report)."""
    return json.loads(gzip.decompress(base64.b64decode(text)).decode("utf-8"))


def attempt_label(row: dict[str, Any]) -> str:
    """One label per attempt for filtering: error (the request failed), success (any objective
    scorer said so), refusal, else neutral."""
    if row.get("status") == "error":
        return "error"
    if row.get("success"):
        return "success"
    if row.get("refused"):
        return "refusal"
    return "neutral"


def _cap(text: str | None, limit: int = MAX_TEXT) -> str:
    text = text or ""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[… {len(text) - limit} more characters not included in the report; the store has the full text]"


def _preview(text: str | None, limit: int) -> str:
    # Look at a bounded prefix only: a 100 kB response needs no full split to show 160 characters.
    flat = " ".join((text or "")[: 4 * limit].split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _score(s: dict[str, Any] | None) -> dict[str, Any] | None:
    if not s:
        return None
    return {"n": s.get("scorer", ""), "v": str(s.get("scorer_version", "")), "l": s.get("label", ""),
            "x": s.get("value"), "r": _cap(s.get("rationale") or "", 5000)}


def resolve_turn_tree(turns: list[dict[str, Any]]) -> list[int | None]:
    """The parent (a position in ``turns``) of each turn of a multi-turn attempt.

    Tree attacks (TAP) record ``parent`` explicitly (the ``index`` of the parent turn). Linear
    attacks (Crescendo, PAIR) may leave it empty: then each turn continues the latest earlier turn
    that was not backtracked, so a refused-and-backtracked turn and its rephrasing become siblings.
    A parent must come earlier in the list (anything else is ignored and the turn becomes a root),
    which also rules out cycles in bad data.
    """
    explicit = any(t.get("parent") is not None for t in turns)
    pos_of: dict[Any, int] = {}
    parents: list[int | None] = []
    last_kept: int | None = None
    for pos, t in enumerate(turns):
        if explicit:
            parents.append(pos_of.get(t.get("parent")))
        else:
            parents.append(last_kept)
            if not t.get("backtracked"):
                last_kept = pos
        pos_of.setdefault(t.get("index", pos), pos)
    return parents


# Turn metadata worth a line under the turn: why it was dropped (TAP pruning, Crescendo backtrack),
# a failed request, and where it sits in the attack (step, depth, branch, stream, iteration, probe).
_TURN_NOTES = ("pruned", "reason", "error", "step", "depth", "branch", "stream", "iteration", "probe")


def _turn_notes(md: dict[str, Any] | None) -> dict[str, str]:
    md = md or {}
    return {k: _cap(str(md[k]), 500) for k in _TURN_NOTES if md.get(k) is not None}


def _turns(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    parents = resolve_turn_tree(turns)
    return [{"i": t.get("index", pos), "p": parents[pos], "b": bool(t.get("backtracked")),
             "q": _cap(t.get("prompt")), "r": _cap(t.get("response")), "s": _score(t.get("score")),
             "m": _turn_notes(t.get("metadata"))}
            for pos, t in enumerate(turns)]


def _last_user(conversation: list[dict[str, Any]]) -> str:
    for m in reversed(conversation or []):
        if m.get("role") == "user":
            return m.get("content") or ""
    return ""


def detail(row: dict[str, Any], scores: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the expanded view of one attempt shows."""
    md = row.get("metadata") or {}
    return {
        "id": row["id"], "item": row.get("item_id", ""),
        "msgs": [[m.get("role", ""), _cap(m.get("content"))] for m in row.get("conversation") or []],
        "resp": _cap(row.get("response_text")), "err": row.get("error"),
        "pt": row.get("prompt_tokens"), "ct": row.get("completion_tokens"), "retries": row.get("retries", 0),
        "scores": [_score(s) for s in scores],
        "turns": _turns(row.get("turns") or []),
        "md": md or None,
    }


class _Values:
    """A value table: each distinct string once, rows refer to it by position."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._pos: dict[str, int] = {}

    def code(self, value: str | None) -> int:
        v = value or ""
        pos = self._pos.get(v)
        if pos is None:
            pos = self._pos[v] = len(self.values)
            self.values.append(v)
        return pos


@dataclass
class Payload:
    """The attempt index and the detail chunks of one run (dicts, or already-encoded strings)."""

    index: dict[str, Any]
    chunks: list[Any] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.index["id"])


def build_payload(rows: Iterable[tuple[dict[str, Any], list[dict[str, Any]]]],
                  encode: Callable[[Any], str] | None = None) -> Payload:
    """Build the index and detail chunks from attempt rows and their scores (in write order).

    Args:
        rows: ``(row, scores)`` pairs as :func:`breakfix.report._queries.attempt_rows` yields them.
        encode: if given (:func:`script_json` or :func:`packed`), each chunk is encoded as soon as
            it is full, so at 100,000 attempts only one chunk of dicts is alive at a time.
    """
    tables = {k: _Values() for k in ("attack", "conv", "target", "cat", "lang")}
    cols: dict[str, list[Any]] = {k: [] for k in ("id", "attack", "conv", "target", "cat", "lang", "label",
                                                   "lat", "calls", "turns", "q", "r")}
    chunks: list[Any] = []
    current: list[dict[str, Any]] = []
    for row, scores in rows:
        label = attempt_label(row)
        cols["id"].append(row["id"])
        cols["attack"].append(tables["attack"].code(row.get("attack")))
        cols["conv"].append(tables["conv"].code(row.get("converters")))
        cols["target"].append(tables["target"].code(row.get("target")))
        cols["cat"].append(tables["cat"].code(row.get("category")))
        cols["lang"].append(tables["lang"].code(row.get("language")))
        cols["label"].append(_LABEL_CODE[label])
        cols["lat"].append(round(float(row.get("latency_s") or 0.0), 3))
        cols["calls"].append(int(row.get("target_calls") or 0))
        cols["turns"].append(int(row.get("n_turns") or 0))
        cols["q"].append(_preview(_last_user(row.get("conversation") or []), PROMPT_PREVIEW))
        shown = row.get("error") if label == "error" else row.get("response_text")
        cols["r"].append(_preview(shown, RESPONSE_PREVIEW))
        current.append(detail(row, scores))
        if len(current) == CHUNK:
            chunks.append(encode(current) if encode else current)
            current = []
    if current:
        chunks.append(encode(current) if encode else current)
    index = {"labels": list(LABELS), "chunk": CHUNK, "values": {k: t.values for k, t in tables.items()}, **cols}
    return Payload(index=index, chunks=chunks)
