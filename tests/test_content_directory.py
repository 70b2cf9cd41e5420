"""The signposting directory is extensible: a deployment's files and packages' entry points add
services, checked like the shipped ones; a duplicate id is an error naming both places."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import recnav_rules
from recnav_rules import PolicyError
from recnav_rules.policies import directory
from recnav_rules.policies.directory import SERVICES_ENV, builtin_directory, load_directory

SERVICE = """\
services:
  - id: {sid}
    name: Local wellbeing hub
    area: bnssg
    offers: Drop-in support.
    for_whom: Adults in the area.
    assumption: A deployment's own service, listed by its commissioner.
"""

POLICY = """\
policies:
  - id: hub
    version: 1.0.0
    title: Hub signposting
    sources:
      doc: {file: doc.txt, title: A document}
    facts:
      age: {type: integer, minimum: 0, description: Age in years.}
    rules:
      - id: adult
        when: {fact: age, gte: 18}
        outcome: signpost
        reason: Adults go to the hub.
        assumption: The hub serves adults.
        signpost: [local-wellbeing-hub]
    otherwise: {outcome: reject, reason: Not an adult., assumption: Adults only.}
    incomplete: {outcome: reject, reason: Unknown., assumption: Not accepted when unknown.}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_deployment_file_adds_services_a_policy_can_signpost_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = write(tmp_path, "hub.yaml", POLICY)
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(policy)
    assert caught.value.code == "unknown-service"
    monkeypatch.setenv(SERVICES_ENV, str(write(tmp_path, "local.yaml", SERVICE.format(sid="local-wellbeing-hub"))))
    extended = builtin_directory()
    assert "local-wellbeing-hub" in extended and "own-gp-practice" in extended
    assert extended.digest != directory._shipped().digest
    decision = recnav_rules.load_policy(policy).evaluate({"age": 30}, as_of=dt.date(2026, 11, 20))
    assert [s.service_id for s in decision.signposts] == ["local-wellbeing-hub"]


def test_a_duplicate_id_names_both_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVICES_ENV, str(write(tmp_path, "local.yaml", SERVICE.format(sid="own-gp-practice"))))
    with pytest.raises(PolicyError) as caught:
        builtin_directory()
    problem = caught.value.problems[0]
    assert (problem.code, problem.file, problem.line) == ("duplicate-service", str(tmp_path / "local.yaml"), 2)
    shipped_line = directory._shipped().place("own-gp-practice")
    assert shipped_line.startswith("recnav_rules/policies/services.yaml:") and shipped_line in problem.message


def test_a_bad_service_file_is_located(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", SERVICE.format(sid="x").replace("area: bnssg", "area: bnsssg"))
    with pytest.raises(PolicyError) as caught:
        load_directory(bad)
    assert (caught.value.file, caught.value.line) == (str(bad), 4)


def test_a_package_adds_services_through_an_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    added = write(tmp_path, "pkg.yaml", SERVICE.format(sid="package-service"))

    class Entry:
        name = "my_package"

        def __init__(self, target: Any) -> None:
            self.target = target

        def load(self) -> Any:
            return self.target

    monkeypatch.setattr(directory, "entry_points", lambda group: [Entry(lambda: [added])] if group == "recnav_rules.services" else [])
    monkeypatch.setenv(SERVICES_ENV, "")
    directory._extended.cache_clear()
    assert "package-service" in builtin_directory()

    def broken() -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(directory, "entry_points", lambda group: [Entry(broken)])
    directory._extended.cache_clear()
    with pytest.raises(PolicyError) as caught:
        builtin_directory()
    assert "my_package" in str(caught.value) and "secret detail" not in str(caught.value)
    directory._extended.cache_clear()
