"""Shared fixtures: the built-in HIU pilot policy and a baseline referral it accepts."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

import recnav_rules

pytest_plugins = ["pytester"]

AS_OF = dt.date(2026, 11, 20)

# L81004 is a real, active BNSSG practice (sub-ICB 15C) in the shipped ODS extract.
BNSSG_PRACTICE = "L81004"
# L85001 is a real, active Somerset practice (11X).
SOMERSET_PRACTICE = "L85001"


def calls(*days: str, category: str = "emergency", location: str = "private_dwelling") -> list[dict[str, str]]:
    return [{"at": f"{day}T12:00:00", "category": category, "location": location} for day in days]


BASELINE: dict[str, Any] = {
    "referral_date": "2026-11-20",
    "date_of_birth": "1980-06-15",
    "gp_practice_code": BNSSG_PRACTICE,
    "primary_mental_health_need": True,
    "known_mental_health_disorder": True,
    "diagnosed_learning_disability": False,
    "substance_misuse": False,
    "primary_dementia_diagnosis": False,
    "mhsd_triage_completed": True,
    "mhsd_triage_outcome": "self_care",
    "consent_to_referral": True,
    "open_to_secondary_mental_health_services": False,
    "receiving_mints_support": False,
    "risk_of_violence": False,
    "in_custody": False,
    "cad_hiu_flag": True,
}


@pytest.fixture(scope="session")
def hiu() -> recnav_rules.Policy:
    return recnav_rules.load_policy("bnssg-hiu-pilot")


@pytest.fixture
def baseline() -> dict[str, Any]:
    return copy.deepcopy(BASELINE)
