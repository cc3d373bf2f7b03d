"""The break-fix cycle: rounds of break → triage → curate → fix, each measured by the next round's break.

::

    round r:  break ──► triage ──► curate ──► fix ──► checkpoint r+1
              │  discover (train families, attack pool)  → findings
              │  fresh / held-out / control / benign / trigger runs → the round's metrics
              │  [backdoor scan, benchmark, crisis when configured]
    round R (last): break only — the measurement of the final fix.

Every step is stored the moment it finishes (``cycle_steps``) and every run is a normal resumable
run of the store, so a cycle interrupted anywhere — Ctrl-C, a crash, a pause for triage — goes on
from the step it reached when ``breakfix cycle run CONFIG`` is run again. A training failure keeps
the previous checkpoint and stops the cycle with the reason; an empty set of confirmed findings stops
it with "nothing to fix" instead of training on nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from ..core.findings import Finding
from ..core.items import stable_id
from .config import CycleConfig, check_causal_lm, resolve_path
from .db import CycleDB
from .errors import CycleError, NothingToFix, TrainingFailed

Say = Callable[[str], None]


@dataclass
class CycleOutcome:
    """What one invocation of a cycle did."""

    cycle_id: str
    status: str  # done | awaiting-triage | nothing-to-fix | training-failed
    message: str
    rounds: list[dict[str, Any]] = field(default_factory=list)
    report: str | None = None
    seconds: float = 0.0


def model_path(cfg: CycleConfig, progress: bool = True) -> str:
    """The checkpoint the cycle starts from (a zoo model is trained once and cached)."""
    if cfg.model.path is not None:
        p = resolve_path(cfg, cfg.model.path)
        check_causal_lm(p, f"{cfg.source}: model.path")
        return str(p.resolve())
    from ..zoo import ZooError, ensure_model

    try:
        return str(ensure_model(cfg.model.zoo, size=cfg.model.size, progress=progress))  # type: ignore[arg-type]
    except ZooError as exc:
        raise CycleError(f"{cfg.source}: model.zoo: {exc}") from None


def build_scorers(cfg: CycleConfig) -> list[Any]:
    from ..core.registry import create
    from .plan import default_scorers

    out = []
    for i, s in enumerate(cfg.scorers or default_scorers()):
        spec = dict(s)
        name = spec.pop("name", None)
        spec.pop("objective", None)
        if not name:
            raise CycleError(f"{cfg.source}: scorers[{i}].name: missing")
        out.append(create("scorer", name, **spec))
    return out


def _pools(cfg: CycleConfig) -> Any:
    from .pools import file_pools, zoo_pools

    return zoo_pools() if cfg.items == "zoo" else file_pools(cfg.items, cfg.base_dir)  # type: ignore[arg-type]


class Cycle:
    """One cycle over a store (passed in, never global).

    Args:
        cfg: the validated config.
        store: the results store (its engine also holds the cycle's tables).
        progress: rich progress bars.
        say: where status lines go (the CLI prints them; tests collect them).
    """

    def __init__(self, cfg: CycleConfig, store: Any, *, progress: bool = True, say: Say | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.db = CycleDB(store)
        self.progress = progress
        self.say: Say = say or (lambda _m: None)
        self.id = cfg.cycle_id
        self.workdir = cfg.workdir_path()

    # -- the loop ----------------------------------------------------------------------------------
    def run(self, *, pause_for_triage: bool = False) -> CycleOutcome:
        t0 = time.perf_counter()
        start = model_path(self.cfg, self.progress)
        self.db.start(self.id, self.cfg.name, self.cfg.model_dump(mode="json"), start)
        pools = _pools(self.cfg)
        scorers = build_scorers(self.cfg)
        checkpoint = start
        triggers: list[dict[str, Any]] = []
        try:
            for r in range(self.cfg.rounds + 1):
                row = self.db.ensure_round(self.id, r, checkpoint)
                checkpoint = row["checkpoint"]
                final = r == self.cfg.rounds
                brk = self._break(r, checkpoint, pools, triggers, final)
                triggers = brk.get("triggers", triggers)
                if final:
                    break
                if self._good_enough(r):
                    self.say(f"round {r}: held-out ASR at or below stop_asr={self.cfg.stop_asr}; stopping")
                    break
                tri = self._triage(r, brk, pause_for_triage)
                if tri is None:
                    msg = (f"round {r}: waiting for triage — confirm or reject the findings of run "
                           f"{brk['runs']['discover']} (`breakfix findings {brk['runs']['discover']}`, "
                           "`breakfix finding confirm|reject ID`), then run the same command again")
                    self.db.set_status(self.id, "awaiting-triage", msg)
                    return self._outcome("awaiting-triage", msg, t0)
                cur = self._curate(r, brk, tri, pools, scorers)
                checkpoint = self._fix(r, checkpoint, cur)
        except NothingToFix as exc:
            self.db.set_status(self.id, "nothing-to-fix", str(exc))
            return self._outcome("nothing-to-fix", str(exc), t0)
        except TrainingFailed as exc:
            self.db.set_status(self.id, "training-failed", str(exc))
            return self._outcome("training-failed", str(exc), t0)
        msg = f"cycle {self.id}: {len(self.db.rounds(self.id))} rounds measured"
        self.db.set_status(self.id, "done", msg)
        return self._outcome("done", msg, t0)

    def _outcome(self, status: str, message: str, t0: float) -> CycleOutcome:
        return CycleOutcome(self.id, status, message, self.db.rounds(self.id), seconds=time.perf_counter() - t0)

    def _good_enough(self, r: int) -> bool:
        from .measure import get

        row = self.db.get_round(self.id, r)
        rate = get((row or {}).get("metrics") or {}, "asr.heldout.all")
        return rate is not None and self.cfg.stop_asr > 0 and (rate.rate or 0.0) <= self.cfg.stop_asr

    # -- steps -------------------------------------------------------------------------------------
    def _break(self, r: int, checkpoint: str, pools: Any, triggers: list[dict[str, Any]], final: bool) -> dict[str, Any]:
        from ..run import config_from_dict, run_config

        done = self.db.step(self.id, r, "break")
        if done is not None:
            self.say(f"round {r}: break — done before, resumed")
            if not final and "discover" not in done["runs"]:
                # This round was the last measurement of a shorter cycle and rounds were added since:
                # its measurement stands; only the discover run (findings to fix) is still missing.
                from .plan import round_plans

                data = round_plans(self.cfg, pools, r, checkpoint, done.get("triggers") or triggers)["discover"]
                self.say(f"round {r}: break — discover ({len(data['items'])} items), rounds were added")
                outcome = run_config(config_from_dict(data, source=f"cycle {self.cfg.name} round {r} discover"),
                                     self.store, progress=self.progress)
                if outcome.status != "finished":
                    raise KeyboardInterrupt
                done["runs"]["discover"] = outcome.run_id
                self.db.save_step(self.id, r, "break", done)
            return done
        from .hooks import external_metrics, scan_triggers, trigger_findings
        from .measure import compare, regressions, round_metrics
        from .plan import round_plans

        extra: dict[str, Any] = {}
        scan: dict[str, Any] | None = None
        if self.cfg.scan.enabled and (r == 0 or self.cfg.scan.every_round):
            self.say(f"round {r}: backdoor scan of {checkpoint}")
            scan = scan_triggers(checkpoint, self.store.url, self.cfg.scan, self.progress)
            if scan["triggers"]:
                triggers = scan["triggers"]
                for f in trigger_findings(self.id, r, scan):
                    if self.store.get_finding(f.id) is None:
                        self.store.add_finding(f)
            extra["scan"] = {k: v for k, v in scan.items() if k != "cost"}
        plans = round_plans(self.cfg, pools, r, checkpoint, triggers)
        if final:
            plans.pop("discover", None)  # the last round only measures
        runs: dict[str, str] = {}
        for split, data in plans.items():
            rc = config_from_dict(data, source=f"cycle {self.cfg.name} round {r} {split}")
            self.say(f"round {r}: break — {split} ({len(data['items'])} items)")
            outcome = run_config(rc, self.store, progress=self.progress)
            if outcome.status != "finished":
                raise KeyboardInterrupt  # Ctrl-C inside the run: the run is stored as interrupted
            runs[split] = outcome.run_id
        target = {"type": "hf", "path": checkpoint, "name": f"{self.cfg.name}-r{r}"}
        for package, options in (("bench", self.cfg.bench), ("crisis", self.cfg.crisis)):
            res = external_metrics(package, target, options, self.store)
            extra[package] = res
            if options is not None and not res["ran"]:
                self.say(f"round {r}: {package} skipped — {res['reason']}")
        metrics = round_metrics(self.store, runs)
        for package in ("bench", "crisis"):
            if extra.get(package, {}).get("ran"):
                from .metrics import Rate

                metrics[package] = {k: Rate(v["k"], v["n"]).as_dict() for k, v in extra[package]["metrics"].items()}
        payload = {"runs": runs, "triggers": triggers, "scan": extra.get("scan"), "checkpoint": checkpoint,
                   "hooks": {p: extra.get(p) for p in ("bench", "crisis")}, "regressions": []}
        if r > 0:
            prev = (self.db.get_round(self.id, r - 1) or {}).get("metrics") or {}
            rows = compare(prev, metrics)
            payload["comparison"] = rows
            payload["regressions"] = regressions(rows)
            for row in rows:
                if row["worse"]:
                    self._regression_finding(r, row)
            for line in payload["regressions"]:
                self.say(f"round {r}: REGRESSION — {line}")
        self.db.update_round(self.id, r, metrics=metrics)
        self.db.save_step(self.id, r, "break", payload)
        return payload

    def _regression_finding(self, r: int, row: dict[str, Any]) -> None:
        fid = stable_id({"cycle": self.id, "round": r, "metric": row["metric"]}, length=24)
        if self.store.get_finding(fid) is not None:
            return
        self.store.add_finding(Finding(
            id=fid, run_id=f"cycle:{self.id}", title=f"regression after round {r - 1}'s fix: {row['label']}",
            severity="medium", status="confirmed",
            threat={"system": "model under the break-fix cycle", "weakness": "post-training side effect",
                    "impact": row["label"]},
            evidence={"metric": row["metric"], "before": row["before"], "after": row["after"], "round": r},
            note=f"{row['before_text']} -> {row['after_text']} (recorded by breakfix cycle)"))

    def _triage(self, r: int, brk: dict[str, Any], pause: bool) -> dict[str, Any] | None:
        done = self.db.step(self.id, r, "triage")
        if done is not None:
            return done
        from ..core.ontology import findings_for_run

        run_id = brk["runs"]["discover"]
        findings_for_run(self.store, run_id)
        found = self.store.list_findings(run_id)
        if pause and self.db.step(self.id, r, "triage-wait") is None:
            self.db.save_step(self.id, r, "triage-wait", {"findings": len(found)})
            return None
        if not pause:
            for f in found:
                if f.status == "unconfirmed":
                    judges = sorted({s.get("scorer", "?") for s in f.evidence.get("scores", []) if s.get("label") == "success"})
                    self.store.set_finding_status(f.id, "confirmed",
                                                  f"auto-confirmed by breakfix cycle: {', '.join(judges)} judged success")
            found = self.store.list_findings(run_id)
        confirmed = [f.id for f in found if f.status == "confirmed"]
        payload = {"run": run_id, "confirmed": confirmed,
                   "rejected": [f.id for f in found if f.status == "rejected"],
                   "unconfirmed": [f.id for f in found if f.status == "unconfirmed"],
                   "triggers": [t["trigger"] for t in brk.get("triggers", [])],
                   "regressions": brk.get("regressions", [])}
        self.say(f"round {r}: triage — {len(confirmed)} confirmed, {len(payload['rejected'])} rejected, "
                 f"{len(payload['unconfirmed'])} unconfirmed (not used)")
        if not confirmed and not payload["triggers"] and not payload["regressions"]:
            # Not saved: a person may still confirm findings, and the next run triages again.
            raise NothingToFix(f"round {r}: nothing to fix — no confirmed finding in run {run_id}; "
                               "no training on nothing")
        self.db.save_step(self.id, r, "triage", payload)
        return payload

    def _curate(self, r: int, brk: dict[str, Any], tri: dict[str, Any], pools: Any, scorers: list[Any]) -> dict[str, Any]:
        done = self.db.step(self.id, r, "curate")
        if done is not None:
            return done
        from .curate import curate, export_openai_jsonl
        from .dedup import EvalIndex

        if not tri["confirmed"] and not tri["triggers"] and not tri["regressions"]:
            raise NothingToFix(f"round {r}: nothing to fix — the break step confirmed no finding "
                               f"(run {tri['run']}); no training on nothing")
        findings = [f for f in (self.store.get_finding(i) for i in tri["confirmed"]) if f is not None]
        items = {it.id: it for it in self.store.list_items(tri["run"])}
        spec = self.cfg.curate
        if any("over-refusal" in line or "helpfully" in line or "reference" in line for line in tri["regressions"]):
            # The last fix cost helpfulness: this round adds more look-alikes and ordinary tasks.
            spec = spec.model_copy(update={"lookalikes_per_example": spec.lookalikes_per_example + 1,
                                           "retention_ratio": spec.retention_ratio * 1.5})
        # A regression of the last round is a finding of this one: it is answered with more retention
        # (ordinary tasks and the refusals the model gave before), never with evaluation data.
        repair = spec.repair_examples if tri["regressions"] else 0
        index = EvalIndex(self.eval_texts(brk, pools), threshold=spec.minhash_threshold, num_perm=spec.num_perm)
        # Held-out languages appear in NO training example — not even an ordinary task of the
        # retention set — so "held out" means the fixed model never saw that language during the fix.
        held = set(self.cfg.heldout_families.languages)
        pools = replace(pools, retention=[i for i in pools.retention if i.language not in held])
        curated = curate(findings, items, pools, spec, self.cfg.fixer, scorers, index,
                         triggers=[t for t in brk.get("triggers", []) if t["trigger"] in tri["triggers"]],
                         repair=repair)
        if not curated.sft and not curated.dpo:
            raise NothingToFix(f"round {r}: nothing to fix — every candidate example was dropped "
                               f"({curated.counts()})")
        folder = self.workdir / f"round-{r}" / "data"
        paths = curated.write(folder)
        paths["openai_jsonl"] = str(folder / "openai-chat.jsonl")
        export_openai_jsonl(curated, Path(paths["openai_jsonl"]))
        payload = {"version": curated.version, "counts": curated.counts(), "paths": paths, "folder": str(folder),
                   "eval_texts": len(index)}
        self.say(f"round {r}: curate — data {curated.version}: {curated.counts()}")
        self.db.update_round(self.id, r, dataset_version=curated.version, dataset=payload)
        self.db.save_step(self.id, r, "curate", payload)
        return payload

    def eval_texts(self, brk: dict[str, Any], pools: Any) -> list[str]:
        """Every evaluation prompt, raw and as sent (after converters and templates), of every
        measurement run of this round, plus the evaluation pools themselves."""
        texts = [i.prompt for i in pools.eval + pools.benign + pools.borderline]
        for split, run_id in brk["runs"].items():
            if split == "discover":
                continue
            texts += [it.prompt for it in self.store.list_items(run_id)]
            for a in self.store.attempts(run_id):
                texts += [m.content for m in a.conversation if m.role == "user"]
        return texts

    def _fix(self, r: int, checkpoint: str, cur: dict[str, Any]) -> str:
        done = self.db.step(self.id, r, "fix")
        if done is not None:
            return done["checkpoint"]
        from .curate import Curated
        from .train import fix

        out = self.workdir / f"round-{r}" / "checkpoint"
        self.say(f"round {r}: fix — {self.cfg.train.method} ({self.cfg.train.adapter}) on data {cur['version']}")
        try:
            record = fix(checkpoint, Curated.read(Path(cur["folder"])), self.cfg.train, out, progress=self.progress,
                         data_version=cur["version"])
        except TrainingFailed as exc:
            self.db.update_round(self.id, r, status="training-failed", note=str(exc))
            raise TrainingFailed(f"round {r}: {exc} ({checkpoint})") from None
        self.db.update_round(self.id, r, trained_checkpoint=str(out), hyperparams=record["hyperparams"],
                             train_stats={k: v for k, v in record.items() if k not in ("hyperparams",)}, status="fixed")
        self.db.save_step(self.id, r, "fix", {"checkpoint": str(out), "record": record})
        self.say(f"round {r}: fix — saved {out} in {record['train_seconds']} s")
        return str(out)


def run_cycle(cfg: CycleConfig, store: Any, *, pause_for_triage: bool = False, progress: bool = True,
              say: Say | None = None) -> CycleOutcome:
    """Run or resume the cycle ``cfg`` describes (see the module docstring)."""
    return Cycle(cfg, store, progress=progress, say=say).run(pause_for_triage=pause_for_triage)
