"""The signposting directory: services as data, each with its limits and what it rests on.

Decisions' ``signposts`` name directory entries; a policy that signposts to an id the directory
does not hold does not load. ``recnav-rules services [--area AREA]`` lists it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

from recnav_rules._resources import schema
from recnav_rules.engine.schema_check import schema_problems
from recnav_rules.engine.source import load_yaml_text
from recnav_rules.errors import PolicyError

__all__ = ["AREAS", "Service", "ServiceDirectory", "builtin_directory", "load_directory"]

AREAS = {
    "bnssg": "Bristol, North Somerset and South Gloucestershire",
    "bnes": "Bath and North East Somerset",
    "somerset": "Somerset",
    "national": "England-wide",
}


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    name: str
    area: str
    offers: str
    for_whom: str
    limits: tuple[str, ...]
    source: str | None
    quote: str | None
    assumption: str | None


class ServiceDirectory:
    """Services by id. Immutable; safe to share across threads."""

    __slots__ = ("_services", "digest", "origin")

    def __init__(self, services: dict[str, Service], origin: str, digest: str) -> None:
        self._services = services
        self.origin = origin
        self.digest = digest

    def get(self, service_id: str) -> Service | None:
        return self._services.get(service_id)

    def __contains__(self, service_id: object) -> bool:
        return service_id in self._services

    def __iter__(self) -> Iterator[Service]:
        return iter(self._services.values())

    def __len__(self) -> int:
        return len(self._services)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._services)

    @property
    def areas(self) -> frozenset[str]:
        return frozenset(s.area for s in self._services.values())

    def filter(self, area: str | None = None) -> list[Service]:
        return [s for s in self._services.values() if area is None or s.area == area]


def _parse(text: str, file: str, digest: str) -> ServiceDirectory:
    doc = load_yaml_text(text, file)
    problems = schema_problems(doc, schema("services.schema.json"))
    if problems:
        raise PolicyError(problems)
    services: dict[str, Service] = {}
    for index, raw in enumerate(doc.data["services"]):
        path = ("services", index)
        if raw["id"] in services:
            problems.append(doc.problem((*path, "id"), "duplicate-service", f"service id '{raw['id']}' is used twice"))
            continue
        cited, assumed = raw.get("citation"), raw.get("assumption")
        if (cited is None) == (assumed is None):
            problems.append(
                doc.problem(path, "citation-or-assumption", f"service '{raw['id']}' needs a citation or an assumption (one, not both)")
            )
            continue
        services[raw["id"]] = Service(
            raw["id"],
            raw["name"],
            raw["area"],
            " ".join(raw["offers"].split()),
            " ".join(raw["for_whom"].split()),
            tuple(raw.get("limits", ())),
            cited["source"] if cited else None,
            " ".join(cited["quote"].split()) if cited else None,
            " ".join(assumed.split()) if assumed else None,
        )
    if problems:
        raise PolicyError(problems)
    return ServiceDirectory(services, file, digest)


def load_directory(path: str | Path) -> ServiceDirectory:
    """A directory from a YAML file. Raises PolicyError with file:line:col."""
    try:
        raw = Path(path).read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise PolicyError.at(str(path), None, None, "unreadable", f"cannot read file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise PolicyError.at(str(path), None, None, "encoding", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return _parse(text, str(path), hashlib.sha256(raw).hexdigest())


@cache
def builtin_directory() -> ServiceDirectory:
    raw = (files("recnav_rules.policies") / "services.yaml").read_bytes()
    return _parse(raw.decode("utf-8"), "recnav_rules/policies/services.yaml", hashlib.sha256(raw).hexdigest())
