"""Finding and loading policies: built-in ids, file paths, and plug-ins.

Built-in policies are the YAML files shipped with the package. Third-party packages add theirs
through the entry-point group ``recnav_rules.policies``: each entry point names a callable
that returns a path, or an iterable of paths, to policy files (or is itself such a path
string). Compiled policies are cached by the sha256 of the file's bytes and of the reference
data they were compiled with, so a changed file is recompiled and an unchanged one never is.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from recnav_rules._resources import policies_dir
from recnav_rules.decision import Signpost
from recnav_rules.engine.compiler import compile_document
from recnav_rules.engine.model import CompiledPolicy
from recnav_rules.engine.source import load_yaml_text
from recnav_rules.errors import PolicyError, closest
from recnav_rules.policy import Policy

__all__ = ["ENTRY_POINT_GROUP", "PolicyInfo", "compile_file", "list_policies", "load_policy", "policy_files"]

ENTRY_POINT_GROUP = "recnav_rules.policies"

_lock = threading.Lock()
_compiled: dict[tuple[str, str, str], tuple[Policy, ...]] = {}


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """One available policy: what ``list_policies()`` returns."""

    id: str
    version: str
    title: str
    file: str
    origin: str
    """``builtin``, or ``plugin:<entry point name>``."""


def _plugin_files() -> Iterator[tuple[Path, str]]:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target: Any = entry.load()
            found = target() if callable(target) else target
        except Exception as exc:  # noqa: BLE001  # a broken plug-in must not break the built-ins
            raise PolicyError.at(f"<entry point {entry.name}>", None, None, "plugin", f"cannot load plug-in: {exc}") from None
        paths: Iterable[Any] = [found] if isinstance(found, str | Path) else found
        for path in paths:
            yield Path(path), f"plugin:{entry.name}"


def policy_files() -> list[tuple[Path, str]]:
    """Every known policy file with its origin: the built-ins, then plug-ins."""
    builtin = [(path, "builtin") for path in sorted(policies_dir().glob("*.yaml"))]
    return builtin + list(_plugin_files())


def _reference(register: Any) -> dict[str, Any]:
    if register is not None:
        return {"gp_practices": register}
    from recnav_rules.policies.register import builtin_register

    return {"gp_practices": builtin_register()}


def _services() -> tuple[Any, str]:
    from recnav_rules.policies.directory import builtin_directory

    directory = builtin_directory()

    def lookup(service_id: str) -> Signpost | None:
        service = directory.get(service_id)
        if service is None:
            return None
        return Signpost(service.id, service.name, service.area, service.offers)

    lookup.closest = lambda sid: closest(sid, directory.ids)  # type: ignore[attr-defined]
    return lookup, directory.digest


def compile_file(path: str | Path, *, register: Any = None) -> tuple[Policy, ...]:
    """Compile every policy in one file (cached by content digest). Raises PolicyError."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError.at(name, None, None, "unreadable", f"cannot read policy file: {exc.strerror}") from None
    reference = _reference(register)
    services, services_digest = _services()
    key = (
        hashlib.sha256(raw).hexdigest(),
        str(reference["gp_practices"].digest),
        services_digest,
    )
    caching = not os.environ.get("RECNAV_RULES_NO_COMPILE_CACHE")  # set by mutation testing only
    with _lock:
        cached = _compiled.get(key) if caching else None
    if cached is not None:
        return cached
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError.at(name, None, None, "encoding", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    doc = load_yaml_text(text, name)
    compiled: list[CompiledPolicy] = compile_document(doc, services=services, reference=reference)
    policies = tuple(Policy(c) for c in compiled)
    with _lock:
        _compiled[key] = policies
    return policies


def _looks_like_path(target: str) -> bool:
    return target.endswith((".yaml", ".yml", ".json")) or "/" in target or "\\" in target or "#" in target


def load_policy(target: str | Path, *, register: Any = None) -> Policy:
    """A built-in or plug-in policy by id, or a policy file by path.

    A file holding several policies needs the id too: ``"path/to/file.yaml#policy-id"``.
    ``register`` replaces the built-in GP practice register (see ``load_epraccur``).
    Raises PolicyError for an unknown id (with a did-you-mean) or a bad file.
    """
    text = str(target)
    if isinstance(target, Path) or _looks_like_path(text):
        file, _, wanted = text.partition("#")
        policies = compile_file(file, register=register)
        if wanted:
            for policy in policies:
                if policy.id == wanted:
                    return policy
            raise PolicyError.at(file, None, None, "unknown-policy", f"no policy '{wanted}' in this file", closest(wanted, [p.id for p in policies]))
        if len(policies) > 1:
            listed = ", ".join(p.id for p in policies)
            raise PolicyError.at(file, None, None, "ambiguous", f"the file holds several policies ({listed}); add '#<id>' to the path")
        return policies[0]
    ids: list[str] = []
    for path, _origin in policy_files():
        for policy in compile_file(path, register=register):
            if policy.id == text:
                return policy
            ids.append(policy.id)
    raise PolicyError.at("<policy id>", None, None, "unknown-policy", f"no policy with id '{text}'", closest(text, ids))


def list_policies() -> list[PolicyInfo]:
    """Every available policy, built-ins first, sorted by id within each origin."""
    found: list[PolicyInfo] = []
    for path, origin in policy_files():
        for policy in sorted(compile_file(path), key=lambda p: p.id):
            found.append(PolicyInfo(policy.id, policy.version, policy.title, str(path), origin))
    return found
