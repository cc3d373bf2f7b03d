"""One-line errors for the CLI: bad input never shows a traceback."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """An error caused by the user's input (file, field, option), reported as one line."""


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)


def one_line_errors(fn: F) -> F:
    """Turn the expected error types into one-line messages and a non-zero exit."""
    from ..core.registry import UnknownPluginError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (UserError, UnknownPluginError, FileNotFoundError, ValueError) as exc:
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130)

    return wrapper  # type: ignore[return-value]
