"""Reading a referral Bundle (FHIR R4) with fhir.resources, into resources that mappings can read.

The bundle is validated against the FHIR R4 resource models (fhir.resources' ``R4B`` module,
FHIR 4.3.0, whose models of the resources used here match R4 4.0.1). Every problem becomes a
``FactProblem`` whose field names the entry, the resource type and the element path, e.g.
``entry[0].resource(Patient).birthDate``. Messages never repeat a value from the bundle.

A referral bundle is about one person: at most one Patient, and every ``subject`` or
``patient`` reference must point to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from recnav_rules.errors import FactProblem, FactValidationError

__all__ = ["MAX_BUNDLE_BYTES", "BundleEntry", "ReadBundle", "read_bundle"]

MAX_BUNDLE_BYTES = 10 * 1024 * 1024
_MAX_DEPTH = 64
_SUBJECT_ELEMENTS = ("subject", "patient")


@dataclass(frozen=True, slots=True)
class BundleEntry:
    """One entry's resource, as the JSON the bundle holds (validated), and where it stood."""

    index: int
    resource_type: str
    id: str | None
    full_url: str | None
    resource: Mapping[str, Any]

    @property
    def label(self) -> str:
        """How errors name this resource: ``entry[2].resource(Condition)``."""
        return f"entry[{self.index}].resource({self.resource_type})"

    def answers_to(self, reference: str) -> bool:
        """Does a ``Reference.reference`` string point at this entry?"""
        if self.full_url is not None and reference == self.full_url:
            return True
        if self.id is None:
            return False
        local = f"{self.resource_type}/{self.id}"
        return reference == local or reference.endswith("/" + local)


@dataclass(frozen=True, slots=True)
class ReadBundle:
    """A validated bundle's entries, with its one Patient (if any)."""

    entries: tuple[BundleEntry, ...]

    def of_type(self, resource_type: str) -> list[BundleEntry]:
        return [e for e in self.entries if e.resource_type == resource_type]

    @property
    def patient(self) -> BundleEntry | None:
        found = self.of_type("Patient")
        return found[0] if found else None


def _deep(value: Any, level: int = 0) -> bool:
    if level > _MAX_DEPTH:
        return True
    if isinstance(value, dict):
        return any(_deep(v, level + 1) for v in value.values())
    if isinstance(value, list):
        return any(_deep(v, level + 1) for v in value)
    return False


def _parse(source: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        data: Any = source
    else:
        if len(source) > MAX_BUNDLE_BYTES:
            raise FactValidationError([FactProblem("bundle", f"larger than {MAX_BUNDLE_BYTES} bytes")])
        try:
            data = json.loads(source)
        except json.JSONDecodeError as exc:  # position only, never the text
            raise FactValidationError([FactProblem("bundle", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]) from None
        except (RecursionError, UnicodeDecodeError):
            raise FactValidationError([FactProblem("bundle", "not readable JSON (bad encoding or nesting too deep)")]) from None
    if not isinstance(data, Mapping):
        raise FactValidationError([FactProblem("bundle", "must be a JSON object (a FHIR resource)")])
    if data.get("resourceType") != "Bundle":
        raise FactValidationError([FactProblem("bundle.resourceType", "must be 'Bundle'")])
    if _deep(data):
        raise FactValidationError([FactProblem("bundle", f"nesting deeper than {_MAX_DEPTH} levels")])
    return data


def _field(data: Mapping[str, Any], loc: Sequence[int | str]) -> str:
    """A pydantic error location as ``entry[0].resource(Patient).identifier[0].value``."""
    parts: list[str] = []
    node: Any = data
    for step in loc:
        if isinstance(step, int):
            if parts:
                parts[-1] += f"[{step}]"
            else:
                parts.append(f"[{step}]")
            node = node[step] if isinstance(node, list) and 0 <= step < len(node) else None
            continue
        text = str(step)
        if not text.replace("_", "").isalnum():  # pydantic's own validator names, not elements
            continue
        node = node.get(text) if isinstance(node, Mapping) else None
        if text == "resource" and isinstance(node, Mapping) and isinstance(node.get("resourceType"), str):
            text = f"resource({node['resourceType']})"
        parts.append(text)
    return ".".join(parts) or "bundle"


def _message(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    given = error.get("input")
    if isinstance(given, str | int | float) and not isinstance(given, bool) and str(given) and str(given) in message:
        message = message.replace(str(given), "(the value given)")
    return message.rstrip(".")


def read_bundle(source: str | bytes | Mapping[str, Any]) -> ReadBundle:
    """Validate a FHIR R4 Bundle (JSON text or parsed) and index its resources.

    Raises ``FactValidationError`` naming every bad entry, resource and element path.
    """
    from fhir.resources.R4B.bundle import Bundle

    data = _parse(source)
    try:
        Bundle.model_validate(data)
    except ValidationError as exc:
        problems = [FactProblem(_field(data, err["loc"]), _message(err)) for err in exc.errors()]
        raise FactValidationError(problems) from None
    entries: list[BundleEntry] = []
    for index, entry in enumerate(data.get("entry") or ()):
        resource = entry.get("resource")
        if isinstance(resource, Mapping):
            entries.append(BundleEntry(index, resource["resourceType"], resource.get("id"), entry.get("fullUrl"), resource))
    bundle = ReadBundle(tuple(entries))
    _check_one_person(bundle)
    return bundle


def _check_one_person(bundle: ReadBundle) -> None:
    patients = bundle.of_type("Patient")
    if len(patients) > 1:
        raise FactValidationError([FactProblem(p.label, f"the bundle holds {len(patients)} Patient resources; a referral is about one person") for p in patients])
    patient = patients[0] if patients else None
    problems: list[FactProblem] = []
    for entry in bundle.entries:
        for element in _SUBJECT_ELEMENTS:
            target = entry.resource.get(element)
            reference = target.get("reference") if isinstance(target, Mapping) else None
            if not isinstance(reference, str) or not reference.startswith(("Patient/", "urn:", "http")):
                continue
            if "Patient/" not in reference and not reference.startswith("urn:"):
                continue
            if patient is None or not patient.answers_to(reference):
                problems.append(FactProblem(f"{entry.label}.{element}.reference", "refers to a Patient that is not the bundle's Patient"))
    if problems:
        raise FactValidationError(problems)
