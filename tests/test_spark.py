"""Spark: ``evaluate_dataframe`` agrees with the library, row by row, and bad rows never fail a job.

Spark runs in local mode (``local[2]``) in one session for the whole module. Without Java these
tests skip (CI, which sets RECNAV_RULES_REQUIRE_COMPONENTS, fails instead).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recnav_rules
from recnav_rules.errors import FactValidationError, PolicyError
from tests.components import require
from tests.conftest import AS_OF, BASELINE
from tests.strategies import partial_referrals, referrals

pyspark_sql = pytest.importorskip("pyspark.sql")
from recnav_rules.spark import DECISION_COLUMNS, evaluate_dataframe  # noqa: E402  # needs pyspark's pyarrow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    require(shutil.which("java") is not None, "Java", "Spark needs a Java runtime (apt install openjdk-17-jre-headless)")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("recnav-rules-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "Europe/London")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def expected_columns(decision: recnav_rules.Decision) -> dict[str, Any]:
    """What the library says, in the shape of the Spark columns (from ``to_dict()``)."""
    d = decision.to_dict()
    return {
        "outcome": d["outcome"],
        "complete": d["complete"],
        "missing_facts": d["missing_facts"],
        "reasons": [{k: r[k] for k in ("rule_id", "text", "outcome", "source", "quote", "assumption")} for r in d["reasons"]],
        "signposts": [{k: s[k] for k in ("service_id", "name", "area")} for s in d["signposts"]],
        "next_steps": [
            {"action": n["action"], "due": n["due"], "window_start": n["window_start"], "status": n["status"]} for n in d["next_steps"]
        ],
        "policy_id": d["policy"]["id"],
        "policy_version": d["policy"]["version"],
        "policy_digest": d["policy"]["digest"],
        "facts_digest": d["facts_digest"],
        "error": None,
        "problems": None,
    }


def spark_columns(row: Any) -> dict[str, Any]:
    """A result row's decision columns as plain JSON-like data (dates as ISO strings)."""

    def plain(value: Any) -> Any:
        if hasattr(value, "asDict"):
            return {k: plain(v) for k, v in value.asDict().items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dt.date):
            return value.isoformat()
        return value

    return {name: plain(row[name]) for name in DECISION_COLUMNS}


def decide(spark: Any, facts_rows: list[Any], policy_id: str = "bnssg-hiu-pilot", **options: Any) -> list[Any]:
    df = spark.createDataFrame([(i, value) for i, value in enumerate(facts_rows)], "row int, facts string")
    return sorted(evaluate_dataframe(df, policy_id, as_of=AS_OF, **options).collect(), key=lambda r: r["row"])


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(full=st.lists(referrals(), min_size=40, max_size=60), partial=st.lists(partial_referrals(), min_size=20, max_size=30))
def test_results_equal_the_librarys_on_generated_referrals(spark: Any, hiu: recnav_rules.Policy, full: list[dict[str, Any]], partial: list[Any]) -> None:
    referrals_ = full + [p for _full, p in partial]
    rows = decide(spark, [json.dumps(facts) for facts in referrals_])
    assert len(rows) == len(referrals_)
    for facts, row in zip(referrals_, rows, strict=True):
        assert spark_columns(row) == expected_columns(hiu.evaluate(facts, as_of=AS_OF))


def test_struct_facts_give_the_same_decisions_as_json(spark: Any, hiu: recnav_rules.Policy) -> None:
    calls = [
        {"at": "2026-11-01T10:00:00", "category": "emergency", "location": "private_dwelling"},
        {"at": "2026-11-10T22:30:00", "category": "urgent", "location": "private_dwelling"},
    ]
    base = {**BASELINE, "emergency_calls": calls}
    young = {**base, "date_of_birth": "2010-01-01", "cad_hiu_flag": None}
    df = spark.createDataFrame(
        [(json.dumps(base),), (json.dumps(young),)],
        "facts string",
    )
    schema = (
        "struct<referral_date:date,date_of_birth:date,gp_practice_code:string,primary_mental_health_need:boolean,"
        "known_mental_health_disorder:boolean,diagnosed_learning_disability:boolean,substance_misuse:boolean,"
        "primary_dementia_diagnosis:boolean,mhsd_triage_completed:boolean,mhsd_triage_outcome:string,"
        "consent_to_referral:boolean,open_to_secondary_mental_health_services:boolean,receiving_mints_support:boolean,"
        "risk_of_violence:boolean,in_custody:boolean,cad_hiu_flag:boolean,"
        "emergency_calls:array<struct<at:string,category:string,location:string>>>"
    )
    structs = df.select(pyspark_sql.functions.from_json("facts", schema).alias("facts"))
    rows = evaluate_dataframe(structs, "bnssg-hiu-pilot", as_of=AS_OF).collect()
    by_dob = {r["facts"]["date_of_birth"].isoformat(): spark_columns(r) for r in rows}
    for facts in (base, young):
        given = {k: v for k, v in facts.items() if v is not None}
        assert by_dob[facts["date_of_birth"]] == expected_columns(hiu.evaluate(given, as_of=AS_OF))
    assert by_dob["2010-01-01"]["outcome"] != "accept"


def test_bad_rows_become_error_columns_and_the_rest_are_decided(spark: Any) -> None:
    rows = decide(spark, [json.dumps(BASELINE), "{not json", "[1, 2]", None, json.dumps({"agee": 30, "nhs_number": "9000000008"})])
    assert [r["outcome"] for r in rows] == ["accept", None, None, None, None]
    assert [r["error"] for r in rows[1:4]] == [
        "1 bad fact: facts: not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        "1 bad fact: facts: facts must be a JSON object (a mapping), got a list",
        "1 bad fact: facts: no facts (null)",
    ]
    problems = [(p["field"], p["suggestion"]) for p in rows[4]["problems"]]
    assert ("agee", "age") in problems
    assert "nhs_number" in [field for field, _ in problems]
    assert "9000000008" not in rows[4]["error"]
    assert rows[0]["error"] is None and rows[0]["problems"] is None


def test_policy_parameters_reach_the_executors(spark: Any, hiu: recnav_rules.Policy) -> None:
    seventeen = {**BASELINE, "date_of_birth": "2009-06-15"}
    changed = recnav_rules.load_policy("bnssg-hiu-pilot", parameters={"adult_age": 16})
    rows = decide(spark, [json.dumps(seventeen)], parameters={"adult_age": 16})
    assert spark_columns(rows[0]) == expected_columns(changed.evaluate(seventeen, as_of=AS_OF))
    assert rows[0]["outcome"] == "accept"
    assert hiu.evaluate(seventeen, as_of=AS_OF).outcome.value != "accept"
    assert rows[0]["policy_digest"] == changed.digest != hiu.digest


def test_a_policy_file_not_built_in_is_shipped_to_the_executors(spark: Any, tmp_path: Path) -> None:
    builtin = recnav_rules.load_policy("somerset-waiting-list")
    copy = tmp_path / "my-policies.yaml"
    copy.write_text(Path(builtin.file).read_text(encoding="utf-8"), encoding="utf-8")
    facts = {"on_ctt_waiting_list": True, "risk_increased": False}
    rows = decide(spark, [json.dumps(facts)], f"{copy}#somerset-waiting-list")
    copy.unlink()  # executors compile from the shipped text, not from the file
    assert spark_columns(rows[0]) == expected_columns(builtin.evaluate(facts, as_of=AS_OF))


def test_bad_arguments_fail_before_any_job(spark: Any) -> None:
    df = spark.createDataFrame([(1, "{}")], "n int, facts string")
    with pytest.raises(ValueError, match="no column 'referral' in the DataFrame"):
        evaluate_dataframe(df, "bnssg-hiu-pilot", as_of=AS_OF, facts_col="referral")
    with pytest.raises(ValueError, match="column 'n' must hold JSON strings or structs, not int"):
        evaluate_dataframe(df, "bnssg-hiu-pilot", as_of=AS_OF, facts_col="n")
    with pytest.raises(ValueError, match="already has decision column"):
        evaluate_dataframe(df.withColumnRenamed("n", "outcome"), "bnssg-hiu-pilot", as_of=AS_OF)
    with pytest.raises(PolicyError, match="did you mean 'bnssg-hiu-pilot'"):
        evaluate_dataframe(df, "bnssg-hiu-pilt", as_of=AS_OF)
    with pytest.raises(FactValidationError, match="as_of"):
        evaluate_dataframe(df, "bnssg-hiu-pilot", as_of="20 Nov 2026")


def test_the_example_screening_job(spark: Any, hiu: recnav_rules.Policy) -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import spark_hiu_screening as job
    finally:
        sys.path.remove(str(EXAMPLES))
    decisions = job.screen(spark, people=200, as_of=AS_OF, seed=7).collect()
    assert len(decisions) == 200
    assert all(r["error"] is None for r in decisions)
    assert ("signpost", True) in {(r["outcome"], r["complete"]) for r in decisions}  # not HIUs, or not adults
    candidates = {r["person_id"] for r in job.hiu_candidates(job.screen(spark, people=200, as_of=AS_OF, seed=7)).collect()}
    library_candidates = set()
    for row in decisions:
        facts = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row["facts"].asDict().items()}
        decision = hiu.evaluate(facts, as_of=AS_OF)
        assert spark_columns(row) == expected_columns(decision)
        cohort = next(step.value for step in decision.trace if step.kind == "criterion" and step.id == "in_hiu_cohort")
        if not decision.complete and cohort == "true":
            library_candidates.add(row["person_id"])
    assert candidates == library_candidates
    assert candidates


def test_each_process_compiles_the_policy_once(hiu: recnav_rules.Policy) -> None:
    from recnav_rules.spark import _ship

    _policy, shipment = _ship("bnssg-hiu-pilot", None)
    first = shipment.load()
    assert shipment.load() is first
    assert first.digest == hiu.digest


def test_an_executor_whose_policy_differs_from_the_drivers_refuses(hiu: recnav_rules.Policy) -> None:
    import pickle

    from recnav_rules.spark import _PolicyShipment

    stale = _PolicyShipment("bnssg-hiu-pilot", "0" * 64, pickle.dumps(hiu))
    with pytest.raises(RuntimeError, match="arrived with another digest"):
        stale.load()


def test_executors_receive_the_pickled_intermediate_form(hiu: recnav_rules.Policy, tmp_path: Path) -> None:
    """A policy file that exists only on the driver reaches executors: no file is re-read."""
    from recnav_rules.spark import _ship

    source = Path(hiu.file).read_text(encoding="utf-8")
    path = tmp_path / "only-on-the-driver.yaml"
    path.write_text(source, encoding="utf-8")
    _policy, shipment = _ship(f"{path}#bnssg-hiu-pilot", None)
    path.unlink()
    loaded = shipment.load()
    assert loaded.digest == _policy.digest
    assert loaded.evaluate(BASELINE, as_of=dt.date(2026, 11, 20)).outcome.value == "accept"


def test_timestamp_and_date_struct_fields_decide_as_iso_strings_do(hiu: recnav_rules.Policy) -> None:
    """What Spark hands a worker for struct facts: Arrow dates and UTC timestamps."""
    import pyarrow as pa

    from recnav_rules.spark import _decide_batch

    times = [dt.datetime(2026, 11, day, 23, 30, tzinfo=dt.UTC) for day in (1, 5, 9, 12, 19)]
    calls = [{"at": at, "category": "emergency", "location": "private_dwelling"} for at in times]
    facts = {**BASELINE, "cad_hiu_flag": False, "referral_date": dt.date(2026, 11, 20), "emergency_calls": calls}
    batch = pa.RecordBatch.from_pylist([{"facts": facts}])
    (row,) = _decide_batch(hiu, batch, as_of=AS_OF, facts_col="facts").to_pylist()
    as_text = {**facts, "referral_date": "2026-11-20", "emergency_calls": [{**c, "at": c["at"].isoformat()} for c in calls]}
    expected = expected_columns(hiu.evaluate(as_text, as_of=AS_OF))
    assert (row["outcome"], row["facts_digest"], row["reasons"]) == (expected["outcome"], expected["facts_digest"], expected["reasons"])
    assert row["outcome"] == "accept"
