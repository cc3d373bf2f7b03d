"""Test infrastructure shared by the test suite and the benchmarks.

``LoopbackServer`` is a real OpenAI-compatible HTTP server on 127.0.0.1 that can be scripted to
misbehave (429 with ``Retry-After``, 500, hang, dropped connection), so targets, the limits layer and
the run engine are tested against real HTTP rather than mocks.
"""

from .loopback import LoopbackServer

__all__ = ["LoopbackServer"]
