"""One loader for named YAML data: templates, attacker prompts, rubrics, scenarios, run configs.

Every package reads its data files through here, so all of them get the same three guarantees:

1. **Safe YAML.** ``yaml.safe_load`` builds no Python objects, but it still expands aliases: a
   443-byte "billion laughs" file (nine levels of ten aliases) is one composed node graph that
   turns into 10^9 values as soon as anything walks it (pydantic, a hash, a JSON dump). The loader
   below counts every node as the *expanded* tree would hold it, while composing, and stops at
   :data:`MAX_NODES`; a file larger than :data:`MAX_BYTES` is refused before it is parsed.
2. **One-line errors.** A YAML syntax error, a size limit or a pydantic validation error becomes a
   :class:`ResourceError` (a :class:`~breakfix.core.errors.BreakfixError`) whose message names the
   file, the line or field, and what was expected.
3. **Built-in name or user path.** ``load_resource("rubrics", "harm", Rubric)`` reads the rubric
   shipped with breakfix; ``load_resource("rubrics", "./my-rubric.yaml", Rubric)`` reads the user's.

The kinds and the package folders that hold their built-in files are listed in :data:`KINDS`;
``breakfix list templates|prompts|rubrics`` shows every named resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import BreakfixError

M = TypeVar("M", bound=BaseModel)

MAX_BYTES = 20 * 1024 * 1024
"""Largest YAML text read (20 MiB): data files and configs are far smaller; larger is a mistake or an attack."""

MAX_NODES = 2_000_000
"""Most values a YAML document may expand to, aliases counted as often as they are used."""

KINDS: dict[str, tuple[str, ...]] = {
    "templates": ("attacks/templates",),
    "prompts": ("attacks/prompts",),
    "rubrics": ("scorers/rubrics", "annotate/web/rubrics"),
}
"""Each kind of named resource and the folders (under the ``breakfix`` package) of its built-in files.

A folder is named by path, not by importing its package, so listing rubrics does not import the
annotation app (and its FastAPI extra). A new package adds its kind here (e.g. ``scenarios``)."""


class ResourceError(BreakfixError, ValueError):
    """A data file or resource name that cannot be used; one line naming the file, the field and
    what was expected. (Also a ``ValueError``, which callers caught before this class existed.)"""


# -- safe YAML ------------------------------------------------------------------------------------
class _LimitedLoader(yaml.SafeLoader):
    """A SafeLoader that counts the values of the expanded document while composing it.

    Each alias adds the full size of the node it points to, so a document that would expand to
    billions of values fails after a few aliases, in microseconds, without ever building them."""

    max_nodes = MAX_NODES

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._expanded = 0
        self._sizes: dict[int, int] = {}
        self._finished: set[int] = set()

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401 - PyYAML's own signature
        is_alias = self.check_event(yaml.AliasEvent)
        if is_alias:
            anchor = self.peek_event().anchor
            target = self.anchors.get(anchor)
            if target is not None and id(target) not in self._finished:
                # An alias inside the node it names: data that contains itself never ends.
                raise yaml.YAMLError(f"alias *{anchor} refers to a node that contains it (recursive data)")
        node = super().compose_node(parent, index)
        self._finished.add(id(node))
        # A fresh node counts itself (its children count themselves as they are composed); an
        # alias counts everything it stands for, every time it is used.
        self._expanded += self._size(node) if is_alias and node is not None else 1
        if self._expanded > self.max_nodes:
            raise yaml.YAMLError(f"the document expands to more than {self.max_nodes:,} values "
                                 "(aliases counted each time they are used)")
        return node

    def _size(self, node: yaml.Node) -> int:
        """Values in ``node`` fully expanded (memoised: each distinct node is walked once)."""
        key = id(node)
        if key not in self._sizes:
            if isinstance(node, yaml.SequenceNode):
                total = 1 + sum(self._size(child) for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                total = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
            else:
                total = 1
            self._sizes[key] = total
        return self._sizes[key]


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    return f"invalid YAML{where}: {problem}"


def read_text(path: str | Path, *, source: str | None = None, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of a user file, or a one-line :class:`ResourceError` (missing, too large, not text)."""
    p = Path(path).expanduser()
    where = source or str(p)
    try:
        size = p.stat().st_size
    except OSError:
        raise ResourceError(f"{where}: file not found") from None
    if not p.is_file():
        raise ResourceError(f"{where}: not a file")
    if size > max_bytes:
        raise ResourceError(f"{where}: file is {size:,} bytes; the limit is {max_bytes:,}")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ResourceError(f"{where}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ResourceError(f"{where}: cannot read: {exc.strerror or exc}") from None


def load_yaml(text_or_path: str | Path, *, source: str | None = None, max_bytes: int = MAX_BYTES,
              max_nodes: int = MAX_NODES) -> Any:  # noqa: ANN401 - YAML can be any value
    """Parse one YAML document safely (no Python objects, bounded size and alias expansion).

    Args:
        text_or_path: a :class:`~pathlib.Path` is read as a file; a ``str`` is the YAML text itself.
        source: the name used in error messages (defaults to the path, or ``<yaml>`` for text).
        max_bytes: largest text accepted.
        max_nodes: most values the document may expand to.

    Returns:
        The parsed value (``None`` for an empty document).

    Raises:
        ResourceError: one line, ``SOURCE: invalid YAML at line N: problem`` (or the limit hit).
    """
    if isinstance(text_or_path, Path):
        where = source or str(text_or_path)
        text = read_text(text_or_path, source=where, max_bytes=max_bytes)
    else:
        where = source or "<yaml>"
        text = text_or_path
        if len(text) > max_bytes:  # characters >= bytes/4; a cheap first check before encoding
            raise ResourceError(f"{where}: YAML text is longer than the limit of {max_bytes:,} bytes")
        if len(text.encode("utf-8")) > max_bytes:
            raise ResourceError(f"{where}: YAML text is longer than the limit of {max_bytes:,} bytes")
    loader = _LimitedLoader(text)
    loader.max_nodes = max_nodes
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ResourceError(f"{where}: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise ResourceError(f"{where}: invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()


# -- pydantic validation ---------------------------------------------------------------------------
def field_path(loc: Sequence[Any]) -> str:
    """A pydantic error location as a field path: ``factors[0].scale``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_message(exc: ValidationError, prefix: str = "") -> str:
    """One line for the most useful error of ``exc``: ``field 'a.b': what is wrong``.

    A misspelt field also makes the real one "missing", so the misspelling is reported first."""
    errs = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errs[0]
    field = prefix + field_path(err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling)"
    msg = " ".join(msg.split())  # one line, whatever a validator wrote
    return f"field '{field}': {msg}" if field else msg


def validate(model: type[M], data: Any, *, source: str, prefix: str = "") -> M:  # noqa: ANN401
    """``model.model_validate(data)``, with a one-line :class:`ResourceError` naming source and field."""
    if not isinstance(data, dict):
        fields = ", ".join(n for n, f in model.model_fields.items() if f.is_required())
        what = f" with {fields}" if fields else ""
        raise ResourceError(f"{source}: {prefix}expected a mapping{what}, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ResourceError(f"{source}: {validation_message(exc, prefix)}") from None


# -- named resources -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResourceInfo:
    """One named resource: what ``breakfix list`` shows."""

    kind: str
    name: str
    source: str
    version: str
    summary: str


def _folders(kind: str) -> list[Any]:
    try:
        rels = KINDS[kind]
    except KeyError:
        raise ResourceError(f"unknown resource kind {kind!r}; expected one of: {', '.join(KINDS)}") from None
    root = resources.files("breakfix")
    return [root.joinpath(*rel.split("/")) for rel in rels]


def _builtin_files(kind: str) -> dict[str, tuple[Any, str]]:
    """Built-in files of ``kind`` by name (file stem): (traversable, display path)."""
    out: dict[str, tuple[Any, str]] = {}
    folders = _folders(kind)  # first: an unknown kind is a one-line error
    for rel, folder in zip(KINDS[kind], folders):
        if not folder.is_dir():
            continue
        for f in sorted(folder.iterdir(), key=lambda f: f.name):
            if f.name.endswith((".yaml", ".yml")) and not f.name.startswith((".", "_")):
                out.setdefault(f.name.rsplit(".", 1)[0], (f, f"breakfix/{rel}/{f.name}"))
    return out


def builtin_names(kind: str) -> list[str]:
    """The names of the built-in resources of ``kind``."""
    return sorted(_builtin_files(kind))


def _is_path(ref: str | Path) -> bool:
    if isinstance(ref, Path):
        return True
    return ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref


def resolve(kind: str, name_or_path: str | Path) -> tuple[str, str | Path]:
    """Where a resource lives: ``(source for messages, YAML text or Path)``.

    A value that looks like a path (ends in ``.yaml``/``.yml`` or holds a ``/``) is a user file;
    otherwise a built-in name, then a file of that name in the working directory."""
    files = _builtin_files(kind)
    ref = str(name_or_path)
    if not _is_path(name_or_path):
        if ref in files:
            f, shown = files[ref]
            return shown, f.read_text("utf-8")
        if not Path(ref).is_file():
            known = ", ".join(sorted(files)) or "none"
            singular = kind[:-1] if kind.endswith("s") else kind
            raise ResourceError(f"unknown {singular} {ref!r}; give a built-in name ({known}) or a .yaml path")
    p = Path(ref).expanduser()
    return str(p), p


def load_resource(kind: str, name_or_path: str | Path, model: type[M]) -> M:
    """A built-in or user resource, parsed and validated.

    Args:
        kind: a key of :data:`KINDS` (``templates``, ``prompts``, ``rubrics``, ...).
        name_or_path: a built-in name (``harm``) or the path of a YAML file.
        model: the pydantic model the file must satisfy.

    Returns:
        The validated model.

    Raises:
        ResourceError: one line naming the file (or name) and the field that is wrong.
    """
    source, content = resolve(kind, name_or_path)
    data = load_yaml(content, source=source)
    return validate(model, data, source=source)


def _first_sentence(text: str) -> str:
    """The first sentence of the comment block a data file opens with."""
    lines = []
    for ln in text.splitlines():
        if not ln.startswith("#"):
            break
        lines.append(ln.lstrip("#").strip())
    joined = " ".join(lines)
    end = joined.find(". ")
    return joined[: end + 1] if end >= 0 else joined


def list_resources(kind: str) -> list[ResourceInfo]:
    """Every built-in resource of ``kind``, with its version and a one-line summary."""
    out: list[ResourceInfo] = []
    for name, (f, shown) in sorted(_builtin_files(kind).items()):
        text = f.read_text("utf-8")
        data = load_yaml(text, source=shown)
        # Files without a title open with a comment that says what they are.
        comment = _first_sentence(text)
        for entry in data if isinstance(data, list) else [data]:
            if not isinstance(entry, dict):
                continue
            text = entry.get("title") or entry.get("description") or comment or entry.get("source") or ""
            summary = " ".join(str(text).split())
            out.append(ResourceInfo(kind, str(entry.get("name") or name), shown,
                                    str(entry.get("version", "")), summary[:160]))
    return out
