"""How the HTML run report scales: 100,000 synthetic attempts in a real SQLite store.

Prints the time to build the store (setup, not the report), the time of ``write_run_report``, the
file size, and — in headless Debian Chromium driven by Playwright — the time until the attempt
browser is interactive, to expand an attempt in the last detail chunk, to filter and to jump to the
last page.

    .venv/bin/python benchmarks/report_scale.py            # 100,000 attempts
    .venv/bin/python benchmarks/report_scale.py --n 20000  # quicker

The attempts are synthetic data (random words from a fixed vocabulary, so they compress like text,
not like a repeated string): 4 attacks × 5 converter chains, 12 categories, 8 languages, 5 % failed
requests, a quarter multi-turn with 3-6 turns and a backtrack.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from breakfix.core.attempts import Attempt, Turn
from breakfix.core.items import Item
from breakfix.core.messages import Message, Response
from breakfix.core.scores import Score
from breakfix.report import write_run_report
from breakfix.store import Store

CHROMIUM = "/usr/bin/chromium"
ATTACKS = ["direct", "roleplay", "refusal-suppression", "crescendo"]
CONVERTERS = [[], ["base64"], ["rot13"], ["leetspeak"], ["base64", "rot13"]]
LANGS = ["en", "fr", "de", "ja", "zh", "ru", "id", "sw"]


def _vocab(rng: random.Random, n: int = 3000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(n)]


def _text(rng: random.Random, vocab: list[str], lo: int, hi: int) -> str:
    return " ".join(rng.choice(vocab) for _ in range(rng.randint(lo, hi)))


def build(store: Store, n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    vocab = _vocab(rng)
    run_id = store.create_run("scale", {"n": n})
    items = [Item(prompt=_text(rng, vocab, 8, 30), category=f"category-{i % 12}", language=LANGS[i % len(LANGS)])
             for i in range(max(1, n // 20))]
    store.add_items(run_id, items)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    batch: list[Attempt] = []
    for k in range(n):
        it = items[k % len(items)]
        attack = ATTACKS[k % len(ATTACKS)]
        convs = CONVERTERS[(k // len(ATTACKS)) % len(CONVERTERS)]
        err = "HTTP 503 from target after 4 retries" if rng.random() < 0.05 else None
        label = rng.choice(["success", "refusal", "refusal", "neutral"])
        turns: list[Turn] = []
        calls = 1
        if attack == "crescendo":
            nt = rng.randint(3, 6)
            turns = [Turn(index=i, prompt=_text(rng, vocab, 8, 25), response=_text(rng, vocab, 20, 80),
                          backtracked=(i == 1), score=Score(scorer="judge", label="refusal" if i == 1 else "neutral"))
                     for i in range(nt)]
            calls = 2 * nt
        atts = Attempt(
            id=f"att-{k:07d}", run_id=run_id, item_id=it.id, attack=attack, converters=convs, target="model",
            conversation=[Message(role="user", content=it.prompt)],
            response=Response(text="" if err else _text(rng, vocab, 30, 150), error=err,
                              latency_s=rng.expovariate(2.0), prompt_tokens=40, completion_tokens=90),
            turns=turns, scores=[] if err else [Score(scorer="refusal", label=label, rationale="rule")],
            target_calls=calls, created_at=t0 + timedelta(milliseconds=50 * k),
            metadata={"category": it.category, "language": it.language})
        batch.append(atts)
        if len(batch) == 2000:
            store.write_attempts(batch)
            batch = []
    store.write_attempts(batch)
    return run_id


def browse(path: Path) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    out: dict[str, float] = {}
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = b.new_page(viewport={"width": 1280, "height": 900})
        t = time.perf_counter()
        # "commit": do not wait for the load event — the first page is drawn before the file is parsed.
        page.goto(path.resolve().as_uri(), timeout=300_000, wait_until="commit")
        page.wait_for_function("() => document.documentElement.dataset.ready === '1'", timeout=300_000)
        out["time_to_interactive_s"] = time.perf_counter() - t
        page.wait_for_load_state("load", timeout=300_000)
        out["fully_loaded_s"] = time.perf_counter() - t
        # Inside the page: when the first page of attempts was drawn, and when the HTML was parsed
        # (details of attempts can be decoded from then on).
        out["page_first_render_s"] = float(page.evaluate("() => document.documentElement.dataset.readyMs")) / 1000
        out["page_dom_content_loaded_s"] = page.evaluate(
            "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd") / 1000
        out["dom_nodes"] = page.evaluate("() => document.getElementsByTagName('*').length")
        t = time.perf_counter()
        page.click("#p-last")
        page.wait_for_function("() => document.getElementById('p-info').textContent.includes('page ' + "
                               "document.getElementById('p-info').textContent.split(' of ').pop().replace(')', '') + ' of')")
        out["jump_to_last_page_s"] = time.perf_counter() - t
        t = time.perf_counter()
        last = page.locator("details.attempt").last
        last.locator("summary").click()
        last.locator(".body h4").first.wait_for()
        out["expand_in_last_chunk_s"] = time.perf_counter() - t
        t = time.perf_counter()
        page.select_option("#f-label", label="success")
        page.wait_for_function("() => document.getElementById('p-info').textContent.includes('page 1 ')")
        out["filter_by_label_s"] = time.perf_counter() - t
        t = time.perf_counter()
        page.fill("#f-text", "zzzzzz-no-such-word")
        page.wait_for_function("() => document.getElementById('p-info').textContent === 'no attempt matches'")
        out["text_search_s_incl_200ms_debounce"] = time.perf_counter() - t
        b.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dir", type=Path, default=None, help="keep the store and report here")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="reuse the store in --dir if it exists")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="bf-report-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "scale.db"
    if db.exists() and not args.reuse:
        db.unlink()
    store = Store(f"sqlite:///{db}")
    runs = store.list_runs()
    if runs and runs[0].attempts == args.n:
        run_id = runs[0].id
        print(f"setup: reusing {args.n:,} attempts in {db}")
    else:
        t = time.perf_counter()
        run_id = build(store, args.n)
        print(f"setup: {args.n:,} attempts written in {time.perf_counter() - t:.1f} s "
              f"({db.stat().st_size / 1e6:.0f} MB db)")
    t, c = time.perf_counter(), time.process_time()
    path = write_run_report(store, run_id, work / "report.html")
    dt, dc = time.perf_counter() - t, time.process_time() - c
    size = path.stat().st_size
    # CPU time is the figure to compare on a shared machine; wall time includes waiting for a core.
    print(f"write_run_report: {dt:.1f} s wall, {dc:.1f} s CPU ({args.n / dc:,.0f} attempts per CPU-second), "
          f"file {size / 1e6:.1f} MB ({size / args.n:,.0f} bytes/attempt)")
    store.close()
    print(f"peak RSS of this process (store build + report): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if not args.no_browser:
        for k, v in browse(path).items():
            print(f"chromium {k}: {v:.3f}" if isinstance(v, float) else f"chromium {k}: {v}")
    print(f"files in {work}")


if __name__ == "__main__":
    main()
