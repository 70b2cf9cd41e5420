"""Screen a year of 999 calls for high-intensity users (HIUs) with Spark and the BNSSG HIU pilot policy.

ALL DATA HERE IS SYNTHETIC, generated from a seed: made-up person ids (not NHS numbers), random
dates of birth and call times. Only the GP practice codes are real (active practices in the
shipped ODS register), so that the policy's area check has something true to look up.

Two tables, as an ambulance trust's analytics platform would hold them:

- calls: ``person_id``, ``called_at`` (local date-time, Europe/London), ``category``
  (emergency / urgent / other), ``location`` (private_dwelling / public_place / other);
- people: ``person_id``, ``date_of_birth``, ``gp_practice_code``, ``cad_hiu_flag`` (flagged as
  an active HIU on the trust's Computer Aided Dispatch system).

Each person's facts are built with a join and calendar-window counts (qualifying calls in the
1 and 3 calendar months up to the screening date, as the policy defines them), then evaluated
with ``recnav_rules.spark.evaluate_dataframe``. Clinical facts (triage, consent, ...) are not
in these tables, so most decisions are incomplete and list what a referral would still need;
``hiu_candidates`` keeps the undecided people who meet the HIU definition.

Run it (Java 17 and the ``spark`` extra needed)::

    python examples/spark_hiu_screening.py --people 2000 --as-of 2026-11-20
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from recnav_rules.spark import evaluate_dataframe

POLICY_ID = "bnssg-hiu-pilot"
# Real, active practices in the shipped ODS register: four in BNSSG (sub-ICB 15C), two in
# Somerset (11X) and one in B&NES (11E), so some people fall outside the pilot's area.
PRACTICES = ("L81004", "L81007", "L81008", "L81009", "L85001", "L85002", "L81010")
CATEGORIES = ("emergency", "urgent", "other")
LOCATIONS = ("private_dwelling", "private_dwelling", "public_place", "other")
# The SOP's HIU definition, as the policy's ``in_hiu_cohort`` criterion states it: flagged on CAD,
# or 5+ qualifying calls in 1 month, or 12+ in 3 months. (tests/test_spark.py checks that the
# candidates below are exactly the undecided people for whom the policy's criterion holds.)
HIU_CALLS_1_MONTH, HIU_CALLS_3_MONTHS = 5, 12


def _pick(options: tuple[str, ...], seed: int) -> Column:
    index = F.floor(F.rand(seed) * len(options)).cast("int")
    return F.element_at(F.array(*[F.lit(o) for o in options]), index + 1)


def synthetic_people(spark: SparkSession, people: int, *, as_of: dt.date, seed: int = 1) -> DataFrame:
    """``people`` synthetic people: id, date of birth (aged about 14 to 90), GP practice code, CAD HIU flag."""
    days_old = (F.lit(14 * 365) + F.floor(F.rand(seed) * (76 * 365))).cast("int")
    return spark.range(people).select(
        F.format_string("P%08d", F.col("id")).alias("person_id"),
        F.date_sub(F.lit(as_of), days_old).alias("date_of_birth"),
        _pick(PRACTICES, seed + 1).alias("gp_practice_code"),
        (F.rand(seed + 2) < 0.03).alias("cad_hiu_flag"),
    )


def synthetic_calls(people: DataFrame, *, as_of: dt.date, seed: int = 2) -> DataFrame:
    """A year of synthetic 999 calls: most people call rarely, about one in ten very often."""
    frequent = F.rand(seed) < 0.1
    count = F.when(frequent, F.floor(F.rand(seed + 1) * 40)).otherwise(F.floor(F.rand(seed + 2) * 4)).cast("int")
    calls = people.select("person_id", F.explode(F.sequence(F.lit(1), F.greatest(count, F.lit(1)))).alias("n"), count.alias("calls"))
    calls = calls.where(F.col("calls") > 0)
    seconds_back = F.floor(F.rand(seed + 3) * 365 * 86400).cast("long")
    called_at = F.to_timestamp(F.lit(f"{as_of.isoformat()} 23:59:59")) - F.make_dt_interval(F.lit(0), F.lit(0), F.lit(0), seconds_back)
    return calls.select(
        "person_id",
        called_at.alias("called_at"),
        _pick(CATEGORIES, seed + 4).alias("category"),
        _pick(LOCATIONS, seed + 5).alias("location"),
    )


def referral_facts(calls: DataFrame, people: DataFrame, *, as_of: dt.date) -> DataFrame:
    """One row per person: ``person_id`` and ``facts``, a struct of the policy's fact names.

    The counts follow the policy's definition: emergency or urgent calls from a private dwelling,
    from the same day 1 (or 3) calendar months before the screening date (clamped to month end,
    as Spark's ``add_months`` does) up to and including it.
    """
    day = F.lit(as_of)
    qualifying = calls.where(F.col("category").isin("emergency", "urgent") & (F.col("location") == "private_dwelling"))
    qualifying = qualifying.withColumn("call_date", F.to_date("called_at"))

    def in_months(months: int) -> Column:
        inside = (F.col("call_date") >= F.add_months(day, -months)) & (F.col("call_date") <= day)
        return F.sum(F.when(inside, 1).otherwise(0)).cast("int")

    counts = qualifying.groupBy("person_id").agg(
        in_months(1).alias("qualifying_calls_1_month"), in_months(3).alias("qualifying_calls_3_months")
    )
    joined = people.join(counts, "person_id", "left")
    facts = F.struct(
        day.alias("referral_date"),
        F.col("date_of_birth"),
        F.col("gp_practice_code"),
        F.col("cad_hiu_flag"),
        F.coalesce(F.col("qualifying_calls_1_month"), F.lit(0)).alias("qualifying_calls_1_month"),
        F.coalesce(F.col("qualifying_calls_3_months"), F.lit(0)).alias("qualifying_calls_3_months"),
    )
    return joined.select("person_id", facts.alias("facts"))


def screen(spark: SparkSession, *, people: int, as_of: dt.date, seed: int = 1) -> DataFrame:
    """The whole job: synthetic tables, facts, decisions (one row per person)."""
    person_table = synthetic_people(spark, people, as_of=as_of, seed=seed)
    calls = synthetic_calls(person_table, as_of=as_of, seed=seed + 10)
    return evaluate_dataframe(referral_facts(calls, person_table, as_of=as_of), POLICY_ID, as_of=as_of)


def hiu_candidates(decisions: DataFrame) -> DataFrame:
    """HIUs whose decision waits on the referral's clinical facts (triage, consent, exclusions)."""
    facts = F.col("facts")
    is_hiu = (
        facts.cad_hiu_flag
        | (facts.qualifying_calls_1_month >= HIU_CALLS_1_MONTH)
        | (facts.qualifying_calls_3_months >= HIU_CALLS_3_MONTHS)
    )
    return decisions.where(~F.col("complete") & F.col("error").isNull() & is_hiu)


def local_session(app: str = "recnav-hiu-screening") -> SparkSession:
    """A local[2] session bound to 127.0.0.1, UI off (for trying the example on one machine)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master("local[2]")
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "Europe/London")
        .getOrCreate()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 11, 20))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    spark = local_session()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        decisions = screen(spark, people=args.people, as_of=args.as_of, seed=args.seed).cache()
        decisions.groupBy("outcome", "complete").count().orderBy("outcome", "complete").show()
        candidates = hiu_candidates(decisions)
        print(f"HIU candidates needing a referral's clinical facts: {candidates.count()}")
        candidates.select("person_id", "facts.qualifying_calls_1_month", "facts.qualifying_calls_3_months", "missing_facts").show(5, truncate=80)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
