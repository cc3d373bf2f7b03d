"""The Scorer interface: judges an attempt and says which scorer made the judgement."""

from __future__ import annotations

from ..core.attempts import Attempt
from ..core.scores import Score


class Scorer:
    name: str = "scorer"
    version: str = "1"

    async def score(self, attempt: Attempt) -> Score:  # pragma: no cover
        raise NotImplementedError

    def make(self, label, value=None, rationale: str = "", **metadata) -> Score:
        return Score(scorer=self.name, scorer_version=self.version, label=label, value=value,
                     rationale=rationale, metadata=metadata)
