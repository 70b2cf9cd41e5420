"""The GP practice register: NHS ODS practice data, read in ODS's own published formats.

Eligibility turns on which GP practice a person is registered with; services know the
practice's ODS code, not its sub-ICB location or PCN. ``load_epraccur`` reads the ODS
``epraccur`` extract (CSV, no header); ``load_pcn_membership`` reads a practice-to-PCN file the
deployment supplies (ODS's PCN core-partner data is not shipped here); ``builtin_register``
is the subset of a real national extract that the built-in policies need. Every register has a
name, an as-of date and a sha256 digest, which every decision records. See docs/register.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recnav_rules.engine.dates import months_after
from recnav_rules.engine.source import LocatedDocument, PathKey
from recnav_rules.errors import PolicyError, PolicyProblem, closest

if TYPE_CHECKING:
    from recnav_rules.engine.model import CompiledPolicy

__all__ = [
    "EPRACCUR_COLUMNS",
    "PcnMembership",
    "Practice",
    "PracticeRegister",
    "builtin_register",
    "load_epraccur",
    "load_pcn_membership",
    "reference_literal_warnings",
    "staleness_notes",
]

# The epraccur columns this register reads (1-based, as ODS numbers them).
EPRACCUR_COLUMNS = {
    1: "Organisation Code",
    2: "Name",
    11: "Open Date (YYYYMMDD)",
    12: "Close Date (YYYYMMDD)",
    13: "Status Code (A active, C closed, D dormant, P proposed)",
    15: "Commissioner (CCG code, carried over as the sub-ICB location code)",
    26: "Prescribing Setting (4 = GP practice)",
}
_FIELDS = 27
_STATUS = {"A": "active", "C": "closed", "D": "dormant", "P": "proposed"}
_PRACTICE_CODE = re.compile(r"[A-Z][0-9A-Z]{5}")
_PCN_CODE = re.compile(r"[A-Z0-9]{3,10}")
MEMBERSHIP_HEADER = ("practice_code", "pcn_code", "pcn_name")
DEFAULT_MAX_AGE_MONTHS = 12
"""A decision more than this many months after its register's as-of date carries a staleness note."""


@dataclass(frozen=True, slots=True)
class Practice:
    """One prescribing cost centre (a GP practice when ``prescribing_setting`` is 4)."""

    code: str
    name: str
    status: str
    """active, closed, dormant or proposed (ODS status A, C, D, P)."""
    sub_icb_code: str
    prescribing_setting: int
    open_date: dt.date | None
    close_date: dt.date | None
    pcn_code: str | None = None
    pcn_name: str | None = None


@dataclass(frozen=True, slots=True)
class PcnMembership:
    """Practice code to (PCN code, PCN name), from a deployment's membership file."""

    origin: str
    digest: str
    members: Mapping[str, tuple[str, str]]
    lines: Mapping[str, int]


class PracticeRegister:
    """Practices by ODS code. Immutable once built; safe to share across threads."""

    __slots__ = ("_practices", "as_of", "digest", "max_age_months", "name", "origin")

    def __init__(
        self,
        name: str,
        as_of: dt.date,
        origin: str,
        digest: str,
        practices: Mapping[str, Practice],
        *,
        max_age_months: int = DEFAULT_MAX_AGE_MONTHS,
    ) -> None:
        self.name = name
        self.as_of = as_of
        self.origin = origin
        self.digest = digest
        self._practices = dict(practices)
        self.max_age_months = max_age_months
        """How long after ``as_of`` a decision may use this register before it carries a staleness note."""

    def lookup(self, code: str) -> Practice | None:
        """The practice with this ODS code (case and spaces ignored), or None."""
        return self._practices.get(code.strip().upper())

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.lookup(code) is not None

    def __len__(self) -> int:
        return len(self._practices)

    def __iter__(self) -> Iterator[Practice]:
        return iter(self._practices.values())

    def info(self) -> dict[str, str]:
        """What a decision records about the register it used."""
        return {
            "name": self.name,
            "as_of": self.as_of.isoformat(),
            "digest": self.digest,
            "origin": self.origin,
            "max_age_months": str(self.max_age_months),
        }

    def with_max_age(self, months: int) -> PracticeRegister:
        """The same register with another staleness limit (a policy's ``max_age_months``)."""
        if months == self.max_age_months:
            return self
        return PracticeRegister(self.name, self.as_of, self.origin, self.digest, self._practices, max_age_months=months)

    def with_pcn_membership(self, membership: PcnMembership) -> PracticeRegister:
        """A new register with PCN codes and names filled in. A membership row for a practice
        the register does not hold is a PolicyError at that row."""
        problems = [
            PolicyProblem(membership.origin, membership.lines[code], 1, "unknown-practice", f"practice '{code}' is not in the register {self.name}")
            for code in membership.members
            if code not in self._practices
        ]
        if problems:
            raise PolicyError(problems)
        practices = {
            code: replace(p, pcn_code=membership.members[code][0], pcn_name=membership.members[code][1])
            if code in membership.members
            else p
            for code, p in self._practices.items()
        }
        digest = hashlib.sha256(f"{self.digest}+{membership.digest}".encode()).hexdigest()
        return PracticeRegister(
            f"{self.name} + PCN membership {membership.origin}",
            self.as_of,
            f"{self.origin}; {membership.origin}",
            digest,
            practices,
            max_age_months=self.max_age_months,
        )

    def __repr__(self) -> str:
        return f"PracticeRegister({self.name!r}, as_of={self.as_of.isoformat()}, practices={len(self)})"


MAX_REFERENCE_BYTES = 64 * 1024 * 1024
"""The largest register or membership file read (the national epraccur extract is about 4 MB)."""


def _read(path: str | Path) -> tuple[bytes, str]:
    from recnav_rules._io import read_bounded

    name = str(path)
    raw = read_bounded(path, MAX_REFERENCE_BYTES)
    if not raw.strip():
        raise PolicyError.at(name, 1, 1, "empty", "the file is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # ODS extracts have been published in both
    return raw, text


def _ods_date(text: str, file: str, line: int, column: int, what: str) -> dt.date | None:
    if not text:
        return None
    try:
        if len(text) != 8 or not (text.isascii() and text.isdigit()):
            raise ValueError(text)
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise PolicyError.at(file, line, column, "bad-date", f"{what} {text!r} is not a date (YYYYMMDD)") from None


def parse_epraccur(text: str, file: str) -> dict[str, Practice]:
    """Practices from epraccur text; every malformed row is a PolicyError naming its line."""
    practices: dict[str, Practice] = {}
    first_line: dict[str, int] = {}
    problems: list[PolicyProblem] = []
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            line = reader.line_num
            if not row or row == [""]:
                continue
            if len(row) != _FIELDS:
                problems.append(PolicyProblem(file, line, 1, "bad-row", f"expected {_FIELDS} fields, found {len(row)}"))
                continue
            code = row[0].strip().upper()
            if not _PRACTICE_CODE.fullmatch(code):
                problems.append(PolicyProblem(file, line, 1, "bad-code", f"{row[0]!r} is not an ODS practice code"))
                continue
            status = _STATUS.get(row[12].strip())
            if status is None:
                problems.append(PolicyProblem(file, line, 13, "bad-status", f"status code {row[12]!r} is not one of A, C, D, P"))
                continue
            try:
                setting = int(row[25])
            except ValueError:
                problems.append(PolicyProblem(file, line, 26, "bad-setting", f"prescribing setting {row[25]!r} is not a number"))
                continue
            if code in practices:
                problems.append(PolicyProblem(file, line, 1, "duplicate-code", f"practice '{code}' appears again (first at line {first_line[code]})"))
                continue
            try:
                opened = _ods_date(row[10].strip(), file, line, 11, "open date")
                closed = _ods_date(row[11].strip(), file, line, 12, "close date")
            except PolicyError as exc:
                problems.extend(exc.problems)
                continue
            practices[code] = Practice(code, row[1].strip(), status, row[14].strip().upper(), setting, opened, closed)
            first_line[code] = line
    except csv.Error as exc:
        problems.append(PolicyProblem(file, reader.line_num, None, "bad-csv", str(exc)))
    if problems:
        raise PolicyError(problems[:50])
    if not practices:
        raise PolicyError.at(file, 1, 1, "empty", "no practices in the file")
    return practices


def load_epraccur(path: str | Path, *, as_of: dt.date, name: str | None = None, origin: str | None = None) -> PracticeRegister:
    """A register from an ODS epraccur file. ``as_of`` is the extract's publication date."""
    raw, text = _read(path)
    practices = parse_epraccur(text, str(path))
    return PracticeRegister(
        name or f"epraccur {as_of.isoformat()}",
        as_of,
        origin or str(path),
        hashlib.sha256(raw).hexdigest(),
        practices,
    )


def load_pcn_membership(path: str | Path) -> PcnMembership:
    """PCN membership from a CSV with the header ``practice_code,pcn_code,pcn_name``.

    Lines starting with ``#`` are comments. A practice may belong to one PCN only.
    """
    raw, text = _read(path)
    file = str(path)
    rows = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise PolicyError.at(file, 1, 1, "empty", "no header and no rows")
    header_line, header_text = rows[0]
    header = [h.strip() for h in next(csv.reader([header_text]))]
    problems: list[PolicyProblem] = []
    for index, wanted in enumerate(MEMBERSHIP_HEADER):
        got = header[index] if index < len(header) else ""
        if got != wanted:
            hint = closest(got, MEMBERSHIP_HEADER) if got else None
            problems.append(PolicyProblem(file, header_line, 1, "bad-header", f"column {index + 1} must be '{wanted}', found '{got}'", hint))
    if problems:
        raise PolicyError(problems)
    members: dict[str, tuple[str, str]] = {}
    lines: dict[str, int] = {}
    for number, line in rows[1:]:
        fields = [f.strip() for f in next(csv.reader([line]))]
        if len(fields) != 3:
            problems.append(PolicyProblem(file, number, 1, "bad-row", f"expected 3 fields, found {len(fields)}"))
            continue
        code, pcn_code, pcn_name = fields[0].upper(), fields[1].upper(), fields[2]
        if not _PRACTICE_CODE.fullmatch(code):
            problems.append(PolicyProblem(file, number, 1, "bad-code", f"{fields[0]!r} is not an ODS practice code"))
        elif not _PCN_CODE.fullmatch(pcn_code) or not pcn_name:
            problems.append(PolicyProblem(file, number, 1, "bad-row", "needs a PCN code (letters and digits) and a PCN name"))
        elif code in members:
            problems.append(PolicyProblem(file, number, 1, "duplicate-code", f"practice '{code}' is listed again (first at line {lines[code]})"))
        else:
            members[code] = (pcn_code, pcn_name)
            lines[code] = number
    if problems:
        raise PolicyError(problems)
    return PcnMembership(file, hashlib.sha256(raw).hexdigest(), members, lines)


@cache
def builtin_register() -> PracticeRegister:
    """The shipped subset of the ODS national extract (see data/gp_practices.meta.json)."""
    data = files("recnav_rules.policies") / "data"
    meta = json.loads((data / "gp_practices.meta.json").read_text(encoding="utf-8"))
    raw = (data / "gp_practices.csv").read_bytes()
    practices = parse_epraccur(raw.decode("utf-8"), "recnav_rules/policies/data/gp_practices.csv")
    return PracticeRegister(
        meta["name"],
        dt.date.fromisoformat(meta["as_of"]),
        meta["origin"],
        hashlib.sha256(raw).hexdigest(),
        practices,
    )


# --- checks of policies against the reference data they read -------------------------------------

_COMPARISONS = ("eq", "ne", "in", "not_in")


def _literals(node: Any, path: PathKey) -> Iterator[tuple[PathKey, str, Any]]:
    """(path, fact name, literal) for every comparison in a condition tree."""
    if isinstance(node, Mapping):
        name = node.get("fact")
        if isinstance(name, str):
            for op in _COMPARISONS:
                if op in node:
                    yield (*path, op), name, node[op]
        for key, value in node.items():
            yield from _literals(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _literals(item, (*path, index))


def reference_literal_warnings(policy: CompiledPolicy, doc: LocatedDocument) -> list[PolicyProblem]:
    """A warning for each literal compared with a looked-up field that the table never holds.

    E.g. ``{fact: gp_sub_icb, eq: "92G"}`` against a 2020 register that knows only ``11E``:
    the comparison can never hold, and every referral would quietly go the other way.
    """
    data = doc.data.get("policies", []) if isinstance(doc.data, Mapping) else []
    index = next((i for i, raw in enumerate(data) if isinstance(raw, Mapping) and raw.get("id") == policy.id), None)
    if index is None:
        return []
    looked_up = {d.name: d.params for d in policy.derived if d.kind == "lookup"}
    held: dict[tuple[str, str], set[str]] = {}
    problems: list[PolicyProblem] = []
    for path, name, literal in _literals(data[index], ("policies", index)):
        params = looked_up.get(name)
        register = policy.reference_data.get(str(params["table"])) if params else None
        if params is None or not isinstance(register, PracticeRegister):
            continue
        field_name = str(params["field"])
        values = held.setdefault((params["table"], field_name), {str(getattr(p, field_name, None)) for p in register})
        if isinstance(literal, Mapping) and "param" in literal:
            literal = policy_parameter(policy, str(literal["param"]))
        for value in literal if isinstance(literal, list) else [literal]:
            if value is not None and str(value) not in values:
                problems.append(
                    doc.problem(
                        path,
                        "not-in-reference-data",
                        f"'{value}' is compared with {field_name} of {params['table']}, but the register "
                        f"{register.name} (as of {register.as_of.isoformat()}) never holds it, so this comparison never holds",
                        "use a current register (see docs/register.md), or check the code",
                        severity="warning",
                    )
                )
    return problems


def policy_parameter(policy: CompiledPolicy, name: str) -> Any:
    """The value a compiled policy resolved for parameter ``name`` (None when not set)."""
    return getattr(policy, "parameters", {}).get(name)


def staleness_notes(reference_data: Mapping[str, Mapping[str, str]], as_of: dt.date) -> list[str]:
    """A note for each reference table more than its declared age past its own as-of date."""
    notes: list[str] = []
    for table, info in reference_data.items():
        months_text, table_as_of = info.get("max_age_months"), info.get("as_of")
        if not months_text or not table_as_of:
            continue
        months = int(months_text)
        since = dt.date.fromisoformat(table_as_of)
        limit = months_after(since, months)
        if as_of > limit:
            notes.append(
                f"Reference data {table} ({info.get('name', table)}) is as of {since.isoformat()}, more than "
                f"{months} months before this decision ({as_of.isoformat()}); codes and practices may have "
                "changed since (see docs/register.md)."
            )
    return notes
