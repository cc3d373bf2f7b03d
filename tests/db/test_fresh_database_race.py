"""Several processes opening one brand-new database at the same moment all get a usable database.

Before: the first opener created the tables, a second one saw breakfix tables without a schema
version, took the database for a pre-migration one and stamped it at the baseline revision, and
both then refused it with "run `breakfix db upgrade`" (seen when Ray workers opened a fresh store).
"""

from __future__ import annotations

import multiprocessing as mp

from breakfix.core import migrate
from breakfix.core.db import make_engine

OPENERS = 5
ROUNDS = 3


def _open(url: str, barrier, out) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    try:
        barrier.wait(timeout=120)
        migrate.prepare(engine)
        out.put(("ok", migrate.current(engine)))
    except Exception as exc:  # noqa: BLE001 - the message is what the test reports
        out.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        engine.dispose()


def _race(url: str) -> list[tuple[str, str | None]]:
    ctx = mp.get_context("spawn")  # separate processes, as separate workers are
    barrier, out = ctx.Barrier(OPENERS), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(url, barrier, out)) for _ in range(OPENERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return results


def test_simultaneous_openers_of_a_fresh_database_all_succeed(db_url, tmp_path):
    urls = [db_url]
    if db_url.startswith("sqlite"):
        urls += [f"sqlite:///{tmp_path / f'fresh{i}.db'}" for i in range(1, ROUNDS)]
    for url in urls:
        results = _race(url)
        assert results == [("ok", migrate.HEAD)] * OPENERS, results
