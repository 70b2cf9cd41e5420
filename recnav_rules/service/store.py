"""The policies a running service offers (compiled once per worker), and its decision log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recnav_rules import Decision, FactProblem, FactValidationError, Policy, PolicyError, PolicyInfo, list_policies
from recnav_rules.service import _engine_view

__all__ = ["PolicyStore", "UnknownPolicy"]


class UnknownPolicy(LookupError):
    """No policy with this id is offered."""

    def __init__(self, policy_id: str, suggestion: str | None) -> None:
        super().__init__(policy_id)
        self.policy_id = policy_id
        self.suggestion = suggestion


@dataclass(slots=True)
class PolicyStore:
    """Built-in and plug-in policies by id (only ids, never paths), with the service's ``--param`` values.

    ``policies`` holds every offered policy, for showing; ``not_ready`` says why a policy cannot
    decide without request parameters (a parameter without a value). ``log`` is a
    ``recnav_rules.audit.DecisionLog`` when the service was started with ``--log``.
    """

    infos: dict[str, PolicyInfo]
    policies: dict[str, Policy]
    parameters: dict[str, str]
    not_ready: dict[str, str] = field(default_factory=dict)
    log: Any = None

    @classmethod
    def load(cls, parameters: Mapping[str, str], log: Any = None) -> PolicyStore:
        infos = {info.id: info for info in list_policies()}
        policies: dict[str, Policy] = {}
        not_ready: dict[str, str] = {}
        for pid in infos:
            try:
                policies[pid] = _engine_view.load(pid, parameters)
            except PolicyError as exc:
                if not all(p.code == "unset-parameter" for p in exc.problems):
                    raise
                policies[pid] = _engine_view.unchecked(pid)
                not_ready[pid] = "; ".join(p.message for p in exc.problems)
        return cls(infos, policies, dict(parameters), not_ready, log)

    def get(self, policy_id: str) -> Policy:
        """The policy, for showing (it may lack a parameter value: see ``deciding``)."""
        found = self.policies.get(policy_id)
        if found is None:
            from recnav_rules.errors import closest

            raise UnknownPolicy(policy_id, closest(policy_id, self.policies))
        return found

    def deciding(self, policy_id: str, parameters: Mapping[str, Any] | None = None) -> Policy:
        """The policy ready to decide, with request parameters over the service's own.

        Bad or missing parameters: ``FactValidationError`` naming ``parameters.<name>``.
        """
        policy = self.get(policy_id)
        if not parameters and policy_id not in self.not_ready:
            return policy
        try:
            return _engine_view.load(policy_id, self.parameters, parameters)
        except PolicyError as exc:
            raise FactValidationError(
                [FactProblem(_parameter_field(p.file or ""), p.message, p.suggestion, code=p.code) for p in exc.problems]
            ) from None

    def evaluate(self, policy: Policy, facts: Mapping[str, Any], as_of: dt.date | str | None) -> Decision:
        """``policy.evaluate``, recorded in the decision log when there is one."""
        if self.log is None:
            return policy.evaluate(facts, as_of=as_of)
        evaluate: Any = policy.evaluate
        decision: Decision = evaluate(facts, as_of=as_of, log=self.log)
        return decision


def _parameter_field(file: str) -> str:
    """``<parameter NAME>`` (how a parameter problem names its place) to ``parameters.NAME``."""
    if file.startswith("<parameter ") and file.endswith(">"):
        return "parameters." + file[len("<parameter ") : -1]
    return "parameters"
