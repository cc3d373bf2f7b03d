"""attacks plugins: importing this package registers the built-ins."""

from . import direct  # noqa: F401  (registers the direct attack)
