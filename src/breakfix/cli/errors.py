"""The CLI's error contract: bad input is one line; a bug says it is one.

- A :class:`~breakfix.core.errors.BreakfixError` (anything the user caused: a file, a field, an
  option, a URL) prints ``error: <one line>`` and exits 2.
- The OS refusing a file the user named (``FileNotFoundError``, ``PermissionError``... with a file
  name) is the same kind of mistake and prints the same way.
- Ctrl-C prints ``interrupted`` and exits 130; typer/click usage errors are click's own.
- Anything else is a bug in breakfix: one short line saying so, the traceback saved to a file
  (``$BREAKFIX_BUG_DIR`` or the temp folder) for the report, exit 1. A ``ValueError`` from deep in
  a library is no longer dressed up as the user's mistake.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, TypeVar

import click
import typer
from rich.console import Console

from ..core.errors import BreakfixError
from ..core.extras import missing_extra

F = TypeVar("F", bound=Callable[..., Any])

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(BreakfixError):
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


def save_traceback(exc: BaseException) -> Path | None:
    """Write ``exc``'s traceback to a new file and return its path (None if nothing could be written)."""
    folder = Path(os.environ.get("BREAKFIX_BUG_DIR") or tempfile.gettempdir())
    name = f"breakfix-bug-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        return path
    except OSError:
        return None


def report_bug(exc: BaseException) -> None:
    """Say that ``exc`` is a bug in breakfix (one line, traceback in a file) and exit 1."""
    from rich.text import Text

    from ..core.text import terminal_safe

    saved = save_traceback(exc)
    where = f"traceback saved to {saved}" if saved else "the traceback could not be saved"
    what = terminal_safe(f"{type(exc).__name__}: {first_line(exc)}", newlines=False)[:300]
    err_console.print(Text.assemble(("error:", "bold red"), f" this is a bug in breakfix ({what}); {where}"))
    raise typer.Exit(1)


def one_line_errors(fn: F) -> F:
    """Apply the CLI's error contract (see the module docstring) to a command."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.ClickException, SystemExit):
            raise
        except BreakfixError as exc:
            fail(first_line(exc))
        except OSError as exc:
            if exc.filename is None:
                report_bug(exc)
            fail(f"{exc.filename}: {exc.strerror or first_line(exc)}")
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the contract: everything else is a bug, said so
            extra = missing_extra(exc)  # an optional dependency that is not installed: the user's fix
            if extra is not None:
                fail(str(extra))
            report_bug(exc)

    wrapper._breakfix_errors = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def apply_error_contract(app: typer.Typer) -> None:
    """Wrap every command of ``app`` and its sub-apps in :func:`one_line_errors` (once), so a command
    that forgot the decorator still never shows a traceback."""
    for cmd in app.registered_commands:
        if cmd.callback is not None and not getattr(cmd.callback, "_breakfix_errors", False):
            cmd.callback = one_line_errors(cmd.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            apply_error_contract(group.typer_instance)
