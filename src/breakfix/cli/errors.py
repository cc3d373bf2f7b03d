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
    from rich.text import Text

    from ..core.text import terminal_safe

    # The message may quote a file, a server or a model: never markup, never a control sequence.
    err_console.print(Text.assemble(("error:", "bold red"), " ", terminal_safe(message, newlines=False)))
    raise typer.Exit(code)


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message, or its type name: never empty (some
    libraries start their message with a newline, which printed a bare ``error: ``)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def one_line_errors(fn: F) -> F:
    """Turn the expected error types into one-line messages and a non-zero exit."""
    from ..core.errors import BreakfixError
    from ..core.registry import UnknownPluginError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (BreakfixError, UserError, UnknownPluginError, FileNotFoundError, ValueError) as exc:
            fail(first_line(exc))
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130)

    return wrapper  # type: ignore[return-value]
