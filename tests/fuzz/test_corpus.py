"""Inputs that once failed, replayed through the fuzzing contract on every run.

``corpus/facts/*`` are facts files (JSON or YAML), ``corpus/policies/*`` policy files,
``corpus/cases/*`` case files and ``corpus/batch/*`` batch input (one line per referral). Each
file's first line may be a ``#`` comment saying what once went wrong (YAML files only).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz import harness

CORPUS = Path(__file__).parent / "corpus"


def inputs(kind: str) -> list[Path]:
    return sorted(p for p in (CORPUS / kind).iterdir() if p.is_file())


@pytest.mark.parametrize("path", inputs("facts"), ids=lambda p: p.name)
def test_facts(path: Path) -> None:
    harness.check_facts_text(path.read_bytes().decode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("path", inputs("policies"), ids=lambda p: p.name)
def test_policies(path: Path) -> None:
    harness.check_policy_text(path.read_bytes())


@pytest.mark.parametrize("path", inputs("cases"), ids=lambda p: p.name)
def test_cases(path: Path) -> None:
    harness.check_case_text(path.read_bytes())


@pytest.mark.parametrize("path", inputs("batch"), ids=lambda p: p.name)
def test_batch(path: Path) -> None:
    harness.check_batch_lines([line for line in path.read_bytes().splitlines() if line.strip()])


def test_the_corpus_has_every_kind() -> None:
    assert all(inputs(kind) for kind in ("facts", "policies", "cases", "batch"))
