"""The one place the FHIR package reaches into engine internals: located YAML and schema checks.

``recnav_rules.engine.source`` and ``recnav_rules.engine.schema_check`` are not public API and
may move while the engine is refactored (issue 9); if they do, only this module changes.
"""

from __future__ import annotations

from typing import Any

from recnav_rules._resources import schema
from recnav_rules.engine.schema_check import schema_problems
from recnav_rules.engine.source import LocatedDocument, PathKey, load_yaml_text
from recnav_rules.errors import PolicyProblem

__all__ = ["LocatedDocument", "PathKey", "load_located_yaml", "mapping_schema_problems"]

MAPPING_SCHEMA = "fhir-mapping.schema.json"


def load_located_yaml(text: str, file: str) -> LocatedDocument:
    """YAML parsed by the safe loader, with every value's 1-based line and column. Raises PolicyError."""
    return load_yaml_text(text, file)


def mapping_schema_problems(doc: LocatedDocument) -> list[PolicyProblem]:
    """Every place ``doc`` breaks ``schemas/fhir-mapping.schema.json``, located at file:line:col."""
    found: list[PolicyProblem] = schema_problems(doc, _schema())
    return found


def _schema() -> dict[str, Any]:
    return schema(MAPPING_SCHEMA)
