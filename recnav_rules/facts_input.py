"""Reading facts from a JSON or YAML file (or standard input), with limits and located errors."""

from __future__ import annotations

import json
import re
from typing import Any

from recnav_rules.engine.source import DEFAULT_LIMITS, load_yaml_text
from recnav_rules.errors import PolicyError, printable

__all__ = ["DuplicateKeyError", "loads_json", "parse_facts_text", "read_facts"]


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (JSON readers usually keep the last silently)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKeyError(key)
        found[key] = value
    return found


def loads_json(text: str | bytes) -> Any:
    """``json.loads`` that refuses a key given twice in one object (``DuplicateKeyError``).

    Every JSON the library reads facts from goes through this: a file, a batch line, a request
    body. ``{"consent_to_referral": false, "consent_to_referral": true}`` is an error, never a
    consent.
    """
    return json.loads(text, object_pairs_hook=_no_duplicates)


def _where(text: str, key: str) -> tuple[int | None, int | None]:
    """Line and column of the last occurrence of ``"key"`` as an object key, best effort."""
    found = None
    for match in re.finditer(re.escape(json.dumps(key)) + r"\s*:", text):
        found = match.start()
    if found is None:
        return None, None
    line = text.count("\n", 0, found) + 1
    return line, found - (text.rfind("\n", 0, found) + 1) + 1


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
            data = loads_json(text)
        except DuplicateKeyError as exc:
            line, column = _where(text, exc.key)
            raise PolicyError.at(name, line, column, "duplicate-key", f"key '{printable(exc.key)}' is given twice") from None
        except json.JSONDecodeError as exc:
            raise PolicyError.at(name, exc.lineno, exc.colno, "json-syntax", exc.msg) from None
        except RecursionError:
            raise PolicyError.at(name, None, None, "too-deep", "nesting is too deep to read") from None
        except ValueError:  # an integer of more digits than Python converts (4,300)
            raise PolicyError.at(name, None, None, "json-value", "a value cannot be read (a number too long?)") from None
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
