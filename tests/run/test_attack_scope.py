"""Per-attack scope: an expensive attack can be limited to some of the run's converter chains and
to items in some languages, and the plan (ids, total) follows."""

from __future__ import annotations

import pytest

from breakfix.run import config_from_dict, execute
from breakfix.run.config import ConfigError
from breakfix.run.plan import build_components
from breakfix.store import Store
from breakfix.testing.loopback import LoopbackServer


def cfg_dict(url: str, db, **attack_scope) -> dict:
    return {
        "name": "scope", "store": f"sqlite:///{db}",
        "items": [{"prompt": f"request {i} in {lang}", "language": lang, "category": "c"}
                  for lang in ("en", "sw") for i in range(3)],
        "targets": [{"name": "srv", "type": "openai", "base_url": url, "model": "m"}],
        "attacks": [{"name": "direct"}, {"name": "direct", "label": "scoped", **attack_scope}],
        "converters": [[], ["base64"], [{"name": "caesar", "shift": 2}]],
        "scorers": [{"name": "refusal"}],
    }


async def test_scoped_attack_runs_only_on_its_chains_and_languages(tmp_path):
    with LoopbackServer(latency=0.0) as srv:
        cfg = config_from_dict(cfg_dict(srv.base_url, tmp_path / "r.db", converters=[[], [{"name": "caesar", "shift": 2}]],
                                        languages=["sw"]))
        with Store(cfg.store.url) as store:
            out = await execute(cfg, store, progress=False)
            attempts = list(store.iter_attempts(out.run_id))
    scoped = [a for a in attempts if a.attack == "scoped"]
    # unscoped: 6 items x 3 chains; scoped: 3 sw items x 2 chains
    assert len(attempts) == 18 + 6 and out.written == 24
    assert {a.metadata["language"] for a in scoped} == {"sw"}
    assert sorted({tuple(a.converters) for a in scoped}) == [(), ("caesar",)]


def test_scope_naming_a_chain_the_run_lacks_is_a_one_line_error(tmp_path):
    cfg = config_from_dict(cfg_dict("http://127.0.0.1:9", tmp_path / "r.db", converters=[["rot13"]]))
    with pytest.raises(ConfigError) as e:
        build_components(cfg)
    msg = str(e.value)
    assert "attacks[1].converters[0]" in msg and "rot13" in msg and "\n" not in msg
