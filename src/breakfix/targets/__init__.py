"""targets plugins: importing this package registers the built-ins (every public module in it)."""

from ..core.registry import import_submodules

import_submodules(__name__, __path__)
