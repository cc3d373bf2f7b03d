"""A benchmark on disk: a versioned folder with a manifest, item files and their checksums.

    starter/
      manifest.yaml         name, version, description, files: {items/sw-KE.yaml: {sha256, items}}
      items/sw-KE.yaml      one file per country-language pair (any format the item loader reads)
      README.md

Loading verifies every file's SHA-256 against the manifest (a mismatch skips that file: its items
are not the released ones), reads items with the one item loader (:mod:`breakfix.datasets`), checks
codes and duplicate ids across files, and returns every problem as one line naming the file, the item
and what is wrong — a broken item never stops the rest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..datasets import DatasetError, read_items
from .items import BenchError, BenchItem, from_item

MANIFEST = "manifest.yaml"


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    items: int = Field(ge=0)


class Manifest(BaseModel):
    """``manifest.yaml`` of a benchmark folder."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    files: dict[str, FileEntry] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v  # `version: 1` in YAML


@dataclass
class Benchmark:
    """A loaded benchmark: its manifest, the good items, and one line per problem."""

    path: Path
    manifest: Manifest
    items: list[BenchItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def pairs(self) -> list[str]:
        return sorted({it.pair for it in self.items})

    def select(self, languages: Iterable[str] | None = None, countries: Iterable[str] | None = None,
               axes: Iterable[str] | None = None) -> list[BenchItem]:
        """Items whose base language / country / axis is in the given sets (None: all)."""
        from .codes import base_language

        langs = {base_language(x) for x in languages} if languages else None
        cs, ax = set(countries or []), set(axes or [])
        return [it for it in self.items if (langs is None or base_language(it.language) in langs)
                and (not cs or it.country in cs) and (not ax or it.axis in ax)]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def builtin_benchmarks() -> dict[str, Path]:
    """Benchmarks shipped with breakfix, by name (``starter``)."""
    root = Path(str(resources.files("breakfix.bench") / "data"))
    return {p.name: p for p in sorted(root.iterdir()) if (p / MANIFEST).is_file()}


def resolve(name_or_path: str | Path) -> Path:
    """A benchmark folder from a path or a built-in name."""
    p = Path(name_or_path)
    if (p / MANIFEST).is_file():
        return p
    if p.is_file() and p.name == MANIFEST:
        return p.parent
    known = builtin_benchmarks()
    if str(name_or_path) in known:
        return known[str(name_or_path)]
    raise BenchError(f"{name_or_path}: not a benchmark folder (no {MANIFEST}) and not a built-in benchmark "
                     f"({', '.join(known) or 'none'})")


def read_manifest(folder: Path) -> Manifest:
    from ..core.resources import load_yaml  # the one safe YAML reader (alias-bomb limited)

    src = folder / MANIFEST
    data = load_yaml(src)
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise BenchError(f"{src}: field '{'.'.join(map(str, e['loc']))}': {e['msg']}") from None


def load_benchmark(name_or_path: str | Path, *, verify: bool = True, check_language: bool = False) -> Benchmark:
    """Load a benchmark folder (or a built-in by name).

    Args:
        name_or_path: folder, its manifest, or a built-in name.
        verify: check every file's SHA-256 against the manifest (a mismatching file is skipped).
        check_language: run the language-ID gate on every prompt (an item not in its declared
            language is skipped with a problem line).

    Raises:
        BenchError: the folder or its manifest cannot be read at all.
    """
    folder = resolve(name_or_path)
    manifest = read_manifest(folder)
    bench = Benchmark(folder, manifest)
    seen: dict[str, str] = {}
    for rel, entry in manifest.files.items():
        path = folder / rel
        if not path.is_file():
            bench.problems.append(f"{folder / MANIFEST}: {rel}: listed in the manifest but missing")
            continue
        if verify:
            got = sha256_file(path)
            if got != entry.sha256:
                bench.problems.append(f"{path}: checksum mismatch (manifest {entry.sha256[:12]}…, file {got[:12]}…); "
                                      "file skipped")
                continue
        try:
            res = read_items(path)
        except DatasetError as exc:
            bench.problems.append(str(exc))
            continue
        bench.problems.extend(res.problems)
        for item in res.items:
            try:
                bi = from_item(item, where=f"{path}")
            except BenchError as exc:
                bench.problems.append(str(exc))
                continue
            if bi.id in seen:
                bench.problems.append(f"{path}: item {bi.id}: duplicate id (first in {seen[bi.id]}); skipped")
                continue
            seen[bi.id] = str(path)
            bench.items.append(bi)
    if check_language:
        from .langid import language_gate

        keep = []
        for it in bench.items:
            g = language_gate(it.prompt, it.language)
            if g.passed:
                keep.append(it)
            else:
                bench.problems.append(f"{folder}: item {it.id}: wrong language: {g.detail}")
        bench.items = keep
    return bench


def write_benchmark(folder: str | Path, name: str, version: str, items: Iterable[BenchItem],
                    description: str = "") -> Path:
    """Write items as a benchmark folder (one JSONL file per pair) with its manifest and checksums."""
    out = Path(folder)
    (out / "items").mkdir(parents=True, exist_ok=True)
    by_pair: dict[str, list[BenchItem]] = {}
    for it in items:
        by_pair.setdefault(it.pair, []).append(it)
    files: dict[str, dict[str, Any]] = {}
    for pair, its in sorted(by_pair.items()):
        rel = f"items/{pair}.jsonl"
        with (out / rel).open("w", encoding="utf-8") as fh:
            for it in its:
                fh.write(json.dumps(it.model_dump(mode="json"), ensure_ascii=False) + "\n")
        files[rel] = {"sha256": sha256_file(out / rel), "items": len(its)}
    manifest = Manifest(name=name, version=version, description=description,
                        files={k: FileEntry(**v) for k, v in files.items()})
    import yaml

    (out / MANIFEST).write_text(yaml.safe_dump(manifest.model_dump(), allow_unicode=True, sort_keys=False), "utf-8")
    return out


def refresh_manifest(folder: str | Path) -> Manifest:
    """Recompute the checksums and counts of every file the manifest lists (after editing items)."""
    import yaml

    folder = Path(folder)
    m = read_manifest(folder)
    for rel in m.files:
        path = folder / rel
        res = read_items(path)
        m.files[rel] = FileEntry(sha256=sha256_file(path), items=len(res.items))
    (folder / MANIFEST).write_text(yaml.safe_dump(m.model_dump(), allow_unicode=True, sort_keys=False), "utf-8")
    return m
