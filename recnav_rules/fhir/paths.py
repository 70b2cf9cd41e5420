"""Element paths: the small path language of FHIR mappings.

A path is dot-separated element names, each optionally narrowed by one filter on a child's
value, for example::

    identifier[system=https://fhir.nhs.uk/Id/nhs-number].value
    code.coding[system=http://snomed.info/sct].code
    item[linkId=triage-outcome].answer.valueCoding.code

Lists are walked through (every element is visited), so a path yields every value it reaches,
in document order. A filter value runs to the closing ``]`` and may hold dots. Nothing here
evaluates expressions: a path is parsed once into ``Step`` tuples and applied to plain JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ElementPath", "PathSyntaxError", "Step", "parse_path"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class PathSyntaxError(ValueError):
    """A path that cannot be parsed; ``column`` is the 1-based place in the path text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True, slots=True)
class Step:
    """One element name, and an optional ``[child=value]`` filter."""

    name: str
    filter_child: str | None = None
    filter_value: str | None = None

    def matches(self, item: object) -> bool:
        if self.filter_child is None:
            return True
        return isinstance(item, dict) and item.get(self.filter_child) == self.filter_value


@dataclass(frozen=True, slots=True)
class ElementPath:
    """A parsed path: apply it to a resource (a JSON mapping) with ``values``."""

    text: str
    steps: tuple[Step, ...]

    @property
    def first(self) -> str:
        return self.steps[0].name

    def values(self, resource: object) -> Iterator[Any]:
        """Every value the path reaches in ``resource``, lists flattened, in document order."""
        yield from _walk(resource, self.steps)


def _walk(node: object, steps: tuple[Step, ...]) -> Iterator[Any]:
    if not steps:
        if isinstance(node, list):
            yield from node
        elif node is not None:
            yield node
        return
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, steps)
        return
    if not isinstance(node, dict):
        return
    step, rest = steps[0], steps[1:]
    child = node.get(step.name)
    children = child if isinstance(child, list) else [child]
    for item in children:
        if item is not None and step.matches(item):
            yield from _walk(item, rest)


def parse_path(text: str) -> ElementPath:
    """Parse ``text``; raises ``PathSyntaxError`` (with a column) when it is malformed."""
    steps: list[Step] = []
    at = 0
    while True:
        name = _NAME.match(text, at)
        if name is None:
            raise PathSyntaxError("expected an element name", at + 1)
        at = name.end()
        child: str | None = None
        value: str | None = None
        if at < len(text) and text[at] == "[":
            filter_name = _NAME.match(text, at + 1)
            if filter_name is None:
                raise PathSyntaxError("expected a child element name after '['", at + 2)
            equals = filter_name.end()
            if equals >= len(text) or text[equals] != "=":
                raise PathSyntaxError("expected '=' in the filter", equals + 1)
            close = text.find("]", equals + 1)
            if close < 0:
                raise PathSyntaxError("the filter has no closing ']'", at + 1)
            if close == equals + 1:
                raise PathSyntaxError("the filter has no value", close + 1)
            child, value = filter_name.group(), text[equals + 1 : close]
            at = close + 1
        steps.append(Step(name.group(), child, value))
        if at == len(text):
            return ElementPath(text, tuple(steps))
        if text[at] != ".":
            raise PathSyntaxError(f"unexpected {text[at]!r}", at + 1)
        at += 1
