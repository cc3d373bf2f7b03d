"""ASCII-art rendering: the sensitive word is drawn in '#' strokes instead of written.

ArtPrompt (Jiang et al. 2024, "ArtPrompt: ASCII Art-based Jailbreak Attacks against Aligned LLMs")
masks the word that triggers a refusal and shows it only as ASCII art, which safety training never
saw as text. The 5×5 block font (``data/ascii_font.yaml``) is drawn for breakfix; the instruction
texts are in ``data/prompts.yaml``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..core.registry import converter
from .base import Converter, load_data

_GAP = "  "  # between letters


@lru_cache(maxsize=1)
def _font() -> tuple[dict[str, tuple[str, ...]], dict[tuple[str, ...], str], int, int]:
    raw = load_data("ascii_font")
    h, w = int(raw["height"]), int(raw["width"])
    glyphs = {str(k): tuple(r.ljust(w) for r in rows) for k, rows in raw["glyphs"].items()}
    return glyphs, {v: k for k, v in glyphs.items()}, h, w


def render_word(word: str, fill: str = "#") -> str:
    """The word drawn in the block font (upper-case; characters without a glyph are skipped)."""
    glyphs, _, h, _ = _font()
    cells = [glyphs[ch] for ch in word.upper() if ch in glyphs]
    rows = [_GAP.join(c[r] for c in cells).rstrip() for r in range(h)]
    return "\n".join(rows).replace("#", fill) if fill != "#" else "\n".join(rows)


def read_art(text: str, fill: str = "#") -> list[str]:
    """Every word drawn in the block font found in ``text``, top to bottom (the decoder)."""
    glyphs, inverse, h, w = _font()
    art_line = re.compile(r"^[" + re.escape(fill) + r" ]*" + re.escape(fill) + r"[" + re.escape(fill) + r" ]*$")
    lines = text.split("\n")
    words, i = [], 0
    while i <= len(lines) - h:
        block = lines[i:i + h]
        if not all(art_line.match(line) or not line.strip() for line in block) or not art_line.match(block[0]):
            i += 1
            continue
        block = [line.replace(fill, "#") for line in block]
        width = max(len(line) for line in block)
        block = [line.ljust(width) for line in block]
        letters = []
        for start in range(0, width, w + len(_GAP)):
            cell = tuple(line[start:start + w].ljust(w) for line in block)
            letters.append(inverse.get(cell, "?"))
        words.append("".join(letters))
        i += h
    return words


@converter("ascii-art", tags=("AML.T0051", "obfuscation", "artprompt"))
class AsciiArt(Converter):
    """Draw the sensitive word, or the whole prompt, as ASCII art (ArtPrompt).

    ``mode: mask`` (default) replaces the sensitive words with ``[MASK]`` and shows them only
    as art; ``mode: whole`` draws the entire prompt (short prompts only). Decoding reads art back into words.

    Args:
        words: words to mask (case-insensitive); default the prompt's longest word.
        mode: ``mask`` or ``whole``.
        fill: the stroke character (default ``#``).
    """

    reversible = True

    def __init__(self, words: list[str] | None = None, mode: str = "mask", fill: str = "#") -> None:
        if mode not in ("mask", "whole"):
            raise ValueError(f"ascii-art: 'mode' must be 'mask' or 'whole', got {mode!r}")
        if not isinstance(fill, str) or len(fill) != 1 or fill.isspace():
            raise ValueError(f"ascii-art: 'fill' must be one visible character, got {fill!r}")
        if isinstance(words, str):
            words = [words]
        self.words = [w.lower() for w in words] if words else None
        self.mode, self.fill = mode, fill

    def _masked(self, text: str) -> list[str]:
        if self.words:
            return [w for w in self.words if re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE)]
        cands = re.findall(r"[A-Za-z0-9]{3,}", text)
        return [max(cands, key=len).lower()] if cands else []

    def convert(self, text: str) -> str:
        texts = load_data("prompts")["ascii_art"]
        if self.mode == "whole":
            art = "\n\n".join(render_word(w, self.fill) for w in text.split() if render_word(w, self.fill).strip())
            return texts["whole"].format(art=art)
        masked = self._masked(text)
        if not masked:
            return text
        one = len(masked) == 1
        labels = ["[MASK]"] if one else [f"[MASK{i + 1}]" for i in range(len(masked))]
        prompt = text
        for word, label in zip(masked, labels):
            prompt = re.sub(rf"\b{re.escape(word)}\b", label, prompt, flags=re.IGNORECASE)
        art = "\n\n".join(f"{label}:\n{render_word(word, self.fill)}" for word, label in zip(masked, labels))
        return texts["mask"].format(mask=labels[0] if one else "[MASK1], [MASK2], ...", art=art, prompt=prompt)

    def decode(self, text: str) -> str | None:
        words = read_art(text, self.fill)
        return " ".join(words) if words else None
