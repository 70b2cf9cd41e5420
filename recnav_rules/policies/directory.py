"""The signposting directory: services as data, each with its limits and what it rests on.

Decisions' ``signposts`` name directory entries; a policy that signposts to an id the directory
does not hold does not load. ``recnav-rules services [--area AREA]`` lists it.

The directory is extensible. A deployment adds services from its own YAML files (the same
schema, checked the same way, errors located at ``file:line:col``) named in the environment
variable ``RECNAV_RULES_SERVICES`` (paths separated by ``os.pathsep``); a package adds them
through the entry-point group ``recnav_rules.services`` (a callable returning a path or paths).
Service ids are unique across all of them: a duplicate is an error naming both places.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from importlib.resources import files
from pathlib import Path

from recnav_rules._resources import schema
from recnav_rules.engine.schema_check import schema_problems
from recnav_rules.engine.source import load_yaml_text
from recnav_rules.errors import PolicyError, PolicyProblem

__all__ = [
    "AREAS",
    "ENTRY_POINT_GROUP",
    "SERVICES_ENV",
    "Service",
    "ServiceDirectory",
    "builtin_directory",
    "load_directory",
]

ENTRY_POINT_GROUP = "recnav_rules.services"
SERVICES_ENV = "RECNAV_RULES_SERVICES"

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

    __slots__ = ("_places", "_services", "digest", "origin")

    def __init__(self, services: dict[str, Service], origin: str, digest: str, places: Mapping[str, tuple[str, int | None]] | None = None) -> None:
        self._services = services
        self.origin = origin
        self.digest = digest
        self._places = dict(places or {})

    def place(self, service_id: str) -> str:
        """Where a service is declared, as ``file:line``."""
        file, line = self._places.get(service_id, (self.origin, None))
        return f"{file}:{line}" if line else file

    def merged(self, other: ServiceDirectory) -> ServiceDirectory:
        """This directory and ``other``'s services; an id in both is a PolicyError naming both places."""
        problems = [
            PolicyProblem(
                other._places.get(sid, (other.origin, None))[0],
                other._places.get(sid, (other.origin, None))[1],
                None,
                "duplicate-service",
                f"service id '{sid}' is already declared at {self.place(sid)}",
            )
            for sid in other.ids
            if sid in self._services
        ]
        if problems:
            raise PolicyError(problems)
        digest = hashlib.sha256(f"{self.digest}+{other.digest}".encode()).hexdigest()
        return ServiceDirectory(
            {**self._services, **other._services}, f"{self.origin}; {other.origin}", digest, {**self._places, **other._places}
        )

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
    places: dict[str, tuple[str, int | None]] = {}
    for index, raw in enumerate(doc.data["services"]):
        path = ("services", index)
        if raw["id"] in services:
            first = places[raw["id"]][1]
            problems.append(doc.problem((*path, "id"), "duplicate-service", f"service id '{raw['id']}' is used twice (first at line {first})"))
            continue
        mark = doc.mark((*path, "id"))
        places[raw["id"]] = (file, mark[0] if mark else None)
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
    return ServiceDirectory(services, file, digest, places)


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
def _shipped() -> ServiceDirectory:
    raw = (files("recnav_rules.policies") / "services.yaml").read_bytes()
    return _parse(raw.decode("utf-8"), "recnav_rules/policies/services.yaml", hashlib.sha256(raw).hexdigest())


def _plugin_paths() -> list[Path]:
    paths: list[Path] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        name = str(getattr(entry, "name", "?"))
        try:
            target = entry.load()
            found = target() if callable(target) else target
            items: Iterable[object] = [found] if isinstance(found, str | Path) else found
            for item in items:
                if not isinstance(item, str | Path):
                    raise TypeError(type(item).__name__)
                paths.append(Path(item))
        except (Exception, SystemExit) as exc:  # noqa: BLE001  # a broken plug-in is named, never echoed
            raise PolicyError.at(f"<plug-in {name}>", None, None, "plugin", f"services plug-in '{name}' could not be loaded ({type(exc).__name__})") from None
    return paths


@cache
def _extended(files_env: str) -> ServiceDirectory:
    directory = _shipped()
    added = [Path(p) for p in files_env.split(os.pathsep) if p.strip()]
    for path in [*_plugin_paths(), *added]:
        directory = directory.merged(load_directory(path))
    return directory


def builtin_directory() -> ServiceDirectory:
    """The shipped services, then those packages add (entry points), then the deployment's
    files named in ``RECNAV_RULES_SERVICES``. Cached per value of that variable."""
    return _extended(os.environ.get(SERVICES_ENV, ""))
