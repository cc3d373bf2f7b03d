"""Items: the unit of test content (an objective / prompt with its category and language)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field

from .text import repair_obj


class Item(BaseModel):
    id: str = ""
    prompt: str
    objective: str = ""  # what success means for this item, for judges; defaults to the prompt
    category: str = "uncategorised"
    language: str = "en"
    kind: str = "harmful"  # harmful | benign | cultural | crisis | ...
    metadata: dict[str, Any] = Field(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        self._repair_text()
        if not self.id:
            self.id = stable_id({"prompt": self.prompt, "category": self.category, "language": self.language})
        if not self.objective:
            self.objective = self.prompt


    def _repair_text(self) -> None:
        # A lone UTF-16 surrogate ("\ud800" in a JSON file) is no Unicode text: it can be neither
        # hashed into an id, sent as UTF-8, nor stored. Replace it here, once, and say so.
        if (not self.metadata and self.prompt.isascii() and self.objective.isascii() and self.id.isascii()
                and self.category.isascii() and self.language.isascii() and self.kind.isascii()):
            return  # ASCII holds no surrogate: the common case, checked at C speed (a streamed run
            # validates every item again on each pass of its plan)
        fixed = []
        for name in ("id", "prompt", "objective", "category", "language", "kind"):
            value, n = repair_obj(getattr(self, name))
            if n:
                setattr(self, name, value)
                fixed.append(name)
        md, n = repair_obj(self.metadata)
        if n:
            self.metadata = md
            fixed.append("metadata")
        if fixed:
            self.metadata = {**self.metadata, "notes": [*self.metadata.get("notes", []),
                             f"lone UTF-16 surrogates in {', '.join(fixed)} replaced with U+FFFD"]}


def stable_id(obj: Any, length: int = 16) -> str:
    """A deterministic short hash of a JSON-able object (sorted keys): the basis of attempt ids."""
    blob = _ID_JSON.encode(obj)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


# What json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
# builds on every call, built once: ids are hashed for every planned attempt and item.
_ID_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
