"""CLI group: ``breakfix bench`` — multilingual and cultural safety benchmarks (ASR / NSR / CSR).

    breakfix bench validate starter --check-language
    breakfix bench import harmbench.csv -o my-bench --country US --axis jailbreak
    breakfix bench run starter --zoo safe --languages ko,ar
    breakfix bench compare RUN RUN ... -o compare.html
    breakfix bench build brief.yaml
    breakfix bench demo

The commands are thin: the library (:mod:`breakfix.bench`) does the work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.table import Table
from rich.text import Text

from .errors import UserError, err_console, one_line_errors
from .runs import STORE_HELP, _store_url, open_store, out_console, resolve

bench_app = typer.Typer(help="Multilingual and cultural safety benchmarks: build, run, compare (ASR / NSR / CSR).",
                        no_args_is_help=True)


def _field_map(fields: list[str]) -> dict[str, str]:
    out = {}
    for f in fields:
        if "=" not in f:
            raise UserError(f"--field {f!r}: expected ITEM_FIELD=SOURCE_COLUMN (e.g. prompt=question)")
        k, v = f.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _target_spec(target: Optional[str], zoo: Optional[str], size: str, name: Optional[str],
                 max_new_tokens: int) -> dict[str, Any]:
    if bool(target) == bool(zoo):
        raise UserError("give exactly one of --target SPEC.yaml and --zoo RECIPE")
    if zoo:
        from ..zoo import ensure_model

        path = ensure_model(zoo, size=size, progress=True)
        return {"type": "hf", "path": str(path), "name": name or f"zoo-{zoo}-{size}",
                "max_new_tokens": max_new_tokens, "batch_size": 32}
    from ..core.resources import load_yaml

    p = Path(str(target))
    spec = load_yaml(p) if p.is_file() else json.loads(str(target)) if str(target).strip().startswith("{") else None
    if not isinstance(spec, dict):
        raise UserError(f"--target {target}: expected a YAML file or inline JSON with a target spec {{type: ..., ...}}")
    if name:
        spec["name"] = name
    spec.setdefault("name", spec.get("type", "model"))
    return spec


def _open_for_write(url: str) -> Any:
    """A store that ``bench run``/``demo`` may create (read-only commands never create one)."""
    try:
        return open_store(url, create=True)
    except TypeError:  # an open_store without the create flag creates by default
        return open_store(url)


def _print_problems(problems: list[str], limit: int = 30) -> None:
    for p in problems[:limit]:
        err_console.print(Text(f"skipped: {p}"))
    if len(problems) > limit:
        err_console.print(Text(f"... and {len(problems) - limit} more"))


@bench_app.command("validate")
@one_line_errors
def validate_cmd(
    bench: str = typer.Argument(..., help="Benchmark folder, its manifest, or a built-in name (starter)."),
    check_language: bool = typer.Option(False, "--check-language", help="Run the language-ID gate on every prompt."),
) -> None:
    """Load a benchmark, verify checksums and codes, and count items per pair and axis."""
    from ..bench import load_benchmark

    b = load_benchmark(bench, check_language=check_language)
    t = Table(title=f"{b.manifest.name} {b.manifest.version}: {len(b.items)} items")
    for col in ("pair", "jailbreak", "cultural"):
        t.add_column(col)
    for pair in b.pairs():
        t.add_row(pair, *[str(sum(1 for i in b.items if i.pair == pair and i.axis == ax)) for ax in ("jailbreak", "cultural")])
    out_console().print(t)
    _print_problems(b.problems)
    if b.problems:
        err_console.print(Text(f"{len(b.problems)} problem(s)"))
        raise typer.Exit(1)


@bench_app.command("import")
@one_line_errors
def import_cmd(
    source: Path = typer.Argument(..., help="Item file: jsonl, json, csv, yaml, txt, HarmBench or MultiJail CSV."),
    output: Path = typer.Option(..., "--output", "-o", help="Benchmark folder to write."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto|jsonl|json|csv|yaml|txt|harmbench|multijail"),
    field: List[str] = typer.Option([], "--field", help="Field map ITEM_FIELD=SOURCE_COLUMN (repeatable)."),
    country: Optional[str] = typer.Option(None, "--country", help="ISO 3166-1 alpha-2 for items without one."),
    axis: Optional[str] = typer.Option(None, "--axis", help="jailbreak|cultural for items without one."),
    language: Optional[str] = typer.Option(None, "--language", help="BCP 47 tag for items without one."),
    name: Optional[str] = typer.Option(None, "--name", help="Benchmark name (default: the output folder name)."),
    version: str = typer.Option("0.1.0", "--version", help="Benchmark version."),
) -> None:
    """Convert a public item file into a benchmark folder (unmapped fields kept in metadata)."""
    from ..bench.benchmark import write_benchmark
    from ..bench.items import BenchError, from_item
    from ..datasets import read_items

    res = read_items(source, format=fmt, fields=_field_map(field),
                     defaults={"language": language} if language else None)
    items, problems = [], list(res.problems)
    for it in res.items:
        try:
            items.append(from_item(it, country=country, axis=axis, where=f"{source}"))
        except BenchError as exc:
            problems.append(str(exc))
    _print_problems(problems)
    if not items:
        raise UserError(f"{source}: no usable items ({len(problems)} skipped)")
    write_benchmark(output, name or output.name, version, items, description=f"imported from {source.name}")
    err_console.print(Text(f"wrote {len(items)} items to {output} ({len(problems)} skipped)"))


def _rubric(marker: list[str], unjudged: str, judge: Optional[str], no_language: bool,
            refusal_mode: Optional[str] = None) -> Any:
    from ..bench.evaluate import Rubric
    from ..core.resources import load_yaml

    spec = None
    if judge:
        spec = load_yaml(Path(judge)) if Path(judge).is_file() else None
        if not isinstance(spec, dict):
            raise UserError(f"--judge {judge}: expected a YAML file with a target spec")
    return Rubric(markers=list(marker), unjudged=unjudged, judge=spec, check_language=not no_language,
                  refusal_mode=refusal_mode)


@bench_app.command("run")
@one_line_errors
def run_cmd(
    bench: str = typer.Argument("starter", help="Benchmark folder or built-in name."),
    target: Optional[str] = typer.Option(None, "--target", help="Target spec (YAML file or inline JSON)."),
    zoo: Optional[str] = typer.Option(None, "--zoo", help="A zoo recipe to evaluate (local hf target)."),
    size: str = typer.Option("tiny", "--size", help="Zoo size (with --zoo)."),
    name: Optional[str] = typer.Option(None, "--name", help="Model label in results."),
    languages: Optional[str] = typer.Option(None, "--languages", help="Comma-separated languages to keep."),
    countries: Optional[str] = typer.Option(None, "--countries", help="Comma-separated countries to keep."),
    judge: Optional[str] = typer.Option(None, "--judge", help="Judge target spec (YAML); prompted in the item's language."),
    marker: List[str] = typer.Option([], "--marker", help="Text meaning harmful compliance (repeatable)."),
    unjudged: str = typer.Option("unsafe", "--unjudged", help="Label of coherent non-refusals without a judge: unsafe|neutral."),
    no_language: bool = typer.Option(False, "--no-language-check", help="Do not label wrong-language answers neutral."),
    refusal_mode: Optional[str] = typer.Option(None, "--refusal-mode",
                                               help="breakfix.refusal mode (default: its default; 'patterns': phrase list)."),
    max_new_tokens: int = typer.Option(96, "--max-new-tokens", help="Generation budget (with --zoo)."),
    concurrency: int = typer.Option(32, "--concurrency", help="Requests in flight."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Evaluate one model on a benchmark (resumable), classify responses, print ASR / NSR / CSR."""
    from ..bench import load_benchmark
    from ..bench.evaluate import evaluate, run_rows
    from ..bench.metrics import rates

    b = load_benchmark(bench)
    _print_problems(b.problems)
    items = b.select(languages=languages.split(",") if languages else None,
                     countries=countries.split(",") if countries else None)
    spec = _target_spec(target, zoo, size, name, max_new_tokens)
    st = open_store(_store_url(store), create=True)
    try:
        run_id = evaluate(items, spec, st, name=b.manifest.name, rubric=_rubric(marker, unjudged, judge, no_language, refusal_mode),
                          concurrency=concurrency)
        r = rates(run_rows(st, run_id))
    finally:
        st.close()
    out_console().print(Text(f"run {run_id}: " + "; ".join(f"{k} {r[k].fmt()}" for k in ("ASR", "NSR", "CSR"))))
    if not judge:
        out_console().print(Text("judge not validated (rules-only rubric)"))


@bench_app.command("compare")
@one_line_errors
def compare_cmd(
    runs: List[str] = typer.Argument(..., help="Benchmark run ids (one model each)."),
    output: Path = typer.Option(Path("bench-compare.html"), "--output", "-o", help="HTML file to write."),
    human: Optional[Path] = typer.Option(None, "--human-labels", help="JSONL of {run, item_id, label} human labels "
                                                                       "(validates the judge)."),
    as_json: Optional[Path] = typer.Option(None, "--json", help="Also write the figures as JSON."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """One HTML report for many models: ASR vs NSR, axis correlation, rankings, heat maps."""
    from ..bench.evaluate import run_rows
    from ..bench.report import build_context, render, to_json
    from ..bench.validity import judge_validity, read_human_labels

    st = open_store(_store_url(store))
    try:
        rows = []
        for ref in runs:
            info = resolve(st, ref)
            rows += run_rows(st, info.id)
    finally:
        st.close()
    if not rows:
        raise UserError("no classified benchmark attempts in these runs (run `breakfix bench run` first)")
    validity = judge_validity(rows, read_human_labels(human)) if human else None
    ctx = build_context(rows, validity)
    try:
        output.write_text(render(ctx), "utf-8")
        if as_json:
            as_json.write_text(json.dumps(to_json(ctx), indent=1, default=str), "utf-8")
    except OSError as exc:
        raise UserError(f"--output {output}: cannot write: {exc.strerror or exc}") from None
    out_console().print(Text(f"{ctx['judge_header']}\nASR vs NSR: {ctx['pearson'].fmt()}; {ctx['spearman'].fmt()}"))
    err_console.print(Text(f"wrote {output} ({len(ctx['models'])} models)"))


@bench_app.command("annotate")
@one_line_errors
def annotate_cmd(
    runs: List[str] = typer.Argument(..., help="Benchmark run ids whose responses to annotate."),
    db: str = typer.Option(..., "--db", help="The annotation app's database URL."),
    annotators: str = typer.Option(..., "--annotators", help="Comma-separated annotator user names (two or more)."),
    project: str = typer.Option(..., "--project", help="Name of the annotation project to create."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Put benchmark responses into the annotation app (bench-response rubric) to validate the judge;
    export the labels from the app and pass them to `bench compare --human-labels`."""
    from ..bench.evaluate import run_rows
    from ..bench.validity import response_project

    st = open_store(_store_url(store))
    try:
        rows, prompts = [], {}
        for ref in runs:
            info = resolve(st, ref)
            rows += run_rows(st, info.id)
            prompts.update({it.id: it.prompt for it in st.list_items(info.id)})
    finally:
        st.close()
    pid = response_project(db, project, rows, [a for a in annotators.split(",") if a.strip()], prompts)
    err_console.print(Text(f"project {project} (id {pid}): {len(rows)} responses for {annotators}"))


@bench_app.command("build")
@one_line_errors
def build_cmd(
    brief: Path = typer.Argument(..., help="Build brief (YAML): generator, judge, pairs, gates, annotation."),
) -> None:
    """Discovery -> gates -> dual annotation -> adjudication -> release (resumable: run it again)."""
    from ..bench.build import STAGES, Builder, load_brief

    b, base = load_brief(brief)
    s = Builder(b, base, progress=True).run()
    t = Table(title=f"build funnel: {b.name}")
    t.add_column("pair")
    for st in STAGES:
        t.add_column(st, justify="right")
    for pair, f in sorted(s.funnel.items()):
        t.add_row(pair, *[str(f[st]) for st in STAGES])
    con = out_console()
    con.print(t)
    for country, k in sorted(s.kappa.items()):
        con.print(Text(f"{country}: Cohen's κ = {k['kappa']:.2f} [{k['lo']:.2f}, {k['hi']:.2f}] over {k['n']} items "
                       f"(raw agreement {k['agreement']:.0%})"))
    _print_problems(s.problems)
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(s.skipped.items())) or "none"
    con.print(Text(f"{s.candidates} candidates; skipped: {skipped}; waiting for annotation/adjudication: {s.waiting}; "
                   f"released: {s.released}" + (f" -> {s.out}" if s.out else "")))
    if s.plot:
        con.print(Text(f"funnel plot: {s.plot}"))


@bench_app.command("demo")
@one_line_errors
def demo_cmd(
    size: str = typer.Option("tiny", "--size", help="Zoo size of the family (tiny|full)."),
    output: Path = typer.Option(Path("bench-demo.html"), "--output", "-o", help="HTML report to write."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP + " Default: a file next to the report."),
    headline: bool = typer.Option(False, "--headline", help="Print only the headline (for `make demo`)."),
) -> None:
    """Six zoo models of increasing competence on the starter + zoo items: the ASR-NSR trade-off."""
    from ..bench.demo import run_demo
    from ..bench.report import build_context, render

    st = open_store(_store_url(store, default=f"sqlite:///{output.with_suffix('.db')}"), create=True)
    try:
        res = run_demo(st, size=size, progress=not headline)
    finally:
        st.close()
    ctx = build_context(res.rows, None, title=f"breakfix bench demo ({size} zoo family)")
    output.write_text(render(ctx), "utf-8")
    con = out_console()
    con.print(Text(res.headline() if headline else res.closing_note()))
    if not headline:
        con.print(Text(f"report: {output}"))


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
