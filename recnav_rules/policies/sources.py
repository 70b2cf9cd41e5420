"""Source documents as records, and quotes checked against their text.

A policy's ``sources`` name each document it cites: file, title, publisher, date (or
``undated`` with an ``assumption`` saying why a date is taken), where it can be obtained, and
the sha256 of its text. The texts of the built-in policies' sources ship in
``recnav_rules/policies/sources/`` (named individuals' contact details redacted). A third-party
policy keeps its source texts next to the policy file, or in a ``sources/`` folder beside it.

A quote must appear in its source verbatim once whitespace and typographic quotes are
normalised. A misquote is an error at the quote's ``file:line:col`` whose suggestion is the
closest passage of the source; a source whose text cannot be found gives a warning that its
quotes are unchecked (an error under ``validate --strict``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from recnav_rules.engine.source import LocatedDocument, PathKey
from recnav_rules.errors import PolicyProblem

__all__ = [
    "SHIPPED_SOURCES",
    "SourceRecord",
    "closest_passage",
    "find_source_text",
    "normalise",
    "quote_problems",
    "similarity",
    "source_records",
]

SHIPPED_SOURCES = Path(__file__).resolve().parent / "sources"
"""The texts the built-in policies cite."""

_TYPOGRAPHIC = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"'})
_RECORD_FIELDS = ("publisher", "date", "obtained", "sha256")


def normalise(text: str) -> str:
    """Whitespace runs to one space, typographic quotes to straight ones, ends trimmed."""
    return " ".join(text.translate(_TYPOGRAPHIC).split())


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One document a policy cites, as the policy declares it."""

    key: str
    file: str
    title: str
    publisher: str | None = None
    date: str | None = None
    """An ISO date, ``undated``, or None when the policy does not say."""
    obtained: str | None = None
    """Where the document can be obtained (a URL, or who holds it)."""
    sha256: str | None = None
    assumption: str | None = None
    """Why an undated source is taken to apply from the policy's effective date."""

    def label(self) -> str:
        """``Title (publisher, date)`` for explanations and documents."""
        parts = [p for p in (self.publisher, self.date) if p]
        return f"{self.title} ({', '.join(parts)})" if parts else self.title

    def to_dict(self) -> dict[str, str | None]:
        return {
            "file": self.file,
            "title": self.title,
            "publisher": self.publisher,
            "date": self.date,
            "obtained": self.obtained,
            "sha256": self.sha256,
            "assumption": self.assumption,
        }


def source_records(raw_sources: Mapping[str, Mapping[str, Any]]) -> dict[str, SourceRecord]:
    """The records of a policy's ``sources`` mapping (already schema-checked)."""
    records: dict[str, SourceRecord] = {}
    for key, body in raw_sources.items():
        date = body.get("date")
        records[key] = SourceRecord(
            key=key,
            file=str(body["file"]),
            title=" ".join(str(body["title"]).split()),
            publisher=body.get("publisher"),
            date=date.isoformat() if isinstance(date, dt.date) else date,
            obtained=body.get("obtained"),
            sha256=body.get("sha256"),
            assumption=" ".join(str(body["assumption"]).split()) if body.get("assumption") else None,
        )
    return records


def find_source_text(file: str, policy_file: str | Path | None) -> Path | None:
    """The source text: beside the policy, in ``sources/`` beside it, or shipped with the package."""
    if Path(file).name != file:
        return None  # a bare file name only: never a path that climbs out of these folders
    places: list[Path] = []
    if policy_file is not None:
        folder = Path(policy_file).resolve().parent
        places += [folder / file, folder / "sources" / file]
    places.append(SHIPPED_SOURCES / file)
    for place in places:
        if place.is_file():
            return place
    return None


@cache
def _read_source(path: Path, mtime_ns: int) -> tuple[str, str, tuple[str, ...]]:
    """(sha256 of the bytes, normalised text, its words), read once per file version."""
    raw = path.read_bytes()
    text = normalise(raw.decode("utf-8", errors="replace"))
    return hashlib.sha256(raw).hexdigest(), text, tuple(text.split(" "))


def similarity(quote: str, passage: str) -> float:
    """How alike a passage is to a quote, word by word (difflib's ratio, 0 to 1), measured the
    way ``closest_passage`` measures it."""
    return difflib.SequenceMatcher(None, passage.split(), quote.split(), autojunk=False).ratio()


def closest_passage(quote: str, words: tuple[str, ...]) -> str | None:
    """The run of source words most like the quote (same length, give or take a few words)."""
    wanted = normalise(quote).split()
    size = len(wanted)
    if not words or size == 0:
        return None
    best, best_ratio = "", -1.0
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(wanted)
    # anchor on windows that share the quote's first or last word, else try every window
    starts = [i for i, w in enumerate(words) if w in (wanted[0], wanted[-1])] or range(len(words))
    for anchor in starts:
        for start in {anchor, anchor - size + 1}:
            if start < 0:
                continue
            window = list(words[start : start + size])
            matcher.set_seq1(window)
            ratio = matcher.ratio()
            if ratio > best_ratio:
                best, best_ratio = " ".join(window), ratio
    return best or None


def _citations(node: Any, path: PathKey) -> Iterator[tuple[PathKey, Mapping[str, Any]]]:
    """Every ``citation: {source, quote}`` mapping under ``node``, with its path."""
    if isinstance(node, Mapping):
        cited = node.get("citation")
        if isinstance(cited, Mapping) and "source" in cited and "quote" in cited:
            yield (*path, "citation"), cited
        for key, value in node.items():
            if key != "citation":
                yield from _citations(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _citations(item, (*path, index))


def quote_problems(doc: LocatedDocument) -> list[PolicyProblem]:
    """Every misquote, unreadable or altered source, and unchecked source in a policy document.

    ``doc`` must already have compiled (so its shape is known to be right).
    """
    problems: list[PolicyProblem] = []
    policies = doc.data.get("policies", []) if isinstance(doc.data, Mapping) else []
    for index, raw in enumerate(policies):
        base: PathKey = ("policies", index)
        texts: dict[str, tuple[str, tuple[str, ...]] | None] = {}
        for key, body in raw.get("sources", {}).items():
            texts[key] = _check_source(doc, (*base, "sources", key), raw["id"], key, body, problems)
        for path, cited in _citations(raw, base):
            found = texts.get(str(cited["source"]))
            if found is None:
                continue
            text, words = found
            quote = normalise(str(cited["quote"]))
            if quote not in text:
                passage = closest_passage(quote, words)
                problems.append(
                    doc.problem(
                        (*path, "quote"),
                        "misquote",
                        f"the quote is not in source '{cited['source']}' as written; the closest passage is the suggestion",
                        passage,
                    )
                )
    return problems


def _check_source(
    doc: LocatedDocument, path: PathKey, policy_id: str, key: str, body: Mapping[str, Any], problems: list[PolicyProblem]
) -> tuple[str, tuple[str, ...]] | None:
    missing = [name for name in _RECORD_FIELDS if not body.get(name)]
    if missing:
        problems.append(
            doc.problem(path, "source-record", f"source '{key}' of '{policy_id}' does not declare {', '.join(missing)}", severity="warning", at_key=True)
        )
    if body.get("date") == "undated" and not body.get("assumption"):
        problems.append(
            doc.problem((*path, "date"), "source-record", f"source '{key}' is undated: add an 'assumption' saying what date the policy takes", severity="warning")
        )
    found = find_source_text(str(body["file"]), doc.file)
    if found is None:
        problems.append(
            doc.problem(
                (*path, "file"),
                "unchecked-quotes",
                f"the text of source '{key}' ({body['file']}) is not available, so its quotes are unchecked",
                "put the text beside the policy file or in a 'sources/' folder next to it",
                severity="warning",
            )
        )
        return None
    digest, text, words = _read_source(found, found.stat().st_mtime_ns)
    declared = body.get("sha256")
    if declared and str(declared).lower() != digest:
        problems.append(
            doc.problem((*path, "sha256"), "source-changed", f"the text of source '{key}' ({found.name}) has sha256 {digest}, not the declared one")
        )
    return text, words
