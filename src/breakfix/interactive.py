"""The interactive attack session (`breakfix attack interactive`): a human red-teamer chats with a
target in the terminal. The CLI only parses options and feeds lines to :class:`Session`.

Automation covers the risk surface; people find what automation misses and steer it. The operator
types a message (several lines are joined), may transform it with converters, sends it, undoes a
turn that went nowhere, scores the conversation and saves it as an attempt in the store (and, when
they mark it, as a confirmed finding with its threat-model record).

Commands (a line starting with ``/``; ``//`` sends a literal leading slash):
  /send              send the message typed so far (an empty line does the same)
  /convert A B ...   apply converters A then B to the NEXT message (``/convert`` alone clears)
  /undo              drop the last exchange (kept in the saved record, marked backtracked)
  /score             judge the conversation with the session's scorers
  /save [finding [SEVERITY] [TITLE...]]   store as an attempt (+ a confirmed finding)
  /show              print the conversation
  /help              this list
  /quit              leave (unsaved turns are lost: /save first)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape as _markup_escape

from .core.errors import BreakfixError
from .core.resources import ResourceError, load_yaml
from .core.text import terminal_safe
from .store import open_store


class InteractiveError(BreakfixError):
    """A target spec file for the interactive session that cannot be used (one line)."""


def escape(text: str) -> str:
    """Text from a model, a server or the user for a rich markup string: markup escaped, and control
    and escape sequences shown as ``\x1b``-style text instead of acting on the terminal."""
    return _markup_escape(terminal_safe(text))


HELP = __doc__.split("Commands", 1)[1].split("\n", 1)[1]


def load_target_spec(path: Path) -> dict[str, Any]:
    """A target spec from YAML: a mapping with ``type`` or a run config (its first target).

    Raises:
        InteractiveError: missing file, invalid YAML or no target spec (one line).
    """
    if not path.is_file():
        raise InteractiveError(f"{path}: file not found")
    try:
        data = load_yaml(path)
    except ResourceError as exc:
        raise InteractiveError(str(exc)) from None
    if isinstance(data, dict) and isinstance(data.get("targets"), list) and data["targets"]:
        data = data["targets"][0]
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise InteractiveError(f"{path}: type: expected a target spec with a 'type' field (or a run config with targets)")
    return dict(data)


class Session:
    """The state of one interactive session; ``handle(line)`` is the whole protocol (testable)."""

    def __init__(self, target: Any, target_label: str, scorers: list[Any], store_url: str, run_name: str,
                 system_prompt: str | None, out: Console) -> None:
        from .core.messages import Message

        self.target, self.target_label = target, target_label
        self.scorers, self.store_url, self.run_name = scorers, store_url, run_name
        self.out = out
        self.conversation: list[Any] = [Message(role="system", content=system_prompt)] if system_prompt else []
        self.turns: list[Any] = []
        self.draft: list[str] = []
        self.pending: list[tuple[str, Any]] = []  # converters for the next message
        self.used_converters: list[str] = []
        self.last_response: Any = None
        self.last_scores: list[Any] = []
        self.calls = 0
        self.saves = 0
        self.run_id: str | None = None

    # -- commands --------------------------------------------------------------------------------
    async def handle(self, line: str) -> bool:
        """Process one input line; False when the session ends."""
        stripped = line.rstrip("\n")
        if stripped.startswith("//"):
            self.draft.append(stripped[1:])
            return True
        if not stripped.startswith("/"):
            if stripped.strip() == "":
                if self.draft:
                    await self.send()
                return True
            self.draft.append(stripped)
            return True
        cmd, _, rest = stripped[1:].partition(" ")
        cmd, rest = cmd.lower(), rest.strip()
        if cmd in ("quit", "exit", "q"):
            if self.turns and not self.saves:
                self.out.print("leaving without saving (use /save to keep a conversation)")
            return False
        handler = {"send": lambda: self.send(), "convert": lambda: self.convert(rest), "undo": lambda: self.undo(),
                   "score": lambda: self.score(), "save": lambda: self.save(rest), "show": lambda: self.show(),
                   "help": lambda: self.help()}.get(cmd)
        if handler is None:
            self.out.print(f"unknown command /{escape(cmd)}; /help lists the commands")
            return True
        await handler()
        return True

    async def help(self) -> None:
        self.out.print(escape(HELP))

    async def convert(self, names: str) -> None:
        from .core.registry import UnknownPluginError, create

        chain: list[tuple[str, Any]] = []
        for n in names.split():
            try:
                chain.append((n, create("converter", n)))
            except (UnknownPluginError, TypeError, ValueError) as exc:
                self.out.print(f"error: {escape(str(exc).splitlines()[0])}")
                return
        self.pending = chain
        self.out.print(f"next message converted with: {' -> '.join(n for n, _ in chain)}" if chain else
                       "converters cleared")

    async def send(self) -> None:
        from .converters.base import apply_chain
        from .core.attempts import Turn
        from .core.messages import Message

        if not self.draft:
            self.out.print("nothing to send: type a message first")
            return
        text = "\n".join(self.draft)
        if self.pending:
            try:
                text = await apply_chain([c for _, c in self.pending], text)
            except Exception as exc:  # noqa: BLE001 - a converter (e.g. translate) may fail; keep the draft
                self.out.print(f"error: converter failed: {escape(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}")
                return
            self.out.print(f"[dim]sent as:[/] {escape(text)}")
        names = [n for n, _ in self.pending]
        sent = self.conversation + [Message(role="user", content=text)]
        resp = await self.target.send(sent)
        self.calls += 1
        if resp.error is not None:
            # A failed request does not enter the conversation; the draft is kept for a retry.
            self.out.print(f"error: request failed: {escape(resp.error)}")
            return
        self.conversation = sent + [Message(role="assistant", content=resp.text)]
        self.turns.append(Turn(index=len(self.turns), prompt=text, response=resp.text,
                               metadata={"converters": names, "typed": "\n".join(self.draft)}))
        self.used_converters += [n for n in names if n not in self.used_converters]
        self.last_response, self.last_scores = resp, []
        self.draft, self.pending = [], []
        self.out.print(f"[bold]{escape(self.target_label)}>[/] {escape(resp.text)}")

    async def undo(self) -> None:
        live = [t for t in self.turns if not t.backtracked]
        if not live:
            self.out.print("nothing to undo")
            return
        t = live[-1]
        self.turns[t.index] = t.model_copy(update={"backtracked": True})
        self.conversation = self.conversation[:-2]
        prev = [m for m in self.conversation if m.role == "assistant"]
        from .core.messages import Response

        self.last_response = Response(text=prev[-1].content) if prev else None
        self.last_scores = []
        self.out.print(f"undone: turn {t.index + 1} (kept in the record as backtracked)")

    def attempt(self) -> Any:
        from .core.attempts import Attempt
        from .core.messages import Response

        return Attempt(id="interactive", run_id=self.run_id or "", item_id="interactive", attack="interactive",
                       converters=list(self.used_converters), target=self.target_label,
                       conversation=self.conversation[:-1] if self.last_response is not None else list(self.conversation),
                       response=self.last_response or Response(text=""), turns=list(self.turns),
                       scores=list(self.last_scores), target_calls=self.calls,
                       metadata={"category": "interactive", "source": "breakfix attack interactive"})

    async def score(self) -> None:
        if self.last_response is None:
            self.out.print("nothing to score yet")
            return
        a = self.attempt()
        self.last_scores = []
        for s in self.scorers:
            try:
                sc = await s.score(a)
            except Exception as exc:  # noqa: BLE001 - a judge failure is shown, not fatal
                from .core.scores import Score

                sc = Score(scorer=getattr(s, "name", "scorer"), label="error", rationale=f"scorer failed: {exc}")
            self.last_scores.append(sc)
            self.out.print(f"score {escape(sc.scorer)}: {sc.label} ({escape(sc.rationale)})")

    async def save(self, rest: str) -> None:
        from .core.attempts import attempt_id
        from .core.findings import Finding  # noqa: F401 - documents the type created below
        from .core.items import Item
        from .core.ontology import SEVERITIES, finding_from_attempt

        if self.last_response is None:
            self.out.print("nothing to save yet")
            return
        words = rest.split()
        as_finding = bool(words) and words[0].lower() == "finding"
        severity, title = "medium", None
        if as_finding:
            words = words[1:]
            if words and words[0].lower() in SEVERITIES:
                severity, words = words[0].lower(), words[1:]
            title = " ".join(words) or None
        elif words:
            self.out.print("usage: /save  or  /save finding [low|medium|high|critical] [title]")
            return
        if not self.last_scores and self.scorers:
            await self.score()
        st = open_store(self.store_url, create=True)
        try:
            if self.run_id is None:
                self.run_id = st.create_run(self.run_name, {"kind": "interactive", "target": self.target_label,
                                                            "scorers": [getattr(s, "name", "?") for s in self.scorers]})
            first = next((m.content for m in self.conversation if m.role == "user"), "")
            item = Item(prompt=first, category="interactive")
            st.add_items(self.run_id, [item])
            a = self.attempt()
            self.saves += 1
            a.run_id, a.item_id = self.run_id, item.id
            a.id = attempt_id(run_id=self.run_id, item_id=item.id, attack="interactive",
                              attack_config={"save": self.saves, "turns": len(self.turns)},
                              converters=a.converters, target=self.target_label)
            st.write_attempt(a)
            msg = f"saved attempt {a.id} in run {self.run_id} ({self.store_url})"
            if as_finding:
                f = finding_from_attempt(a, None, severity=severity, title=title, status="confirmed",
                                         note="marked by the operator in an interactive session")
                st.add_finding(f)
                msg += f"; finding {f.id} ({severity}, confirmed)"
        finally:
            st.close()
        self.out.print(escape(msg))

    async def show(self) -> None:
        for m in self.conversation:
            self.out.print(f"[bold]{m.role}>[/] {escape(m.content)}")


def build_scorers(names: list[str], substrings: list[str]) -> list[Any]:
    from .core.registry import create

    out = [create("scorer", n) for n in (names or ["refusal"])]
    if substrings:
        out.append(create("scorer", "substring", substrings=substrings))
    return out
