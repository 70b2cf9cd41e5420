"""The "try a referral" form: generated from the fact declarations, and read back into facts.

Field names: ``as_of``; ``p.<parameter>`` for a parameter value; ``f.<fact>`` for a single fact; ``f.<fact>.<row>.<field>`` for a field of
one record of a list fact, and ``f.<fact>.none`` ("there are none") for an empty list. An empty
input means *not known*: the fact is left out, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from recnav_rules import FactProblem
from recnav_rules.service._engine_view import FactView

__all__ = ["ReadForm", "add_rows", "field_id", "locate", "message_for", "read_form", "share_query", "values_for"]

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_LIST_PATH = re.compile(r"^(?P<fact>[A-Za-z0-9_]+)\[(?P<index>\d+)\](?:\.(?P<field>[A-Za-z0-9_]+))?$")

MIN_ROWS = 3
"""Rows shown for a list fact: what was given plus blank ones, at least this many."""
MAX_ROWS = 200


def field_id(fact: str, row: int | None = None, name: str | None = None) -> str:
    """The HTML id of an input (error messages link to it)."""
    if row is None:
        return f"fact-{fact}"
    return f"fact-{fact}-{row}-{name}" if name else f"fact-{fact}-{row}"


@dataclass(slots=True)
class ReadForm:
    """Facts read from a submitted form, and what is needed to show it again."""

    facts: dict[str, Any]
    as_of: str | None
    raw: dict[str, str]
    """Every non-empty input as submitted, to fill the form again."""
    rows: dict[str, int]
    """For each list fact, how many rows to show."""
    kept_rows: dict[str, list[int]] = field(default_factory=dict)
    """For each list fact, the form row of each record given (blank rows are dropped)."""
    none_lists: set[str] = field(default_factory=set)
    dropped_personal: list[str] = field(default_factory=list)
    """Personal facts found in a link and ignored."""
    parameters: dict[str, str] = field(default_factory=dict)
    """Parameter values typed in (``p.<name>``), as text; empty means the value in force."""


def _scalar(fact_type: str, text: str) -> Any:
    """The JSON-like value the engine expects; a value that does not parse is passed on as text,
    so the engine's own checks name the field and the problem."""
    if fact_type == "bool":
        return {"true": True, "false": False}.get(text, text)
    if fact_type == "integer" and _INTEGER.fullmatch(text):
        return int(text)
    if fact_type == "number" and _NUMBER.fullmatch(text):
        return float(text) if any(c in text for c in ".") else int(text)
    return text


def read_form(pairs: Iterable[tuple[str, str]], facts: Iterable[FactView], *, from_link: bool = False) -> ReadForm:
    """The facts in a form submission (or a shared link; then personal facts are ignored)."""
    declared = {f.name: f for f in facts}
    raw: dict[str, str] = {}
    for name, value in pairs:
        text = value.strip()
        if text:
            raw[name] = text
    dropped: list[str] = []
    out: dict[str, Any] = {}
    records: dict[str, dict[int, dict[str, Any]]] = {}
    none_lists: set[str] = set()
    for name, text in list(raw.items()):
        if not name.startswith("f."):
            continue
        parts = name[2:].split(".")
        fact = declared.get(parts[0])
        if fact is None:
            raw.pop(name)
            continue
        if from_link and fact.personal:
            raw.pop(name)
            if fact.name not in dropped:
                dropped.append(fact.name)
            continue
        if len(parts) == 1 and not fact.fields:
            out[fact.name] = _scalar(fact.type, text)
        elif len(parts) == 2 and parts[1] == "none" and fact.fields:
            none_lists.add(fact.name)
        elif len(parts) == 3 and fact.fields and parts[1].isascii() and parts[1].isdigit():
            kinds = {f.name: f.type for f in fact.fields}
            if parts[2] in kinds and int(parts[1]) < MAX_ROWS:
                records.setdefault(fact.name, {}).setdefault(int(parts[1]), {})[parts[2]] = _scalar(kinds[parts[2]], text)
            else:
                raw.pop(name)
        else:
            raw.pop(name)
    kept_rows: dict[str, list[int]] = {}
    rows: dict[str, int] = {}
    for fact in declared.values():
        if not fact.fields:
            continue
        given = records.get(fact.name, {})
        order = sorted(given)
        if order:
            out[fact.name] = [given[r] for r in order]
            kept_rows[fact.name] = order
        elif fact.name in none_lists:
            out[fact.name] = []
        asked = raw.get(f"rows.{fact.name}", "")
        wanted = int(asked) if asked.isascii() and asked.isdigit() else 0
        rows[fact.name] = min(MAX_ROWS, max(MIN_ROWS, wanted, (order[-1] + 2) if order else 0))
    as_of = raw.get("as_of")
    parameters = {name[2:]: text for name, text in raw.items() if name.startswith("p.") and len(name) > 2}
    return ReadForm(out, as_of, raw, rows, kept_rows, none_lists, dropped, parameters)


def add_rows(form: ReadForm, fact: str, count: int = 3) -> None:
    """Show ``count`` more rows for a list fact (the "add rows" button; no script needed)."""
    if fact in form.rows:
        form.rows[fact] = min(MAX_ROWS, form.rows[fact] + count)


def locate(problem: FactProblem, form: ReadForm) -> str:
    """The id of the input a problem is about (a list record's row mapped back to the form's row)."""
    if problem.field == "as_of":
        return "as_of"
    if problem.field.startswith("parameters."):
        return "param-" + problem.field.removeprefix("parameters.")
    match = _LIST_PATH.match(problem.field)
    if match:
        fact = match["fact"]
        index = int(match["index"])
        rows = form.kept_rows.get(fact, [])
        row = rows[index] if index < len(rows) else index
        return field_id(fact, row, match["field"])
    return field_id(problem.field.split(".")[0].split("[")[0])


def message_for(problem: FactProblem, form: ReadForm) -> str:
    """A problem in the form's terms: a record is named by its row as shown (1-based), not its index."""
    match = _LIST_PATH.match(problem.field)
    if not match:
        return problem.render()
    rows = form.kept_rows.get(match["fact"], [])
    index = int(match["index"])
    row = (rows[index] if index < len(rows) else index) + 1
    where = f"{match['fact'].replace('_', ' ')}, row {row}" + (f", {match['field']}" if match["field"] else "")
    text = f"{where}: {problem.message}"
    if problem.suggestion is not None:
        text += f" (did you mean '{problem.suggestion}'?)"
    return text


def share_query(form: ReadForm, facts: Iterable[FactView]) -> str:
    """The query string of a shareable link: the as-of date and the non-personal inputs only."""
    personal = {f.name for f in facts if f.personal}
    kept: list[tuple[str, str]] = []
    if form.as_of:
        kept.append(("as_of", form.as_of))
    kept += [(f"p.{name}", value) for name, value in form.parameters.items()]
    for name, value in form.raw.items():
        if not name.startswith("f."):
            continue
        if name[2:].split(".")[0] in personal:
            continue
        kept.append((name, value))
    return urlencode(kept)


def values_for(form: ReadForm | None) -> Mapping[str, str]:
    return form.raw if form is not None else {}
