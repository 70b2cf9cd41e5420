"""YAML and JSON loading that remembers where every value came from.

PyYAML's safe composer builds a node tree whose nodes carry 0-based marks; this module turns
that tree into plain Python data (dict, list, str, int, float, bool, None, date, datetime) and
keeps a map from each value's path to its 1-based ``(line, column)``. Nothing here runs code:
only ``yaml.SafeLoader`` is used, tags other than YAML's core ones are errors, duplicate keys
are errors (not last-wins), and size, nesting and alias expansion are bounded so that a hostile
file gives a located error instead of a hang.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from recnav_rules.errors import PolicyError, PolicyProblem

__all__ = [
    "Limits",
    "LocatedDocument",
    "PathKey",
    "load_yaml_file",
    "load_yaml_text",
]

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one file may hold; the defaults are generous for hand-written YAML."""

    max_bytes: int = 2 * 1024 * 1024
    max_depth: int = 64
    max_nodes: int = 200_000


DEFAULT_LIMITS = Limits()

_CORE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core booleans: ``true``/``false`` only.

    YAML 1.1 also reads ``yes``/``no``/``on``/``off`` as booleans, so ``consent: yes`` would
    quietly become true and ``values: [yes, no]`` would not be strings; here they are strings.
    """


_CBase: Any = getattr(yaml, "CSafeLoader", None)


if _CBase is not None:

    class _Yaml12CLoader(_CBase):  # type: ignore[misc]
        """The same, parsed by libyaml (about ten times faster); chosen when PyYAML has it."""

    _FAST_LOADER: Any = _Yaml12CLoader
else:  # pragma: no cover - PyYAML built without libyaml
    _FAST_LOADER = None


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
if _FAST_LOADER is not None:
    _FAST_LOADER.yaml_implicit_resolvers = _Yaml12Loader.yaml_implicit_resolvers


@dataclass(frozen=True, slots=True)
class LocatedDocument:
    """Plain data plus where each piece of it stood in the file."""

    file: str
    data: Any
    marks: Mapping[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_marks: Mapping[PathKey, tuple[int, int]] = field(default_factory=dict)
    lines: tuple[str, ...] = ()

    def mark(self, path: PathKey) -> tuple[int, int] | None:
        """The 1-based (line, column) of the value at ``path``, or of its nearest ancestor."""
        probe = tuple(path)
        while True:
            found = self.marks.get(probe)
            if found is not None:
                return found
            if not probe:
                return None
            probe = probe[:-1]

    def key_mark(self, path: PathKey) -> tuple[int, int] | None:
        """Where the mapping key that names ``path`` stands (for misspelt-key errors)."""
        found = self.key_marks.get(tuple(path))
        return found if found is not None else self.mark(path)

    def problem(
        self,
        path: PathKey,
        code: str,
        message: str,
        suggestion: str | None = None,
        *,
        at_key: bool = False,
        severity: str = "error",
    ) -> PolicyProblem:
        """A ``PolicyProblem`` located at the value (or key) at ``path``."""
        where = self.key_mark(path) if at_key else self.mark(path)
        line, column = where if where is not None else (None, None)
        return PolicyProblem(self.file, line, column, code, message, suggestion, severity, path)

    def error(
        self,
        path: PathKey,
        code: str,
        message: str,
        suggestion: str | None = None,
        *,
        at_key: bool = False,
    ) -> PolicyError:
        return PolicyError([self.problem(path, code, message, suggestion, at_key=at_key)])

    def source_line(self, line: int) -> str | None:
        """The text of 1-based ``line``, for caret rendering."""
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1]
        return None


class _Builder:
    def __init__(self, file: str, limits: Limits) -> None:
        self.file = file
        self.limits = limits
        self.nodes = 0
        self.marks: dict[PathKey, tuple[int, int]] = {}
        self.key_marks: dict[PathKey, tuple[int, int]] = {}
        self.constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, code: str, message: str) -> PolicyError:
        mark = node.start_mark
        return PolicyError.at(self.file, mark.line + 1, mark.column + 1, code, message)

    def build(self, node: yaml.Node, path: PathKey, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise self.fail(
                node,
                "too-large",
                f"the document expands to more than {self.limits.max_nodes} values"
                " (YAML aliases are expanded; an alias bomb is refused)",
            )
        if depth > self.limits.max_depth:
            raise self.fail(
                node, "too-deep", f"nesting deeper than {self.limits.max_depth} levels"
            )
        if node.tag not in _CORE_TAGS:
            raise self.fail(node, "yaml-tag", f"unsupported YAML tag {node.tag!r}")
        self.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.fail(key_node, "yaml-merge", "YAML merge keys ('<<') are not supported")
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.fail(key_node, "yaml-key", "mapping keys must be plain text")
                key = str(key_node.value)
                if key in result:
                    raise self.fail(key_node, "duplicate-key", f"duplicate key '{key}'")
                child = (*path, key)
                self.key_marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                result[key] = self.build(value_node, child, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [
                self.build(item, (*path, index), depth + 1)
                for index, item in enumerate(node.value)
            ]
        assert isinstance(node, yaml.ScalarNode)
        if not str(node.value).isascii() and any("\ud800" <= c <= "\udfff" for c in str(node.value)):
            raise self.fail(node, "yaml-value", "text holds an unpaired surrogate (a \\ud800-\\udfff escape): not valid Unicode")
        try:
            if node.tag == "tag:yaml.org,2002:timestamp":
                return self.constructor.construct_yaml_timestamp(node)
            if node.tag == "tag:yaml.org,2002:str":
                return str(node.value)
            return self.constructor.construct_object(node, deep=True)
        except (ValueError, yaml.YAMLError) as exc:
            raise self.fail(node, "yaml-value", f"cannot read value {node.value!r}: {exc}") from None


def _compose(loader_class: Any, text: str) -> Any:
    loader = loader_class(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def load_yaml_text(text: str, file: str = "<string>", limits: Limits = DEFAULT_LIMITS) -> LocatedDocument:
    """Parse one YAML (or JSON, a subset of YAML) document with positions. Raises PolicyError."""
    if len(text.encode("utf-8", errors="replace")) > limits.max_bytes:
        raise PolicyError.at(
            file, None, None, "too-large", f"file is larger than {limits.max_bytes} bytes"
        )
    lines = tuple(text.splitlines())
    try:
        try:
            node = _compose(_FAST_LOADER or _Yaml12Loader, text)
        except yaml.MarkedYAMLError:
            if _FAST_LOADER is None:
                raise
            node = _compose(_Yaml12Loader, text)  # libyaml found a problem: PyYAML words it better
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed YAML"
        if "'\\t'" in problem or "\t" in problem:
            problem += " (YAML does not allow tabs for indentation)"
        raise PolicyError.at(file, line, column, "yaml-syntax", problem) from None
    except yaml.YAMLError as exc:
        raise PolicyError.at(file, None, None, "yaml-syntax", str(exc)) from None
    except RecursionError:
        raise PolicyError.at(file, None, None, "too-deep", "nesting is too deep to read") from None
    if node is None:
        raise PolicyError.at(file, 1, 1, "empty", "the file is empty")
    builder = _Builder(file, limits)
    data = builder.build(node, (), 0)
    return LocatedDocument(file, data, builder.marks, builder.key_marks, lines)


def load_yaml_file(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> LocatedDocument:
    """Read and parse a YAML or JSON file with positions. Raises PolicyError."""
    from recnav_rules._io import read_text_bounded

    text = read_text_bounded(path, limits.max_bytes)
    return load_yaml_text(text, str(path), limits)
