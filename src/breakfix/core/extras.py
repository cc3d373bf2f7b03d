"""Optional extras: which ``pip install 'breakfix[...]'`` brings a missing third-party module.

The core install is what an API-only red teamer needs; local models, the annotation app, the
backdoor scanner, Postgres and the Ray executor are extras (see ``pyproject.toml``). Code that needs one imports it
where it is used; when the import fails, :func:`missing_extra` turns the ``ModuleNotFoundError``
into one line naming the extra, and the CLI prints it as a user error.
"""

from __future__ import annotations

from .errors import BreakfixError

EXTRA_OF_MODULE: dict[str, str] = {
    "torch": "hf", "transformers": "hf", "tokenizers": "hf", "safetensors": "hf", "peft": "hf", "trl": "hf",
    "accelerate": "hf",
    "fastapi": "annotate", "uvicorn": "annotate", "pandas": "annotate", "bcrypt": "annotate",
    "itsdangerous": "annotate", "multipart": "annotate", "python_multipart": "annotate",
    "markdown_it": "annotate", "nh3": "annotate",
    "psycopg": "postgres", "psycopg2": "postgres",
    "ray": "ray",
}
"""Top-level module -> the extra that installs it."""


class MissingExtraError(BreakfixError, ImportError):
    """A feature needs an optional extra that is not installed (one line with the pip command)."""


def missing_extra(exc: BaseException) -> MissingExtraError | None:
    """The one-line error for a ``ModuleNotFoundError`` of an optional dependency, else None."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = exc.name.split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return MissingExtraError(f"this needs the '{extra}' extra ({top} is not installed): "
                             f"pip install 'breakfix[{extra}]'")
