"""Recording batch results in the decision log, in input order, before they are handed on.

Batch workers build each record's body (``RecordMaker.prepare``, in parallel); the main process
chains and stores them here, a block of at least ``BLOCK`` records at a time in one transaction,
and yields each result only once its records are stored: a result never leaves the batch as
logged when it was not. A result may carry one record (a line), several (a chunk of lines, so
that the caller need not split chunks into lines) or none (an error).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

from recnav_rules.audit.record import PreparedRecord

if TYPE_CHECKING:
    from recnav_rules.audit.log import DecisionLog

__all__ = ["BLOCK", "logged_in_order"]

BLOCK = 500
R = TypeVar("R")


def logged_in_order(
    results: Iterable[R],
    log: DecisionLog,
    record_of: Callable[[R], PreparedRecord | Sequence[PreparedRecord] | None],
    block: int = BLOCK,
) -> Iterator[R]:
    """``results`` unchanged and in order, each yielded after its records (if any) are in ``log``.

    ``record_of`` gives a result's record, its records in order, or None.
    """
    held: list[R] = []
    records: list[PreparedRecord] = []
    for result in results:
        held.append(result)
        found = record_of(result)
        if isinstance(found, PreparedRecord):
            records.append(found)
        elif found:
            records.extend(found)
        if len(records) >= block or len(held) >= block:
            log.append(records)
            yield from held
            held, records = [], []
    log.append(records)
    yield from held
