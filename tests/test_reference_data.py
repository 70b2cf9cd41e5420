"""Reference data: the ODS GP practice register, PCN membership, the signposting directory,
and every quote the policies and directory rest on."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

import recnav_rules
from recnav_rules import PolicyError
from recnav_rules.policies.directory import builtin_directory, load_directory
from recnav_rules.policies.register import PracticeRegister, builtin_register, load_epraccur, load_pcn_membership

DATA = Path(__file__).resolve().parent / "data"
ODS = DATA / "ods"
NATIONAL = ODS / "epraccur-2020-01.csv"
FIXTURE = Path(__file__).resolve().parent.parent / "policies" / "tests" / "network4-membership.FIXTURE.csv"


@pytest.fixture(scope="module")
def national() -> PracticeRegister:
    return load_epraccur(NATIONAL, as_of=dt.date(2020, 1, 1), name="national 2020-01")


def test_the_whole_national_file_loads(national: PracticeRegister) -> None:
    assert len(national) == 14357
    practice = national.lookup("L81004")
    assert practice is not None
    assert (practice.name, practice.status, practice.sub_icb_code, practice.prescribing_setting) == (
        "PORTISHEAD MEDICAL GROUP",
        "active",
        "15C",
        4,
    )
    assert practice.open_date == dt.date(1974, 4, 1)
    closed = national.lookup("A81003")
    assert closed is not None and closed.status == "closed" and closed.close_date == dt.date(2017, 10, 31)
    statuses = {p.status for p in national}
    assert statuses == {"active", "closed", "dormant", "proposed"}
    bnssg_gp = [p for p in national if p.sub_icb_code == "15C" and p.prescribing_setting == 4 and p.status == "active"]
    assert len(bnssg_gp) == 80
    assert len(national.digest) == 64
    assert national.info()["as_of"] == "2020-01-01"


def test_lookups_normalise_codes(national: PracticeRegister) -> None:
    assert national.lookup(" l81004 ") is not None
    assert national.lookup("Y99999") is None
    assert "L81004" in national and "Y99999" not in national and 3 not in national


def test_builtin_register_is_the_documented_subset() -> None:
    register = builtin_register()
    assert len(register) == 198
    assert {p.sub_icb_code for p in register} == {"15C", "11X", "11E"}
    assert {p.prescribing_setting for p in register} == {4}
    assert register.info()["as_of"] == "2020-01-01"
    assert "Open Government Licence" in register.info()["origin"]
    assert register.lookup("L81032") is not None and register.lookup("L81032").status == "closed"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "line", "code"),
    [
        ("short-row.csv", 2, "bad-row"),
        ("bad-status.csv", 3, "bad-status"),
        ("bad-date.csv", 1, "bad-date"),
        ("duplicate.csv", 3, "duplicate-code"),
        ("empty.csv", 1, "empty"),
    ],
)
def test_malformed_register_files_name_file_and_line(name: str, line: int, code: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_epraccur(ODS / "bad" / name, as_of=dt.date(2020, 1, 1))
    assert (caught.value.file, caught.value.line, caught.value.code) == (str(ODS / "bad" / name), line, code)


def test_a_missing_register_file() -> None:
    with pytest.raises(PolicyError, match="cannot read file"):
        load_epraccur(ODS / "nope.csv", as_of=dt.date(2020, 1, 1))


def test_pcn_membership_merges_into_a_new_register() -> None:
    membership = load_pcn_membership(FIXTURE)
    merged = builtin_register().with_pcn_membership(membership)
    practice = merged.lookup("L81024")
    assert practice is not None and (practice.pcn_code, practice.pcn_name) == ("FIXT004", "Network 4")
    assert builtin_register().lookup("L81024").pcn_code is None  # type: ignore[union-attr]
    assert merged.digest != builtin_register().digest
    assert "FIXTURE" in merged.name


@pytest.mark.parametrize(
    ("name", "line", "code", "suggestion"),
    [
        ("membership-bad-header.csv", 2, "bad-header", "practice_code"),
        ("membership-duplicate.csv", 4, "duplicate-code", None),
    ],
)
def test_malformed_membership_files(name: str, line: int, code: str, suggestion: str | None) -> None:
    with pytest.raises(PolicyError) as caught:
        load_pcn_membership(ODS / "bad" / name)
    assert (caught.value.line, caught.value.code, caught.value.suggestion) == (line, code, suggestion)


def test_membership_naming_an_unknown_practice() -> None:
    membership = load_pcn_membership(ODS / "bad" / "membership-unknown-practice.csv")
    with pytest.raises(PolicyError) as caught:
        builtin_register().with_pcn_membership(membership)
    assert (caught.value.line, caught.value.code) == (3, "unknown-practice")


def test_a_policy_evaluated_with_a_national_register_records_it(
    national: PracticeRegister,
) -> None:
    policy = recnav_rules.load_policy("bnssg-hiu-pilot", register=national)
    decision = policy.evaluate({"gp_practice_code": "L81004", "age": 40}, as_of="2026-11-20")
    assert decision.reference_data["gp_practices"]["name"] == "national 2020-01"
    assert decision.reference_data["gp_practices"]["digest"] == national.digest


# --- the directory ------------------------------------------------------------------------------


def test_directory_holds_the_sources_services_with_their_limits() -> None:
    directory = builtin_directory()
    bnes = {s.id: s for s in directory.filter(area="bnes")}
    assert len(bnes) == 8
    assert bnes["bnes-wellbeing-house"].limits == ("Monday to Friday only",)
    assert "Up to 10 weeks" in bnes["bnes-supported-living-reablement"].limits[0]
    assert "Over 16s" in bnes["bnes-community-intensive-team"].limits[0]
    assert "local mental health trust" in bnes["bnes-peer-mentoring"].limits[0]
    assert {"somerset-crisis-cafe-bridgwater", "somerset-crisis-cafe-mendip", "somerset-single-point-of-access"} <= set(directory.ids)
    assert directory.areas == {"bnssg", "bnes", "somerset", "national"}


def normalise(text: str) -> str:
    return " ".join(text.split())


def test_every_quote_is_verbatim_in_its_source() -> None:
    sources = {p.name: normalise(p.read_text(encoding="utf-8")) for p in (DATA / "sources").glob("*.txt")}
    quoted = 0
    for service in builtin_directory():
        if service.quote is not None:
            assert service.source in sources, service.id
            assert normalise(service.quote) in sources[service.source], service.id
            quoted += 1
        else:
            assert service.assumption
    for info in recnav_rules.list_policies():
        parameters = {"network4_pcn_code": "FIXT004"} if info.id == "bnssg-network4-pcn" else None
        compiled = recnav_rules.load_policy(info.id, parameters=parameters).compiled
        citations = [r.citation for r in compiled.rules] + [c.citation for c in compiled.criteria if c.citation]
        citations += [s.citation for s in compiled.next_steps] + [compiled.otherwise.citation, compiled.incomplete.citation]
        for citation in citations:
            if citation.quote is not None:
                assert normalise(citation.quote) in sources[citation.source or ""], (info.id, citation.quote)
                quoted += 1
    assert quoted > 40


def test_no_contact_details_are_copied_into_the_project() -> None:
    root = Path(__file__).resolve().parent.parent
    email = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.(?:net|uk|com|org)")
    for path in [*(root / "policies").rglob("*.yaml"), root / "recnav_rules" / "policies" / "services.yaml", *(DATA / "sources").glob("*.txt")]:
        assert not email.search(path.read_text(encoding="utf-8")), path


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("services:\n  - id: x\n    name: X\n    area: somerst\n    offers: a\n    for_whom: b\n    assumption: c\n", "bad-value", 4),
        (
            "services:\n  - {id: x, name: X, area: bnes, offers: a, for_whom: b, assumption: c}\n"
            "  - {id: x, name: Y, area: bnes, offers: a, for_whom: b, assumption: c}\n",
            "duplicate-service",
            3,
        ),
        ("services:\n  - {id: x, name: X, area: bnes, offers: a, for_whom: b}\n", "citation-or-assumption", 2),
    ],
)
def test_bad_directory_files_are_located(tmp_path: Path, text: str, code: str, line: int) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_directory(path)
    assert (caught.value.code, caught.value.line) == (code, line)
    if code == "bad-value":
        assert caught.value.suggestion == "somerset"


def test_services_command_filters_by_area(capsys: pytest.CaptureFixture[str]) -> None:
    from recnav_rules.cli import main

    assert main(["services", "--area", "somerset"]) == 0
    out = capsys.readouterr().out
    assert "somerset-crisis-cafe-bridgwater\tsomerset\tCrisis Café, Bridgwater" in out
    assert "bnes-" not in out
    assert main(["services", "--area", "somerst"]) == 2
    assert "did you mean 'somerset'" in capsys.readouterr().err


def test_unreadable_directory_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read file"):
        load_directory(tmp_path / "missing.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("services: [caf\xe9]".encode("latin-1"))
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_directory(bad)
