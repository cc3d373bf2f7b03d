"""Items: the unit of test content (an objective / prompt with its category and language)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field


class Item(BaseModel):
    id: str = ""
    prompt: str
    objective: str = ""  # what success means for this item, for judges; defaults to the prompt
    category: str = "uncategorised"
    language: str = "en"
    kind: str = "harmful"  # harmful | benign | cultural | crisis | ...
    metadata: dict[str, Any] = Field(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        if not self.id:
            self.id = stable_id({"prompt": self.prompt, "category": self.category, "language": self.language})
        if not self.objective:
            self.objective = self.prompt


def stable_id(obj: Any, length: int = 16) -> str:
    """A deterministic short hash of a JSON-able object (sorted keys): the basis of attempt ids."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]
