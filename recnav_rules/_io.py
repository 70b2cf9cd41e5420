"""Reading an input file with a byte limit: the one place the library reads a file a user names.

``read_bounded(path, limit)`` reads at most ``limit + 1`` bytes, so ``/dev/zero`` or a 3 GB file
costs ``limit`` bytes of memory and is refused, never read whole. Only regular files are
read: a FIFO, a device, a socket or a directory is refused before a byte is read (a FIFO is
opened without blocking, so it cannot hang the reader). ``"-"`` is standard input, bounded the
same way. Every refusal is a ``PolicyError`` naming the file and what was wrong.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from recnav_rules.errors import PolicyError

__all__ = ["STDIN", "read_bounded", "read_text_bounded"]

STDIN = "-"
"""The name that means standard input."""

_BLOCK = 1024 * 1024


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _too_large(name: str, limit: int, what: str) -> PolicyError:
    return PolicyError.at(name, None, None, "too-large", f"{what} is larger than {limit:,} bytes")


def _read_stdin(limit: int, what: str) -> bytes:
    buffer = getattr(sys.stdin, "buffer", None)
    try:
        if buffer is not None:
            data: bytes = buffer.read(limit + 1)
        else:  # a text stream put in place of standard input (tests, embedding)
            data = sys.stdin.read(limit + 1).encode("utf-8", errors="surrogateescape")
    except OSError as exc:
        raise PolicyError.at("<stdin>", None, None, "unreadable", f"cannot read standard input: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise _too_large("<stdin>", limit, what)
    return data


def read_bounded(path: str | Path, limit: int, *, what: str = "file") -> bytes:
    """The bytes of ``path`` (``"-"``: standard input), refused if longer than ``limit``.

    Raises ``PolicyError`` (code ``unreadable``, ``not-a-file`` or ``too-large``) naming the file.
    """
    name = str(path)
    if name == STDIN and not isinstance(path, Path):
        return _read_stdin(limit, what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise PolicyError.at(name, None, None, "unreadable", f"cannot read {what}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise PolicyError.at(name, None, None, "not-a-file", f"cannot read {what}: {_kind(mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            block = os.read(fd, min(_BLOCK, limit + 1 - size))
            if not block:
                break
            chunks.append(block)
            size += len(block)
    except OSError as exc:
        raise PolicyError.at(name, None, None, "unreadable", f"cannot read {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise _too_large(name, limit, what)
    return b"".join(chunks)


def read_text_bounded(path: str | Path, limit: int, *, what: str = "file") -> str:
    """``read_bounded`` decoded as UTF-8; bad UTF-8 is a ``PolicyError`` giving the byte offset."""
    raw = read_bounded(path, limit, what=what)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        name = "<stdin>" if str(path) == STDIN else str(path)
        raise PolicyError.at(name, None, None, "encoding", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
