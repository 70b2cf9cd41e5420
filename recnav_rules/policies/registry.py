"""Finding and loading policies: built-in ids, file paths, and plug-ins.

Built-in policies are the YAML files shipped with the package. Third-party packages add theirs
through the entry-point group ``recnav_rules.policies``: each entry point names a callable
that returns a path, or an iterable of paths, to policy files (or is itself such a path
string). Compiled policies are cached by the file's name, the sha256 of its bytes and everything
about the reference data that a decision records, so a changed file is recompiled and an
unchanged one never is.

Built-in ids are looked up before any plug-in is loaded, so a broken plug-in cannot stop a
built-in policy from loading; a plug-in cannot take an id that a built-in (or an earlier
plug-in) already has; a plug-in that raises (or calls ``sys.exit``) is named by its entry point,
never by echoing its exception text.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from recnav_rules._resources import policies_dir
from recnav_rules.decision import Signpost
from recnav_rules.engine.compiler import compile_document
from recnav_rules.engine.model import CompiledPolicy
from recnav_rules.engine.source import load_yaml_text
from recnav_rules.errors import PolicyError, PolicyProblem, closest
from recnav_rules.policies.parameters import check_loaded
from recnav_rules.policy import Policy

__all__ = [
    "ENTRY_POINT_GROUP",
    "MAX_CACHED_FILES",
    "PluginWarning",
    "PolicyInfo",
    "compile_file",
    "list_policies",
    "load_policy",
    "plugin_problems",
    "policy_files",
]

ENTRY_POINT_GROUP = "recnav_rules.policies"
MAX_CACHED_FILES = 256
_MAX_PLUGIN_FILES = 1000

_lock = threading.Lock()
_compiled: dict[tuple[str, ...], tuple[Policy, ...]] = {}


class PluginWarning(UserWarning):
    """A plug-in was left out: it could not be loaded, or its policies could not be used."""


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """One available policy: what ``list_policies()`` returns."""

    id: str
    version: str
    title: str
    file: str
    origin: str
    """``builtin``, or ``plugin:<entry point name>``."""


@dataclass(frozen=True, slots=True)
class _Plugins:
    """What the plug-ins offer: their files, and the plug-ins that could not be loaded."""

    files: tuple[tuple[Path, str], ...]
    broken: tuple[PolicyProblem, ...]


def _plugin_problem(name: str, message: str) -> PolicyProblem:
    return PolicyProblem(f"<plug-in {name}>", None, None, "plugin", message)


class _BadPluginResult(Exception):
    """A plug-in gave something other than paths (the message names no value)."""


def _plugin_paths(found: object) -> list[Path]:
    """The paths one plug-in gave; ``_BadPluginResult`` for anything else."""
    if isinstance(found, str | Path):
        return [Path(found)]
    if found is None or isinstance(found, bytes | int | float | bool) or not isinstance(found, Iterable):
        raise _BadPluginResult(f"returned {type(found).__name__}, not a path or an iterable of paths")
    paths: list[Path] = []
    for item in itertools.islice(found, _MAX_PLUGIN_FILES + 1):
        if not isinstance(item, str | Path):
            raise _BadPluginResult(f"gave a {type(item).__name__} among its paths, not a path")
        paths.append(Path(item))
    if len(paths) > _MAX_PLUGIN_FILES:
        raise _BadPluginResult(f"gave more than {_MAX_PLUGIN_FILES} policy files")
    return paths


def _plugins() -> _Plugins:
    """Load every plug-in. A broken one is reported by its entry-point name, never by echoing
    its exception text (which can hold anything), and never stops the others or the built-ins.
    ``sys.exit`` inside a plug-in is caught too."""
    files: list[tuple[Path, str]] = []
    broken: list[PolicyProblem] = []
    try:
        entries = list(entry_points(group=ENTRY_POINT_GROUP))
    except Exception as exc:  # noqa: BLE001  # broken installed metadata must not break the built-ins
        return _Plugins((), (_plugin_problem("*", f"plug-ins could not be listed ({type(exc).__name__})"),))
    for entry in entries:
        name = str(getattr(entry, "name", "?"))
        try:
            target: Any = entry.load()
            found = target() if callable(target) else target
            paths = _plugin_paths(found)
        except _BadPluginResult as exc:
            broken.append(_plugin_problem(name, f"plug-in '{name}' {exc}"))
            continue
        except (Exception, SystemExit) as exc:  # noqa: BLE001  # a broken plug-in must not break the built-ins
            broken.append(_plugin_problem(name, f"plug-in '{name}' could not be loaded ({type(exc).__name__})"))
            continue
        files.extend((path, f"plugin:{name}") for path in paths)
    return _Plugins(tuple(files), tuple(broken))


def _builtin_files() -> list[tuple[Path, str]]:
    return [(path, "builtin") for path in sorted(policies_dir().glob("*.yaml"))]


def policy_files() -> list[tuple[Path, str]]:
    """Every known policy file with its origin: the built-ins, then the plug-ins that load."""
    return _builtin_files() + list(_plugins().files)


def plugin_problems() -> list[PolicyProblem]:
    """One problem per plug-in that could not be loaded, named by its entry point, or whose
    policy file could not be compiled, or that reuses an id already taken (a built-in's
    or an earlier plug-in's)."""
    return _available(None)[1]


def _available(register: Any) -> tuple[list[tuple[Policy, str, Path]], list[PolicyProblem]]:
    """Every usable policy with its origin and file, built-ins first; and what went wrong."""
    found: list[tuple[Policy, str, Path]] = []
    seen: dict[str, str] = {}
    for path, origin in _builtin_files():
        for policy in compile_file(path, register=register):
            found.append((policy, origin, path))
            seen[policy.id] = origin
    plugins = _plugins()
    problems = list(plugins.broken)
    for path, origin in plugins.files:
        name = origin.removeprefix("plugin:")
        try:
            policies = compile_file(path, register=register)
        except PolicyError as exc:
            problems.append(_plugin_problem(name, f"plug-in '{name}' gave a policy file that cannot be used: {exc.problems[0].render()}"))
            continue
        for policy in policies:
            taken = seen.get(policy.id)
            if taken is not None:
                problems.append(_plugin_problem(name, f"plug-in '{name}' policy '{policy.id}' ignored: the id is taken ({taken})"))
                continue
            found.append((policy, origin, path))
            seen[policy.id] = origin
    return found, problems


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


def _register_key(register: Any) -> tuple[str, ...]:
    """Everything about a register that a decision records or that can change one."""
    info = register.info() if hasattr(register, "info") else {}
    return (
        str(getattr(register, "digest", "")),
        str(info.get("as_of", getattr(register, "as_of", ""))),
        str(info.get("name", getattr(register, "name", ""))),
        str(info.get("origin", getattr(register, "origin", ""))),
    )


def compile_file(path: str | Path, *, register: Any = None, parameters: dict[str, Any] | None = None) -> tuple[Policy, ...]:
    """Compile every policy in one file. Raises PolicyError.

    Cached by every input that can change a decision or what it records: the file's name as
    given (a policy records it), the sha256 of its bytes, the register's digest, as-of date,
    name and origin, and the services directory's digest. The cache holds the most recent
    ``MAX_CACHED_FILES`` files.
    """
    from recnav_rules._io import read_bounded
    from recnav_rules.engine.source import DEFAULT_LIMITS

    name = str(path)
    raw = read_bounded(path, DEFAULT_LIMITS.max_bytes, what="policy file")
    reference = _reference(register)
    services, services_digest = _services()
    key = (
        name,
        hashlib.sha256(raw).hexdigest(),
        *_register_key(reference["gp_practices"]),
        services_digest,
        repr(sorted((parameters or {}).items())),
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
    compiled: list[CompiledPolicy] = compile_document(doc, services=services, reference=reference, parameters=parameters)
    policies = tuple(Policy(c) for c in compiled)
    if caching:
        with _lock:
            _compiled[key] = policies
            while len(_compiled) > MAX_CACHED_FILES:
                del _compiled[next(iter(_compiled))]
    return policies


def _looks_like_path(target: str) -> bool:
    return target.endswith((".yaml", ".yml", ".json")) or "/" in target or "\\" in target or "#" in target


def load_policy(
    target: str | Path,
    *,
    register: Any = None,
    parameters: dict[str, Any] | None = None,
    allow_unset_parameters: bool = False,
) -> Policy:
    """A built-in or plug-in policy by id, or a policy file by path, with its parameters set.

    ``parameters`` sets the policy's declared parameters by name (see docs/policy-language.md);
    a parameter the policy uses that has no value, or a name it does not declare, is a PolicyError.
    Tools that only read a policy (documents, listings) pass ``allow_unset_parameters=True``;
    such a policy must not be used to decide (``compiled.unset_parameters`` names what is missing).
    """
    policy = _find_policy(target, register, parameters)
    compiled = policy.compiled
    unset = () if allow_unset_parameters else compiled.unset_parameters
    check_loaded(policy.id, compiled.parameters, unset, compiled.parameter_specs, parameters)
    return policy


def _find_policy(target: str | Path, register: Any, parameters: dict[str, Any] | None) -> Policy:
    """A built-in or plug-in policy by id, or a policy file by path.

    A file holding several policies needs the id too: ``"path/to/file.yaml#policy-id"``.
    ``register`` replaces the built-in GP practice register (see ``load_epraccur``).
    Raises PolicyError for an unknown id (with a did-you-mean) or a bad file.
    """
    text = str(target)
    if isinstance(target, Path) or _looks_like_path(text):
        file, _, wanted = text.partition("#")
        policies = compile_file(file, register=register, parameters=parameters)
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
    for path, _origin in _builtin_files():  # built-ins never wait on, or depend on, plug-ins
        for policy in compile_file(path, register=register, parameters=parameters):
            if policy.id == text:
                return policy
            ids.append(policy.id)
    found, problems = _available(register)
    for policy, _origin, _path in found:
        if policy.id == text:
            return policy
        ids.append(policy.id)
    unknown = PolicyProblem("<policy id>", None, None, "unknown-policy", f"no policy with id '{text}'", closest(text, ids))
    raise PolicyError([unknown, *problems])


def list_policies() -> list[PolicyInfo]:
    """Every available policy, built-ins first, sorted by id within each origin.

    A plug-in that cannot be loaded, whose file cannot be compiled, or that reuses a taken id
    is left out and named in a ``PluginWarning`` (``plugin_problems()`` lists them as data).
    """
    found, problems = _available(None)
    for problem in problems:
        warnings.warn(problem.message, PluginWarning, stacklevel=2)
    ordered = sorted(found, key=lambda item: (item[1] != "builtin", item[1] if item[1] != "builtin" else "", item[0].id))
    return [PolicyInfo(policy.id, policy.version, policy.title, str(path), origin) for policy, origin, path in ordered]
