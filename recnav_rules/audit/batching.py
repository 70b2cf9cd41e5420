"""Recording batch results in the decision log, in input order, before they are handed on.

Batch workers build each record's body (``RecordMaker.prepare``, in parallel); the main process
chains and stores them here, a block at a time in one transaction, and yields each result only
once its record is stored: a result never leaves the batch as logged when it was not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

from recnav_rules.audit.record import PreparedRecord

if TYPE_CHECKING:
    from recnav_rules.audit.log import DecisionLog

__all__ = ["BLOCK", "logged_in_order"]

BLOCK = 500
R = TypeVar("R")


def logged_in_order(
    results: Iterable[R], log: DecisionLog, record_of: Callable[[R], PreparedRecord | None], block: int = BLOCK
) -> Iterator[R]:
    """``results`` unchanged and in order, each yielded after its record (if any) is in ``log``."""
    held: list[R] = []
    records: list[PreparedRecord] = []
    for result in results:
        held.append(result)
        record = record_of(result)
        if record is not None:
            records.append(record)
        if len(held) >= block:
            log.append(records)
            yield from held
            held, records = [], []
    log.append(records)
    yield from held
