"""CLI: `breakfix attack interactive` — parses options and feeds stdin to the library's
:class:`breakfix.interactive.Session` (the protocol and its commands are documented there)."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .errors import UserError, one_line_errors
from .runs import STORE_HELP


def register(app: typer.Typer) -> None:
    attack_app = typer.Typer(help="Attack a target by hand.", no_args_is_help=True)

    @attack_app.command("interactive")
    @one_line_errors
    def interactive(
        target: Optional[Path] = typer.Option(None, "--target", help="YAML target spec (type + params) or run config."),
        hf: Optional[str] = typer.Option(None, "--hf", help="Path of a local Hugging Face checkpoint."),
        system_prompt: Optional[str] = typer.Option(None, "--system", help="System message for the target."),
        scorer: list[str] = typer.Option([], "--scorer", help="Scorer name (repeatable; default: refusal)."),
        substring: list[str] = typer.Option([], "--substring", help="Also score success when this text appears."),
        store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
        run_name: Optional[str] = typer.Option(None, "--run", help="Name of the run saved attempts go to."),
    ) -> None:
        """Chat with a target in the terminal: convert, send, undo, score, save (see /help)."""
        from ..interactive import Session, build_scorers, escape, load_target_spec
        from ..store import store_url
        from ..targets import from_spec

        if (target is None) == (hf is None):
            raise UserError("give exactly one of --target CONFIG.yaml or --hf PATH")
        if target is not None:
            spec = load_target_spec(target)
            label = str(spec.get("name") or spec["type"])
            tgt = from_spec(spec)
        else:
            if not Path(hf).exists():  # type: ignore[arg-type]
                raise UserError(f"--hf: {hf}: no such checkpoint directory")
            label = Path(hf).name  # type: ignore[arg-type]
            tgt = from_spec({"type": "hf", "path": hf})
        scorers = build_scorers(scorer, substring)
        out = Console(highlight=False, soft_wrap=True)
        name = run_name or "interactive-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        session = Session(tgt, label, scorers, store_url(store), name, system_prompt, out)
        out.print(f"chatting with {escape(label)}; /help lists the commands, /quit leaves")

        async def loop() -> None:
            try:
                while True:
                    if sys.stdin.isatty():
                        out.print("[bold]you>[/] ", end="")
                    line = sys.stdin.readline()
                    if line == "":  # end of input
                        break
                    if not await session.handle(line):
                        break
            finally:
                await tgt.aclose()

        asyncio.run(loop())

    app.add_typer(attack_app, name="attack")
