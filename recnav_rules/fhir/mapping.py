"""FHIR mappings: how a referral Bundle's resources become one policy's facts.

A mapping is a YAML sidecar file, ``policies/fhir/<policy-id>.fhir.yaml`` next to the policy
file (see docs/fhir.md for the language). Loading checks it against
``schemas/fhir-mapping.schema.json`` and against the policy (every fact exists, every enum value
is allowed, every resource type and first path element exists in FHIR R4), and reports every
problem at once as a ``PolicyError`` with file:line:col.

Each fact is read from the bundle's resources of one type that pass every ``where`` test:

- ``value: PATH``: the value the path reaches (through ``map``, if given), converted to the
  fact's type (a date fact takes the date part of a FHIR date or dateTime). Several resources
  giving different values is an error, not a guess.
- ``true_if`` / ``false_if``: a boolean fact. True when any resource passes ``true_if``, else
  false when any passes ``false_if``.

A fact nothing in the bundle speaks to is left out: unknown, never false.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from recnav_rules.errors import FactProblem, FactValidationError, PolicyError, PolicyProblem, closest
from recnav_rules.fhir._located import LocatedDocument, PathKey, load_located_yaml, mapping_schema_problems
from recnav_rules.fhir.bundle import BundleEntry, ReadBundle
from recnav_rules.fhir.paths import ElementPath, PathSyntaxError, parse_path
from recnav_rules.policy import Policy

__all__ = ["FactMapping", "FhirMapping", "Test", "compile_mapping", "load_mapping", "mapping_path"]

MAX_MAPPING_BYTES = 256 * 1024
_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_STRING_TYPES = {"string", "enum", "ods_code", "nhs_number"}


@dataclass(frozen=True, slots=True)
class Test:
    """``path`` reaches at least one of ``values``."""

    path: ElementPath
    values: tuple[Any, ...]

    def holds(self, resource: Mapping[str, Any]) -> bool:
        return any(_same(found, wanted) for found in self.path.values(resource) for wanted in self.values)


def _same(found: object, wanted: object) -> bool:
    # True == 1 in Python; FHIR keeps booleans and integers apart.
    return type(found) is type(wanted) and found == wanted


@dataclass(frozen=True, slots=True)
class FactMapping:
    """How one fact is read from the bundle."""

    fact: str
    fact_type: str
    resource: str
    where: tuple[Test, ...]
    value: ElementPath | None = None
    codes: Mapping[Any, Any] | None = None
    true_if: Test | None = None
    false_if: Test | None = None

    @property
    def path_text(self) -> str:
        """The path that names this fact in errors and data requirements."""
        if self.value is not None:
            return self.value.text
        test = self.true_if or self.false_if
        return test.path.text if test is not None else ""

    def selected(self, bundle: ReadBundle) -> list[BundleEntry]:
        return [e for e in bundle.of_type(self.resource) if all(t.holds(e.resource) for t in self.where)]

    def read(self, bundle: ReadBundle, problems: list[FactProblem]) -> tuple[bool, Any]:
        """(found, value) for this fact; problems are appended, never raised."""
        entries = self.selected(bundle)
        if self.value is None:
            if self.true_if is not None and any(self.true_if.holds(e.resource) for e in entries):
                return True, True
            if self.false_if is not None and any(self.false_if.holds(e.resource) for e in entries):
                return True, False
            return False, None
        values: list[Any] = []
        for entry in entries:
            for raw in self.value.values(entry.resource):
                converted = self._convert(raw, entry, problems)
                if converted is not _BAD and converted not in values:
                    values.append(converted)
        if len(values) > 1:
            where = f"{self.resource}.{self.value.text}"
            problems.append(FactProblem(where, f"the bundle gives {len(values)} different values for fact '{self.fact}'"))
            return False, None
        return (True, values[0]) if values else (False, None)

    def _convert(self, raw: Any, entry: BundleEntry, problems: list[FactProblem]) -> Any:
        where = f"{entry.label}.{self.value.text if self.value else ''}"
        if self.codes is not None:
            key = raw if isinstance(raw, str | bool | int) else None
            if key is None or key not in self.codes:
                problems.append(FactProblem(where, f"a code the mapping for '{self.fact}' does not know (known: {', '.join(map(str, self.codes))})"))
                return _BAD
            raw = self.codes[key]
        if self.fact_type == "date":
            if isinstance(raw, str) and _FULL_DATE.fullmatch(raw[:10]):
                try:
                    return dt.date.fromisoformat(raw[:10]).isoformat()
                except ValueError:
                    pass
            problems.append(FactProblem(where, f"fact '{self.fact}' needs a full date (YYYY-MM-DD)"))
            return _BAD
        if self.fact_type == "bool" and not isinstance(raw, bool):
            problems.append(FactProblem(where, f"fact '{self.fact}' needs a boolean"))
            return _BAD
        if self.fact_type == "integer" and (isinstance(raw, bool) or not isinstance(raw, int)):
            problems.append(FactProblem(where, f"fact '{self.fact}' needs a whole number"))
            return _BAD
        if self.fact_type in _STRING_TYPES and not isinstance(raw, str):
            problems.append(FactProblem(where, f"fact '{self.fact}' needs text"))
            return _BAD
        return raw


_BAD = object()


@dataclass(frozen=True, slots=True)
class FhirMapping:
    """A checked mapping for one policy: read a bundle's facts with ``facts_from``."""

    policy_id: str
    file: str
    fhir_version: str
    profiles: tuple[str, ...]
    facts: tuple[FactMapping, ...]

    def fact(self, name: str) -> FactMapping | None:
        return next((f for f in self.facts if f.fact == name), None)

    def facts_from(self, bundle: ReadBundle) -> dict[str, Any]:
        """The policy's facts from ``bundle``. Raises ``FactValidationError`` naming every bad resource path."""
        problems: list[FactProblem] = []
        facts: dict[str, Any] = {}
        for mapping in self.facts:
            found, value = mapping.read(bundle, problems)
            if found:
                facts[mapping.fact] = value
        if problems:
            raise FactValidationError(problems)
        return facts


# --- loading and checking -------------------------------------------------------------------------------


def mapping_path(policy: Policy) -> Path:
    """Where a policy's mapping lives: ``fhir/<policy-id>.fhir.yaml`` beside the policy file."""
    return Path(policy.file).parent / "fhir" / f"{policy.id}.fhir.yaml"


_lock = threading.Lock()
_loaded: dict[tuple[str, str, str], FhirMapping] = {}


def load_mapping(policy: Policy, path: str | Path | None = None) -> FhirMapping:
    """The policy's FHIR mapping (``mapping_path(policy)`` unless ``path`` is given), checked; cached by content."""
    file = Path(path) if path is not None else mapping_path(policy)
    try:
        data = file.read_bytes() if file.stat().st_size <= MAX_MAPPING_BYTES else None
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else (exc.strerror or type(exc).__name__)
        raise PolicyError.at(str(file), None, None, "no-fhir-mapping", f"cannot read the FHIR mapping for policy '{policy.id}': {reason}") from None
    if data is None:
        raise PolicyError.at(str(file), None, None, "too-large", f"FHIR mapping is larger than {MAX_MAPPING_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError.at(str(file), None, None, "encoding", f"not UTF-8 (byte {exc.start})") from None
    key = (str(file), hashlib.sha256(data).hexdigest(), policy.digest)
    with _lock:
        found = _loaded.get(key)
    if found is None:
        found = compile_mapping(text, str(file), policy)
        with _lock:
            _loaded[key] = found
    return found


def compile_mapping(text: str, file: str, policy: Policy) -> FhirMapping:
    """Parse and check a mapping's text for ``policy``. Raises ``PolicyError`` listing every problem."""
    doc = load_located_yaml(text, file)
    problems = mapping_schema_problems(doc)
    if problems:
        raise PolicyError(problems)
    data: dict[str, Any] = doc.data
    if data["policy"] != policy.id:
        problems.append(doc.problem(("policy",), "wrong-policy", f"this mapping is for '{data['policy']}', not '{policy.id}'"))
    facts: list[FactMapping] = []
    for name, spec in data["facts"].items():
        fact = _fact_mapping(doc, policy, name, spec, problems)
        if fact is not None:
            facts.append(fact)
    if problems:
        raise PolicyError(problems)
    return FhirMapping(policy.id, file, str(data["fhir_version"]), tuple(data.get("profiles", ())), tuple(facts))


def _fact_mapping(
    doc: LocatedDocument, policy: Policy, name: str, spec: dict[str, Any], problems: list[PolicyProblem]
) -> FactMapping | None:
    at: PathKey = ("facts", name)
    info = policy.facts.get(name)
    if info is None:
        problems.append(doc.problem(at, "unknown-fact", f"policy '{policy.id}' has no fact '{name}'", closest(name, policy.facts), at_key=True))
        return None
    elements = _resource_elements(spec["resource"])
    if elements is None:
        problems.append(doc.problem((*at, "resource"), "unknown-resource", f"'{spec['resource']}' is not a FHIR R4 resource type"))
        return None
    count = len(problems)

    def path(text: str, where: PathKey) -> ElementPath | None:
        try:
            parsed = parse_path(text)
        except PathSyntaxError as exc:
            problems.append(doc.problem(where, "bad-path", f"bad path: {exc} (character {exc.column})"))
            return None
        if parsed.first not in elements:
            suggestion = closest(parsed.first, elements)
            problems.append(doc.problem(where, "unknown-element", f"{spec['resource']} has no element '{parsed.first}'", suggestion))
            return None
        return parsed

    def test(raw: dict[str, Any], where: PathKey) -> Test | None:
        parsed = path(raw["path"], (*where, "path"))
        return Test(parsed, tuple(raw["in"])) if parsed is not None else None

    where_tests = [test(t, (*at, "where", i)) for i, t in enumerate(spec.get("where", ()))]
    has_value = "value" in spec
    has_truth = "true_if" in spec or "false_if" in spec
    if has_value == has_truth:
        problems.append(doc.problem(at, "mapping-kind", f"fact '{name}': give either 'value' or 'true_if'/'false_if'", at_key=True))
        return None
    if has_truth and info.type != "bool":
        problems.append(doc.problem(at, "mapping-kind", f"fact '{name}' is {info.type}, so it needs 'value', not 'true_if'/'false_if'", at_key=True))
    codes: dict[Any, Any] | None = spec.get("map")
    if codes is not None and info.values:
        for key, mapped in codes.items():
            if mapped not in info.values:
                problems.append(doc.problem((*at, "map", key), "bad-value", f"'{mapped}' is not a value of fact '{name}' ({', '.join(info.values)})", closest(str(mapped), info.values)))
    value = path(spec["value"], (*at, "value")) if has_value else None
    true_if = test(spec["true_if"], (*at, "true_if")) if "true_if" in spec else None
    false_if = test(spec["false_if"], (*at, "false_if")) if "false_if" in spec else None
    if len(problems) > count:
        return None
    return FactMapping(
        name,
        info.type,
        spec["resource"],
        tuple(t for t in where_tests if t is not None),
        value,
        codes,
        true_if,
        false_if,
    )


@cache
def _resource_elements(resource_type: str) -> frozenset[str] | None:
    """The top-level element names of a FHIR R4 resource type, or None for an unknown type."""
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.domainresource import DomainResource

    try:
        model = get_fhir_model_class(resource_type)
    except (ValueError, KeyError, AttributeError):
        return None
    if not issubclass(model, DomainResource):  # a data type (Reference, Coding, ...), not a resource
        return None
    names = {field.alias or name for name, field in model.model_fields.items()}
    return frozenset(n for n in names if not n.endswith("__ext") and n != "fhir_comments")
