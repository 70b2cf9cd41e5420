"""``recnav-rules test -k EXPRESSION``: choosing cases by words in their ids, as pytest's ``-k`` does.

A word matches a case when the case's id (``FILE-NAME::CASE NAME``) contains it, ignoring
case. Words combine with ``and``, ``or``, ``not`` and parentheses (``-k "custody and not
unknown"``). An expression with none of those is one phrase, spaces included (``-k "no
consent"``), since case names are sentences. Parsed by hand, never evaluated as code.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["KeywordError", "matcher"]

Match = Callable[[str], bool]

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_OPERATORS = {"and", "or", "not", "(", ")"}


class KeywordError(ValueError):
    """A ``-k`` expression that cannot be read."""


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _TOKEN.findall(expression)
        self.at = 0

    def fail(self, problem: str) -> KeywordError:
        return KeywordError(f"-k {self.expression!r}: {problem}")

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("ends too soon")
        self.at += 1
        return token

    def parse(self) -> Match:
        match = self.any_of()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()!r}")
        return match

    def any_of(self) -> Match:
        parts = [self.all_of()]
        while self.peek() == "or":
            self.take()
            parts.append(self.all_of())
        return parts[0] if len(parts) == 1 else (lambda text: any(part(text) for part in parts))

    def all_of(self) -> Match:
        parts = [self.negation()]
        while self.peek() == "and":
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda text: all(part(text) for part in parts))

    def negation(self) -> Match:
        token = self.take()
        if token == "not":
            inner = self.negation()
            return lambda text: not inner(text)
        if token == "(":
            inner = self.any_of()
            if self.peek() != ")":
                raise self.fail("a '(' is not closed")
            self.take()
            return inner
        if token in _OPERATORS:
            raise self.fail(f"expected a word, got {token!r}")
        word = token.casefold()
        return lambda text: word in text


def matcher(expression: str) -> Match:
    """A test of a case id (already case-folded) for ``expression``. Raises KeywordError."""
    if not expression.strip():
        raise KeywordError("-k needs a word")
    tokens = _TOKEN.findall(expression)
    if not _OPERATORS & set(tokens):
        phrase = expression.strip().casefold()
        return lambda text: phrase in text
    return _Parser(expression).parse()
