"""A run streams its items from their files on every pass instead of holding them (issue 19.4):
the same plan, ids and stored items as the list it replaced, and a file that changes under a run
stops it with one line, after what was in flight is stored."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select

from breakfix.run import config_from_dict, execute
from breakfix.run import items as items_module
from breakfix.run.config import ConfigError
from breakfix.run.items import ItemStream
from breakfix.run.plan import build_components, iter_plan
from breakfix.store import Store
from breakfix.store import _schema as S
from breakfix.testing.loopback import LoopbackServer


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _cfg(tmp_path, base_url, items, **kw):
    return config_from_dict({
        "name": "stream", "store": f"sqlite:///{tmp_path / 's.db'}", "items": items,
        "targets": [{"name": "loop", "type": "openai", "base_url": base_url, "model": "m", "max_retries": 0}],
        "attacks": [{"name": "direct"}], "converters": [[]], "scorers": [{"name": "refusal"}], **kw,
    }, base_dir=tmp_path)


@pytest.fixture(autouse=True)
def always_stream(monkeypatch):
    """These small runs would keep their items (KEEP_MAX): make every run here stream them."""
    monkeypatch.setattr(items_module, "KEEP_MAX", 0)


def test_a_streamed_run_plans_stores_and_names_itself_as_the_item_list_did(tmp_path):
    # Duplicated ids (the first wins; 'plain' is in both files), a U+2028 inside a JSON string (one line, not two), a BOM,
    # CRLF line ends, two files and an inline item; two repeats.
    a, b = tmp_path / "a.jsonl", tmp_path / "b.txt"
    _write(a, [{"id": "x1", "prompt": "first x1"}, {"id": "x2", "prompt": "line\u2028sep", "language": "de"},
               {"id": "x1", "prompt": "second x1"}, {"prompt": "plain"}])
    a.write_bytes(b"\xef\xbb\xbf" + a.read_bytes().replace(b"\n", b"\r\n"))
    b.write_text("plain\nfrom txt\n", encoding="utf-8")
    with LoopbackServer(latency=0.0) as srv:
        cfg = _cfg(tmp_path, srv.base_url, ["a.jsonl", {"file": "b.txt"}, {"id": "x2", "prompt": "dup inline"},
                                            {"prompt": "inline"}], repeats=2, concurrency=1)
        listed = cfg.load_items()
        assert [it.prompt for it in listed] == ["first x1", "line\u2028sep", "plain", "from txt", "inline"]
        stream = ItemStream(cfg)
        ids, languages = stream.scan()
        assert ids == [it.id for it in listed] and languages == {"en": 4, "de": 1}
        assert [it.model_dump() for it in stream] == [it.model_dump() for it in listed]  # read again, same
        b.touch()  # a new modification time, the same items: nothing changed
        assert [it.id for it in stream] == ids
        with Store(cfg.store.url) as st:
            out = asyncio.run(execute(cfg, st, progress=False, handle_signals=False, lease=False))
            assert out.status == "finished" and out.planned == out.written == 10
            assert out.run_id == cfg.run_id(listed)  # a run started before streaming resumes, same id
            assert {it.id: it.prompt for it in st.list_items(out.run_id)} == {it.id: it.prompt for it in listed}
            with st.engine.connect() as conn:
                stored = set(conn.execute(select(S.attempts.c.id)).scalars())
        # The plan over the stream: repeat, then file order. (Checked on the plan, not on the
        # stored rows' order: the store writes each batch sorted by attempt id, on purpose.)
        comps = build_components(cfg)
        plan = list(iter_plan(cfg, stream, out.run_id, comps.attacks, comps.chains))
        assert [p.item.id for p in plan] == [it.id for it in listed] * 2
        assert {p.id for p in plan} == stored  # and the run stored exactly that plan
        asyncio.run(comps.aclose())


def test_an_items_file_that_changes_mid_run_stops_it_once_the_work_in_flight_is_stored(tmp_path):
    items = tmp_path / "items.jsonl"
    _write(items, [{"prompt": f"request {i}"} for i in range(10)])
    edited = []

    def reply(messages):
        if not edited:  # the user edits the file while the first pass is being sent
            edited.append(True)
            with items.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"prompt": "added later"}) + "\n")
        return "Sure."

    with LoopbackServer(latency=0.0, reply=reply) as srv:
        cfg = _cfg(tmp_path, srv.base_url, ["items.jsonl"], repeats=2, concurrency=1)
        with Store(cfg.store.url) as st:
            with pytest.raises(ConfigError) as err:
                asyncio.run(execute(cfg, st, progress=False, handle_signals=False, lease=False))
            msg = str(err.value)
            assert "\n" not in msg and str(items) in msg and "changed while the run was reading it" in msg
            [run] = st.list_runs()
            assert run.status == "failed"
            # The line appended during the first request is never sent (it is not one of the run's
            # items); the first pass, queued before it was read, is all stored.
            assert st.count_attempts(run.id) == 10 and srv.stats()["requests"] == 10
            # Run again: the items changed, so it is a new run over the eleven items.
            out = asyncio.run(execute(cfg, st, progress=False, handle_signals=False))
            assert out.status == "finished" and out.written == 22 and out.run_id != run.id


def test_a_bad_record_fails_before_anything_is_sent(tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_bytes(b'{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n')
    with LoopbackServer(latency=0.0) as srv:
        cfg = _cfg(tmp_path, srv.base_url, ["items.jsonl"])
        with Store(cfg.store.url) as st:
            with pytest.raises(ValueError, match=r"items.jsonl:2: not UTF-8 text \(byte 0xe9 .* byte offset 32, column 16\)"):
                asyncio.run(execute(cfg, st, progress=False, handle_signals=False))
            assert srv.stats()["requests"] == 0 and st.list_runs() == []


@pytest.mark.parametrize("edit", ["append", "drop_last", "replace_first", "swap"])
def test_every_kind_of_edit_is_caught_and_names_the_file_it_was_made_in(tmp_path, edit):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    rows = [{"prompt": f"a{i}"} for i in range(4)]
    _write(a, rows)
    _write(b, [{"prompt": f"b{i}"} for i in range(3)])
    stream = ItemStream(_cfg(tmp_path, "http://127.0.0.1:9", ["a.jsonl", "b.jsonl", {"prompt": "inline"}]))
    stream.scan()
    edited = {"append": rows + [{"prompt": "a9"}], "drop_last": rows[:-1],
              "replace_first": [{"prompt": "other"}] + rows[1:], "swap": [rows[1], rows[0]] + rows[2:]}[edit]
    _write(a, edited)
    with pytest.raises(ConfigError, match=rf"items: {a} changed while the run was reading it"):
        list(stream)
    _write(a, rows)  # put back: the stream reads again as before
    assert [it.prompt for it in stream] == [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(3)] + ["inline"]


def test_a_small_run_keeps_its_items_and_a_large_one_keeps_none(tmp_path):
    path = tmp_path / "items.jsonl"
    _write(path, [{"prompt": f"p{i}"} for i in range(5)] + [{"prompt": "p0"}])
    cfg = _cfg(tmp_path, "http://127.0.0.1:9", ["items.jsonl"])
    small, large = ItemStream(cfg, keep_max=6), ItemStream(cfg, keep_max=5)  # 6 records, one a duplicate
    assert small.scan() == large.scan()
    assert small.kept is not None and large.kept is None
    assert [it.model_dump() for it in small] == [it.model_dump() for it in large] == \
        [it.model_dump() for it in cfg.load_items()]
    _write(path, [{"prompt": "other"}])  # a kept run does not read the file again
    assert len(list(small)) == 5
    with pytest.raises(ConfigError, match="changed while the run was reading it"):
        list(large)
