"""recnav_rules: explainable eligibility decisions for mental-health referrals.

Evaluate the facts of a referral against a declarative YAML policy and get back an
``accept``, ``reject`` or ``signpost`` decision with the reasons, the source quote behind each,
and a trace of every rule::

    import datetime, recnav_rules
    policy = recnav_rules.load_policy("bnssg-hiu-pilot")
    decision = policy.evaluate(facts, as_of=datetime.date(2026, 11, 20))
    print(decision.explain())
"""

from typing import TYPE_CHECKING, Any

from recnav_rules._version import __version__

if TYPE_CHECKING:
    from recnav_rules.audit import DecisionLog, DecisionLogError
    from recnav_rules.decision import Decision, FactReading, NextStep, Reason, Signpost, TraceStep
    from recnav_rules.engine.model import Citation, Outcome
    from recnav_rules.errors import (
        FactProblem,
        FactValidationError,
        PolicyError,
        PolicyProblem,
        Problem,
        RecnavError,
    )
    from recnav_rules.policies.register import builtin_register, load_epraccur, load_pcn_membership
    from recnav_rules.policies.registry import PolicyInfo, list_policies, load_policy
    from recnav_rules.policy import FactInfo, Policy


# The public names are imported when first used (PEP 562), so that ``import recnav_rules`` is
# cheap: a command that only prints its version, or a service that loads one policy, pays for
# what it uses. ``_LAZY`` maps each name to the module that defines it.
_LAZY = {
    "DecisionLog": "recnav_rules.audit",
    "DecisionLogError": "recnav_rules.audit",
    "Decision": "recnav_rules.decision",
    "FactReading": "recnav_rules.decision",
    "NextStep": "recnav_rules.decision",
    "Reason": "recnav_rules.decision",
    "Signpost": "recnav_rules.decision",
    "TraceStep": "recnav_rules.decision",
    "Citation": "recnav_rules.engine.model",
    "Outcome": "recnav_rules.engine.model",
    "FactProblem": "recnav_rules.errors",
    "FactValidationError": "recnav_rules.errors",
    "PolicyError": "recnav_rules.errors",
    "PolicyProblem": "recnav_rules.errors",
    "Problem": "recnav_rules.errors",
    "RecnavError": "recnav_rules.errors",
    "builtin_register": "recnav_rules.policies.register",
    "load_epraccur": "recnav_rules.policies.register",
    "load_pcn_membership": "recnav_rules.policies.register",
    "PolicyInfo": "recnav_rules.policies.registry",
    "list_policies": "recnav_rules.policies.registry",
    "load_policy": "recnav_rules.policies.registry",
    "FactInfo": "recnav_rules.policy",
    "Policy": "recnav_rules.policy",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'recnav_rules' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "Problem",
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
