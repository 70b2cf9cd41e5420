"""Reading facts from a JSON or YAML file (or standard input), with limits and located errors."""

from __future__ import annotations

import json
from typing import Any

from recnav_rules.engine.source import DEFAULT_LIMITS, load_yaml_text
from recnav_rules.errors import PolicyError

__all__ = ["parse_facts_text", "read_facts"]


def _depth(value: Any, limit: int, level: int = 0) -> bool:
    if level > limit:
        return False
    if isinstance(value, dict):
        return all(_depth(v, limit, level + 1) for v in value.values())
    if isinstance(value, list):
        return all(_depth(v, limit, level + 1) for v in value)
    return True


def parse_facts_text(text: str, name: str) -> dict[str, Any]:
    """Facts from JSON (when the text starts with '{') or YAML. Raises PolicyError, located."""
    if len(text.encode("utf-8", errors="replace")) > DEFAULT_LIMITS.max_bytes:
        raise PolicyError.at(name, None, None, "too-large", f"facts file is larger than {DEFAULT_LIMITS.max_bytes} bytes")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError.at(name, exc.lineno, exc.colno, "json-syntax", exc.msg) from None
        except RecursionError:
            raise PolicyError.at(name, None, None, "too-deep", "nesting is too deep to read") from None
        if not _depth(data, DEFAULT_LIMITS.max_depth):
            raise PolicyError.at(name, None, None, "too-deep", f"nesting deeper than {DEFAULT_LIMITS.max_depth} levels")
    else:
        data = load_yaml_text(text, name).data
    if not isinstance(data, dict):
        raise PolicyError.at(name, 1, 1, "not-a-mapping", "facts must be a mapping of fact names to values")
    return data


def read_facts(path: str) -> dict[str, Any]:
    """Facts from a file path, or from standard input when ``path`` is '-'."""
    from recnav_rules._io import read_text_bounded

    text = read_text_bounded(path, DEFAULT_LIMITS.max_bytes, what="facts file")
    return parse_facts_text(text, "<stdin>" if path == "-" else path)
