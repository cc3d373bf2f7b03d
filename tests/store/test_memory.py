"""The store keeps no copy of what it was asked to write: a big run config or item list costs its
memory while it is written, not for the life of the Store."""

import gc
import tracemalloc

from breakfix.core.items import Item
from breakfix.store import Store


def test_create_run_keeps_no_copy_of_the_config(tmp_path):
    # ~2 MB of config, as a run with its items inline produces (100,000 items: ~25 MB).
    config = {"items": [{"prompt": f"harmful request {i} " + "y" * 100} for i in range(16_000)]}
    with Store(f"sqlite:///{tmp_path / 'm.db'}") as store:
        # The store's own first-use allocations (a first create_run would hide the bug: the cache
        # keeps the first statement compiled for a cache key, with its values).
        store.get_run("r0")
        store.set_run_status("r0", "created")
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            store.create_run("big", config, run_id="r1")
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert store.get_run("r1") is not None
    # SQLAlchemy's statement cache held the whole config (values baked into the statement): 5.8 MB
    # here before the fix, ~0.02 MB after.
    assert kept < 500_000, f"create_run kept {kept / 1e6:.1f} MB after returning"


def test_items_written_in_chunks_are_all_stored_once(tmp_path):
    items = [Item(prompt=f"request {i}", category="c", language="en") for i in range(4_500)]
    with Store(f"sqlite:///{tmp_path / 'i.db'}") as store:
        store.create_run("items", {}, run_id="r")
        assert store.add_items("r", items) == 4_500
        assert store.add_items("r", items[::2]) == 0  # idempotent across chunks
        assert len(store.item_ids("r")) == 4_500
