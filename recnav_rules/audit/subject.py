"""The subject key: finding one person's decisions without storing who they are.

A record's subject key is HMAC-SHA256 of the person's NHS number (10 digits, spaces and dashes
removed) under a secret that only the deployment holds, in the environment variable
``RECNAV_RULES_SUBJECT_KEY``. The secret is never stored; without it no subject key is recorded
and a lookup by NHS number is refused with a message saying so. The NHS number itself is never
stored, logged or put in an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from typing import Any

from recnav_rules.engine.facts import nhs_check_digit_holds, nhs_number_digits

__all__ = ["SUBJECT_KEY_ENV", "normalise_nhs_number", "secret_from_env", "subject_key", "subject_key_of_facts"]

SUBJECT_KEY_ENV = "RECNAV_RULES_SUBJECT_KEY"


def secret_from_env() -> bytes | None:
    """The subject-key secret from ``RECNAV_RULES_SUBJECT_KEY`` (UTF-8), or None when unset or empty."""
    value = os.environ.get(SUBJECT_KEY_ENV, "")
    return value.encode("utf-8") if value else None


def normalise_nhs_number(value: object) -> str | None:
    """The 10 digits of a valid NHS number (check digit included), or None.

    Never echoes the value: callers report "not a valid NHS number" without it.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    digits = nhs_number_digits(str(value).strip())
    return digits if digits is not None and nhs_check_digit_holds(digits) else None


def subject_key(nhs_number: str, secret: bytes) -> str:
    """HMAC-SHA256 (hex) of a normalised NHS number under ``secret``."""
    return hmac.new(secret, nhs_number.encode("ascii"), hashlib.sha256).hexdigest()


def subject_key_of_facts(facts: Mapping[str, Any], nhs_fact_names: Iterable[str], secret: bytes | None) -> str | None:
    """The subject key for the raw facts a caller gave, or None (no secret, or no valid NHS number).

    ``nhs_fact_names`` are the policy's facts of type ``nhs_number``; the first valid one is used.
    """
    if secret is None:
        return None
    for name in nhs_fact_names:
        digits = normalise_nhs_number(facts.get(name))
        if digits is not None:
            return subject_key(digits, secret)
    return None
