"""``check_target``: one round trip to a target, for ``breakfix check-target`` and set-up scripts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..core.messages import user
from .base import Target

DEFAULT_PROBE = "Reply with the single word: pong"


async def acheck_target(target: Target, prompt: str = DEFAULT_PROBE) -> dict[str, Any]:
    """Send one short prompt through the full limits layer and describe what came back.

    Returns:
        ``{"ok", "target", "config", "prompt", "reply", "error", "latency_s", "wall_s", "retries",
        "finish_reason", "prompt_tokens", "completion_tokens"}``; ``config`` is ``target.describe()``,
        which never contains secrets.
    """
    t0 = time.perf_counter()
    resp = await target.send([user(prompt)])
    return {
        "ok": resp.error is None,
        "target": getattr(target, "name", type(target).__name__),
        "config": target.describe(),
        "prompt": prompt,
        "reply": resp.text,
        "error": resp.error,
        "latency_s": resp.latency_s,
        "wall_s": time.perf_counter() - t0,
        "retries": resp.retries,
        "finish_reason": resp.finish_reason,
        "prompt_tokens": resp.prompt_tokens,
        "completion_tokens": resp.completion_tokens,
    }


def check_target(target: Target, prompt: str = DEFAULT_PROBE) -> dict[str, Any]:
    """Synchronous ``acheck_target`` (runs its own event loop, then closes the target's connections)."""

    async def go() -> dict[str, Any]:
        try:
            return await acheck_target(target, prompt)
        finally:
            await target.aclose()

    return asyncio.run(go())
