"""Errors are data: every user error names where it is and, where it helps, what was meant.

``RecnavError`` is the one base class. ``PolicyError`` (a bad policy, register or directory
file) carries ``file``, ``line`` and ``column``; ``FactValidationError`` (bad facts) carries one
``FactProblem`` for every bad field. Both are ``ValueError`` subclasses, so callers that only
know the standard library can still catch them. Rendering to text lives here too, but the
fields are the contract: a message never has to be parsed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "FactProblem",
    "FactValidationError",
    "PolicyError",
    "PolicyProblem",
    "Problem",
    "RecnavError",
    "closest",
    "printable",
]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word``, or None when nothing is close.

    "Close" follows CPython's own did-you-mean: roughly a third of the characters may differ.
    """
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.66)
    return matches[0] if matches else None


def printable(text: str) -> str:
    """``text`` with every control or invisible character escaped (``\\x1b``, ``\\n``, ``\\u202e``...).

    A bad value or file name can carry ANSI escapes, carriage returns or bidirectional overrides
    that would rewrite the user's terminal; rendered messages show them as escapes instead.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class RecnavError(ValueError):
    """Base class of every error recnav_rules raises for bad input."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One problem with what the library was given: the one kind both errors carry.

    ``code`` is stable and machine-readable (``unknown-fact``, ``yaml-syntax``,
    ``out-of-range``...); ``message`` says what is wrong in words, never repeating a personal
    value; ``severity`` is ``error`` or ``warning``; ``suggestion`` is the did-you-mean, when
    one is close enough. Where it is: ``file``, ``line`` and ``column`` (1-based) and ``path``
    (keys and indexes in the document) for a file, or ``field`` (a dotted path such as
    ``emergency_calls[2].at``) for a fact. Rendering is ``render()`` (text) and ``to_dict()``
    (JSON); the fields are the contract, so a message never has to be parsed.
    """

    code: str
    message: str
    severity: str = "error"
    suggestion: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: tuple[str | int, ...] = ()
    field: str | None = None

    def where(self) -> str:
        """``file:line:col`` or the field path."""
        if self.file is None:
            return self.field or ""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def render(self) -> str:
        """``file:line:col: error: message (did you mean 'x'?)``, the compilers' format, or
        ``field: message`` for a fact; control characters escaped."""
        if self.file is None:
            text = f"{self.field}: {self.message}"
        else:
            text = f"{self.where()}: {self.severity}: {self.message}"
        if self.suggestion is not None:
            text += f" (did you mean '{self.suggestion}'?)"
        return printable(text)

    def to_dict(self) -> dict[str, object]:
        """The problem as JSON: every field, ``path`` as a list."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "suggestion": self.suggestion,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": list(self.path),
            "field": self.field,
        }


class PolicyProblem(Problem):
    """A located problem in a policy (or other data) file: ``PolicyProblem(file, line, column,
    code, message, suggestion=None, severity="error", path=())``."""

    __slots__ = ()
    file: str

    def __init__(
        self,
        file: str,
        line: int | None,
        column: int | None,
        code: str,
        message: str,
        suggestion: str | None = None,
        severity: str = "error",
        path: tuple[str | int, ...] = (),
    ) -> None:
        put = object.__setattr__
        put(self, "file", file)
        put(self, "line", line)
        put(self, "column", column)
        put(self, "code", code)
        put(self, "message", message)
        put(self, "suggestion", suggestion)
        put(self, "severity", severity)
        put(self, "path", tuple(path))
        put(self, "field", None)


class FactProblem(Problem):
    """One bad fact: ``FactProblem(field, message, suggestion=None, code="bad-value")``."""

    __slots__ = ()
    field: str

    def __init__(self, field: str, message: str, suggestion: str | None = None, code: str = "bad-value") -> None:
        put = object.__setattr__
        put(self, "field", field)
        put(self, "message", message)
        put(self, "suggestion", suggestion)
        put(self, "code", code)
        put(self, "severity", "error")
        put(self, "file", None)
        put(self, "line", None)
        put(self, "column", None)
        put(self, "path", ())


class PolicyError(RecnavError):
    """A policy (or register, directory, test-case) file that cannot be used.

    ``problems`` lists every error found, sorted by place; ``file``, ``line``, ``column``,
    ``code`` and ``suggestion`` are those of the first, for callers that want just one.
    """

    def __init__(self, problems: Sequence[PolicyProblem]) -> None:
        if not problems:
            raise ValueError("PolicyError needs at least one problem")
        ordered = sorted(
            problems, key=lambda p: (p.file, p.line or 0, p.column or 0, p.message)
        )
        self.problems: tuple[PolicyProblem, ...] = tuple(ordered)
        first = self.problems[0]
        self.file: str = first.file
        self.line: int | None = first.line
        self.column: int | None = first.column
        self.code: str = first.code
        self.suggestion: str | None = first.suggestion
        count = len(self.problems)
        summary = first.render()
        if count > 1:
            summary += f" (and {count - 1} more error{'s' if count > 2 else ''})"
        super().__init__(summary)

    @classmethod
    def at(
        cls,
        file: str,
        line: int | None,
        column: int | None,
        code: str,
        message: str,
        suggestion: str | None = None,
    ) -> PolicyError:
        """One-problem shorthand."""
        return cls([PolicyProblem(file, line, column, code, message, suggestion)])


class FactValidationError(RecnavError):
    """Facts that cannot be evaluated: ``problems`` names every bad field and why.

    Messages never repeat the value of a field that the policy declares personal.
    """

    def __init__(self, problems: Sequence[FactProblem]) -> None:
        if not problems:
            raise ValueError("FactValidationError needs at least one problem")
        self.problems: tuple[FactProblem, ...] = tuple(problems)
        self.fields: tuple[str, ...] = tuple(p.field for p in self.problems)
        count = len(self.problems)
        head = f"{count} bad fact{'s' if count > 1 else ''}: "
        super().__init__(head + "; ".join(p.render() for p in self.problems))
