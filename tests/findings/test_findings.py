"""Threat-model ontology, findings derived from a run, and the findings CLI, on a real SQLite store."""

import json

import pytest
from typer.testing import CliRunner

from breakfix.cli.main import app
from breakfix.core import Attempt, Message, Response, Score
from breakfix.core.ontology import (
    ATLAS,
    TTP,
    Operation,
    default_operation,
    finding_from_attempt,
    findings_for_run,
    ttps_for,
)
from breakfix.store import Store


def _attempt(run_id, n, success, attack="direct", converters=()):
    label = "success" if success else "refusal"
    return Attempt(id=f"{run_id}-a{n}", run_id=run_id, item_id=f"item{n}", attack=attack, target="safe-model",
                   converters=list(converters), conversation=[Message(role="user", content=f"prompt {n}")],
                   response=Response(text=f"BEGIN HARM {n}" if success else "I can't help with that."),
                   scores=[Score(scorer="substring", label=label, value=1.0 if success else 0.0)],
                   metadata={"category": "weapons"})


@pytest.fixture()
def store_url(tmp_path):
    return f"sqlite:///{tmp_path / 'bf.db'}"


def _make_run(url, operation=None):
    st = Store(url)
    cfg = {"name": "r"}
    if operation is not None:
        cfg["operation"] = operation
    rid = st.create_run("op-run", cfg)
    st.write_attempts([_attempt(rid, 1, True, converters=["base64"]), _attempt(rid, 2, False),
                       _attempt(rid, 3, True, attack="crescendo")])
    return st, rid


def test_atlas_ids_have_the_documented_shape():
    for tid in ATLAS:
        assert tid.startswith("AML.T0") and len(tid.split(".")[1]) == 5
    assert ATLAS["AML.T0051.001"].endswith("Indirect")
    assert TTP.of("AML.T0054").name == "LLM Jailbreak"


def test_ttps_follow_attack_and_converters():
    ids = [t.id for t in ttps_for("direct", ["base64"])]
    assert "AML.T0051.000" in ids and "AML.T0068" in ids and "converter: base64" in ids
    assert [t.id for t in ttps_for("indirect-injection")][0] == "AML.T0051.001"
    assert "AML.T0068" not in [t.id for t in ttps_for("direct")]  # no converter, no obfuscation
    op = default_operation("prompt-extraction", system="app")
    assert op.actor == "adversarial" and op.ttps[0].id == "AML.T0056" and op.system == "app"


def test_operation_rejects_unknown_actor():
    with pytest.raises(ValueError):
        Operation(actor="alien")


def test_finding_from_attempt_carries_record_and_evidence():
    a = _attempt("r", 1, True, converters=["base64"])
    op = Operation(system="chatbot v2", actor="benign", weakness="w", impact="i")
    f = finding_from_attempt(a, op, severity="high")
    assert f.threat["system"] == "chatbot v2" and f.threat["actor"] == "benign"
    assert {t["id"] for t in f.threat["ttps"]} >= {"AML.T0051.000", "AML.T0068"}  # filled from the attempt
    assert f.evidence["response"] == "BEGIN HARM 1" and f.evidence["prompt"] == "prompt 1"
    assert f.evidence["scores"][0]["label"] == "success" and f.severity == "high"
    assert f.status == "unconfirmed" and f.attempt_id == a.id
    with pytest.raises(ValueError):
        finding_from_attempt(a, op, severity="apocalyptic")


def test_findings_for_run_is_idempotent_and_keeps_triage(store_url):
    st, rid = _make_run(store_url, {"system": "zoo safe", "actor": "adversarial", "ttps": ["AML.T0054"],
                                    "weakness": "encoding blind spot", "impact": "harm", "severity": "critical"})
    made = findings_for_run(st, rid)
    assert len(made) == 2 and {f.attempt_id for f in made} == {f"{rid}-a1", f"{rid}-a3"}
    assert all(f.severity == "critical" and f.threat["weakness"] == "encoding blind spot" for f in made)
    st.set_finding_status(made[0].id, "confirmed", "checked by hand")
    assert findings_for_run(st, rid) == []  # nothing new
    again = {f.id: f for f in st.list_findings(rid)}
    assert len(again) == 2 and again[made[0].id].status == "confirmed" and again[made[0].id].note == "checked by hand"


def test_findings_without_operation_block_use_attack_defaults(store_url):
    st, rid = _make_run(store_url)
    fs = {f.attempt_id: f for f in findings_for_run(st, rid)}
    assert fs[f"{rid}-a3"].threat["ttps"][0]["id"] == "AML.T0054"
    assert fs[f"{rid}-a1"].threat["system"] == "safe-model"


def test_findings_cli_list_triage_export(store_url, tmp_path):
    st, rid = _make_run(store_url, {"system": "zoo safe", "actor": "adversarial"})
    st.close()
    r = CliRunner().invoke(app, ["findings", rid, "--json", "--store", store_url])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert len(data) == 2 and all(d["status"] == "unconfirmed" for d in data)
    fid = data[0]["id"]
    r = CliRunner().invoke(app, ["finding", "confirm", fid, "--note", "real", "--store", store_url])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["finding", "reject", data[1]["id"], "--store", store_url])
    assert r.exit_code == 0
    out = tmp_path / "f.json"
    r = CliRunner().invoke(app, ["findings", "export", rid, "-o", str(out), "--store", store_url])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    by_id = {f["id"]: f for f in doc["findings"]}
    assert doc["run_id"] == rid and by_id[fid]["status"] == "confirmed" and by_id[fid]["note"] == "real"
    assert by_id[data[1]["id"]]["status"] == "rejected"
    r = CliRunner().invoke(app, ["findings", rid, "--store", store_url])
    assert r.exit_code == 0 and fid in r.stdout


def test_findings_cli_errors_are_one_line(store_url):
    st, rid = _make_run(store_url)
    st.close()
    for args in (["findings", "nope"], ["finding", "confirm", "f-missing"], ["findings", "export", rid],
                 ["findings", rid, "--status", "maybe"]):
        r = CliRunner().invoke(app, args + ["--store", store_url])
        assert r.exit_code != 0
        assert "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1, r.output
