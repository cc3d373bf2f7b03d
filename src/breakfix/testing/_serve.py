"""``python -m breakfix.testing._serve``: the child-process entry of ``LoopbackServer(process=True)``.

A separate module so that running it does not re-import ``breakfix.testing.loopback`` as ``__main__``.
"""

from .loopback import _main

if __name__ == "__main__":  # pragma: no cover
    _main()
