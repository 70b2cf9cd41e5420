"""recnav_rules: explainable eligibility decisions for mental-health referrals.

Evaluate the facts of a referral against a declarative YAML policy and get back an
``accept``, ``reject`` or ``signpost`` decision with the reasons, the source quote behind each,
and a trace of every rule::

    import datetime, recnav_rules
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    decision = policy.evaluate(facts, as_of=datetime.date(2026, 11, 20))
    print(decision.explain())
"""

from recnav_rules._version import __version__
from recnav_rules.audit import DecisionLog, DecisionLogError
from recnav_rules.decision import Decision, FactReading, NextStep, Reason, Signpost, TraceStep
from recnav_rules.engine.model import Citation, Outcome
from recnav_rules.errors import (
    FactProblem,
    FactValidationError,
    PolicyError,
    PolicyProblem,
    RecnavError,
)
from recnav_rules.policies.register import builtin_register, load_epraccur, load_pcn_membership
from recnav_rules.policies.registry import PolicyInfo, list_policies, load_policy
from recnav_rules.policy import FactInfo, Policy

__all__ = [
    "Citation",
    "Decision",
    "DecisionLog",
    "DecisionLogError",
    "FactInfo",
    "FactProblem",
    "FactReading",
    "FactValidationError",
    "NextStep",
    "Outcome",
    "Policy",
    "PolicyError",
    "PolicyInfo",
    "PolicyProblem",
    "Reason",
    "RecnavError",
    "Signpost",
    "TraceStep",
    "__version__",
    "builtin_register",
    "list_policies",
    "load_epraccur",
    "load_pcn_membership",
    "load_policy",
]
