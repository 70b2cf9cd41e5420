"""The decision log on SQLite: what a record holds, tamper evidence, replay, subjects, retention, failures."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import recnav_rules
from recnav_rules.audit import DecisionLog, DecisionLogError, VerifyResult
from recnav_rules.audit.chain import GENESIS, parse_header, record_hash, record_text
from recnav_rules.audit.record import index_of_body
from tests.conftest import AS_OF, BASELINE

SECRET = b"test-secret-not-for-production"
NHS = "943 476 5919"  # a valid NHS number (check digit), used in NHS Digital's examples
OTHER_NHS = "401 023 2137"
NAME = "Zebedee Quillfeather"
CONTACT = "07700 900461, 14 Pennywell Road"


def personal(facts: dict[str, Any], nhs: str = NHS) -> dict[str, Any]:
    return {**facts, "nhs_number": nhs, "name": NAME, "contact_details": CONTACT, "gender": "not stated"}


@pytest.fixture
def policy_file(tmp_path: Path, hiu: recnav_rules.Policy) -> Path:
    """A copy of the built-in BNSSG policy file, which a test may change."""
    copy_path = tmp_path / "bnssg.yaml"
    copy_path.write_bytes(Path(hiu.file).read_bytes())
    return copy_path


@pytest.fixture
def log(tmp_path: Path) -> DecisionLog:
    with DecisionLog(tmp_path / "decisions.sqlite", subject_key=SECRET) as opened:
        yield opened


def record_some(log: DecisionLog, policy: recnav_rules.Policy, count: int, facts: dict[str, Any] = BASELINE) -> list[str]:
    ids = []
    for index in range(count):
        given = personal(copy.deepcopy(facts), NHS if index % 2 == 0 else OTHER_NHS)
        decision = log.record(policy.evaluate(given, as_of=AS_OF), policy=policy, facts=given)
        assert decision.decision_id is not None
        ids.append(decision.decision_id)
    return ids


def db(log: DecisionLog) -> sqlite3.Connection:
    return sqlite3.connect(log.location, isolation_level=None)


def verify_after(log: DecisionLog, policy: recnav_rules.Policy, count: int, *statements: str) -> VerifyResult:
    """Record ``count`` decisions, change the file behind the log's back with ``statements``, verify."""
    record_some(log, policy, count)
    with db(log) as conn:
        for statement in statements:
            conn.execute(statement)
    return log.verify()


# --- what is kept ---------------------------------------------------------------------------------


def test_record_returns_the_decision_with_a_new_uuid_and_keeps_it(log: DecisionLog, hiu: recnav_rules.Policy, baseline: dict[str, Any]) -> None:
    decision = hiu.evaluate(baseline, as_of=AS_OF)
    logged = log.record(decision, policy=hiu, facts=baseline)
    assert decision.decision_id is None
    assert logged.decision_id is not None and len(logged.decision_id) == 36
    assert logged.outcome is decision.outcome and logged.to_dict() | {"decision_id": None} == decision.to_dict()
    entry = log.get(logged.decision_id)
    assert entry is not None and entry.seq == 1 and entry.policy_id == "bnssg-hiu-pilot"
    body = entry.body
    assert body["policy"] == {
        "id": hiu.id, "version": hiu.version, "digest": hiu.digest, "source_sha256": body["policy"]["source_sha256"],
    }
    assert body["outcome"] == decision.outcome.value and body["complete"] is decision.complete
    assert body["checked_facts"] == decision.checked_facts
    assert body["as_of"] == "2026-11-20" and body["engine"] == {"name": decision.engine, "version": decision.engine_version}
    assert body["parameters"] == dict(hiu.compiled.parameters) and len(body["parameters_sha256"]) == 64
    assert body["reference_data"]["gp_practices"]["digest"] == decision.reference_data["gp_practices"]["digest"]
    assert len(body["reference_data"]["gp_practices"]["table_sha256"]) == 64
    assert body["reasons"] == [{"rule_id": r.rule_id, "outcome": r.outcome.value} for r in decision.reasons]
    assert body["next_steps"] == [
        {"action": n.action, "due": n.due.isoformat() if n.due else None, "window_start": None, "actual": None, "status": n.status}
        for n in decision.next_steps
    ]
    assert body["trace"]["rules"] == {s.id: s.value for s in decision.trace if s.kind == "rule"}
    assert body["subject_key"] is None  # no NHS number given
    assert entry.record["prev_hash"] == GENESIS and entry.record["decision_id"] == logged.decision_id


def test_records_chain_each_to_the_one_before(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    record_some(log, hiu, 3)
    entries = list(log.rows())
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[1].record["prev_hash"] == entries[0].hash
    assert entries[2].record["prev_hash"] == entries[1].hash
    for entry in entries:
        with db(log) as conn:
            text = conn.execute("SELECT record FROM records WHERE seq = ?", (entry.seq,)).fetchone()[0]
        assert record_hash(text) == entry.hash
        assert json.loads(text) == entry.record


def test_the_stored_text_is_rfc_8785_canonical(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    rfc8785 = pytest.importorskip("rfc8785", reason="the reference RFC 8785 encoder is not installed: pip install rfc8785")
    record_some(log, hiu, 2)
    with db(log) as conn:
        for (text,) in conn.execute("SELECT record FROM records"):
            assert rfc8785.dumps(json.loads(text)).decode("utf-8") == text


def test_policy_source_and_register_are_stored_once(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    record_some(log, hiu, 5)
    with db(log) as conn:
        kinds = sorted(k for (k,) in conn.execute("SELECT kind FROM blobs"))
        source = conn.execute("SELECT content FROM blobs WHERE kind = 'policy-source'").fetchone()[0]
        context_text = conn.execute("SELECT content FROM blobs WHERE kind = 'context'").fetchone()[0]
    assert kinds == ["context", "parameters", "policy-source", "reference:gp_practices"]
    assert source == Path(hiu.file).read_text(encoding="utf-8")
    context = json.loads(context_text)
    assert all(e.record["context"] == record_hash(context_text) for e in log.rows())  # the context's sha256
    assert context["policy"] == {"id": hiu.id, "version": hiu.version, "digest": hiu.digest, "source_sha256": record_hash(source)}
    assert context["parameters"] == dict(hiu.compiled.parameters)
    assert context["trace_order"] == {"criteria": [c.id for c in hiu.compiled.criteria], "rules": [r.id for r in hiu.compiled.rules]}


def test_the_stored_body_is_compact_and_reads_back_whole(log: DecisionLog, hiu: recnav_rules.Policy, baseline: dict[str, Any]) -> None:
    missing = {k: v for k, v in baseline.items() if k != "consent_to_referral"}  # some rules unknown
    decision = hiu.evaluate(missing, as_of=AS_OF)
    entry = log.get(str(log.record(decision, policy=hiu, facts=missing).decision_id))
    assert entry is not None
    stored = entry.record["decision"]
    assert stored["format"] == 2 and set(stored) >= {"checked_facts", "outcome", "trace"} and len(entry.record["context"]) == 64
    assert not {"parameters", "reference_data", "parameters_sha256", "context"} & set(stored)  # those are the context's
    rules = [r.id for r in hiu.compiled.rules]
    letters = {"true": "t", "false": "f", "unknown": "u"}
    values = {s.id: s.value for s in decision.trace if s.kind == "rule"}
    assert stored["trace"]["rules"] == "".join(letters[values[r]] for r in rules) and "u" in stored["trace"]["rules"]
    assert entry.body["trace"]["rules"] == values  # read back by id
    assert entry.body["facts_digest"] == decision.facts_digest and entry.body["checked_facts"] == decision.checked_facts
    assert len(entry.record["decision_id"]) == 36 and len(json.dumps(entry.record)) < 2500


def test_decision_ids_are_time_ordered_random_uuids(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    import uuid

    from recnav_rules.audit.record import new_decision_id

    ids = record_some(log, hiu, 3) + [new_decision_id() for _ in range(200)]
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 and str(u) == i for u, i in zip(parsed, ids, strict=True))
    assert len(set(ids)) == len(ids)
    millis = [u.int >> 80 for u in parsed]
    assert millis == sorted(millis) and abs(millis[-1] / 1000 - dt.datetime.now(dt.UTC).timestamp()) < 60
    assert len({u.int & (1 << 62) - 1 for u in parsed}) == len(ids)  # the random part differs within a millisecond too


@pytest.mark.parametrize(("durability", "synchronous"), [(None, 1), ("normal", 1), ("full", 2)])
def test_durability_sets_how_sqlite_syncs(tmp_path: Path, hiu: recnav_rules.Policy, durability: str | None, synchronous: int) -> None:
    path = tmp_path / f"durable-{durability}.sqlite"
    with DecisionLog(path, durability=durability) as log:
        record_some(log, hiu, 2)
        conn = log._store._conn  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == synchronous  # 1 NORMAL, 2 FULL
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with DecisionLog(path, create=False, durability=durability) as log:  # an existing log takes the setting too
        assert log._store._conn.execute("PRAGMA synchronous").fetchone()[0] == synchronous  # type: ignore[attr-defined]
        assert log.verify().ok and log.verify().records == 2


def test_an_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DecisionLogError, match="durability must be one of normal, full"):
        DecisionLog(tmp_path / "d.sqlite", durability="off")
    assert not (tmp_path / "d.sqlite").exists()


def test_no_personal_data_is_in_the_database_file(tmp_path: Path, hiu: recnav_rules.Policy) -> None:
    path = tmp_path / "grep.sqlite"
    with DecisionLog(path, subject_key=SECRET) as log:
        record_some(log, hiu, 4)
        log.checkpoint()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("grep.sqlite"))
    for secret_text in (NHS, NHS.replace(" ", ""), OTHER_NHS.replace(" ", ""), NAME, "Quillfeather", CONTACT, "Pennywell", SECRET.decode()):
        assert secret_text.encode() not in raw, secret_text
    assert b"bnssg-hiu-pilot" in raw  # the grep does see the records


def test_two_logs_on_one_file_taking_turns_keep_one_chain(tmp_path: Path, hiu: recnav_rules.Policy, baseline: dict[str, Any]) -> None:
    path = tmp_path / "turns.sqlite"
    with DecisionLog(path) as first, DecisionLog(path) as second:
        for turn in range(6):  # each log's last known head is stale after the other's turn
            writer = first if turn % 3 == 0 else second
            writer.record(hiu.evaluate(baseline, as_of=AS_OF), policy=hiu, facts=baseline)
        entries = list(first.rows())
        assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
        assert all(later.record["prev_hash"] == earlier.hash for earlier, later in itertools.pairwise(entries))
        assert first.verify().ok and second.verify().head_seq == 6


# --- tamper evidence -----------------------------------------------------------------------------


def test_an_untouched_log_verifies(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    assert log.verify().ok  # empty
    record_some(log, hiu, 6)
    result = log.verify()
    assert result.ok and result.records == 6 and result.head_seq == 6
    assert result.head_hash == log.get(log.find()[-1].decision_id).hash  # type: ignore[union-attr]


def test_editing_a_record_is_found(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    record_some(log, hiu, 6)
    with db(log) as conn:
        text = conn.execute("SELECT record FROM records WHERE seq = 4").fetchone()[0]
        conn.execute("UPDATE records SET record = ? WHERE seq = 4", (text.replace('"outcome":"accept"', '"outcome":"reject"'),))
    result = log.verify()
    assert not result.ok and result.how == "edited" and result.first_bad_seq == 4
    assert result.decision_id == log.find()[3].decision_id


def test_editing_and_rehashing_a_record_is_found_at_that_record(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    record_some(log, hiu, 6)
    with db(log) as conn:
        text = conn.execute("SELECT record FROM records WHERE seq = 3").fetchone()[0]
        forged = text.replace('"outcome":"accept"', '"outcome":"reject"')
        conn.execute("UPDATE records SET record = ?, hash = ?, outcome = 'reject' WHERE seq = 3", (forged, record_hash(forged)))
    result = log.verify()
    assert (result.ok, result.how, result.first_bad_seq) == (False, "edited", 3)


def test_editing_a_lookup_column_is_found(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    result = verify_after(log, hiu, 3, "UPDATE records SET policy_id = 'somerset-waiting-list' WHERE seq = 2")
    assert (result.ok, result.how, result.first_bad_seq) == (False, "edited", 2)


def test_deleting_a_record_is_found(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    result = verify_after(log, hiu, 6, "DELETE FROM records WHERE seq = 3")
    assert (result.ok, result.how, result.first_bad_seq) == (False, "deleted", 3)
    assert "record 3 deleted" in result.message


def test_deleting_the_last_record_is_found(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    result = verify_after(log, hiu, 4, "DELETE FROM records WHERE seq = 4")
    assert (result.ok, result.how, result.first_bad_seq) == (False, "deleted", 4)


def test_reordering_records_is_found(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    result = verify_after(
        log,
        hiu,
        6,
        "UPDATE records SET seq = -1 WHERE seq = 2",
        "UPDATE records SET seq = 2 WHERE seq = 3",
        "UPDATE records SET seq = 3 WHERE seq = -1",
    )
    assert (result.ok, result.how, result.first_bad_seq) == (False, "reordered", 2)


def test_inserting_a_copied_record_is_found(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    record_some(log, hiu, 4)
    with db(log) as conn:
        row = conn.execute("SELECT * FROM records WHERE seq = 2").fetchone()
        conn.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (5, "00000000-0000-4000-8000-000000000000", *row[2:]))
    result = log.verify()
    assert (result.ok, result.how, result.first_bad_seq) == (False, "inserted", 5)


def test_inserting_a_forged_record_in_the_middle_is_found(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    record_some(log, hiu, 5)
    with db(log) as conn:
        for seq in (5, 4, 3):
            conn.execute("UPDATE records SET seq = ? WHERE seq = ?", (seq + 1, seq))
        prev = conn.execute("SELECT hash FROM records WHERE seq = 2").fetchone()[0]
        stored = json.loads(conn.execute("SELECT record FROM records WHERE seq = 2").fetchone()[0])
        body = stored["decision"]
        body["outcome"] = "reject"
        from recnav_rules.audit.chain import canonical_json

        forged = record_text(stored["context"], canonical_json(body), "11111111-1111-4111-8111-111111111111", index_of_body(body), prev, "2026-11-20T12:00:00.000000Z", 3)
        conn.execute(
            "INSERT INTO records VALUES (3, '11111111-1111-4111-8111-111111111111', '2026-11-20T12:00:00.000000Z', "
            "'bnssg-hiu-pilot', '2026-11-20', 'reject', ?, ?, ?)",
            (body["subject_key"], forged, record_hash(forged)),
        )
    result = log.verify()
    assert (result.ok, result.how, result.first_bad_seq) == (False, "inserted", 3), result.message
    assert result.decision_id == "11111111-1111-4111-8111-111111111111"


def test_editing_a_records_context_is_found(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    result = verify_after(log, hiu, 3, "UPDATE blobs SET content = replace(content, '\"adult_age\":18', '\"adult_age\":16') WHERE kind = 'context'")
    assert (result.ok, result.how, result.first_bad_seq) == (False, "edited", 1)
    assert "context" in result.message and "no longer matches its hash" in result.message


def test_deleting_a_records_context_is_found(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    result = verify_after(log, hiu, 3, "DELETE FROM blobs WHERE kind = 'context'")
    assert (result.ok, result.how, result.first_bad_seq) == (False, "edited", 1)
    assert "missing from the log" in result.message


def test_a_checkpoint_proves_a_consistent_rewrite(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    record_some(log, hiu, 4)
    mark = log.checkpoint()
    assert (mark.seq, mark.hash) == (4, log.find()[-1].hash)
    assert log.verify((mark.seq, mark.hash)).ok
    # rewrite the whole chain consistently from record 2: only the kept checkpoint notices
    with db(log) as conn:
        rows = conn.execute("SELECT seq, record FROM records ORDER BY seq").fetchall()
        prev = json.loads(rows[0][1])["prev_hash"]
        prev = record_hash(rows[0][1])
        for seq, text in rows[1:]:
            header = parse_header(text)
            assert header is not None
            body = json.loads(text)["decision"]
            body["notes"] = ["rewritten"]
            from recnav_rules.audit.chain import canonical_json

            new = record_text(header.context, canonical_json(body), header.decision_id, index_of_body(body), prev, header.recorded_at, seq)
            prev = record_hash(new)
            conn.execute("UPDATE records SET record = ?, hash = ? WHERE seq = ?", (new, prev, seq))
        conn.execute("UPDATE log_meta SET hash = ? WHERE name = 'head'", (prev,))
    assert log.verify().ok  # a consistent rewrite...
    result = log.verify((mark.seq, mark.hash))  # ...is caught by the checkpoint kept elsewhere
    assert (result.ok, result.how, result.first_bad_seq) == (False, "edited", 4)


# --- retention -------------------------------------------------------------------------------------


def test_prune_removes_old_records_and_leaves_a_verifiable_chain(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    record_some(log, hiu, 5)
    with db(log) as conn:  # as if the first three were made in 2025
        conn.execute("UPDATE records SET recorded_at = '2025-01-0' || seq || 'T00:00:00.000000Z' WHERE seq <= 3")
    # the column edit above breaks those records; prune removes exactly them
    mark = log.prune(dt.date(2026, 1, 1))
    assert mark is not None and mark.seq == 3 and mark.kind == "prune"
    assert [e.seq for e in log.rows()] == [4, 5]
    result = log.verify()
    assert result.ok and result.records == 2
    assert log.verify((mark.seq, mark.hash)).ok
    assert log.prune(dt.date(2026, 1, 1)) is None  # nothing more before that date
    with db(log) as conn:
        conn.execute("DELETE FROM records WHERE seq = 4")
    assert log.verify().how == "deleted"


# --- replay ----------------------------------------------------------------------------------------


def test_replay_reproduces_every_record(log: DecisionLog, hiu: recnav_rules.Policy, baseline: dict[str, Any]) -> None:
    record_some(log, hiu, 3)
    missing = {k: v for k, v in baseline.items() if k != "consent_to_referral"}
    log.record(hiu.evaluate(missing, as_of=AS_OF), policy=hiu, facts=missing)
    result = log.replay()
    assert result.ok and result.checked == 4


def test_replay_after_the_policy_file_changed(policy_file: Path, tmp_path: Path, baseline: dict[str, Any]) -> None:
    old = recnav_rules.load_policy(f"{policy_file}#bnssg-hiu-pilot")
    with DecisionLog(tmp_path / "changed.sqlite") as log:
        decision = log.record(old.evaluate(baseline, as_of=AS_OF), policy=old, facts=baseline)
        assert decision.outcome.value == "accept"
    text = policy_file.read_text(encoding="utf-8")
    changed = text.replace("description: 18 or over on the referral date.", "description: Changed after the decision was logged.", 1)
    assert changed != text, "the test changes a criterion's description in the policy file"
    policy_file.write_text(changed, encoding="utf-8")
    new = recnav_rules.load_policy(f"{policy_file}#bnssg-hiu-pilot")
    assert new.digest != old.digest  # today's file is another policy (a replay from it would not reproduce)
    with DecisionLog(tmp_path / "changed.sqlite", create=False) as log:
        assert decision.decision_id is not None
        assert log.replay(decision.decision_id).ok  # the stored source still reproduces it
        with pytest.raises(DecisionLogError, match="changed since policy 'bnssg-hiu-pilot' was loaded"):
            log.record(old.evaluate(baseline, as_of=AS_OF), policy=old, facts=baseline)


def test_replay_with_a_deployment_register_and_parameters(tmp_path: Path) -> None:
    from recnav_rules.policies.register import builtin_register, load_pcn_membership

    repo = Path(__file__).resolve().parent.parent
    register = builtin_register().with_pcn_membership(load_pcn_membership(repo / "policies/tests/network4-membership.FIXTURE.csv"))
    policy = recnav_rules.load_policy("bnssg-network4-pcn", register=register, parameters={"network4_pcn_code": "FIXT004"})
    facts = {
        "referral_date": "2026-11-20", "date_of_birth": "1975-03-02", "gp_practice_code": "L81024", "referral_source": "gp_practice",
        "mental_health_severity": "moderate", "open_to_secondary_mental_health_services": False, "consent_to_referral": True,
    }
    with DecisionLog(tmp_path / "n4.sqlite") as log:
        accepted = log.record(policy.evaluate(facts, as_of=AS_OF), policy=policy, facts=facts)
        other = {**facts, "gp_practice_code": "L81063"}
        signposted = log.record(policy.evaluate(other, as_of=AS_OF), policy=policy, facts=other)
        assert (accepted.outcome.value, signposted.outcome.value) == ("accept", "signpost")
        entry = log.get(str(accepted.decision_id))
        assert entry is not None and entry.body["parameters"]["network4_pcn_code"] == "FIXT004"
        assert entry.body["reference_data"]["gp_practices"]["digest"] == register.digest
        signposted_entry = log.get(str(signposted.decision_id))
        assert signposted_entry is not None and signposted_entry.body["signposts"] == [s.service_id for s in signposted.signposts]
        result = log.replay()
        assert result.ok and result.checked == 2


def rechain_with(log: DecisionLog, seq_to_change: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit one record's body and re-chain every record after it consistently (a forger who
    knows the scheme): the chain then verifies, and only replay can tell."""
    from recnav_rules.audit.chain import canonical_json

    with db(log) as conn:
        rows = conn.execute("SELECT seq, record FROM records ORDER BY seq").fetchall()
        prev = GENESIS
        for seq, text in rows:
            header = parse_header(text)
            assert header is not None
            body = json.loads(text)["decision"]
            if seq == seq_to_change:
                change(body)
            new = record_text(header.context, canonical_json(body), header.decision_id, index_of_body(body), prev, header.recorded_at, seq)
            prev = record_hash(new)
            conn.execute("UPDATE records SET record = ?, hash = ?, outcome = ? WHERE seq = ?", (new, prev, body["outcome"], seq))
        conn.execute("UPDATE log_meta SET hash = ? WHERE name = 'head'", (prev,))


def test_replay_names_a_record_that_does_not_reproduce(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    ids = record_some(log, hiu, 3)
    rechain_with(log, 2, lambda body: body.update(outcome="reject"))  # record 2 claims another outcome
    assert log.verify().ok
    result = log.replay()
    assert not result.ok and result.checked == 3
    assert [(f.seq, f.decision_id, f.differences) for f in result.failures] == [(2, ids[1], ("outcome",))]


def test_replay_names_a_record_whose_trace_was_changed(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    ids = record_some(log, hiu, 2)

    def flip_first_rule(body: dict[str, Any]) -> None:
        rules = body["trace"]["rules"]
        body["trace"]["rules"] = ("t" if rules[0] != "t" else "f") + rules[1:]

    rechain_with(log, 2, flip_first_rule)
    assert log.verify().ok
    result = log.replay()
    assert [(f.seq, f.decision_id, f.differences) for f in result.failures] == [(2, ids[1], ("trace",))]


def test_replay_without_the_stored_context_says_so(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    ids = record_some(log, hiu, 1)
    with db(log) as conn:
        conn.execute("DELETE FROM blobs WHERE kind = 'context'")
    result = log.replay()
    assert not result.ok and "record context" in result.failures[0].differences[0]
    entry = log.get(ids[0])  # still readable, as stored
    assert entry is not None and entry.body == entry.record["decision"]


def test_replay_without_the_stored_source_says_so(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    record_some(log, hiu, 1)
    with db(log) as conn:
        conn.execute("DELETE FROM blobs WHERE kind = 'policy-source'")
    result = log.replay()
    assert not result.ok and "policy source" in result.failures[0].differences[0]


def test_replay_of_an_unknown_id_is_an_error(log: DecisionLog) -> None:
    with pytest.raises(DecisionLogError, match="no decision nope in the log"):
        log.replay("nope")


# --- lookups ---------------------------------------------------------------------------------------


def test_lookup_by_nhs_number_with_the_secret(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    ids = record_some(log, hiu, 5)
    assert [e.decision_id for e in log.find_subject(NHS)] == [ids[0], ids[2], ids[4]]
    assert [e.decision_id for e in log.find_subject(OTHER_NHS.replace(" ", "-"))] == [ids[1], ids[3]]
    assert log.find_subject("450 557 7104") == []


def test_lookup_by_nhs_number_without_the_secret_says_so(tmp_path: Path, hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECNAV_RULES_SUBJECT_KEY", raising=False)
    with DecisionLog(tmp_path / "nosecret.sqlite") as log:
        record_some(log, hiu, 2)
        assert all(e.body["subject_key"] is None for e in log.rows())
        with pytest.raises(DecisionLogError, match="RECNAV_RULES_SUBJECT_KEY"):
            log.find_subject(NHS)


def test_the_secret_comes_from_the_environment(tmp_path: Path, hiu: recnav_rules.Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECNAV_RULES_SUBJECT_KEY", "from-the-environment")
    with DecisionLog(tmp_path / "env.sqlite") as log:
        ids = record_some(log, hiu, 2)
        assert [e.decision_id for e in log.find_subject(NHS)] == [ids[0]]
    with DecisionLog(tmp_path / "env.sqlite", subject_key=b"another secret") as log:
        assert log.find_subject(NHS) == []  # a different secret finds nobody


def test_a_bad_nhs_number_lookup_is_an_error_that_does_not_repeat_it(log: DecisionLog) -> None:
    with pytest.raises(DecisionLogError) as caught:
        log.find_subject("943 476 5918")
    assert "5918" not in str(caught.value) and "nhs_number" in str(caught.value)


def test_find_by_policy_and_time(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    record_some(log, hiu, 3)
    today = dt.datetime.now(dt.UTC).date()
    assert len(log.find(policy_id="bnssg-hiu-pilot")) == 3
    assert log.find(policy_id="somerset-waiting-list") == []
    assert len(log.find(since=today.isoformat())) == 3
    assert len(log.find(since=today)) == 3 and log.find(until=today) == []
    assert len(log.find(since=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))) == 3
    assert log.find(since=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)) == []
    assert log.find(until=today.isoformat()) == []
    assert len(log.find(limit=2)) == 2
    assert log.get("not-an-id") is None
    with pytest.raises(DecisionLogError, match="limit"):
        log.find(limit=-1)


def test_finding_by_time_uses_an_index_and_finds_every_policy(log: DecisionLog, hiu: recnav_rules.Policy, baseline: dict[str, Any]) -> None:
    other = recnav_rules.load_policy("somerset-waiting-list")
    ids = record_some(log, hiu, 2)
    ids.append(str(log.record(other.evaluate({}, as_of=AS_OF), policy=other, facts={}).decision_id))
    ids += record_some(log, hiu, 1)
    today = dt.datetime.now(dt.UTC).date()
    conn = log._store._conn  # type: ignore[attr-defined]
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        assert [e.decision_id for e in log.find(since=today)] == ids  # both policies, in chain order
        assert [e.decision_id for e in log.find(since=today, limit=2)] == ids[:2]
        assert log.find(until=today) == [] and [e.policy_id for e in log.find(policy_id=other.id, since=today)] == [other.id]
        assert log.prune(today - dt.timedelta(days=1)) is None  # nothing before yesterday
    finally:
        conn.set_trace_callback(None)
    by_time = [s for s in statements if "recorded_at" in s and s.lstrip().upper().startswith("SELECT")]
    assert len(by_time) >= 5
    with db(log) as plain:
        for statement in by_time:  # none reads the whole table to find records by time
            plan = " / ".join(row[-1] for row in plain.execute(f"EXPLAIN QUERY PLAN {statement}"))
            assert "records_policy_time" in plan and "SCAN records" not in plan.replace("SCAN records USING", ""), (statement, plan)


def test_export_writes_every_record_in_chain_order(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    import io

    ids = record_some(log, hiu, 3)
    out = io.StringIO()
    assert log.export_jsonl(out) == 3
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["record"]["decision_id"] for line in lines] == ids
    assert all(record_hash(json.dumps(line["record"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)) == line["hash"] for line in lines)


# --- failures --------------------------------------------------------------------------------------


def test_a_read_only_log_fails_closed(tmp_path: Path, hiu: recnav_rules.Policy, baseline: dict[str, Any]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes read-only files; the full-disk test covers fail-closed writing as root")
    path = tmp_path / "ro.sqlite"
    DecisionLog(path).close()
    path.chmod(stat.S_IRUSR)
    with DecisionLog(path) as log, pytest.raises(DecisionLogError, match="readonly"):
        log.record(hiu.evaluate(baseline, as_of=AS_OF), policy=hiu, facts=baseline)


def test_a_read_only_log_opened_read_only_fails_closed(tmp_path: Path, hiu: recnav_rules.Policy, baseline: dict[str, Any]) -> None:
    path = tmp_path / "ro2.sqlite"
    with DecisionLog(path) as log:
        record_some(log, hiu, 1)
    log = DecisionLog(path, create=False)
    log._store._conn.execute("PRAGMA query_only = ON")  # type: ignore[attr-defined]  # as a read-only file does
    with pytest.raises(DecisionLogError, match=r"cannot write to the decision log .*readonly"):
        log.record(hiu.evaluate(baseline, as_of=AS_OF), policy=hiu, facts=baseline)
    log.close()


def test_a_full_disk_fails_closed_and_keeps_the_chain(tmp_path: Path, hiu: recnav_rules.Policy, baseline: dict[str, Any]) -> None:
    path = tmp_path / "full.sqlite"
    with DecisionLog(path) as log:
        record_some(log, hiu, 2)
        pages = log._store._conn.execute("PRAGMA page_count").fetchone()[0]  # type: ignore[attr-defined]
        log._store._conn.execute(f"PRAGMA max_page_count = {pages}")  # type: ignore[attr-defined]  # as a full disk does
        big = {**baseline, "emergency_calls": [{"at": "2026-11-01T10:00:00Z", "category": "emergency", "location": "private_dwelling"}] * 200}
        with pytest.raises(DecisionLogError, match="full"):
            for _ in range(50):
                log.record(hiu.evaluate(big, as_of=AS_OF), policy=hiu, facts=big)
        assert log.verify().ok


def test_fail_open_returns_the_decision_without_an_id(tmp_path: Path, hiu: recnav_rules.Policy, baseline: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "open.sqlite"
    log = DecisionLog(path, fail_closed=False)
    log._store._conn.execute("PRAGMA query_only = ON")  # type: ignore[attr-defined]
    given = personal(baseline)
    decision = log.record(hiu.evaluate(given, as_of=AS_OF), policy=hiu, facts=given)
    assert decision.decision_id is None and decision.outcome.value == "accept"
    assert "decision not logged" in caplog.text and NAME not in caplog.text and "9434765919" not in caplog.text
    log.close()


def test_a_decision_from_another_policy_is_refused(log: DecisionLog, hiu: recnav_rules.Policy, baseline: dict[str, Any]) -> None:
    other = recnav_rules.load_policy("somerset-waiting-list")
    with pytest.raises(DecisionLogError, match="not made by policy"):
        log.record(hiu.evaluate(baseline, as_of=AS_OF), policy=other, facts=baseline)
    assert log.find() == []


def test_opening_problems_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DecisionLogError, match="no decision log at"):
        DecisionLog(tmp_path / "missing.sqlite", create=False)
    with pytest.raises(DecisionLogError, match="folder does not exist"):
        DecisionLog(tmp_path / "no" / "such" / "log.sqlite")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(DecisionLogError, match="is not a decision log"):
        DecisionLog(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DecisionLogError, match="cannot open the decision log"):
        DecisionLog(junk)
    with pytest.raises(DecisionLogError, match="unknown decision log URL scheme"):
        DecisionLog("mysql://localhost/x")


def test_the_compact_trace_is_the_rendered_traces_values(hiu: recnav_rules.Policy, baseline: dict[str, Any]) -> None:
    from recnav_rules.audit.engine_adapter import trace_layout, trace_letters

    layout = trace_layout(hiu)
    letters = {"true": "t", "false": "f", "unknown": "u"}
    variants = [baseline, {}, {k: v for k, v in baseline.items() if k != "consent_to_referral"}, {**baseline, "date_of_birth": "2010-01-01"}]
    variants += [{**baseline, "gp_practice_code": "L85001"}, {**baseline, "cad_hiu_flag": False, "emergency_calls": []}]
    seen = set()
    for facts in variants:
        fast = trace_letters(hiu.evaluate(facts, as_of=AS_OF), layout)  # read from the engine's record
        decision = hiu.evaluate(facts, as_of=AS_OF)
        by_id = {s.id: s.value for s in decision.trace}
        rendered = ("".join(letters[by_id[c]] for c in layout[0]), "".join(letters[by_id[r]] for r in layout[1]))
        rebuilt = recnav_rules.Decision.from_dict(decision.to_dict())  # no engine record: read from its trace
        assert fast == rendered == trace_letters(rebuilt, layout)
        seen.update("".join(fast))
    assert seen == {"t", "f", "u"}


def test_policy_evaluate_with_a_log_records_the_decision(log: DecisionLog, hiu: recnav_rules.Policy, baseline: dict[str, Any]) -> None:
    given = personal(baseline)
    decision = hiu.evaluate(given, as_of=AS_OF, log=log)
    assert decision.decision_id is not None
    entry = log.get(decision.decision_id)
    assert entry is not None and entry.outcome == decision.outcome.value
    assert entry.body["subject_key"] is not None and "name" not in entry.body["checked_facts"]


NUMBERED_POLICY = """\
policies:
  - id: numbered
    version: 1.0.0
    title: A policy with a number fact and zoned times
    sources:
      doc: {file: doc.txt, title: A document}
    facts:
      score: {type: number, minimum: 0, description: Score.}
      referred: {type: date, description: Referred.}
      name: {type: string, personal: true, description: Name.}
      calls:
        type: list
        max_items: 5
        description: Calls.
        fields:
          at: {type: datetime}
    derived:
      recent:
        description: Calls in ten days.
        count_events: {events: calls, date_field: at, window: {days: 10}, ending: referred}
    criteria:
      high:
        description: A high score.
        when: {fact: score, gt: 2.5}
    rules:
      - id: busy
        when: {all: [{criterion: high}, {fact: recent, gte: 2}]}
        outcome: accept
        reason: Busy.
        assumption: A.
    otherwise:
      outcome: reject
      reason: No.
      assumption: B.
    incomplete:
      outcome: reject
      reason: Unknown.
      assumption: C.
"""


def test_floats_and_zoned_times_are_recorded_canonically_and_replay(tmp_path: Path) -> None:
    rfc8785 = pytest.importorskip("rfc8785", reason="the reference RFC 8785 encoder is not installed: pip install rfc8785")
    path = tmp_path / "numbered.yaml"
    path.write_text(NUMBERED_POLICY, encoding="utf-8")
    policy = recnav_rules.load_policy(path)
    calls = [{"at": "2026-11-19T23:30:00+00:00"}, {"at": "2026-11-15T10:00:00.250000"}, {"at": "2026-11-18T08:00:00-05:00"}]
    given = [
        {"score": 3.5, "referred": "2026-11-20", "calls": calls, "name": NAME},
        {"score": 0.1, "referred": "2026-11-20", "calls": calls[:1]},
        {"score": 1e21, "referred": "2026-11-20", "calls": calls},
        {"score": 7, "referred": "2026-11-20", "calls": []},
    ]
    with DecisionLog(tmp_path / "numbered.sqlite") as log:
        decisions = [log.record(policy.evaluate(facts, as_of=AS_OF), policy=policy, facts=facts) for facts in given]
        assert [d.outcome.value for d in decisions] == ["accept", "reject", "accept", "reject"]
        with db(log) as conn:
            texts = [t for (t,) in conn.execute("SELECT record FROM records ORDER BY seq")]
        for text, decision in zip(texts, decisions, strict=True):
            assert rfc8785.dumps(json.loads(text)).decode("utf-8") == text
            entry = log.get(str(decision.decision_id))
            assert entry is not None and entry.body["facts_digest"] == decision.facts_digest
            assert entry.body["checked_facts"] == decision.checked_facts and NAME not in text
        assert '"score":1e+21' in texts[2] and '"score":0.1' in texts[1]
        assert log.verify().ok
        replayed = log.replay()
        assert replayed.ok and replayed.checked == 4, [f.differences for f in replayed.failures]


def test_zoned_and_fractional_times_without_floats_are_recorded_canonically(log: DecisionLog, hiu: recnav_rules.Policy, baseline: dict[str, Any]) -> None:
    rfc8785 = pytest.importorskip("rfc8785", reason="the reference RFC 8785 encoder is not installed: pip install rfc8785")
    calls = [
        {"at": "2026-11-19T23:30:00+00:00", "category": "emergency", "location": "private_dwelling"},
        {"at": "2026-11-15T10:00:00.250000Z", "category": "urgent", "location": "public_place"},
        {"at": "2026-11-18T08:00:00-05:00", "category": "emergency", "location": "public_place"},
    ]
    facts = {**baseline, "emergency_calls": calls}
    decision = log.record(hiu.evaluate(facts, as_of=AS_OF), policy=hiu, facts=facts)
    entry = log.get(str(decision.decision_id))
    assert entry is not None and entry.body["checked_facts"] == decision.checked_facts
    assert entry.body["facts_digest"] == decision.facts_digest
    with db(log) as conn:
        (text,) = conn.execute("SELECT record FROM records").fetchone()
    assert rfc8785.dumps(json.loads(text)).decode("utf-8") == text
    assert "2026-11-18T08:00:00-05:00" in text and log.replay().ok


def test_recording_leaves_the_facts_digest_in_the_decision(log: DecisionLog, hiu: recnav_rules.Policy) -> None:
    """The record's canonical facts are written once: their digest is left in the decision, so a
    batch line written after the record does not encode the facts again, and it is the digest."""
    from recnav_rules.decision import facts_digest

    decision = hiu.evaluate(BASELINE, as_of=AS_OF)
    assert decision._c[1] is None
    log.record_maker(hiu).prepare(decision, BASELINE)
    assert decision._c[1] == facts_digest(decision._values or {}, floats=False)
    stored = log.get(log.record(decision, policy=hiu, facts=BASELINE).decision_id)
    assert stored is not None and stored.body["facts_digest"] == decision.facts_digest
