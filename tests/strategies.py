"""Hypothesis strategies for referrals to the BNSSG HIU pilot, around its boundaries."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from tests.conftest import BNSSG_PRACTICE, SOMERSET_PRACTICE

REFERRAL = dt.date(2026, 11, 20)

BOOL_FACTS = (
    "primary_mental_health_need",
    "known_mental_health_disorder",
    "diagnosed_learning_disability",
    "substance_misuse",
    "primary_dementia_diagnosis",
    "mhsd_triage_completed",
    "consent_to_referral",
    "open_to_secondary_mental_health_services",
    "receiving_mints_support",
    "risk_of_violence",
    "in_custody",
    "cad_hiu_flag",
)


def _mostly(value: bool) -> st.SearchStrategy[bool]:
    """Skewed booleans so that accepts are common enough to matter."""
    return st.sampled_from([value, value, value, not value])


@st.composite
def call_lists(draw: st.DrawFn, referral: dt.date) -> list[dict[str, str]]:
    """Calls clustered around the 1- and 3-month window edges and the referral date."""
    edges = [referral, referral + dt.timedelta(days=1)]
    for months in (1, 3):
        index = referral.year * 12 + referral.month - 1 - months
        year, month0 = divmod(index, 12)
        start = dt.date(year, month0 + 1, min(referral.day, 28))
        edges += [start, start - dt.timedelta(days=1), start + dt.timedelta(days=1)]
    day = st.one_of(
        st.sampled_from(edges),
        st.integers(min_value=-100, max_value=2).map(lambda d: referral + dt.timedelta(days=d)),
    )
    call = st.fixed_dictionaries(
        {
            "at": st.builds(lambda d, h: f"{d.isoformat()}T{h:02d}:30:00", day, st.integers(0, 23)),
            "category": st.sampled_from(["emergency", "urgent", "urgent", "emergency", "other"]),
            "location": st.sampled_from(["private_dwelling", "private_dwelling", "public_place", "other"]),
        }
    )
    return draw(st.lists(call, max_size=16))


@st.composite
def referrals(draw: st.DrawFn) -> dict[str, Any]:
    """A full, consistent referral: every fact known."""
    referral = REFERRAL + dt.timedelta(days=draw(st.integers(-400, 0)))
    facts: dict[str, Any] = {"referral_date": referral.isoformat()}
    eighteenth = dt.date(referral.year - 18, referral.month, min(referral.day, 28))
    born = eighteenth + dt.timedelta(days=draw(st.sampled_from([-1, 0, 1, -3650, 400, -20000])))
    facts["date_of_birth"] = born.isoformat()
    facts["gp_practice_code"] = draw(st.sampled_from([BNSSG_PRACTICE, BNSSG_PRACTICE, SOMERSET_PRACTICE]))
    for name in BOOL_FACTS:
        usual = name in ("primary_mental_health_need", "known_mental_health_disorder", "mhsd_triage_completed", "consent_to_referral")
        facts[name] = draw(_mostly(usual))
    facts["cad_hiu_flag"] = draw(st.booleans())
    facts["mhsd_triage_outcome"] = draw(st.sampled_from(["self_care", "signposting", "specialist_referral", "other"]))
    facts["emergency_calls"] = draw(call_lists(referral))
    return facts


@st.composite
def partial_referrals(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """(full, partial): the same referral with some facts left out."""
    full = draw(referrals())
    names = sorted(k for k in full if k != "referral_date")
    dropped = draw(st.sets(st.sampled_from(names)))
    return full, {k: v for k, v in full.items() if k not in dropped}
